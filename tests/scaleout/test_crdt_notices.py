"""CRDT change notices between three proxy nodes on one PostgreSQL database: a node that commits
a CRDT state sends ``NOTIFY``; the others re-read the state of the entities they hold and push the
change to their user function, and from there to streamed subscribers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.scaleout.cluster import Node
from tests.scaleout.test_crdt_nodes import model_pb2, raw_crdt_user_function

ENTITIES = 4


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


def method(channel: grpc.aio.Channel, name: str) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(
        f"/rawcrdt.Model/{name}",
        request_serializer=model_pb2.Request.SerializeToString,
        response_deserializer=model_pb2.View.FromString,
    )


def increment(entity: str, amount: int) -> model_pb2.Request:
    request = model_pb2.Request(id=entity)
    request.update.gcounter.increment = amount
    return request


async def test_a_subscriber_on_one_node_sees_increments_made_on_the_others(
    nodes: list[Node],
) -> None:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") for node in nodes]
    try:
        watch = channels[0].unary_stream(
            "/rawcrdt.Model/Watch",
            request_serializer=model_pb2.Request.SerializeToString,
            response_deserializer=model_pb2.View.FromString,
        )
        stream = watch(model_pb2.Request(id="watched"), timeout=30)
        first = await stream.read()
        assert first.value == "none", first  # no state yet
        await method(channels[1], "Update")(increment("watched", 5), timeout=10)
        started = time.monotonic()
        view = await asyncio.wait_for(stream.read(), 5)
        assert view.value == "gcounter:5", view
        assert view.deltas_received >= 1
        await method(channels[2], "Update")(increment("watched", 2), timeout=10)
        view = await asyncio.wait_for(stream.read(), 5)
        assert view.value == "gcounter:7", view
        print(f"\nremote increment seen by the subscriber after {time.monotonic() - started:.2f}s")
        stream.cancel()
    finally:
        for channel in channels:
            await channel.close()


async def test_counters_incremented_on_every_node_converge_in_every_nodes_view(
    nodes: list[Node],
) -> None:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") for node in nodes]
    updates = [method(channel, "Update") for channel in channels]
    gets = [method(channel, "Get") for channel in channels]
    acked = dict.fromkeys(range(ENTITIES), 0)
    try:
        # Every node holds every entity (active) before the load.
        for get in gets:
            for entity in range(ENTITIES):
                await get(model_pb2.Request(id=f"c-{entity}"), timeout=10)

        async def client(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(30):
                entity, amount = rng.randrange(ENTITIES), rng.randrange(1, 5)
                await rng.choice(updates)(increment(f"c-{entity}", amount), timeout=30)
                acked[entity] += amount

        await asyncio.gather(*(client(n) for n in range(9)))
        expected = {entity: f"gcounter:{total}" for entity, total in acked.items()}
        deadline = time.monotonic() + 5
        while True:
            views = [
                {e: (await get(model_pb2.Request(id=f"c-{e}"), timeout=10)).value for e in acked}
                for get in gets
            ]
            if all(view == expected for view in views) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert views == [expected] * 3
    finally:
        for channel in channels:
            await channel.close()
