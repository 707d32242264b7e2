"""The delivery loop of durable tasks: durable side effects, timers and schedule ticks.

**One node at a time.** The loop runs on the node that owns ``durable-tasks``
(:meth:`~cloudstate.proxy.stores.base.Store.try_own`: a session-level advisory lock on PostgreSQL,
granted at once on SQLite and memory); the others try to take it over every
``takeover_interval`` seconds, so a dead owner's deliveries resume on another node within about
that long. Deliveries in flight when ownership is lost or the proxy stops are cancelled; their
tasks stay pending and are delivered again (at least once; the ``idempotency-key`` makes the
repeat harmless to entities).

**The loop.** It reads the tasks due before ``now + poll_interval`` (earliest first), starts a
delivery for each one due now that is not already being delivered (at most ``concurrency`` at
once; a task name is never delivered twice at once, and a row read before its delivery ended is
not delivered again), then sleeps until the earliest of: the next task it saw,
``poll_interval`` (tasks written by other nodes), or a local :meth:`notify` of a commit due
earlier than that. It reads again at once only when a full read showed no task due later (more
may be due); while it keeps up it reads only the tasks in flight and a few more (10,000 timers
due over 10 s: one short read per wake-up, not two reads of a full batch).

**Outcomes.** Success deletes the task (conditional on its key: a timer restarted meanwhile is
left alone). A failure counts an attempt and retries after an exponential back-off with *equal
jitter*: the nominal ``min(retry_max, retry_min * 2^(attempts-1))``, of which the first half is
always waited and the second half drawn uniformly — delays grow steadily (each at least half its
nominal value) while clients retrying in step are spread out. When the attempts reach the task's
``max_attempts`` (or ``max_attempts`` of the settings) it becomes a dead letter.

**Schedules.** A delivered (or dead-lettered) schedule tick is replaced by the next tick: the
task is finished conditionally on the key delivered, and only if that succeeded is the next
tick written — so a tick replaced meanwhile (the option changed at a start) is not overwritten,
and one tick is never written twice. A crash between the two writes leaves the schedule without
a task; :func:`~cloudstate.proxy.durable.schedules.upsert_schedules` runs whenever a node takes
the deliveries over (and at every start) and writes it again, due at the next tick.

Example::

    scheduler = DurableScheduler(store, Delivery(router, 60), DurableSettings(), schedules)
    scheduler.start()
    scheduler.notify(due)     # a task due at ``due`` was committed on this node
    await scheduler.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cloudstate.proxy import metrics
from cloudstate.proxy.durable.schedules import Schedule, upsert_schedules
from cloudstate.proxy.stores.base import DurableTask, Store

log = logging.getLogger(__name__)

#: The ownership name of the delivery loop (one node at a time runs it).
OWNERSHIP = "durable-tasks"

Deliver = Callable[[DurableTask, int], Awaitable[None]]
#: Tasks read beyond those in flight while the loop keeps up (see ``_start_due``).
LOOKAHEAD = 16


@dataclass(frozen=True, slots=True)
class DurableSettings:
    """Tunables of the delivery loop (``--durable-*`` flags)."""

    max_attempts: int = 20  # attempts before a dead letter, unless the task sets its own
    retry_min: float = 1.0  # seconds: the first back-off (nominal)
    retry_max: float = 300.0  # seconds: the longest back-off
    concurrency: int = 64  # deliveries in flight at once
    poll_interval: float = 1.0  # seconds: the longest sleep (tasks other nodes wrote)
    takeover_interval: float = 1.0  # seconds between attempts to take the loop over


def backoff(
    attempts: int, settings: DurableSettings, draw: Callable[[], float] = random.random
) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (equal jitter)::

    >>> backoff(3, DurableSettings(retry_min=1, retry_max=300), draw=lambda: 0.0)
    2.0
    """
    nominal = min(settings.retry_max, settings.retry_min * 2.0 ** max(0, attempts - 1))
    return nominal / 2 + draw() * nominal / 2


