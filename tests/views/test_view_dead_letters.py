"""A view update handler that keeps failing on one event: the event is parked, the view moves on
(later events of the same cart update their rows), and a redrive after the fix applies it once,
to the row as it is then. SQLite and PostgreSQL, a real SDK user function and proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest_asyncio

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from tests.views import model
from tests.views.model import build, pb
from tests.views.test_views_e2e import POPULARITY, Running, add, ranking


@pytest_asyncio.fixture
async def running(store_url: str) -> AsyncIterator[Running]:
    uf = await build().serve_async("127.0.0.1", 0)
    config = ProxyConfig(
        user_function=uf.address, port=0, store=store_url, admin_port=-1, eventing_max_attempts="2"
    )
    proxy = Proxy(config)
    await proxy.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}")
    try:
        yield Running(proxy, channel)
    finally:
        model.POISONED.clear()
        await channel.close()
        await proxy.stop(0.5)
        await uf.stop(0.5)


async def test_a_failing_view_update_is_parked_and_redriven_once(running: Running) -> None:
    model.POISONED.add("bad")
    await add(running, "c1", "apple", 3)
    await add(running, "c1", "bad", 5)
    await add(running, "c1", "apple", 4)  # same cart, after the parked event: applied
    await add(running, "c2", "bad", 1)  # the same product's row, later: parked too
    await running.caught_up()
    top = await running.call(POPULARITY + "Top", pb.TopRequest(), pb.Products)
    assert ranking(top.products) == [("apple", 7)]
    proxy, operations = running.proxy, running.proxy.operations
    assert operations is not None
    (consumer_id,) = [c for c in await operations.dead_letter_counts()]
    assert consumer_id.startswith("view:viewtest.Popularity:")
    parked = await operations.dead_letters(consumer_id)
    assert [(m.key, m.attempts) for m in parked] == [("c1", 2), ("c2", 2)]
    assert "poisoned product bad" in parked[0].last_error

    model.POISONED.clear()  # the handler is fixed
    assert await operations.redrive(consumer_id) == 2
    for _ in range(400):
        if not await operations.dead_letters(consumer_id):
            break
        await asyncio.sleep(0.025)
    assert await operations.dead_letters(consumer_id) == []
    await asyncio.sleep(1.2)  # more than a poll interval: a second application would show
    top = await running.call(POPULARITY + "Top", pb.TopRequest(), pb.Products)
    assert ranking(top.products) == [("apple", 7), ("bad", 6)]  # each bad event counted once
    assert proxy.views is not None
    (status,) = [s for s in await proxy.views.status() if s.consumer_id == consumer_id]
    assert status.parked == 2 and status.caught_up
