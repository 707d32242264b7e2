"""CRDT counters on three proxy nodes sharing one PostgreSQL database.

Each node merges the stored state into its own before writing (conditional writes), so the stored
counter must equal the sum of every increment any node acknowledged.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cloudstate.protocol import crdt_pb2
from cloudstate.proxy.crdt import codec
from cloudstate.proxy.stores.registry import open_store
from tests.processes import ROOT, Process, free_port
from tests.scaleout.cluster import Node

sys.path.insert(0, str(ROOT / "tests" / "rawcrdt"))
from rawcrdt import model_pb2

ENTITIES = 5


def raw_crdt_user_function(tmp: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "raw CRDT user function",
        [sys.executable, str(ROOT / "tests" / "rawcrdt" / "server.py"), "--port", str(port)],
        port,
        tmp / f"rawcrdt-{port}.log",
    )


@pytest.fixture
def nodes(tmp_path: Path, fresh_postgres_url: str) -> Iterator[list[Node]]:
    cluster = [
        Node(tmp_path / f"node{n}", fresh_postgres_url, user_function=raw_crdt_user_function)
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


async def test_counters_incremented_on_three_nodes_converge_to_the_acknowledged_sum(
    nodes: list[Node], fresh_postgres_url: str
) -> None:
    acked = dict.fromkeys(range(ENTITIES), 0)
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") for node in nodes]
    calls = [
        channel.unary_unary(
            "/rawcrdt.Model/Update",
            request_serializer=model_pb2.Request.SerializeToString,
            response_deserializer=model_pb2.View.FromString,
        )
        for channel in channels
    ]

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            entity, amount = rng.randrange(ENTITIES), rng.randrange(1, 5)
            request = model_pb2.Request(id=f"counter-{entity}")
            request.update.gcounter.increment = amount
            await rng.choice(calls)(request, timeout=30)
            acked[entity] += amount

    try:
        await asyncio.gather(*(client(n) for n in range(12)))
    finally:
        for channel in channels:
            await channel.close()

    store = await open_store(fresh_postgres_url)
    try:
        for entity, total in acked.items():
            stored = await store.load_value("crdt:raw-crdt", f"counter-{entity}")
            assert stored is not None
            state = codec.decode(stored.payload.value)
            assert state.value() == total, (entity, state)
            # Every node contributed its own entries: no node overwrote another's.
            assert len(getattr(state, "counts", {})) >= 2
    finally:
        await store.close()
    assert crdt_pb2.GCounterDelta  # the wire types are the protocol's own
