"""Topic retention on a real SQLite store: messages go only once every reader of the topic has
passed them, and only beyond the limits (newest N, age)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudstate.proxy.config import add_arguments, from_arguments
from cloudstate.proxy.eventing.retention import TopicRetention, parse_age
from cloudstate.proxy.stores.base import Payload, TopicMessage
from cloudstate.proxy.stores.registry import open_store
from tests.eventing.outbox_model import pb
from tests.eventing.test_outbox import deposit, outbox_uf
from tests.processes import Process, proxy, wait_serving

from .test_event_log import start


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


def start_proxy(
    processes: list[Process], tmp: Path, uf_port: int, url: str, *flags: str
) -> Process:
    process = start(processes, proxy(tmp, uf_port, url, *flags))
    wait_serving(process.port)
    return process


def message(n: int) -> TopicMessage:
    return TopicMessage(Payload("p.cloudstate.io/string", f"m{n}".encode()), id=f"m{n}")


async def test_trims_only_what_every_reader_passed(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/retention.db")
    try:
        offsets = [await store.append_topic("orders", [message(n)]) for n in range(10)]
        await store.append_topic("audit", [message(0)])
        await store.save_offset("topic:orders:slow", offsets[3])
        await store.save_offset("topic:orders:fast", offsets[6])
        retention = TopicRetention(store, max_messages=2)
        retention.readers = {"orders": ["topic:orders:slow", "topic:orders:fast"], "audit": []}

        # Beyond the newest 2 are m0..m7, but the slow group has only passed m3. The audit
        # topic has no reader on the embedded log: only its limit holds (1 message, kept).
        assert await retention.trim_once() == 4
        assert [m.id async for m in store.read_topic("orders")] == [f"m{n}" for n in range(4, 10)]
        await store.save_offset("topic:orders:slow", offsets[9])
        assert await retention.trim_once() == 3  # m4..m6: the fast group is at m6
        await store.save_offset("topic:orders:fast", offsets[9])
        assert await retention.trim_once() == 1  # m7; m8 and m9 are the newest 2
        assert [m.id async for m in store.read_topic("orders")] == ["m8", "m9"]
        assert [m.id async for m in store.read_topic("audit")] == ["m0"]
        assert await retention.trim_once() == 0

        # By age (everything is older than 1 ms by now): a reader that never committed (offset
        # 0) holds the whole topic back; the reader-less audit topic goes.
        retention.readers["orders"].append("nats-relay:orders")
        retention.max_messages = 0
        retention.max_age = 0.001
        assert await retention.trim_once() == 1
        assert [m.id async for m in store.read_topic("orders")] == ["m8", "m9"]
        assert [m.id async for m in store.read_topic("audit")] == []
        assert retention.deleted == 9
    finally:
        await store.close()


def test_retention_settings() -> None:
    assert parse_age("") == 0.0 and parse_age("0") == 0.0
    assert parse_age("90") == 90.0 and parse_age("90s") == 90.0 and parse_age("30m") == 1800.0
    assert parse_age("12h") == 43200.0 and parse_age("7d") == 604800.0
    with pytest.raises(ValueError, match="topic-retention"):
        parse_age("a week")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--topic-retention", "7d", "--topic-retention-messages", "1000", "--broker", "nats://x:1"]
    )
    config = from_arguments(args, environ={})
    assert (config.topic_retention, config.topic_retention_messages) == ("7d", 1000)
    assert (config.broker, config.broker_stream, config.broker_subject_prefix) == (
        "nats://x:1",
        "CLOUDSTATE",
        "cloudstate",
    )


async def test_a_proxy_trims_its_topics_to_the_limit(
    tmp_path: Path, processes: list[Process]
) -> None:
    """A proxy started with --topic-retention-messages trims what its consumer group committed
    (on start, then every minute); the newest messages stay."""
    url = f"sqlite:///{tmp_path}/proxy.db"
    audit = tmp_path / "audit.jsonl"
    uf = start(processes, outbox_uf(tmp_path, audit))
    px = start_proxy(processes, tmp_path, uf.port, url)
    for amount in (1, 2, 3, 4):
        await deposit(px.port, "dave", amount)

    async def topic() -> tuple[list[int], bool]:
        """The balances on the topic, and whether the consumer committed the last one."""
        store = await open_store(url)
        try:
            messages = [m async for m in store.read_topic("deposits")]
            committed = await store.load_offset("topic:deposits:evtest.outbox.Audit")
            balances = [pb.Deposited.FromString(m.payload.value).balance for m in messages]
            return balances, bool(messages) and committed == messages[-1].offset
        finally:
            await store.close()

    for _ in range(600):
        balances, caught_up = await topic()
        if caught_up:
            break
        await asyncio.sleep(0.05)
    assert caught_up and balances == [1, 3, 6, 10]
    px.terminate()
    start_proxy(processes, tmp_path, uf.port, url, "--topic-retention-messages", "2")
    for _ in range(600):
        balances, _ = await topic()
        if len(balances) <= 2:
            break
        await asyncio.sleep(0.05)
    assert balances == [6, 10]
