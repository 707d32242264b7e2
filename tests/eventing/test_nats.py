"""Topics through the external broker, end to end: a real ``nats-server -js`` (started by the
test), a real proxy with ``--broker`` and a real SDK user function. Entities publish with
``out.topic`` (outbox in the store) -> the relay forwards to JetStream -> the ``in.topic``
consumer reads a durable JetStream consumer, with the CloudEvent metadata, in every encoding.
The relay's lag is a Prometheus gauge that grows while the broker is down and returns to 0."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from cloudstate.proxy.stores.registry import open_store
from tests import nats_server
from tests.eventing.outbox_model import pb
from tests.eventing.test_event_log import read_lines, start, wait_until
from tests.eventing.test_outbox import call, deposit, outbox_uf
from tests.observability.scrape import scrape, value
from tests.processes import Process, free_port, proxy, wait_serving

PENDING = "cloudstate_eventing_pending_events"


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


def start_broker_proxy(
    processes: list[Process],
    tmp: Path,
    uf_port: int,
    store: str,
    broker: str,
    *flags: str,
    name: str = "",
) -> tuple[Process, str]:
    """A proxy on ``broker`` with a stream and subject prefix of its own (``name``, default a
    new one); (proxy, prefix)."""
    name = name or f"t{uuid.uuid4().hex[:12]}"
    process = start(
        processes,
        proxy(
            tmp,
            uf_port,
            store,
            "--broker",
            broker,
            "--broker-stream",
            name.upper(),
            "--broker-subject-prefix",
            name,
            *flags,
        ),
    )
    try:
        wait_serving(process.port)
    except TimeoutError as e:
        raise RuntimeError(f"{e}\n--- proxy log ---\n{process.log()}") from e
    return process, name


async def stream_messages(url: str, stream: str, subject: str) -> list[Any]:
    """Every message of ``subject`` in the JetStream ``stream``, read directly from the server."""
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        info = await js.stream_info(stream)
        found = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            if message.subject == subject:
                found.append(message)
        return found
    finally:
        await connection.close()


async def test_topic_round_trip_through_nats_in_every_encoding(
    tmp_path: Path, nats_url: str, processes: list[Process]
) -> None:
    audit = tmp_path / "audit.jsonl"
    store_url = f"sqlite:///{tmp_path}/proxy.db"
    uf = start(processes, outbox_uf(tmp_path, audit))
    px, prefix = start_broker_proxy(processes, tmp_path, uf.port, store_url, nats_url)

    await deposit(px.port, "alice", 5)
    await deposit(px.port, "alice", 7)
    for kind in ("protobuf", "json", "text", "bytes"):
        await call(px.port, "Notes/Set", pb.SetNote(note_id=f"n-{kind}", kind=kind, text=kind))
    wait_until(lambda: len(read_lines(audit)) >= 6, "6 deliveries through NATS")
    await asyncio.sleep(0.3)  # a duplicate would arrive by now
    lines = read_lines(audit)
    assert len(lines) == 6, lines
    deposits = [line for line in lines if line["topic"] == "deposits"]
    assert [d["value"] for d in deposits] == [
        {"account": "alice", "amount": 5, "balance": 5},
        {"account": "alice", "amount": 7, "balance": 12},
    ]
    for line in deposits:
        meta = line["meta"]
        assert meta["ce-subject"] == "alice" and meta["ce-source"] == "evtest.outbox.Account"
        assert meta["ce-type"] == "evtest.outbox.Deposited" and meta["ce-specversion"] == "1.0"
        assert meta["content-type"] == "application/protobuf"
        assert meta["ce-id"] and meta["ce-time"].endswith("Z")
    notes = {line["meta"]["ce-subject"]: line for line in lines if line["topic"] == "notes"}
    assert notes["n-protobuf"]["kind"] == "note"
    assert notes["n-protobuf"]["value"] == {"id": "n-protobuf", "text": "protobuf"}
    assert notes["n-protobuf"]["meta"]["content-type"] == "application/protobuf"
    assert notes["n-json"]["kind"] == "other" and notes["n-json"]["value"] == {"note": "json"}
    assert notes["n-json"]["meta"]["content-type"] == "application/json"
    assert notes["n-json"]["meta"]["ce-type"] == "audit.Note"
    assert notes["n-text"]["value"] == "text"
    assert notes["n-text"]["meta"]["content-type"] == "text/plain; charset=utf-8"
    assert notes["n-bytes"]["value"] == {"bytes": base64.b64encode(b"bytes\x00\xff").decode()}
    assert notes["n-bytes"]["meta"]["content-type"] == "application/octet-stream"

    # What is in JetStream: the payload bytes as they are, attributes in headers, the message id.
    stream = prefix.upper()
    on_nats = await stream_messages(nats_url, stream, f"{prefix}.deposits")
    assert [pb.Deposited.FromString(m.data).balance for m in on_nats] == [5, 12]
    headers = on_nats[0].headers
    assert headers["Nats-Msg-Id"] == headers["ce-id"] == deposits[0]["meta"]["ce-id"]
    assert headers["Cloudstate-Type-Url"] == "type.googleapis.com/evtest.outbox.Deposited"
    assert headers["Content-Type"] == "application/protobuf" and headers["ce-subject"] == "alice"
    texts = await stream_messages(nats_url, stream, f"{prefix}.notes")
    assert [m.data for m in texts][1:] == [b'{"note":"json"}', b"text", b"bytes\x00\xff"]

    # The relay's offset and the consumer's position (a stream sequence) are in the store.
    store = await open_store(store_url)
    try:
        head = await store.highest_topic_offset("deposits")
        assert await store.load_offset("nats-relay:deposits") == head
        assert await store.load_offset("nats:deposits:evtest.outbox.Audit") == max(
            m.seq for m in on_nats
        )
    finally:
        await store.close()

    # SIGKILL, and make the relay forget its offset: after the restart it sends every message
    # again; JetStream drops them by Nats-Msg-Id, and the consumer resumes at its position.
    px.kill()
    with sqlite3.connect(tmp_path / "proxy.db") as connection:
        connection.execute("DELETE FROM consumer_offsets WHERE consumer_id LIKE 'nats-relay:%'")
    px, _ = start_broker_proxy(processes, tmp_path, uf.port, store_url, nats_url, name=prefix)
    await deposit(px.port, "alice", 1)
    wait_until(lambda: len(read_lines(audit)) >= 7, "the deposit after the restart")
    await asyncio.sleep(0.3)  # a duplicate would arrive by now
    lines = read_lines(audit)
    assert [line["value"].get("balance") for line in lines[6:]] == [13], lines[6:]
    on_nats = await stream_messages(nats_url, stream, f"{prefix}.deposits")
    assert [pb.Deposited.FromString(m.data).balance for m in on_nats] == [5, 12, 13]
    assert len(await stream_messages(nats_url, stream, f"{prefix}.notes")) == 4


async def test_relay_lag_gauge_while_the_broker_is_down(
    tmp_path: Path, processes: list[Process]
) -> None:
    if nats_server.find_binary() is None:
        pytest.skip("no nats-server binary (apt-get install nats-server)")
    broker = nats_server.start(tmp_path / "nats")
    try:
        audit = tmp_path / "audit.jsonl"
        store_url = f"sqlite:///{tmp_path}/proxy.db"
        admin = free_port()
        uf = start(processes, outbox_uf(tmp_path, audit))
        px, _ = start_broker_proxy(
            processes, tmp_path, uf.port, store_url, broker.url, "--admin-port", str(admin)
        )
        relay = {"consumer": "nats-relay:deposits", "source": "deposits"}
        await deposit(px.port, "bob", 1)
        wait_until(lambda: len(read_lines(audit)) >= 1, "the first deposit through NATS")
        assert value(scrape(admin), PENDING, **relay) == 0

        broker.stop()  # the outbox keeps accepting writes; the relay falls behind
        for amount in (2, 3, 4):
            await deposit(px.port, "bob", amount)
        wait_until(lambda: value(scrape(admin), PENDING, **relay) == 3, "relay lag of 3")
        assert value(scrape(admin), "cloudstate_eventing_lag_seconds", **relay) > 0

        broker = nats_server.start(tmp_path / "nats", port=broker.port)  # same port and store
        wait_until(lambda: value(scrape(admin), PENDING, **relay) == 0, "the relay to catch up")

        def balances() -> set[int]:
            return {line["value"]["balance"] for line in read_lines(audit)}

        wait_until(lambda: balances() == {1, 3, 6, 10}, "every deposit delivered")
    finally:
        broker.stop()


async def test_an_unreachable_broker_stops_the_proxy_with_a_clear_error(
    tmp_path: Path, processes: list[Process]
) -> None:
    uf = start(processes, outbox_uf(tmp_path, tmp_path / "audit.jsonl"))
    nowhere = f"nats://127.0.0.1:{free_port()}"
    px = start(processes, proxy(tmp_path, uf.port, "memory:", "--broker", nowhere))
    assert px.process is not None
    assert px.process.wait(60) != 0
    assert f"cannot connect to the broker {nowhere}" in px.log()
