"""Idempotency keys across two proxy nodes on one PostgreSQL database: retries of one keyed
AddItem sent at once to both nodes change the cart once and all get the same answer (the node
that loses the conditional write re-reads and finds the record)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.scaleout.cluster import Node, journals

pytestmark = pytest.mark.timeout(180)

CARTS = 12
RETRIES = 5


@pytest.fixture
def two_nodes(tmp_path: Path, fresh_postgres_url: str) -> Iterator[list[Node]]:
    nodes = [Node(tmp_path / f"node{n}", fresh_postgres_url) for n in range(2)]
    try:
        for node in nodes:
            node.tmp.mkdir()
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def test_retries_sent_concurrently_to_two_nodes_change_each_cart_once(
    two_nodes: list[Node], fresh_postgres_url: str
) -> None:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") for node in two_nodes]
    stubs = [shoppingcart_pb2_grpc.ShoppingCartStub(channel) for channel in channels]
    try:
        for n in range(CARTS):
            user = f"multi-{n}"
            request = shoppingcart_pb2.AddLineItem(
                user_id=user, product_id="p", name="P", quantity=n + 1
            )
            # Every cart first gets an unkeyed add on one node, so that both nodes' entities
            # are active and race on the same journal sequence.
            await stubs[n % 2].AddItem(
                shoppingcart_pb2.AddLineItem(user_id=user, product_id="seed", name="S", quantity=1),
                timeout=30,
            )
            await stubs[(n + 1) % 2].GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user))
            calls = [
                stubs[i % 2].AddItem(request, metadata=[("idempotency-key", user)], timeout=30)
                for i in range(RETRIES)
            ]
            replies = await asyncio.gather(*calls)
            assert {reply.SerializeToString() for reply in replies} == {b""}
        served = [
            [
                await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=f"multi-{n}"))
                for n in range(CARTS)
            ]
            for stub in stubs
        ]
    finally:
        for channel in channels:
            await channel.close()
    logs = "\n".join(node.log() for node in two_nodes)
    journaled = await journals(fresh_postgres_url, "multi", CARTS)
    for n in range(CARTS):
        assert journaled[f"multi-{n}"] == ["seed", "p"], (n, logs)
        for node_carts in served:
            items = [(i.product_id, i.quantity) for i in node_carts[n].items]
            assert items == [("seed", 1), ("p", n + 1)], (n, logs)