class DurableScheduler:
    """Delivers durable tasks while this node owns them (see the module doc)."""

    def __init__(
        self,
        store: Store,
        deliver: Deliver,
        settings: DurableSettings,
        schedules: Iterable[Schedule] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.settings = settings
        self.schedules = {schedule.task_name: schedule for schedule in schedules}
        self.clock = clock
        #: Whether this node runs the deliveries now.
        self.owned = False
        self._task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        #: (name, key) of the deliveries that ended since the current read began: its rows of
        #: them may predate their outcome (a finished task still pending, a retry's old due).
        self._ended: set[tuple[str, str]] = set()
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._batch = max(1, settings.concurrency) * 2 + 16
        self._behind = False  # the last read was full and showed no task due later
        self._wake = asyncio.Event()
        self._wake_at = math.inf  # when the loop wakes up by itself; inf while it works
        self._deliveries = {
            outcome: metrics.DURABLE_DELIVERIES.labels(outcome)
            for outcome in ("ok", "retry", "dead")
        }

    @property
    def deliveries_in_flight(self) -> int:
        return len(self._running)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="durable task scheduler")

    def notify(self, due: float) -> None:
        """A task due at ``due`` was committed on this node: wake the loop if that is earlier
        than its next wake-up (another node's commits are seen at the next poll)."""
        if due < self._wake_at:
            self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop and the deliveries in flight (their tasks stay pending) and give up
        ownership."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.owned or self.store.shared:
            with contextlib.suppress(Exception):
                await self.store.disown(OWNERSHIP)
        self.owned = False

    # -- ownership ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                lost = await self.store.try_own(OWNERSHIP)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("durable tasks: cannot claim the deliveries: %s", error)
                lost = None
            if lost is None:
                await asyncio.sleep(self.settings.takeover_interval)
                continue
            self.owned = True
            if self.store.shared:
                log.info("durable tasks: this node now delivers timers and durable calls")
            loop = asyncio.create_task(self._deliver_while_owned(), name="durable task loop")
            ended = asyncio.create_task(lost.wait(), name="durable task ownership")
            try:
                await asyncio.wait({loop, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.owned = False
                for waiting in (loop, ended):
                    waiting.cancel()
                await asyncio.gather(loop, ended, return_exceptions=True)
                await self._cancel_deliveries()
            if ended.done() and not ended.cancelled():
                log.warning(
                    "durable tasks: this node lost the deliveries (database session ended); "
                    "another node takes over"
                )
            elif loop.done() and not loop.cancelled() and loop.exception() is not None:
                log.error("durable tasks: the delivery loop crashed", exc_info=loop.exception())
                with contextlib.suppress(Exception):
                    await self.store.disown(OWNERSHIP)
                await asyncio.sleep(self.settings.takeover_interval)

    async def _cancel_deliveries(self) -> None:
        running = list(self._running.values())
        for delivery in running:
            delivery.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._running.clear()
        # A delivery cancelled before it first ran never released its slot: start afresh.
        self._slots = asyncio.Semaphore(max(1, self.settings.concurrency))

    # -- the loop -----------------------------------------------------------------------------

    async def _deliver_while_owned(self) -> None:
        upserted = not self.schedules
        while True:
            self._wake_at = math.inf
            self._wake.clear()
            if not upserted:
                upserted = await self._upsert_schedules()
            try:
                wait = await self._start_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("durable tasks: cannot read the due tasks: %s; retrying", error)
                wait = self.settings.poll_interval
            self._wake_at = self.clock() + wait
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _upsert_schedules(self) -> bool:
        try:
            await upsert_schedules(self.store, self.schedules.values(), self.clock())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("durable tasks: cannot write the schedules' next ticks: %s", error)
            return False
        return True

    async def _start_due(self) -> float:
        """Start the deliveries of the tasks due now; the seconds to sleep afterwards.

        Behind (the last read was full and showed no task due later), it reads a full batch;
        otherwise the tasks in flight and :data:`LOOKAHEAD` more — timers due every millisecond
        wake the loop about as often, and each wake-up then reads a few rows, not a batch."""
        poll = self.settings.poll_interval
        now = self.clock()
        limit = self._batch if self._behind else min(self._batch, len(self._running) + LOOKAHEAD)
        self._ended.clear()
        upcoming = await self.store.due_tasks(now + poll, limit)
        next_due = now + poll
        started = stale = 0
        later = False  # a task due later was read: none due now is beyond this read
        for task in upcoming:
            if task.name in self._running:
                continue
            if task.due > now:
                next_due = min(next_due, task.due)
                later = True
                continue
            slots = self._slots
            await slots.acquire()
            if (task.name, task.key) in self._ended:
                # Its delivery ended since this read began (during the read, or while this loop
                # waited for a slot): the row is older than its outcome — finished (delivering
                # it again would call the target twice) or retried later (it would skip its
                # back-off).
                slots.release()
                stale += 1
                continue
            started += 1
            self._running[task.name] = asyncio.create_task(
                self._deliver(task, slots), name=f"durable delivery {task.name}"
            )
        # Rows come earliest first: a full read without a later task may have left due ones out.
        self._behind = len(upcoming) == limit and not later
        if (started or stale) and self._behind:
            return 0.0  # more may be due beyond this batch
        return max(0.0, next_due - self.clock())

    async def _deliver(self, task: DurableTask, slots: asyncio.Semaphore) -> None:
        try:
            attempt = task.attempts + 1
            metrics.DURABLE_LATENESS.observe(max(0.0, self.clock() - task.due))
            try:
                await self.deliver(task, attempt)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._failed(task, attempt, str(error) or type(error).__name__)
            else:
                await self._succeeded(task)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning(
                "durable tasks: could not record the outcome of delivering %s: %s; it will be "
                "delivered again",
                task.name,
                error,
            )
        finally:
            slots.release()
            self._ended.add((task.name, task.key))
            if self._running.get(task.name) is asyncio.current_task():
                del self._running[task.name]

    async def _succeeded(self, task: DurableTask) -> None:
        self._deliveries["ok"].inc()
        schedule = self.schedules.get(task.name)
        if await self.store.finish_task(task.name, task.key) and schedule is not None:
            await self._next_tick(schedule)

    async def _failed(self, task: DurableTask, attempt: int, error: str) -> None:
        max_attempts = task.max_attempts or self.settings.max_attempts
        target = f"{task.service}.{task.method}"
        if attempt >= max_attempts:
            self._deliveries["dead"].inc()
            log.error(
                "durable task %s (%s) failed %d times and is now a dead letter: %s. Fix the "
                "cause, then 'cloudstate durable redrive %s' (or drop it)",
                task.name,
                target,
                attempt,
                error,
                task.name,
            )
            moved = await self.store.dead_letter_task(task.name, task.key, error)
            schedule = self.schedules.get(task.name)
            if moved and schedule is not None:
                await self._next_tick(schedule)  # a failed tick must not end its schedule
            return
        self._deliveries["retry"].inc()
        due = self.clock() + backoff(attempt, self.settings)
        log.warning(
            "durable task %s (%s) failed (attempt %d of %d), retrying in %.1fs: %s",
            task.name,
            target,
            attempt,
            max_attempts,
            due - self.clock(),
            error,
        )
        if await self.store.retry_task(task.name, task.key, due, error):
            self.notify(due)

    async def _next_tick(self, schedule: Schedule) -> None:
        """Write the schedule's next tick; retried while the store fails (a crash here is made
        good by the upsert when a node next takes the deliveries over)."""
        while True:
            tick = schedule.next_tick(self.clock())
            try:
                await self.store.write_tasks([schedule.task(tick)])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "durable tasks: cannot write the next tick of %s: %s; retrying",
                    schedule.task_name,
                    error,
                )
                await asyncio.sleep(self.settings.poll_interval)
                continue
            self.notify(tick)
            return
