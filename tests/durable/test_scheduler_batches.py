"""The delivery loop delivers each task once when nothing fails: a task that was running when the
loop read its batch of due tasks, and ended while the loop waited for a free delivery slot, is
not delivered again from that (stale) batch.

Found by tests/durable/test_bank_faults.py: with its deliveries stripped of their idempotency key,
about 200 of the bank's ~2,000 durable deliveries reached their entity twice with no fault at
all — harmless to entities (the key dedups them) but a second call of an action target, and a
failed task retried at once instead of after its back-off.
"""

from __future__ import annotations

import asyncio
import time

from cloudstate.proxy.durable.scheduler import DurableScheduler, DurableSettings
from cloudstate.proxy.stores.base import DurableTask, Payload
from cloudstate.proxy.stores.registry import open_store
from tests.durable.harness import eventually


def task(name: str, due: float) -> DurableTask:
    return DurableTask(name, f"{name}-key", "svc.S", "M", Payload("type/x", b""), due)


async def test_a_task_that_ended_while_the_loop_waited_for_a_slot_is_not_delivered_again() -> None:
    store = await open_store("memory:")
    delivered: list[str] = []
    slow_running, release_slow = asyncio.Event(), asyncio.Event()

    async def deliver(task: DurableTask, attempt: int) -> None:
        delivered.append(task.name)
        if task.name == "slow":
            slow_running.set()
            await release_slow.wait()

    settings = DurableSettings(concurrency=1, poll_interval=0.05)
    scheduler = DurableScheduler(store, deliver, settings)
    now = time.time()
    await store.write_tasks([task("slow", now)])
    scheduler.start()
    try:
        async with asyncio.timeout(10):
            await slow_running.wait()
            # Due before "slow": the next batch reads [early, slow]; "early" waits for the one
            # slot, which "slow" frees when it ends — and "slow" is no longer running then.
            await store.write_tasks([task("early", now - 1)])
            await asyncio.sleep(0.3)  # the loop read that batch and waits for the slot
            release_slow.set()

            async def none_left() -> bool:
                return not await store.list_tasks()

            await eventually(none_left, what="both tasks delivered")
            await asyncio.sleep(0.3)  # a second delivery of "slow" would have started by now
    finally:
        await scheduler.stop()
        await store.close()
    assert delivered == ["slow", "early"]
