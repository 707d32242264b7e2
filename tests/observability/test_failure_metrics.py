"""Metrics of failures, each made to happen: a user-function entity stream that breaks (the
handler crashes) counts a restart; a consumer whose handler fails shows retries, pending events
and lag until it succeeds, then none; a store write that cannot commit counts a store error.

Proxy and user function run in this process, so the metrics are read from the proxy's registry.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cloudstate.proxy import metrics
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from tests.observability.flaky_uf import Consumer, build, flaky_pb2


class Stack:
    def __init__(self, proxy: Proxy, db: Path, channel: grpc.aio.Channel) -> None:
        self.proxy = proxy
        self.db = db
        self.poke = channel.unary_unary(
            "/obstest.Flaky/Poke",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=flaky_pb2.Pokes.FromString,
        )

    async def eventing(self, name: str) -> float:
        """The consumer's eventing gauge ``name`` as a scrape would show it."""
        await self.proxy._refresh_metrics()
        for family in metrics.REGISTRY.collect():
            for sample in family.samples:
                if sample.name == name and "PokeConsumer" in sample.labels["consumer"]:
                    return float(sample.value)
        return 0.0


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = tmp_path_factory.mktemp("failure-metrics") / "proxy.db"
    server = await build().serve_async(host="127.0.0.1", port=0)
    proxy = Proxy(ProxyConfig(user_function=server.address, port=0, store=f"sqlite:///{db}"))
    await proxy.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            yield Stack(proxy, db, channel)
    finally:
        await proxy.stop(0)
        await server.stop(0)


async def test_a_crashed_entity_stream_counts_a_restart(stack: Stack) -> None:
    labels = {"entity_type": "EventSourced", "service": "obstest.Flaky"}
    assert (await stack.poke(flaky_pb2.PokeRequest(id="r", text="a"), timeout=10)).count == 1
    before = sample("cloudstate_entity_stream_restarts_total", **labels)
    with pytest.raises(grpc.aio.AioRpcError):
        await stack.poke(flaky_pb2.PokeRequest(id="r", text="crash"), timeout=10)
    # The next command reaches a restarted stream, replayed from the journal.
    assert (await stack.poke(flaky_pb2.PokeRequest(id="r", text="b"), timeout=10)).count == 2
    assert sample("cloudstate_entity_stream_restarts_total", **labels) == before + 1


async def test_a_failing_consumer_shows_retries_and_lag_until_it_succeeds(stack: Stack) -> None:
    await wait_until(stack, "cloudstate_eventing_pending_events", lambda v: v == 0)  # caught up
    Consumer.healthy = False
    failures_before = await stack.eventing("cloudstate_eventing_failures")
    failed_before = Consumer.failed
    await stack.poke(flaky_pb2.PokeRequest(id="e", text="late"), timeout=10)
    # Retried with backoff (0.1 s, 0.2 s, ...), never skipped.
    await wait_until(stack, "cloudstate_eventing_failures", lambda v: v >= failures_before + 2)
    assert await stack.eventing("cloudstate_eventing_pending_events") >= 1
    assert await stack.eventing("cloudstate_eventing_lag_seconds") > 0
    Consumer.healthy = True
    await wait_until(stack, "cloudstate_eventing_pending_events", lambda v: v == 0)
    assert await stack.eventing("cloudstate_eventing_lag_seconds") == 0
    assert Consumer.handled[-1] == "late"
    # Every failed delivery counted once.
    failures = await stack.eventing("cloudstate_eventing_failures")
    assert failures - failures_before == Consumer.failed - failed_before >= 2


async def wait_until(stack: Stack, gauge: str, done: Any) -> None:
    for _ in range(1000):
        if done(await stack.eventing(gauge)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{gauge} is {await stack.eventing(gauge)}")


async def test_a_write_that_cannot_commit_counts_a_store_error(stack: Stack) -> None:
    before = sample("cloudstate_store_errors_total", store="sqlite")
    blocker = sqlite3.connect(stack.db, isolation_level=None, timeout=10)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # the proxy's writer waits its busy timeout, then fails
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stack.poke(flaky_pb2.PokeRequest(id="s", text="x"), timeout=30)
        assert "locked" in (failed.value.details() or ""), failed.value
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sample("cloudstate_store_errors_total", store="sqlite") >= before + 1
    assert (await stack.poke(flaky_pb2.PokeRequest(id="s", text="y"), timeout=10)).count == 1
