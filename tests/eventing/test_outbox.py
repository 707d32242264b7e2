"""The outbox, end to end: entities (``Account`` event sourced, ``Notes`` a value entity) publish
their replies (``out.topic``) in the same store transaction as their own write, through a real
proxy and a real SDK user function. A write that fails leaves neither the state nor the message;
a SIGKILL right after the acknowledgements leaves both, and the consumer delivers them all after
the restart."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2

from cloudstate.proxy.stores.registry import open_store
from tests.eventing.outbox_model import pb
from tests.eventing.test_event_log import read_lines, start, start_proxy, wait_until
from tests.observability.scrape import scrape, value
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

PENDING = "cloudstate_eventing_pending_events"


def outbox_uf(tmp: Path, out: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "outbox user function",
        [sys.executable, "-m", "tests.eventing.outbox_model"],
        port,
        tmp / f"outbox-uf-{port}.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port), "OUTBOX_FILE": str(out)},
    )


async def call(port: int, path: str, request: Any, response: Any = any_pb2.Any) -> Any:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_unary(
            f"/evtest.outbox.{path}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )
        return await stub(request, timeout=30)


async def deposit(port: int, account: str, amount: int) -> Any:
    return await call(
        port, "Account/Deposit", pb.DepositRequest(account_id=account, amount=amount), pb.Deposited
    )


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


async def stored(url: str) -> tuple[dict[str, list[int]], dict[str, list[int]], list[str]]:
    """Balances journaled per account, balances published per account (``deposits``), and the
    subjects of the ``notes`` messages, read from the store."""
    store = await open_store(url)
    try:
        journaled: dict[str, list[int]] = {}
        for account in await store.list_entity_ids("accounts"):
            async for event in store.read_events("accounts", account):
                journaled.setdefault(account, []).append(
                    pb.Deposited.FromString(event.payload.value).balance
                )
        published: dict[str, list[int]] = {}
        async for message in store.read_topic("deposits", 0, 100_000):
            assert message.payload.type_url == "type.googleapis.com/evtest.outbox.Deposited"
            event = pb.Deposited.FromString(message.payload.value)
            assert message.subject == event.account_id  # an entity's messages: its id
            published.setdefault(event.account_id, []).append(event.balance)
        notes = [m.subject async for m in store.read_topic("notes", 0, 100_000)]
        return journaled, published, notes
    finally:
        await store.close()


async def test_a_failed_write_publishes_nothing_and_writes_nothing(
    tmp_path: Path, processes: list[Process]
) -> None:
    db = tmp_path / "outbox.db"
    url = f"sqlite:///{db}"
    uf = start(processes, outbox_uf(tmp_path, tmp_path / "audit.jsonl"))
    px = start_proxy(processes, tmp_path, uf.port, url)
    await deposit(px.port, "alice", 5)
    # The database refuses the *topic message* of "doomed" (inserted after the events / value,
    # in the same transaction): the whole write must go.
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TRIGGER refuse_doomed BEFORE INSERT ON topic_messages "
            "WHEN NEW.ce_subject = 'doomed' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await deposit(px.port, "doomed", 7)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "refused by the test" in str(failed.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call(px.port, "Notes/Set", pb.SetNote(note_id="doomed", kind="text", text="x"))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    # Others are unaffected, and the doomed entities work again once the database allows it.
    await deposit(px.port, "alice", 6)
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TRIGGER refuse_doomed")
    reply = await deposit(px.port, "doomed", 1)
    assert reply.balance == 1  # the refused deposit of 7 never happened
    await call(px.port, "Notes/Set", pb.SetNote(note_id="doomed", kind="text", text="y"))

    journaled, published, notes = await stored(url)
    assert journaled == published == {"alice": [5, 11], "doomed": [1]}
    assert notes == ["doomed"]
    store = await open_store(url)
    try:
        value = await store.load_value("notes", "doomed")
        assert value is not None and value.version == 1
        assert pb.Note.FromString(value.payload.value).text == "y"
    finally:
        await store.close()


async def test_acknowledged_writes_and_messages_survive_a_sigkill(
    tmp_path: Path, store_url: str, processes: list[Process]
) -> None:
    audit = tmp_path / "audit.jsonl"
    uf = start(processes, outbox_uf(tmp_path, audit))
    px = start_proxy(processes, tmp_path, uf.port, store_url)
    accounts = [f"acc-{n}" for n in range(8)]

    async def deposits(account: str) -> list[int]:
        return [(await deposit(px.port, account, amount)).balance for amount in range(1, 6)]

    acked = await asyncio.gather(*(deposits(a) for a in accounts))
    kinds = ("protobuf", "json", "text", "bytes")
    await asyncio.gather(
        *(call(px.port, "Notes/Set", pb.SetNote(note_id=f"n-{k}", kind=k, text=k)) for k in kinds)
    )
    px.kill()  # no chance to flush anything after the acknowledgements

    journaled, published, notes = await stored(store_url)
    expected = {a: balances for a, balances in zip(accounts, acked, strict=True)}
    assert journaled == published == expected
    assert sorted(notes) == sorted(f"n-{k}" for k in kinds)

    # After the restart the consumer delivers every message (the audit may already have some;
    # at-least-once), each deposit with its entity as ce-subject.
    start_proxy(processes, tmp_path, uf.port, store_url)
    wanted = {(a, b) for a, balances in expected.items() for b in balances}

    def delivered() -> set[tuple[str, int]]:
        return {
            (line["value"]["account"], line["value"]["balance"])
            for line in read_lines(audit)
            if line["kind"] == "deposited"
        }

    wait_until(lambda: delivered() == wanted, "every published deposit delivered")
    for line in read_lines(audit):
        if line["kind"] == "deposited":
            assert line["meta"]["ce-subject"] == line["value"]["account"]
            assert line["meta"]["ce-source"] == "evtest.outbox.Account"
    wait_until(
        lambda: sum(1 for line in read_lines(audit) if line["topic"] == "notes") >= 4, "notes"
    )


async def test_topic_consumer_lag_gauges_follow_a_stuck_consumer(
    tmp_path: Path, processes: list[Process]
) -> None:
    """The embedded-log topic consumer's gauges: its handler fails (the audit directory does not
    exist yet) so the messages wait; once it can write, the lag goes back to 0."""
    audit = tmp_path / "later" / "audit.jsonl"
    uf = start(processes, outbox_uf(tmp_path, audit))
    admin = free_port()
    px = start(
        processes,
        proxy(tmp_path, uf.port, f"sqlite:///{tmp_path}/lag.db", "--admin-port", str(admin)),
    )
    wait_serving(px.port)
    consumer = {"consumer": "topic:deposits:evtest.outbox.Audit", "source": "deposits"}
    assert value(scrape(admin), PENDING, **consumer) == 0
    await deposit(px.port, "carol", 1)
    await deposit(px.port, "carol", 2)
    wait_until(
        lambda: value(scrape(admin), "cloudstate_eventing_failures", **consumer) >= 1,
        "a failed delivery",
    )
    samples = scrape(admin)
    assert value(samples, PENDING, **consumer) == 2
    assert value(samples, "cloudstate_eventing_lag_seconds", **consumer) > 0
    audit.parent.mkdir()
    wait_until(lambda: value(scrape(admin), PENDING, **consumer) == 0, "the consumer to catch up")
    assert [line["value"]["balance"] for line in read_lines(audit)] == [1, 3]
