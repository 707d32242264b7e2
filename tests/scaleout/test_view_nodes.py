"""A view on three proxy nodes sharing one PostgreSQL database: writes go through every node, one
node at a time applies the view updates (the eventing ownership lock), every node answers queries
with the same rows from the shared store; when the owner is SIGKILLed in the middle of a backlog
another node takes over and no event is counted twice or lost (rows and the consumer's offset are
committed in one transaction).

Every node runs the views test user function (``tests/views/model.py``); the ``Popularity`` view
sums the quantity added per product, so a sum that is too high means an event counted twice.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cloudstate.proxy.stores.base import Payload, Store
from cloudstate.proxy.stores.registry import open_store
from tests.processes import ROOT, Process, free_port
from tests.scaleout.cluster import CHANNEL_OPTIONS, Node
from tests.views.model import pb
from tests.views.test_views_e2e import _consumer_ids

PRODUCTS = 7
#: The log line of the node that starts running the Popularity view's consumer.
RUNS_POPULARITY = "this node now runs viewtest.Popularity"


def views_uf(tmp: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "views user function",
        [sys.executable, "-m", "tests.views.model"],
        port,
        tmp / f"views-uf-{port}.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


@pytest.fixture
def nodes(tmp_path: Path, fresh_postgres_url: str) -> Iterator[list[Node]]:
    cluster = [
        Node(
            tmp_path / f"node{n}", fresh_postgres_url, "--log-level", "INFO", user_function=views_uf
        )
        for n in range(3)
    ]
    try:
        for node in cluster:
            node.tmp.mkdir()
            node.start()
        yield cluster
    finally:
        for node in cluster:
            node.stop()


def method(channel: grpc.aio.Channel, path: str, response: Any) -> Any:
    return channel.unary_unary(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )


async def add_spread(nodes: list[Node], carts: int, per_cart: int, seed: int) -> Counter[str]:
    """``per_cart`` adds to each of ``carts`` carts (concurrently), every add through a random
    node; the quantity added per product."""
    rng = random.Random(seed)
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{node.port}", options=CHANNEL_OPTIONS)
        for node in nodes
    ]
    adds = [
        method(c, "/viewtest.Cart/Add", pb.google_dot_protobuf_dot_empty__pb2.Empty)
        for c in channels
    ]
    expected: Counter[str] = Counter()
    plan = []
    for cart in range(carts):
        steps = []
        for _ in range(per_cart):
            product, quantity = f"p{rng.randrange(PRODUCTS)}", rng.randrange(1, 5)
            expected[product] += quantity
            steps.append((rng.randrange(len(adds)), product, quantity))
        plan.append((f"s{seed}-c{cart}", steps))

    async def cart_client(cart: str, steps: list[tuple[int, str, int]]) -> None:
        for node, product, quantity in steps:
            request = pb.AddItem(cart_id=cart, product_id=product, name=product, quantity=quantity)
            await adds[node](request, timeout=30)

    try:
        await asyncio.gather(*(cart_client(cart, steps) for cart, steps in plan))
    finally:
        for channel in channels:
            await channel.close()
    return expected


async def journal_backlog(store_url: str, carts: int, per_cart: int) -> Counter[str]:
    """Events journaled straight into the store (as another writer would): no node is woken, the
    owner finds them by polling and works through them in batches."""
    expected: Counter[str] = Counter()
    store = await open_store(store_url)
    try:
        for cart in range(carts):
            events = []
            for n in range(per_cart):
                product, quantity = f"p{(cart + n) % PRODUCTS}", 1 + n % 4
                expected[product] += quantity
                event = pb.ItemAdded(product_id=product, name=product, quantity=quantity)
                events.append(
                    Payload("type.googleapis.com/viewtest.ItemAdded", event.SerializeToString())
                )
            await store.append_events("vcart", f"backlog-{cart:02d}", 0, events)
        return expected
    finally:
        await store.close()


async def offsets(store: Store, consumer: str) -> tuple[int, int]:
    """(committed offset of the view's consumer, head of the ``vcart`` event log)."""
    return await store.load_offset(consumer), await store.highest_offset("vcart")


async def rows(node: Node) -> dict[str, int]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel:
        top = method(channel, "/viewtest.Popularity/Top", pb.Products)
        found = (await top(pb.TopRequest(), timeout=30)).products
    return {row.product_id: row.quantity for row in found}


async def wait_rows(nodes: list[Node], expected: Counter[str], within: float = 30) -> None:
    """Until every node's query returns exactly the expected rows."""
    deadline = time.monotonic() + within
    while True:
        seen = [await rows(node) for node in nodes]
        if all(found == dict(expected) for found in seen):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {dict(expected)}, nodes answer {seen}")
        await asyncio.sleep(0.1)


def runs_popularity(node: Node) -> bool:
    return node.proxy is not None and RUNS_POPULARITY in node.proxy.log()


async def test_one_node_applies_the_view_all_nodes_query_it_and_a_kill_is_taken_over(
    nodes: list[Node], fresh_postgres_url: str
) -> None:
    (consumer,) = await _consumer_ids(fresh_postgres_url)
    store = await open_store(fresh_postgres_url)
    try:
        await check_nodes(nodes, store, consumer, fresh_postgres_url)
    finally:
        await store.close()


async def check_nodes(nodes: list[Node], store: Store, consumer: str, store_url: str) -> None:
    # Writes through all three nodes; every node answers the same, correct rows.
    expected = await add_spread(nodes, carts=30, per_cart=5, seed=1)
    await wait_rows(nodes, expected)
    owners = [node for node in nodes if runs_popularity(node)]
    assert len(owners) == 1, [node.log() for node in nodes]
    (owner,) = owners
    survivors = [node for node in nodes if node is not owner]
    committed, head = await offsets(store, consumer)
    assert committed == head == 150

    # A backlog the owner works through in batches; it is SIGKILLed once it has committed some.
    expected += await journal_backlog(store_url, carts=40, per_cart=100)
    for _ in range(3000):
        committed, _ = await offsets(store, consumer)
        if committed > head:
            break
        await asyncio.sleep(0.005)
    owner.kill()
    assert head < committed < head + 4000, f"killed at {committed}: make the backlog longer"

    # A survivor takes over from the committed offset; more writes through the survivors.
    expected += await add_spread(survivors, carts=10, per_cart=5, seed=2)
    await wait_rows(survivors, expected)
    committed, head = await offsets(store, consumer)
    assert committed == head == 150 + 4000 + 50
    assert len([node for node in survivors if runs_popularity(node)]) == 1, [
        node.log() for node in survivors
    ]
