"""Recurring schedules (``(cloudstate.schedule)``): ``every: "1s"`` fires on every tick, once
per tick; ticks missed while no proxy ran collapse into one call at start; a changed option is
rescheduled and a schedule no longer declared is dropped; a schedule on an entity method or
with a bad cron expression stops the proxy at start with a clear message."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.durable.schedules import Schedule
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.server import Proxy
from cloudstate.proxy.stores.registry import open_store
from tests.durable.harness import running_stack
from tests.durable.uf import UserFunction

TICK = "schedule:durabletest.Ticks.Tick"
EMPTY = "type.googleapis.com/google.protobuf.Empty"


def tick_of(metadata: dict[str, str]) -> float:
    text = metadata["cloudstate-schedule"].replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text).timestamp()


async def test_an_every_schedule_fires_on_every_tick_once(tmp_path: Path) -> None:
    async with running_stack(tmp_path, services=("Jobs", "Ticks")) as stack:
        await stack.uf.wait_for(lambda: len(stack.uf.recorder.ticks()) >= 3, within=10)
        ticks = stack.uf.recorder.ticks()
        moments = [tick_of(d.metadata) for d in ticks]
        assert moments == sorted(set(moments)), moments  # each tick once, in order
        assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(moments))
        assert all(m == int(m) for m in moments)  # on the grid (whole seconds)
        for delivery, moment in zip(ticks, moments, strict=True):
            assert delivery.at >= moment - 0.01  # never before its tick
            key = delivery.metadata["idempotency-key"]
            assert key == f"{TICK}@{delivery.metadata['cloudstate-schedule']}"

        # The handler records a tick on arrival; the proxy writes the next one once the
        # delivery has ended.
        async def next_tick_written() -> bool:
            tasks = await stack.store.list_tasks("schedule:")
            return len(tasks) == 1 and tasks[0].due > moments[-1]

        async with asyncio.timeout(10):
            while not await next_tick_written():  # noqa: ASYNC110 - the state is in the store
                await asyncio.sleep(0.05)
        (pending,) = await stack.store.list_tasks("schedule:")
        assert pending.name == TICK and pending.due > moments[-1]


async def _prepare(db: Path, *tasks: object) -> None:
    store = await open_store(f"sqlite:///{db}")
    try:
        await store.write_tasks(tasks)  # type: ignore[arg-type]
    finally:
        await store.close()


async def test_missed_ticks_collapse_into_one_call_at_start(tmp_path: Path) -> None:
    schedule = Schedule("durabletest.Ticks", "Tick", EMPTY, every=1.0)
    missed = float(int(time.time()) - 30)  # 30 ticks ago, no proxy ran since
    await _prepare(tmp_path / "proxy.db", schedule.task(missed))
    started = time.time()
    async with running_stack(tmp_path, services=("Jobs", "Ticks")) as stack:
        await stack.uf.wait_for(lambda: len(stack.uf.recorder.ticks()) >= 2, within=10)
        first, second = stack.uf.recorder.ticks()[:2]
        assert tick_of(first.metadata) == missed  # the overdue tick, once
        assert tick_of(second.metadata) > started  # then on the grid again: no catch-up burst


async def test_a_changed_or_removed_schedule_is_rescheduled_at_start(tmp_path: Path) -> None:
    old = Schedule("durabletest.Ticks", "Tick", EMPTY, every=3600.0)
    gone = Schedule("durabletest.Gone", "Sweep", EMPTY, every=1.0)
    await _prepare(
        tmp_path / "proxy.db", old.task(time.time() + 3600), gone.task(time.time() + 3600)
    )
    async with running_stack(tmp_path, services=("Jobs", "Ticks")) as stack:
        (pending,) = await stack.store.list_tasks("schedule:")
        assert pending.name == TICK and pending.due <= time.time() + 1.0
        await stack.uf.wait_for(lambda: stack.uf.recorder.ticks(), within=10)


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        (("Jobs", "Sweeper"), ["durabletest.Sweeper.Sweep", "only methods of actions"]),
        (("Nightly",), ["durabletest.Nightly.Report", "'61 * * * *'", "does not parse"]),
    ],
)
async def test_a_bad_schedule_is_refused_at_start(
    tmp_path: Path, services: tuple[str, ...], expected: list[str]
) -> None:
    uf = UserFunction(services).start()
    proxy = Proxy(ProxyConfig(user_function=uf.address, port=0, store=f"sqlite:///{tmp_path}/p.db"))
    try:
        with pytest.raises(DiscoveryError) as refused:
            await proxy.start()
        for text in expected:
            assert text in str(refused.value)
        assert any(expected[0] in message for message in uf.recorder.reported)
    finally:
        await proxy.stop(0)
        uf.stop()


async def test_the_proxy_command_exits_naming_the_bad_schedule(tmp_path: Path) -> None:
    uf = UserFunction(("Nightly",)).start()
    try:
        args = [
            sys.executable,
            *("-m", "cloudstate.proxy", "--user-function", uf.address, "--port", "0"),
            *("--store", f"sqlite:///{tmp_path}/p.db", "--discovery-timeout", "20"),
        ]
        done = await asyncio.to_thread(
            subprocess.run, args, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert "durabletest.Nightly.Report" in done.stderr and "61 * * * *" in done.stderr
    finally:
        uf.stop()
