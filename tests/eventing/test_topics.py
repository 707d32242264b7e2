"""Topics through the embedded broker, end to end: ``Shop`` (a real SDK user function) publishes
its replies to the topic ``orders`` (``out.topic``), ``OrderLog`` consumes it (``in.topic``)
through a real proxy; the proxy is SIGKILLed and restarted on the same store."""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2

from cloudstate.proxy.stores.registry import open_store
from tests.eventing.test_event_log import read_lines, start, start_proxy, wait_until
from tests.eventing.topic_model import pb
from tests.processes import ROOT, Process, free_port

CONSUMER = "topic:orders:evtest.topics.OrderLog"


def topic_uf(tmp: Path, out: Path) -> Process:
    port = free_port()
    return Process(
        "topic user function",
        [sys.executable, "-m", "tests.eventing.topic_model"],
        port,
        tmp / f"topic-uf-{port}.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port), "TOPIC_FILE": str(out)},
    )


async def call(port: int, method: str, request: Any, response: Any) -> Any:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_unary(
            f"/evtest.topics.Shop/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )
        return await stub(request, timeout=30)


async def store_state(url: str) -> tuple[int, list[int], list[str]]:
    """The consumer's committed offset, the offsets and type URLs on the topic (from the store)."""
    store = await open_store(url)
    try:
        committed = await store.load_offset(CONSUMER)
        messages = [m async for m in store.read_topic("orders")]
        return committed, [m.offset for m in messages], [m.payload.type_url for m in messages]
    finally:
        await store.close()


async def wait_committed(url: str, count: int) -> tuple[int, list[str]]:
    """Wait until the topic has ``count`` messages and the consumer committed the last one."""
    for _ in range(600):
        committed, offsets, urls = await store_state(url)
        if len(offsets) == count and committed == offsets[-1]:
            return committed, urls
        await asyncio.sleep(0.05)
    raise AssertionError(f"the consumer did not commit {count} messages: {committed}, {offsets}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


async def test_topic_round_trip_in_every_encoding_and_across_a_restart(
    tmp_path: Path, store_url: str, processes: list[Process]
) -> None:
    out = tmp_path / "orders.jsonl"
    uf = start(processes, topic_uf(tmp_path, out))
    px = start_proxy(processes, tmp_path, uf.port, store_url)

    reply = await call(px.port, "PlaceOrder", pb.Order(id="o-1", quantity=2), pb.Order)
    assert reply == pb.Order(id="o-1", quantity=2)  # publishing does not change the reply
    for kind in ("json", "text", "bytes"):
        await call(px.port, "PublishAny", pb.Publish(kind=kind, text=f"hi {kind}"), any_pb2.Any)
    wait_until(lambda: len(read_lines(out)) >= 4, "4 topic deliveries")
    lines = read_lines(out)
    assert len(lines) == 4, lines
    order, as_json, as_text, as_bytes = lines

    assert order["kind"] == "order" and order["value"] == {"id": "o-1", "quantity": 2}
    assert order["meta"]["content-type"] == "application/protobuf"
    assert order["meta"]["ce-type"] == "evtest.topics.Order"
    assert as_json["kind"] == "other" and as_json["value"] == {"text": "hi json"}
    assert as_json["meta"]["content-type"] == "application/json"
    assert as_json["meta"]["ce-type"] == "shop.Note"
    assert as_text["value"] == "hi text"
    assert as_text["meta"]["content-type"] == "text/plain; charset=utf-8"
    assert as_bytes["value"] == {"bytes": base64.b64encode(b"hi bytes\x00\xff").decode()}
    assert as_bytes["meta"]["content-type"] == "application/octet-stream"
    for line in lines:
        meta = line["meta"]
        assert meta["ce-specversion"] == "1.0"
        assert meta["ce-source"] == "evtest.topics.Shop"  # synthesized: the publishing service
        assert meta["ce-id"] and meta["ce-time"].endswith("Z")
    assert len({line["meta"]["ce-id"] for line in lines}) == 4

    # The consumer commits its offset after the handler; then the proxy dies without warning.
    offset, urls = await wait_committed(store_url, 4)
    assert urls == [
        "type.googleapis.com/evtest.topics.Order",
        "json.cloudstate.io/shop.Note",
        "p.cloudstate.io/string",
        "p.cloudstate.io/bytes",
    ]
    px.kill()
    px = start_proxy(processes, tmp_path, uf.port, store_url)
    await call(px.port, "PlaceOrder", pb.Order(id="o-2", quantity=5), pb.Order)
    wait_until(lambda: len(read_lines(out)) >= 5, "the delivery after the restart")
    await asyncio.sleep(0.5)  # a re-delivery of the old messages would arrive by now
    lines = read_lines(out)
    # Resumed from the committed offset (all 4 were committed): only the new message comes.
    assert [line["value"] for line in lines[4:]] == [{"id": "o-2", "quantity": 5}], lines
    final, urls = await wait_committed(store_url, 5)
    assert final > offset


RELAY = "event_log:counter:evtest.topics.Relay"


async def relay_state(url: str) -> tuple[int, int]:
    """Events of the counter log the relay committed, then messages on the topic (read after)."""
    store = await open_store(url)
    try:
        committed = await store.load_offset(RELAY)
        events = [e async for _, e in store.read_all_events("counter") if e.offset <= committed]
        published = [m async for m in store.read_topic("orders")]
        return len(events), len(published)
    finally:
        await store.close()


async def test_event_log_consumer_publishes_before_committing(
    tmp_path: Path, store_url: str, processes: list[Process]
) -> None:
    out = tmp_path / "orders.jsonl"
    uf = start(processes, topic_uf(tmp_path, out))
    px = start_proxy(processes, tmp_path, uf.port, store_url)

    async def add(counter_id: str, count: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = channel.unary_unary(
                "/evtest.topics.Counter/Add",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=None,
            )
            for _ in range(count):
                await stub(pb.AddRequest(counter_id=counter_id, count=1), timeout=30)

    writers = asyncio.gather(add("c1", 10), add("c2", 10))
    checks = 0
    while not writers.done() or len(read_lines(out)) < 20:
        committed, published = await relay_state(store_url)
        # The relay's reply is on the topic before its offset moves past the event.
        assert published >= committed, (committed, published)
        checks += 1
        await asyncio.sleep(0.02)
        if checks > 1500:
            raise AssertionError(f"only {len(read_lines(out))} of 20 orders arrived")
    await writers
    lines = read_lines(out)
    assert len(lines) == 20, lines
    for counter_id in ("c1", "c2"):
        ids = [line["value"]["id"] for line in lines if line["value"]["id"].startswith(counter_id)]
        assert ids == [f"{counter_id}-{n}" for n in range(1, 11)]  # one subject's order is kept
    assert {line["meta"]["ce-source"] for line in lines} == {"evtest.topics.Relay"}
