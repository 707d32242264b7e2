"""One eventing consumer: delivers every event of a persistence id (or, through
:class:`~cloudstate.proxy.eventing.topics.TopicSource`, every message of a topic) to the consuming
methods.

The loop, per consumer (``Subscription``):

1. load the committed offset (0 the first time) from the store;
2. read the next batch of events after it, in store offset order;
3. deliver the batch: the events of one entity one after the other (per-entity order), different
   entities concurrently (at most ``parallelism`` at once). A delivery that fails is retried with
   exponential backoff, logged every time; after ``max_attempts`` failures (0: never) the event
   is *parked* (a dead letter in the store) and the consumer moves on — later events of the same
   entity do not wait for it (:mod:`cloudstate.proxy.eventing.attempts`);
4. only when the whole batch was handled, commit the offset of its last event. A crash before that
   re-delivers the batch (at-least-once: handlers must tolerate duplicates). The commit is
   conditional on the offset's reset generation: after a reset (or a view rebuild's swap) it is
   refused and the consumer re-reads its position;
5. deliver the parked events someone asked to redrive (at most once per ``poll_interval``), then,
   with nothing new, sleep until an event-sourced actor of this proxy reports an append, or for
   ``poll_interval`` at most (events written by other nodes or processes).

Each call carries CloudEvent metadata: ``ce-id`` (the offset), ``ce-source`` (the persistence id),
``ce-specversion`` 1.0, ``ce-type`` (the event's type URL), ``ce-subject`` (the entity id),
``ce-sequence`` (its sequence in the entity's journal), ``ce-time`` (RFC 3339, when it was
journaled) and ``Content-Type: application/vnd.cloudstate.protobuf.any``.

One concern: the delivery loop of one eventing consumer (read, deliver, park, commit, follow
resets), with the event-log source it reads by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.eventing.attempts import DEFAULT_MAX_ATTEMPTS, GaveUp, MaxAttempts, retry
from cloudstate.proxy.eventing.subscriptions import Subscription
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.router import Router
from cloudstate.proxy.stores.base import (
    OffsetWasReset,
    ParkedMessage,
    Payload,
    Store,
    StoredEvent,
)

log = logging.getLogger(__name__)

_R = TypeVar("_R")

CONTENT_TYPE = "application/vnd.cloudstate.protobuf.any"

#: A delivery: method, the event, its CloudEvent metadata -> done (raises on failure).
Deliver = Callable[[MethodModel, any_pb2.Any, entity_pb2.Metadata], Awaitable[None]]


async def retry_forever(
    operation: Callable[[], Awaitable[_R]],
    min_backoff: float,
    max_backoff: float,
    failed: Callable[[Exception, int, float], None],
) -> _R:
    """Run ``operation`` until it succeeds, waiting ``min_backoff`` seconds after the first
    failure and twice as long after each further one (at most ``max_backoff``); ``failed`` is
    told of every error, the number of failed attempts so far and the delay before the next
    one. Cancellation is not retried."""
    return await retry(operation, min_backoff, max_backoff, failed)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One item of a consumed source: an event of an event log or a message of a topic."""

    key: str  # deliveries with one key are handled in order (entity id; topic: subject)
    offset: int
    payload: Payload
    metadata: entity_pb2.Metadata
    timestamp: float
    what: str  # for logs: "event 3 of carts|alice", "message o-1 of topic orders"


class Source(Protocol):
    """What a consumer reads: an event log (:class:`EventLogSource`) or a topic
    (:class:`~cloudstate.proxy.eventing.topics.TopicSource`)."""

    async def read(self, after_offset: int, limit: int) -> list[Delivery]:
        """The next deliveries after ``after_offset``, in offset order."""
        ...

    async def head(self) -> int:
        """The offset of the latest item, 0 if there is none."""
        ...

    async def pending_since(self, after_offset: int) -> float | None:
        """When the first item after ``after_offset`` was stored, None if there is none."""
        ...


