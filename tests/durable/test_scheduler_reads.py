"""How the delivery loop reads its tasks (cloudstate/proxy/durable/scheduler.py): a backlog larger
than one read is delivered at once, read after read, not at the next poll; while the loop keeps
up, each read asks only for the tasks in flight and a few more, and every task still fires at its
due time; a task whose delivery ended while a read was in flight is not delivered again from
that read's (older) rows. The store is the in-memory one, wrapped to record every read."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from cloudstate.proxy.durable.scheduler import LOOKAHEAD, DurableScheduler, DurableSettings
from cloudstate.proxy.stores.base import DurableTask, Payload
from cloudstate.proxy.stores.memory import MemoryStore
from tests.durable.harness import eventually

EMPTY = "type.googleapis.com/google.protobuf.Empty"
#: Far longer than any test waits: a task delivered only at the next poll fails the test.
POLL = 120.0


class RecordingStore(MemoryStore):
    """Records the ``limit`` of every ``due_tasks`` read; :attr:`after_snapshot`, when set, runs
    once between a read's snapshot and its answer (as a reader thread's query can be answered
    after a commit it did not see)."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int] = []
        self.after_snapshot: Callable[[], Awaitable[None]] | None = None

    async def due_tasks(self, now: float, limit: int) -> list[DurableTask]:
        self.limits.append(limit)
        rows = await super().due_tasks(now, limit)
        meanwhile, self.after_snapshot = self.after_snapshot, None
        if meanwhile is not None:
            await meanwhile()
        return rows


def timer(n: int, due: float) -> DurableTask:
    return DurableTask(f"timer:t{n}", f"timer:t{n}#k", "s.S", "M", Payload(EMPTY, b""), due)


async def deliver_all(
    store: RecordingStore, tasks: list[DurableTask], concurrency: int
) -> dict[str, list[float]]:
    """Write ``tasks``, run a scheduler until each was delivered; task name -> delivery times."""
    await store.write_tasks(tasks)
    delivered: dict[str, list[float]] = {}

    async def deliver(task: DurableTask, attempt: int) -> None:
        delivered.setdefault(task.name, []).append(time.time())
        await asyncio.sleep(0.001)

    settings = DurableSettings(concurrency=concurrency, poll_interval=POLL)
    scheduler = DurableScheduler(store, deliver, settings)
    scheduler.start()

    async def done() -> bool:
        return len(delivered) == len(tasks) and not await store.list_tasks()

    try:
        await eventually(done, within=15, what="every task delivered and gone")
    finally:
        await scheduler.stop()
    return delivered


async def test_a_backlog_larger_than_a_read_is_delivered_without_waiting_for_the_poll() -> None:
    store = RecordingStore()
    tasks = [timer(n, time.time() - 1) for n in range(300)]  # all overdue
    delivered = await deliver_all(store, tasks, concurrency=4)
    assert Counter({name: len(times) for name, times in delivered.items()}) == Counter(
        {task.name: 1 for task in tasks}
    )
    assert max(store.limits) == 4 * 2 + 16  # behind: full batches


async def test_keeping_up_each_read_asks_for_the_tasks_in_flight_and_a_few_more() -> None:
    store = RecordingStore()
    start = time.time() + 0.2
    tasks = [timer(n, start + 0.05 * n) for n in range(20)]  # one every 50 ms
    delivered = await deliver_all(store, tasks, concurrency=64)
    for task in tasks:
        (at,) = delivered[task.name]
        assert at >= task.due  # never early; on time, not at the poll (the wait above)
    assert max(store.limits) <= 64 + LOOKAHEAD < 64 * 2 + 16


async def test_a_task_delivered_while_a_read_is_in_flight_is_not_delivered_again() -> None:
    store = RecordingStore()
    first, second = timer(1, time.time() - 1), timer(2, time.time() + 1.0)
    await store.write_tasks([first, second])
    delivered: list[str] = []
    release_first = asyncio.Event()

    async def deliver(task: DurableTask, attempt: int) -> None:
        delivered.append(task.name)
        if task.name == first.name:
            await release_first.wait()

    scheduler = DurableScheduler(store, deliver, DurableSettings(poll_interval=POLL))

    async def first_finishes() -> None:  # after the read that wakes up for `second` snapshots
        release_first.set()

        async def finished() -> bool:
            pending = [task.name for task in await store.list_tasks()]
            return scheduler.deliveries_in_flight == 0 and first.name not in pending

        await eventually(finished, what="the first delivery finished")

    scheduler.start()
    try:
        await eventually(
            lambda: asyncio.sleep(0, delivered == [first.name]), what="first in flight"
        )
        store.after_snapshot = first_finishes
        await eventually(
            lambda: asyncio.sleep(0, second.name in delivered), what="second delivered"
        )
        await asyncio.sleep(0.2)
    finally:
        await scheduler.stop()
    assert delivered == [first.name, second.name]
    assert await store.list_tasks() == []
