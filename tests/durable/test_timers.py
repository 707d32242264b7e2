"""Timers: one fires after its delay with the timer metadata; starting it again by name replaces
it (it fires once, with the new payload); cancelling it prevents it; a delivery that ends after
the timer was restarted leaves the new one alone; a timer survives a SIGKILLed proxy."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc
from google.protobuf import empty_pb2

from cloudstate.proxy.stores.registry import open_store
from tests.durable.harness import (
    Stack,
    cancel,
    cloudstate_cli,
    effect,
    eventually,
    no_tasks,
    running_stack,
    timer,
)
from tests.durable.uf import UserFunction, jobs_pb2
from tests.processes import proxy, wait_serving


async def test_a_timer_fires_after_its_delay_with_the_timer_metadata(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        started = time.time()
        await stack.ask(timer("t1", "fire", 600, note="n"))
        await stack.uf.wait_for(lambda: stack.uf.delivered("fire"))
        (delivery,) = stack.uf.delivered("fire")
        assert delivery.at - started >= 0.6 - 0.01  # not before it is due
        assert delivery.metadata["cloudstate-timer"] == "t1"
        assert delivery.metadata["idempotency-key"].startswith("timer:t1#")
        assert delivery.metadata["x-note"] == "n"
        await eventually(lambda: no_tasks(stack), what="the fired timer is gone")


async def test_starting_a_timer_again_replaces_it(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.ask(timer("t2", "old", 300))
        await stack.update("hana", timer("t2", "new", 900))  # names are user-function wide
        (pending,) = await stack.store.list_tasks()
        assert (
            pending.name == "timer:t2"
            and pending.payload.value == jobs_pb2.Job(tag="new").SerializeToString()
        )
        await stack.uf.wait_for(lambda: stack.uf.delivered("new"))
        await eventually(lambda: no_tasks(stack), what="the timer is done")
        await asyncio.sleep(0.3)
        assert len(stack.uf.delivered("new")) == 1
        assert stack.uf.delivered("old") == []  # its due time (300 ms) passed long ago


async def test_a_cancelled_timer_never_fires(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.ask(timer("t3", "cancelled", 300))
        await stack.record("ivan", cancel("t3"), write=False)
        await stack.update("ivan", timer("t4", "same-reply", 200), cancel("t4"))
        await stack.ask(cancel("never-started"))  # no error
        assert await stack.store.list_tasks() == []
        await stack.ask(timer("t5", "control", 400))
        await stack.uf.wait_for(lambda: stack.uf.delivered("control"))  # after the others' due
        assert stack.uf.delivered("cancelled") == [] and stack.uf.delivered("same-reply") == []


async def test_a_delivery_ending_after_its_timer_was_restarted_leaves_the_new_timer(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        release = threading.Event()
        stack.uf.recorder.holds["first"] = release
        await stack.ask(timer("t6", "first", 0))
        await stack.uf.wait_for(lambda: stack.uf.delivered("first"))  # in flight, held
        await stack.ask(timer("t6", "second", 500))
        release.set()  # the first delivery succeeds now, after the restart
        await stack.uf.wait_for(lambda: stack.uf.delivered("second"), within=8)
        assert len(stack.uf.delivered("first")) == 1


async def test_inspect_timers_lists_the_pending_ones(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        stack.uf.recorder.failures["stuck"] = -1
        await stack.ask(timer("later", "later", 60_000), effect("stuck"))
        await stack.uf.wait_for(lambda: stack.uf.delivered("stuck"))
        await eventually(lambda: _retried(stack), what="the failed delivery counted")
        listing = await asyncio.to_thread(
            cloudstate_cli, "inspect", "timers", "--store", f"sqlite:///{stack.db}"
        )
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        assert lines[0].split() == ["NAME", "TARGET", "DUE", "ATTEMPTS", "LAST", "ERROR"]
        (later,) = [line for line in lines if line.startswith("timer:later ")]
        assert "durabletest.Jobs.Deliver" in later and later.split()[3] == "0"
        (stuck,) = [line for line in lines if line.startswith("effect:")]
        assert "stuck fails on purpose" in stuck


async def _retried(stack: Stack) -> bool:
    return any(task.attempts for task in await stack.store.list_tasks("effect:"))


def test_a_timer_survives_a_killed_proxy_and_fires_after_the_restart(tmp_path: Path) -> None:
    uf = UserFunction(("Jobs",)).start()
    store = f"sqlite:///{tmp_path}/proxy.db"
    flags = ("--durable-retry-min", "100ms", "--shutdown-grace", "1")
    first = proxy(tmp_path, uf.port, store, *flags).start()
    try:
        wait_serving(first.port)
        with grpc.insecure_channel(f"127.0.0.1:{first.port}") as channel:
            ask = channel.unary_unary(
                "/durabletest.Jobs/Ask",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=empty_pb2.Empty.FromString,
            )
            ask(jobs_pb2.Plan(calls=[timer("survivor", "survivor", 4000)]), timeout=10)
        first.kill()  # right after the reply: the timer must be on disk already
        assert _pending_names(store) == ["timer:survivor"]
        time.sleep(4.3)  # past its due time, with no proxy running
        assert uf.delivered("survivor") == []
        restarted_at = time.time()
        second = proxy(tmp_path, uf.port, store, *flags).start()
        try:
            wait_serving(second.port)
            uf.wait_for_sync(lambda: uf.delivered("survivor"))
            (delivery,) = uf.delivered("survivor")
            assert delivery.at >= restarted_at
            assert delivery.metadata["cloudstate-timer"] == "survivor"
            # The delivery is finished (the task deleted) a moment after the target answered; a
            # SIGTERM before that cancels it and leaves the task for the next start.
            uf.wait_for_sync(lambda: _pending_names(store) == [])
        finally:
            second.terminate()
        assert _pending_names(store) == []
    finally:
        first.kill()
        uf.stop()


def _pending_names(store_url: str) -> list[str]:
    async def read() -> list[str]:
        store = await open_store(store_url)
        try:
            return [task.name for task in await store.list_tasks()]
        finally:
            await store.close()

    return asyncio.run(read())


async def test_stopping_the_proxy_cancels_a_delivery_in_flight_which_is_delivered_later(
    tmp_path: Path,
) -> None:
    uf = UserFunction(("Jobs",)).start()
    try:
        release = threading.Event()
        uf.recorder.holds["held"] = release
        async with running_stack(tmp_path, uf=uf, shutdown_grace=1.0) as stack:
            await stack.ask(effect("held"))
            await uf.wait_for(lambda: uf.delivered("held"))  # in flight, never answered
            async with asyncio.timeout(10):  # the stop does not wait for the held delivery
                await stack.proxy.stop()
        release.set()
        async with running_stack(tmp_path, uf=uf) as stack:
            await uf.wait_for(lambda: len(uf.delivered("held")) == 2)
            assert uf.delivered("held")[1].metadata["cloudstate-attempt"] == "1"  # not a failure
            await eventually(lambda: no_tasks(stack), what="delivered")
    finally:
        release.set()
        uf.stop()