class EventLogSource:
    """The events of one persistence id, from the journal."""

    def __init__(self, store: Store, persistence_id: str) -> None:
        self.store = store
        self.persistence_id = persistence_id

    async def read(self, after_offset: int, limit: int) -> list[Delivery]:
        pid = self.persistence_id
        return [
            Delivery(
                entity_id,
                event.offset,
                event.payload,
                cloud_event_metadata(pid, entity_id, event),
                event.timestamp,
                f"event {event.sequence} of {pid}|{entity_id}",
            )
            async for entity_id, event in self.store.read_all_events(pid, after_offset, limit)
        ]

    async def head(self) -> int:
        return await self.store.highest_offset(self.persistence_id)

    async def pending_since(self, after_offset: int) -> float | None:
        async for _, event in self.store.read_all_events(self.persistence_id, after_offset, 1):
            return event.timestamp
        return None


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    """Where a consumer stands; ``pending_since`` is when the oldest unhandled event was
    journaled (None when it is caught up), so ``now - pending_since`` is its lag in seconds."""

    consumer_id: str
    source: str
    committed_offset: int
    head_offset: int
    pending_since: float | None
    delivered: int
    failures: int
    last_error: str | None
    parked: int = 0  # messages this consumer parked since the proxy started

    @property
    def caught_up(self) -> bool:
        return self.committed_offset >= self.head_offset

    @property
    def lag_seconds(self) -> float:
        return 0.0 if self.pending_since is None else max(0.0, time.time() - self.pending_since)


def cloud_event_metadata(
    persistence_id: str, entity_id: str, event: StoredEvent
) -> entity_pb2.Metadata:
    """The CloudEvent attributes of one journaled event, as command metadata."""
    when = datetime.datetime.fromtimestamp(event.timestamp, tz=datetime.UTC)
    entries = {
        "ce-id": str(event.offset),
        "ce-source": persistence_id,
        "ce-specversion": "1.0",
        "ce-type": event.payload.type_url,
        "ce-subject": entity_id,
        "ce-sequence": str(event.sequence),
        "ce-time": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "Content-Type": CONTENT_TYPE,
    }
    return entity_pb2.Metadata(
        entries=[entity_pb2.MetadataEntry(key=k, string_value=v) for k, v in entries.items()]
    )


