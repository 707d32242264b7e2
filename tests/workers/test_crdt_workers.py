"""CRDTs with two proxy workers on one SQLite file: a streamed subscriber (``Watch``) is served
by the worker its connection landed on, which may not own the entity; the owner runs the
updates. What must hold: every subscriber, on either worker, sees every update (the owner sends
a change notice over the workers' channel and the other worker's replica merges the stored
state), and each worker writes under a replica id of its own (so merges never fold two workers'
increments into one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cloudstate.proxy.crdt import codec
from cloudstate.proxy.crdt.types import GCounter
from cloudstate.proxy.stores.registry import open_store
from tests.processes import metric
from tests.scaleout.cluster import CHANNEL_OPTIONS
from tests.scaleout.test_crdt_nodes import model_pb2, raw_crdt_user_function
from tests.scaleout.test_crdt_notices import increment, method
from tests.workers.test_workers import Workers

WATCHERS = 16  # connections: the kernel spreads them over both workers


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    node = Workers(tmp_path, user_function=raw_crdt_user_function)
    try:
        node.start()
        yield node
    finally:
        node.stop()


async def stored_counter(workers: Workers) -> GCounter:
    store = await open_store(workers.store)
    try:
        stored = await store.load_value("crdt:raw-crdt", "watched")
    finally:
        await store.close()
    assert stored is not None
    state = codec.decode(stored.payload.value)
    assert isinstance(state, GCounter)
    return state


async def test_subscribers_on_either_worker_see_every_update(workers: Workers) -> None:
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{workers.port}", options=CHANNEL_OPTIONS)
        for _ in range(WATCHERS)
    ]
    writer = grpc.aio.insecure_channel(f"127.0.0.1:{workers.port}")
    try:
        streams = []
        for channel in channels:
            watch = channel.unary_stream(
                "/rawcrdt.Model/Watch",
                request_serializer=model_pb2.Request.SerializeToString,
                response_deserializer=model_pb2.View.FromString,
            )
            stream = watch(model_pb2.Request(id="watched"), timeout=60)
            assert (await stream.read()).value == "none"
            streams.append(stream)
        # Both workers hold the entity: the owner, and the other for the watchers it serves.
        activations = [
            metric(workers.admin_port + i, "cloudstate_entity_activations_total") for i in (0, 1)
        ]
        assert all(count > 0 for count in activations), f"activations per worker: {activations}"
        for amount, total in ((5, 5), (2, 7), (4, 11)):
            await method(writer, "Update")(increment("watched", amount), timeout=10)
            for n, stream in enumerate(streams):
                view = await asyncio.wait_for(stream.read(), 10)
                while view.value != f"gcounter:{total}":  # a notice may come in two deltas
                    view = await asyncio.wait_for(stream.read(), 10)
                assert view.value == f"gcounter:{total}", (n, view)
        for stream in streams:
            stream.cancel()
        # Written by the owner under its worker id, not the sole process's "node-1".
        counter = await stored_counter(workers)
        assert sum(counter.counts.values()) == 11
        assert set(counter.counts) <= {"w0", "w1"}, counter.counts
    finally:
        for channel in [*channels, writer]:
            await channel.close()
