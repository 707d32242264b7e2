"""In-process store: plain dicts behind an asyncio lock. Lost on exit; used by tests and demos.

It implements exactly the semantics of the durable backends (conditional writes, store-wide offsets,
versions that keep growing across deletes) so that tests written against it stay valid for them.

One concern: the whole store contract (:class:`~cloudstate.proxy.stores.base.Store`) in memory.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import functools
import operator
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from cloudstate.proxy.stores.base import (
    ClusterMember,
    ConcurrentWriteError,
    ConsumerPosition,
    DeadLetter,
    DurableTask,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    OffsetWasReset,
    Outbox,
    ParkedMessage,
    Payload,
    Store,
    StoredEvent,
    StoredSnapshot,
    StoredValue,
    StoreError,
    TaskCancel,
    TaskChanges,
    TopicMessage,
    ViewFilter,
    ViewGeneration,
    ViewRow,
    ViewSelect,
    ViewValue,
    view_generation_id,
)

_Key = tuple[str, str]


class MemoryStore(Store):
    """A :class:`Store` kept in dictionaries of this process."""

    name = "memory"

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """``memory:`` (or ``memory://``): a new, empty store."""
        return cls()

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._closed = False
        self._journals: dict[_Key, list[StoredEvent]] = {}
        # Per persistence id, every event in offset order: the feed for read_all_events.
        self._feeds: dict[str, list[tuple[str, StoredEvent]]] = {}
        self._snapshots: dict[_Key, StoredSnapshot] = {}
        # (payload or None when deleted, version); tombstones keep the version growing.
        self._values: dict[_Key, tuple[Payload | None, int]] = {}
        self._last_offset = 0
        self._consumer_offsets: dict[str, int] = {}
        self._generations: dict[str, int] = {}  # consumer id -> reset generation
        self._parked: dict[tuple[str, int], ParkedMessage] = {}
        self._view_generations: dict[str, ViewGeneration] = {}
        self._expiry: dict[_Key, float] = {}  # values with an expires_at
        self._topics: dict[str, list[TopicMessage]] = {}
        self._last_topic_offset = 0
        self._views: dict[str, dict[str, ViewRow]] = {}
        self._tasks: dict[str, DurableTask] = {}
        self._dead_letters: dict[str, DeadLetter] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        # node id -> (address, incarnation, time.monotonic() of the last heartbeat)
        self._members: dict[str, tuple[str, int, float]] = {}

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the memory store is closed")

    async def close(self) -> None:
        # Taking the lock lets a write that is in progress finish first.
        async with self._lock:
            self._closed = True

    # -- journal ------------------------------------------------------------------------------

    async def append_events(
        self,
        persistence_id: str,
        entity_id: str,
        expected_sequence: int,
        events: Sequence[Payload],
        snapshot: Payload | None = None,
        outbox: Outbox = (),
        tasks: TaskChanges = (),
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        if not events:
            raise ValueError("append_events needs at least one event")
        async with self._lock:
            self._check_open()
            key = (persistence_id, entity_id)
            journal = self._journals.get(key)
            actual = journal[-1].sequence if journal else 0
            if actual != expected_sequence:
                raise ConcurrentWriteError(persistence_id, entity_id, expected_sequence, actual)
            self._check_idempotency(idempotency)
            now = time.time()
            feed = self._feeds.setdefault(persistence_id, [])
            stored: list[StoredEvent] = []
            for index, payload in enumerate(events):
                self._last_offset += 1
                event = StoredEvent(expected_sequence + index + 1, payload, self._last_offset, now)
                stored.append(event)
                feed.append((entity_id, event))
            # Created only now so that a lost conditional write leaves no trace of the entity.
            self._journals.setdefault(key, []).extend(stored)
            highest = expected_sequence + len(events)
            if snapshot is not None:
                self._snapshots[key] = StoredSnapshot(highest, snapshot)
            self._append_outbox(outbox, now)
            self._apply_tasks(tasks, now)
            self._insert_idempotency(idempotency, now)
            return highest

    async def read_events(
        self, persistence_id: str, entity_id: str, after_sequence: int = 0
    ) -> AsyncIterator[StoredEvent]:
        self._check_open()
        # Found by bisection, not by index, so that a journal damaged by a test (an event removed)
        # reads like a damaged database would. Slicing copies, so appends made while the caller
        # iterates do not disturb it.
        journal = self._journals.get((persistence_id, entity_id), [])
        start = bisect.bisect_right(journal, after_sequence, key=lambda e: e.sequence)
        for event in journal[start:]:
            yield event

    async def highest_sequence(self, persistence_id: str, entity_id: str) -> int:
        self._check_open()
        journal = self._journals.get((persistence_id, entity_id))
        return journal[-1].sequence if journal else 0

    async def load_snapshot(self, persistence_id: str, entity_id: str) -> StoredSnapshot | None:
        self._check_open()
        return self._snapshots.get((persistence_id, entity_id))

    async def purge_entity(
        self, persistence_id: str, entity_id: str, tombstone_sequence: int
    ) -> int:
        async with self._lock:
            self._check_open()
            key = (persistence_id, entity_id)
            journal = self._journals.get(key, [])
            last = journal[-1].sequence if journal else 0
            keep_from = tombstone_sequence + 1 if last <= tombstone_sequence else tombstone_sequence
            kept = [e for e in journal if e.sequence >= keep_from]
            removed = len(journal) - len(kept)
            self._drop_from_feed(persistence_id, entity_id, keep_from)
            if kept:
                self._journals[key] = kept
            else:
                self._journals.pop(key, None)
            snapshot = self._snapshots.get(key)
            if snapshot is not None and (not kept or snapshot.sequence < keep_from):
                del self._snapshots[key]
            return removed

    async def compact_journal(
        self,
        persistence_id: str,
        entity_id: str,
        before_sequence: int,
        up_to_offset: int | None = None,
    ) -> int:
        async with self._lock:
            self._check_open()
            key = (persistence_id, entity_id)
            journal = self._journals.get(key, [])
            limit = before_sequence
            for event in journal:  # only an unbroken prefix below the offset goes
                if event.sequence >= before_sequence or (
                    up_to_offset is not None and event.offset > up_to_offset
                ):
                    limit = event.sequence
                    break
            kept = [e for e in journal if e.sequence >= limit]
            removed = len(journal) - len(kept)
            if removed:
                self._journals[key] = kept
                self._drop_from_feed(persistence_id, entity_id, limit)
            return removed

    def _drop_from_feed(self, persistence_id: str, entity_id: str, keep_from: int) -> None:
        feed = self._feeds.get(persistence_id)
        if feed is not None:
            feed[:] = [(e, ev) for e, ev in feed if e != entity_id or ev.sequence >= keep_from]

    async def read_all_events(
        self, persistence_id: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[tuple[str, StoredEvent]]:
        self._check_open()
        feed = self._feeds.get(persistence_id, [])
        start = bisect.bisect_right(feed, after_offset, key=lambda item: item[1].offset)
        for item in feed[start : start + max(limit, 0)]:
            yield item

    async def highest_offset(self, persistence_id: str) -> int:
        self._check_open()
        feed = self._feeds.get(persistence_id)
        return feed[-1][1].offset if feed else 0

    # -- eventing offsets ---------------------------------------------------------------------

    async def load_offset(self, consumer_id: str) -> int:
        self._check_open()
        return self._consumer_offsets.get(consumer_id, 0)

    async def save_offset(
        self, consumer_id: str, offset: int, generation: int | None = None
    ) -> None:
        async with self._lock:
            self._check_open()
            self._check_generation(consumer_id, generation)
            current = self._consumer_offsets.get(consumer_id, 0)
            self._consumer_offsets[consumer_id] = max(current, offset)

    def _check_generation(self, consumer_id: str, generation: int | None) -> None:
        actual = self._generations.get(consumer_id, 0)
        if generation is not None and generation != actual:
            raise OffsetWasReset(consumer_id, generation, actual)

    async def load_position(self, consumer_id: str) -> ConsumerPosition:
        self._check_open()
        return ConsumerPosition(
            self._consumer_offsets.get(consumer_id, 0), self._generations.get(consumer_id, 0)
        )

    async def reset_offset(self, consumer_id: str, offset: int) -> int:
        async with self._lock:
            self._check_open()
            self._consumer_offsets[consumer_id] = offset
            generation = self._generations.get(consumer_id, 0) + 1
            self._generations[consumer_id] = generation
            return generation

    async def event_offset_before(self, persistence_id: str, timestamp: float) -> int:
        self._check_open()
        feed = self._feeds.get(persistence_id, [])
        before = [event.offset for _, event in feed if event.timestamp < timestamp]
        return max(before, default=0)

    async def topic_offset_before(self, topic: str, timestamp: float) -> int:
        self._check_open()
        before = [m.offset for m in self._topics.get(topic, []) if m.timestamp < timestamp]
        return max(before, default=0)

    # -- parked messages ----------------------------------------------------------------------

    async def park_message(self, message: ParkedMessage) -> None:
        async with self._lock:
            self._check_open()
            self._parked[(message.consumer_id, message.offset)] = message

    async def list_parked(
        self, consumer_id: str = "", limit: int = 1000, *, redrive_only: bool = False
    ) -> list[ParkedMessage]:
        self._check_open()
        found = [
            message
            for key, message in sorted(self._parked.items())
            if (not consumer_id or key[0] == consumer_id) and (message.redrive or not redrive_only)
        ]
        return found[: max(limit, 0)]

    async def count_parked(self) -> dict[str, int]:
        self._check_open()
        counts: dict[str, int] = {}
        for consumer_id, _ in self._parked:
            counts[consumer_id] = counts.get(consumer_id, 0) + 1
        return counts

    def _parked_keys(self, consumer_id: str, offset: int | None) -> list[tuple[str, int]]:
        return [k for k in self._parked if k[0] == consumer_id and offset in (None, k[1])]

    async def redrive_parked(self, consumer_id: str, offset: int | None = None) -> int:
        async with self._lock:
            self._check_open()
            keys = self._parked_keys(consumer_id, offset)
            for key in keys:
                self._parked[key] = dataclasses.replace(self._parked[key], redrive=True)
            return len(keys)

    async def drop_parked(self, consumer_id: str, offset: int | None = None) -> int:
        async with self._lock:
            self._check_open()
            keys = self._parked_keys(consumer_id, offset)
            for key in keys:
                del self._parked[key]
            return len(keys)

    async def finish_parked(
        self, consumer_id: str, offset: int, updates: Mapping[str, Sequence[ViewRow]] = {}
    ) -> bool:
        async with self._lock:
            self._check_open()
            if self._parked.pop((consumer_id, offset), None) is None:
                return False
            self._write_rows(updates)
            return True

    # -- topic log ----------------------------------------------------------------------------

    async def append_topic(self, topic: str, messages: Sequence[TopicMessage]) -> int:
        if not messages:
            raise ValueError("append_topic needs at least one message")
        async with self._lock:
            self._check_open()
            self._append_outbox([(topic, message) for message in messages], time.time())
            return self._last_topic_offset

    def _append_outbox(self, outbox: Outbox, now: float) -> None:
        # Called under the lock, after the entity's own write succeeded (so both or neither).
        for topic, message in outbox:
            self._last_topic_offset += 1
            self._topics.setdefault(topic, []).append(
                dataclasses.replace(message, offset=self._last_topic_offset, timestamp=now)
            )

    async def trim_topic(
        self,
        topic: str,
        up_to_offset: int,
        *,
        older_than: float | None = None,
        keep_last: int | None = None,
    ) -> int:
        async with self._lock:
            self._check_open()
            log = self._topics.get(topic, [])
            if not log or (older_than is None and keep_last is None):
                return 0
            beyond_kept = len(log) - keep_last if keep_last is not None else 0
            kept = [
                message
                for index, message in enumerate(log)
                if message.offset > up_to_offset
                or not (
                    (older_than is not None and message.timestamp < older_than)
                    or index < beyond_kept
                )
            ]
            self._topics[topic] = kept
            return len(log) - len(kept)

    async def read_topic(
        self, topic: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[TopicMessage]:
        self._check_open()
        log = self._topics.get(topic, [])
        start = bisect.bisect_right(log, after_offset, key=lambda message: message.offset)
        for message in log[start : start + max(limit, 0)]:
            yield message

    async def highest_topic_offset(self, topic: str) -> int:
        self._check_open()
        log = self._topics.get(topic)
        return log[-1].offset if log else 0

    # -- views ----------------------------------------------------------------------------------

    async def load_view_rows(self, view: str, keys: Sequence[str]) -> dict[str, bytes]:
        self._check_open()
        rows = self._views.get(view, {})
        return {key: rows[key].payload or b"" for key in keys if key in rows}

    async def apply_view_updates(
        self,
        updates: Mapping[str, Sequence[ViewRow]],
        consumer_id: str,
        offset: int,
        generation: int | None = None,
    ) -> bool:
        async with self._lock:
            self._check_open()
            self._check_generation(consumer_id, generation)
            if self._consumer_offsets.get(consumer_id, 0) >= offset:
                return False
            self._write_rows(updates)
            self._consumer_offsets[consumer_id] = offset
            return True

    def _write_rows(self, updates: Mapping[str, Sequence[ViewRow]]) -> None:
        for view, rows in updates.items():
            table = self._views.setdefault(view, {})
            for row in rows:
                if row.payload is None:
                    table.pop(row.key, None)
                else:
                    table[row.key] = row

    async def load_view_generations(self, views: Sequence[str]) -> dict[str, ViewGeneration]:
        self._check_open()
        return {view: self._view_generations.get(view, ViewGeneration()) for view in views}

    async def start_view_rebuild(self, views: Sequence[str]) -> int:
        async with self._lock:
            self._check_open()
            current = [self._view_generations.get(view, ViewGeneration()) for view in views]
            generation = 1 + max(max(g.active, g.building or 0) for g in current)
            for view, state in zip(views, current, strict=True):
                if state.building is not None:
                    self._views.pop(view_generation_id(view, state.building), None)
                self._views.pop(view_generation_id(view, generation), None)
                self._view_generations[view] = ViewGeneration(state.active, generation)
            return generation

    async def swap_view_generation(
        self,
        views: Sequence[str],
        generation: int,
        consumer_id: str,
        rebuild_consumer_id: str,
    ) -> bool:
        async with self._lock:
            self._check_open()
            states = [self._view_generations.get(view, ViewGeneration()) for view in views]
            if any(state.building != generation for state in states):
                return False
            for view, state in zip(views, states, strict=True):
                self._views.pop(view_generation_id(view, state.active), None)
                self._view_generations[view] = ViewGeneration(generation)
            self._consumer_offsets[consumer_id] = self._consumer_offsets.pop(rebuild_consumer_id, 0)
            self._generations.pop(rebuild_consumer_id, None)
            self._generations[consumer_id] = self._generations.get(consumer_id, 0) + 1
            return True

    async def query_view(self, view: str, select: ViewSelect) -> list[bytes]:
        self._check_open()
        select.check()
        active = self._view_generations.get(view, ViewGeneration()).active
        rows = [
            row
            for row in self._views.get(view_generation_id(view, active), {}).values()
            if all(_passes(row, f) for f in select.filters)
        ]
        rows.sort(key=lambda row: row.key)
        for slot, descending in reversed(select.order_by):  # stable sorts, last key first
            rows.sort(key=functools.partial(_sort_value, slot=slot), reverse=descending)
        end = None if select.limit is None else select.offset + select.limit
        return [row.payload or b"" for row in rows[select.offset : end]]

    # -- value entities -----------------------------------------------------------------------

    async def load_value(self, persistence_id: str, entity_id: str) -> StoredValue | None:
        self._check_open()
        key = (persistence_id, entity_id)
        payload, version = self._values.get(key, (None, 0))
        if payload is None or self._expired(key, time.time()):
            return None
        return StoredValue(payload, version, self._expiry.get(key))

    def _expired(self, key: _Key, now: float) -> bool:
        expires_at = self._expiry.get(key)
        return expires_at is not None and expires_at <= now

    async def purge_expired_values(self, now: float, limit: int = 1000) -> int:
        async with self._lock:
            self._check_open()
            expired = sorted(key for key, at in self._expiry.items() if at <= now)
            for key in expired[: max(limit, 0)]:
                del self._expiry[key]
                self._values[key] = (None, self._values[key][1])
            return min(len(expired), max(limit, 0))

    async def save_value(
        self,
        persistence_id: str,
        entity_id: str,
        value: Payload | None,
        expected_version: int | None = None,
        outbox: Outbox = (),
        tasks: TaskChanges = (),
        idempotency: IdempotencyRecord | None = None,
        expires_at: float | None = None,
    ) -> int:
        async with self._lock:
            self._check_open()
            key = (persistence_id, entity_id)
            payload, version = self._values.get(key, (None, 0))
            if self._expired(key, time.time()):
                payload = None  # an expired value is as good as deleted
            if expected_version is not None and not (
                expected_version == version or (payload is None and expected_version == 0)
            ):
                raise ConcurrentWriteError(persistence_id, entity_id, expected_version, version)
            self._check_idempotency(idempotency)
            now = time.time()
            self._values[key] = (value, version + 1)
            self._expiry.pop(key, None)
            if expires_at is not None and value is not None:
                self._expiry[key] = expires_at
            self._append_outbox(outbox, now)
            self._apply_tasks(tasks, now)
            self._insert_idempotency(idempotency, now)
            return version + 1

    # -- durable tasks ------------------------------------------------------------------------

    def _apply_tasks(self, changes: TaskChanges, now: float) -> None:
        # Called under the lock, after every condition of the write held (so all or nothing).
        for change in changes:
            if isinstance(change, TaskCancel):
                self._tasks.pop(change.name, None)
            else:
                created = change.created or now
                self._tasks[change.name] = dataclasses.replace(change, created=created)

    async def write_tasks(self, changes: TaskChanges) -> None:
        async with self._lock:
            self._check_open()
            self._apply_tasks(changes, time.time())

    async def due_tasks(self, now: float, limit: int) -> list[DurableTask]:
        self._check_open()
        due = [task for task in self._tasks.values() if task.due <= now]
        return sorted(due, key=_due_order)[: max(limit, 0)]

    async def next_due(self) -> float | None:
        self._check_open()
        return min((task.due for task in self._tasks.values()), default=None)

    def _pending(self, name: str, key: str) -> DurableTask | None:
        task = self._tasks.get(name)
        return task if task is not None and task.key == key else None

    async def finish_task(self, name: str, key: str) -> bool:
        async with self._lock:
            self._check_open()
            if self._pending(name, key) is None:
                return False
            del self._tasks[name]
            return True

    async def retry_task(self, name: str, key: str, due: float, error: str) -> bool:
        async with self._lock:
            self._check_open()
            task = self._pending(name, key)
            if task is None:
                return False
            self._tasks[name] = dataclasses.replace(
                task, attempts=task.attempts + 1, last_error=error, due=due
            )
            return True

    async def dead_letter_task(self, name: str, key: str, error: str) -> bool:
        async with self._lock:
            self._check_open()
            task = self._pending(name, key)
            if task is None:
                return False
            del self._tasks[name]
            died = dataclasses.replace(task, attempts=task.attempts + 1, last_error=error)
            self._dead_letters[name] = DeadLetter(died, time.time())
            return True

    async def list_tasks(self, prefix: str = "", limit: int = 1000) -> list[DurableTask]:
        self._check_open()
        matching = [task for task in self._tasks.values() if task.name.startswith(prefix)]
        return sorted(matching, key=_due_order)[: max(limit, 0)]

    async def count_tasks(self, now: float) -> tuple[int, int]:
        self._check_open()
        overdue = sum(1 for task in self._tasks.values() if task.due < now)
        return len(self._tasks), overdue

    async def list_dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        self._check_open()
        letters = sorted(self._dead_letters.values(), key=lambda d: d.task.name)
        letters.sort(key=lambda d: d.failed_at, reverse=True)
        return letters[: max(limit, 0)]

    async def redrive_dead_letter(self, name: str, due: float) -> bool:
        async with self._lock:
            self._check_open()
            letter = self._dead_letters.pop(name, None)
            if letter is None:
                return False
            self._tasks[name] = dataclasses.replace(letter.task, attempts=0, due=due)
            return True

    async def drop_dead_letter(self, name: str) -> bool:
        async with self._lock:
            self._check_open()
            return self._dead_letters.pop(name, None) is not None

    # -- idempotency records --------------------------------------------------------------------

    def _check_idempotency(self, record: IdempotencyRecord | None) -> None:
        if record is not None and record.key in self._idempotency:
            raise IdempotencyKeyTaken(self._idempotency[record.key])

    def _insert_idempotency(self, record: IdempotencyRecord | None, now: float) -> None:
        if record is not None:
            self._idempotency[record.key] = dataclasses.replace(
                record, created=record.created or now
            )

    async def load_idempotency(self, key: str) -> IdempotencyRecord | None:
        self._check_open()
        return self._idempotency.get(key)

    async def save_idempotency(self, record: IdempotencyRecord) -> IdempotencyRecord:
        async with self._lock:
            self._check_open()
            existing = self._idempotency.get(record.key)
            if existing is not None:
                return existing
            self._insert_idempotency(record, time.time())
            return self._idempotency[record.key]

    async def trim_idempotency(self, older_than: float) -> int:
        async with self._lock:
            self._check_open()
            old = [key for key, r in self._idempotency.items() if r.created < older_than]
            for key in old:
                del self._idempotency[key]
            return len(old)

    # -- cluster membership (in one process: for tests of the contract and the cluster logic) -

    async def cluster_join(self, node_id: str, address: str) -> int:
        self._check_open()
        previous = self._members.get(node_id)
        incarnation = 1 if previous is None else previous[1] + 1
        self._members[node_id] = (address, incarnation, time.monotonic())
        return incarnation

    async def cluster_heartbeat(self, node_id: str, incarnation: int) -> bool:
        self._check_open()
        row = self._members.get(node_id)
        if row is None or row[1] != incarnation:
            return False
        self._members[node_id] = (row[0], incarnation, time.monotonic())
        return True

    async def cluster_leave(self, node_id: str, incarnation: int) -> None:
        self._check_open()
        row = self._members.get(node_id)
        if row is not None and row[1] == incarnation:
            del self._members[node_id]

    async def cluster_members(self, ttl: float) -> list[ClusterMember]:
        self._check_open()
        now = time.monotonic()
        return [
            ClusterMember(node_id, address, incarnation, now - beat)
            for node_id, (address, incarnation, beat) in sorted(self._members.items())
            if now - beat < ttl
        ]

    # -- inspection ---------------------------------------------------------------------------

    def _entity_keys(self) -> set[_Key]:
        keys = set(self._journals) | set(self._snapshots)
        keys.update(key for key, (payload, _) in self._values.items() if payload is not None)
        return keys

    async def list_persistence_ids(self) -> list[str]:
        self._check_open()
        return sorted({persistence_id for persistence_id, _ in self._entity_keys()})

    async def list_entity_ids(
        self, persistence_id: str, *, prefix: str = "", after: str = "", limit: int | None = None
    ) -> list[str]:
        self._check_open()
        ids = sorted(
            {
                eid
                for pid, eid in self._entity_keys()
                if pid == persistence_id and eid.startswith(prefix) and _after(eid, after)
            },
            key=_utf8,
        )
        return ids if limit is None else ids[: max(0, limit)]


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _after(entity_id: str, after: str) -> bool:
    return not after or _utf8(entity_id) > _utf8(after)


def _due_order(task: DurableTask) -> tuple[float, str]:
    return (task.due, task.name)


def _passes(row: ViewRow, condition: ViewFilter) -> bool:
    value = row.columns.get(condition.slot)
    if value is None:  # as in SQL: NULL compares to nothing
        return False
    if condition.op == "IN":
        wanted = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        return value in wanted
    try:
        return _COMPARE[condition.op](value, condition.value)
    except TypeError:  # text against number: SQL would not match either
        return False


def _sort_value(row: ViewRow, *, slot: str) -> tuple[int, ViewValue]:
    value = row.columns.get(slot)
    # NULLs first ascending, as SQLite sorts them (PostgreSQL columns of a view are never NULL).
    return (0, 0) if value is None else (1, value)