class EventLogConsumer:
    """Feeds one persistence id's events to one subscription's methods. Started and stopped by
    :class:`~cloudstate.proxy.eventing.manager.EventingManager`.

    Example::

        consumer = EventLogConsumer(subscription, store, router)
        consumer.start()
        consumer.notify()                 # new events were journaled
        status = await consumer.status()  # committed offset vs head
        await consumer.stop()
    """

    def __init__(
        self,
        subscription: Subscription,
        store: Store,
        router: Router,
        *,
        source: Source | None = None,
        consumer_id: str | None = None,
        batch_size: int = 500,
        parallelism: int = 16,
        poll_interval: float = 1.0,
        min_backoff: float = 0.1,
        max_backoff: float = 30.0,
        lag_log_interval: float = 10.0,
        max_attempts: int | str | MaxAttempts = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.subscription = subscription
        self.store = store
        self.router = router
        self.source: Source = source or EventLogSource(store, subscription.source)
        #: The key of the offset in the store (default: the subscription's).
        self._consumer_id = consumer_id or subscription.consumer_id
        self.batch_size = max(1, batch_size)
        self.parallelism = max(1, parallelism)
        self.poll_interval = poll_interval
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.lag_log_interval = lag_log_interval
        self.committed_offset = 0
        self.delivered = 0
        self.failures = 0
        self.ignored = 0
        self.last_error: str | None = None
        self._max_attempts = (
            max_attempts
            if isinstance(max_attempts, MaxAttempts)
            else MaxAttempts.parse(max_attempts)
        )
        #: The reset generation of the committed offset this loop works from.
        self.generation = 0
        self.parked = 0
        self.redriven = 0
        self._redrive_checked = 0.0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ignored_types: set[str] = set()
        self._last_lag_log = 0.0

    @property
    def consumer_id(self) -> str:
        return self._consumer_id

    @property
    def parked_id(self) -> str:
        """Whose dead letters this loop's parked messages are (a view rebuild parks as its
        view consumer, so they are redriven into whichever generation is live by then)."""
        return self.consumer_id

    @property
    def max_attempts(self) -> int:
        """Failed attempts at one message before it is parked (0: retry forever)."""
        return self._max_attempts.of(self.consumer_id)

    def describe(self) -> str:
        return self.subscription.describe()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name=f"eventing consumer {self.consumer_id}"
            )

    def notify(self) -> None:
        """New events may be there: read now instead of at the next poll."""
        self._wakeup.set()

    def notify_redrive(self) -> None:
        """Parked messages were marked for redrive: look for them now."""
        self._redrive_checked = 0.0
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop consuming; a batch in progress is abandoned (re-delivered on the next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def status(self) -> ConsumerStatus:
        """The consumer's committed offset against the head of its event log."""
        head = await self.source.head()
        pending_since = await self.source.pending_since(self.committed_offset)
        return ConsumerStatus(
            self.consumer_id,
            self.subscription.source,
            self.committed_offset,
            head,
            pending_since,
            self.delivered,
            self.failures,
            self.last_error,
            self.parked,
        )

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        await self._load_position()
        log.info(
            "eventing: %s starts after offset %d",
            self.subscription.describe(),
            self.committed_offset,
        )
        while True:
            self._wakeup.clear()
            await self._follow_resets()
            try:
                await self._redrive_requested()
                batch = await self._retrying("read the event log", self._read_batch)
                if not batch:
                    if await self._caught_up():
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
                    continue
                await self._deliver_batch(batch)
                last = batch[-1].offset
                await self._commit(last)
            except OffsetWasReset:
                continue  # the next round re-reads the position
            self.committed_offset = last
            committed = getattr(self.source, "committed", None)
            if committed is not None:  # e.g. acknowledge the batch to the external broker
                await committed(last)
            await self._maybe_log_lag()

    async def _load_position(self) -> None:
        position = await self._retrying(
            "load the offset", functools.partial(self.store.load_position, self.consumer_id)
        )
        self.committed_offset, self.generation = position.offset, position.generation

    async def _follow_resets(self) -> None:
        """Someone reset the offset (or a view rebuild swapped in): carry on from there."""
        position = await self._retrying(
            "load the offset", functools.partial(self.store.load_position, self.consumer_id)
        )
        if position.generation != self.generation:
            log.warning(
                "eventing: %s: its offset was reset to %d (it was at %d): continuing from there",
                self.subscription.describe(),
                position.offset,
                self.committed_offset,
            )
            self.committed_offset, self.generation = position.offset, position.generation
            await self._position_changed()

    async def _position_changed(self) -> None:
        """Hook: the position was reset (a view consumer re-reads its tables' generations)."""

    async def _caught_up(self) -> bool:
        """Hook: nothing more to read for now; True ends the loop (a view rebuild swaps in)."""
        return False

    async def _commit(self, offset: int) -> None:
        """Durably record that everything up to ``offset`` was handled (a view's consumer
        commits it in the transaction of its rows instead)."""
        save = functools.partial(
            self.store.save_offset, self.consumer_id, offset, generation=self.generation
        )
        await self._retrying("commit the offset", save)

    async def _read_batch(self) -> list[Delivery]:
        return await self.source.read(self.committed_offset, self.batch_size)

    async def _deliver_batch(self, batch: list[Delivery]) -> None:
        by_key: dict[str, list[Delivery]] = {}
        for item in batch:
            by_key.setdefault(item.key, []).append(item)
        slots = asyncio.Semaphore(self.parallelism)

        async def in_order(items: list[Delivery]) -> None:
            async with slots:
                for item in items:
                    await self._deliver(item)

        async with asyncio.TaskGroup() as group:
            for items in by_key.values():
                group.create_task(in_order(items))

    async def _deliver(self, item: Delivery) -> None:
        try:
            await self._attempt(item)
        except GaveUp as gave_up:
            await self._park(item, gave_up)
        self.delivered += 1

    async def _attempt(self, item: Delivery) -> dict[str, list[Any]]:
        """Deliver ``item``, retrying up to :attr:`max_attempts` (GaveUp then); what to write
        with it when it was parked (nothing for an action: the handler did the work)."""
        subscription = self.subscription
        method = subscription.route(item.payload.type_url)
        if method is None:
            self.ignored += 1
            if item.payload.type_url not in self._ignored_types:
                self._ignored_types.add(item.payload.type_url)
                log.info(
                    "eventing: %s has no method for events of type %s: they are passed over "
                    "(add a method taking it, or one taking google.protobuf.Any)",
                    subscription.describe(),
                    item.payload.type_url,
                )
            return {}
        payload = any_pb2.Any(type_url=item.payload.type_url, value=item.payload.value)
        what = f"{method.service.name}.{method.name} failed on {item.what} (offset {item.offset})"
        await retry(
            lambda: self._call(method, payload, item.metadata),
            self.min_backoff,
            self.max_backoff,
            self._failed_attempt(what),
            self.max_attempts,
        )
        return {}

    def _failed_attempt(self, what: str) -> Callable[[Exception, int, float], None]:
        def failed(error: Exception, attempt: int, delay: float) -> None:
            self.failures += 1
            self.last_error = f"{what}: {error}"
            if self.max_attempts:
                then = f"{self.max_attempts - attempt} attempts left before it is parked"
            else:
                then = "the event is not skipped: fix the handler or the data"
            log.warning(
                "eventing: %s; attempt %d, retrying in %.1fs (%s)",
                self.last_error,
                attempt,
                delay,
                then,
            )

        return failed

    async def _park(self, item: Delivery, gave_up: GaveUp, attempts_before: int = 0) -> None:
        """Store ``item`` as a dead letter of this consumer, so that the consumer moves on."""
        self.failures += 1
        self.last_error = f"{item.what} (offset {item.offset}) parked: {gave_up.error}"
        message = ParkedMessage(
            self.parked_id,
            item.offset,
            item.key,
            item.payload,
            item.metadata.SerializeToString(),
            item.what,
            attempts_before + gave_up.attempts,
            str(gave_up.error),
            time.time(),
        )
        await self._retrying("park a message", functools.partial(self.store.park_message, message))
        self.parked += 1
        metrics.EVENTING_PARKED.labels(self.parked_id).inc()
        log.error(
            "eventing: %s gave up on %s (offset %d) after %d attempts: %s; it is parked and the "
            "consumer moves on (list it with `cloudstate eventing dead-letters %s`, redrive it "
            "with `cloudstate eventing redrive %s %d` once the handler is fixed)",
            self.subscription.describe(),
            item.what,
            item.offset,
            message.attempts,
            gave_up.error,
            self.parked_id,
            self.parked_id,
            item.offset,
        )

    async def _redrive_requested(self) -> None:
        """Deliver the parked messages someone asked to redrive (looked for once per poll)."""
        now = time.monotonic()
        if now - self._redrive_checked < self.poll_interval:
            return
        self._redrive_checked = now
        requested = await self._retrying(
            "read the parked messages",
            functools.partial(self.store.list_parked, self.consumer_id, 100, redrive_only=True),
        )
        for message in requested:
            item = Delivery(
                message.key,
                message.offset,
                message.payload,
                entity_pb2.Metadata.FromString(message.metadata),
                message.failed_at,
                message.what,
            )
            try:
                updates = await self._attempt(item)
            except GaveUp as gave_up:
                await self._park(item, gave_up, message.attempts)
                continue
            finish = functools.partial(
                self.store.finish_parked, self.consumer_id, message.offset, updates
            )
            if await self._retrying("finish a redriven message", finish):
                self.redriven += 1
                log.info(
                    "eventing: %s: redriven %s (offset %d) was handled",
                    self.subscription.describe(),
                    item.what,
                    item.offset,
                )

    async def _call(
        self, method: MethodModel, payload: any_pb2.Any, metadata: entity_pb2.Metadata
    ) -> None:
        if method.server_streaming or method.client_streaming:
            data = payload.value
            if method.input_type.full_name == "google.protobuf.Any":
                data = payload.SerializeToString()
            streamed = self.router.stream(method, data, metadata, internal=True)
            async with contextlib.aclosing(streamed) as replies:
                async for _ in replies:
                    pass
            return
        await self.router.call_any(method, payload, metadata)

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[_R]]) -> _R:
        """Run a store operation until it succeeds (the database may be briefly away)."""

        def failed(error: Exception, attempt: int, delay: float) -> None:
            self.last_error = f"cannot {what} of {self.consumer_id}: {error}"
            log.warning("eventing: %s; retrying in %.1fs", self.last_error, delay)

        return await retry(operation, self.min_backoff, self.max_backoff, failed)

    async def _maybe_log_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_log < self.lag_log_interval:
            return
        self._last_lag_log = now
        with contextlib.suppress(Exception):
            status = await self.status()
            log.info(
                "eventing: %s at offset %d of %d (lag %.1fs, %d delivered, %d failed attempts)",
                self.subscription.describe(),
                status.committed_offset,
                status.head_offset,
                status.lag_seconds,
                status.delivered,
                status.failures,
            )
