"""A view survives a SIGKILL of the proxy in the middle of a backlog without counting any event
twice or losing one: rows and the consumer's offset are committed in one transaction."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.registry import open_store
from tests.processes import ROOT, Process, free_port, proxy, wait_serving
from tests.views.model import pb
from tests.views.test_views_e2e import _consumer_ids

CARTS = 40
PER_CART = 100  # 4,000 events


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


async def journal(store_url: str) -> tuple[Counter[str], int]:
    """Journal the backlog directly; the expected sum per product and the head offset."""
    expected: Counter[str] = Counter()
    store = await open_store(store_url)
    try:
        for cart in range(CARTS):
            events = []
            for n in range(PER_CART):
                product, quantity = f"p{(cart + n) % 7}", 1 + n % 4
                expected[product] += quantity
                event = pb.ItemAdded(product_id=product, name=product, quantity=quantity)
                events.append(
                    Payload("type.googleapis.com/viewtest.ItemAdded", event.SerializeToString())
                )
            await store.append_events("vcart", f"k{cart:02d}", 0, events)
        return expected, await store.highest_offset("vcart")
    finally:
        await store.close()


async def committed(store_url: str, consumer: str) -> int:
    store = await open_store(store_url)
    try:
        return await store.load_offset(consumer)
    finally:
        await store.close()


async def test_sigkill_mid_backlog_counts_every_event_once(
    tmp_path: Path, store_url: str, processes: list[Process]
) -> None:
    expected, head = await journal(store_url)
    (consumer,) = await _consumer_ids(store_url)
    port = free_port()
    uf = Process(
        "views user function",
        [sys.executable, "-m", "tests.views.model"],
        port,
        tmp_path / "uf.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    ).start()
    processes.append(uf)

    first = proxy(tmp_path, port, store_url).start()
    processes.append(first)
    wait_serving(first.port)
    for _ in range(2000):  # until some, not all, of the backlog is committed
        offset = await committed(store_url, consumer)
        if offset > 0:
            break
        await asyncio.sleep(0.005)
    first.kill()
    assert 0 < offset < head, f"killed at offset {offset} of {head}: make the backlog longer"

    second = proxy(tmp_path, port, store_url).start()
    processes.append(second)
    wait_serving(second.port)
    for _ in range(1200):
        if await committed(store_url, consumer) >= head:
            break
        await asyncio.sleep(0.05)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
        top = channel.unary_unary(
            "/viewtest.Popularity/Top",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.Products.FromString,
        )
        rows = (await top(pb.TopRequest(), timeout=30)).products
    assert {row.product_id: row.quantity for row in rows} == dict(expected)
