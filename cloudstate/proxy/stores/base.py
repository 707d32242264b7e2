"""The store interface every persistence backend implements.

One async interface covers everything the proxy persists, so that entity actors, eventing and the
inspection tools never know which database is underneath:

* the **journal** of event-sourced entities and their **snapshots**;
* the **values** of value entities;
* the **offsets** of event-log consumers (eventing, projections);
* the embedded **topic log** (``eventing.in.topic`` / ``eventing.out.topic``);
* the rows of **views** (``cloudstate.view``), with their consumer's offset;
* the **durable tasks** (durable side effects, timers, schedule ticks) waiting to be delivered,
  their **dead letters**, and the **idempotency records** of keyed calls
  (:mod:`cloudstate.proxy.durable`);
* the state of **CRDT entities**, stored as values under the persistence id ``crdt:<id>``
  (:mod:`cloudstate.proxy.entities.crdt`).

Design rules that keep several proxy nodes on one database possible without a rewrite:

* Every write is *conditional*. ``append_events`` names the sequence number the writer believes is
  the latest; if another writer got there first the store raises :class:`ConcurrentWriteError` and
  writes nothing. A single node never sees it (one actor per entity); several nodes use it to detect
  that an entity moved.
* A write method returns only once the data is durable (fsync'd / committed). Backends batch
  concurrent writes into one transaction (group commit) but never acknowledge one before commit.
* Payloads are opaque: ``type_url`` and ``value`` of a ``google.protobuf.Any``. The store never
  parses user messages.
* Events carry a store-wide, monotonically increasing ``offset`` assigned at commit, which event
  consumers (eventing, projections) use to resume.

One concern: the contract between the proxy and its persistence (what a backend implements).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: Topic messages written in the same transaction as an entity's state (the outbox):
#: ``(topic, message)`` pairs, durable if and only if the entity's write is.
Outbox = Sequence[tuple[str, "TopicMessage"]]

#: Durable tasks started or cancelled in the same transaction as an entity's state.
TaskChanges = Sequence["DurableTask | TaskCancel"]

#: Called with ``(store_id, entity_id)`` when another node committed that entity's state; with
#: ``("", "")`` when notices may have been missed (re-read everything you hold).
ChangeCallback = Callable[[str, str], None]


class StoreError(Exception):
    """A store operation failed (database unavailable, corrupt data, ...)."""


class StoreRefused(StoreError):
    """At start: the store is not one this proxy can serve safely — an empty or foreign file, a
    schema it does not know, a failed integrity check. The message names what was found and
    the option that overrides the check where one exists (``adopt=true``, ``integrity=off``)."""


class ConcurrentWriteError(StoreError):
    """A conditional write lost: the stored sequence or version is not what the writer expected."""

    def __init__(self, persistence_id: str, entity_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"concurrent write to {persistence_id}|{entity_id}: expected sequence {expected}, "
            f"store has {actual}"
        )
        self.persistence_id = persistence_id
        self.entity_id = entity_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyTaken(StoreError):
    """A write carried an idempotency record whose key is stored already: nothing was written.
    ``existing`` is the stored record (the first call's), to answer the retry with."""

    def __init__(self, existing: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key {existing.key!r} is already used")
        self.existing = existing


class JournalDamaged(StoreError):
    """An entity's stored journal cannot be replayed as written: a sequence number is missing,
    or its snapshot is ahead of its events (the store was damaged or edited by hand). Raised by
    :func:`~cloudstate.proxy.stores.replay.replay_events`; the entity fails with DATA_LOSS and
    every other entity keeps serving."""

    def __init__(self, persistence_id: str, entity_id: str, problem: str) -> None:
        super().__init__(f"the journal of {persistence_id}|{entity_id} is damaged: {problem}")
        self.persistence_id = persistence_id
        self.entity_id = entity_id
        self.problem = problem


class OffsetWasReset(StoreError):
    """A consumer's offset was moved (reset, or a view rebuild swapped in) since the writer read
    it: its commit was refused and nothing was written. The consumer re-reads its position
    (:meth:`Store.load_position`) and carries on from there."""

    def __init__(self, consumer_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"the offset of consumer {consumer_id} was reset (generation {actual}, the writer "
            f"had {expected}): re-read it"
        )
        self.consumer_id = consumer_id
        self.expected = expected
        self.actual = actual


class WriteOutcomeUnknown(StoreError):
    """The connection to the database broke while a write was committing: it may or may not have
    been applied. Readers find out by reading (an entity actor re-reads its state anyway)."""


@dataclass(frozen=True, slots=True)
class Payload:
    """A serialized protobuf ``Any``: its type URL and bytes."""

    type_url: str
    value: bytes


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One journaled event of one entity."""

    sequence: int  # 1-based, per entity, gap-free
    payload: Payload
    offset: int = 0  # store-wide commit order (0 if the backend did not report it)
    timestamp: float = 0.0  # seconds since the epoch, at commit


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """One message of a topic of the embedded topic log: the payload ``Any`` and its CloudEvent
    attributes. ``offset`` and ``timestamp`` are set by the store (0 when publishing).

    Example::

        TopicMessage(Payload("json.cloudstate.io/Order", b'{"id": 1}'), id="o-1",
                     source="shop.Orders", type="Order", content_type="application/json")
    """

    payload: Payload
    id: str = ""
    source: str = ""
    type: str = ""
    subject: str = ""
    time: str = ""  # RFC 3339, as the publisher gave it
    content_type: str = ""
    offset: int = 0  # per store, commit order (set by read_topic)
    timestamp: float = 0.0  # seconds since the epoch, at commit (set by read_topic)

    #: The column order of :meth:`from_row` (SQL backends select in this order).
    COLUMNS: ClassVar[str] = (
        '"offset", type_url, payload, ce_id, ce_source, ce_type, ce_subject, ce_time, content_type'
    )

    @classmethod
    def from_row(cls, row: Sequence[Any], timestamp: float) -> TopicMessage:
        """A message from a row of :attr:`COLUMNS`."""
        offset, type_url, payload, id_, source, type_, subject, time_, content_type = row
        return cls(
            Payload(str(type_url), bytes(payload)),
            str(id_),
            str(source),
            str(type_),
            str(subject),
            str(time_),
            str(content_type),
            int(offset),
            float(timestamp),
        )


#: The indexed columns of a view row: text values go to s1..s4, numbers (and booleans, enums) to
#: n1..n4. A query filters and sorts on these only (cloudstate/proxy/views/compile.py maps the
#: row's fields to them).
VIEW_TEXT_SLOTS = ("s1", "s2", "s3", "s4")
VIEW_NUMBER_SLOTS = ("n1", "n2", "n3", "n4")
VIEW_SLOTS = VIEW_TEXT_SLOTS + VIEW_NUMBER_SLOTS
VIEW_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "IN")

ViewValue = str | int | float


@dataclass(frozen=True, slots=True)
class ViewRow:
    """One row of a view to write: its key, the row message's bytes (None deletes the row) and
    the values of its indexed columns by slot name (``{"s1": "alice", "n1": 3}``)."""

    key: str
    payload: bytes | None
    columns: dict[str, ViewValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ViewFilter:
    """``<slot> <op> <value>``; for ``IN`` the value is a tuple."""

    slot: str
    op: str
    value: ViewValue | tuple[ViewValue, ...]


@dataclass(frozen=True, slots=True)
class ViewSelect:
    """A view query with its parameters bound: filters (ANDed), sort order (slot, descending),
    LIMIT (None: all) and OFFSET. Rows that sort equal are ordered by key."""

    filters: tuple[ViewFilter, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()
    limit: int | None = None
    offset: int = 0

    def check(self) -> None:
        """ValueError unless every slot and operator is one of the known ones (they end up in
        SQL text; values never do)."""
        for f in self.filters:
            if f.slot not in VIEW_SLOTS or f.op not in VIEW_OPERATORS:
                raise ValueError(f"bad view filter {f.slot} {f.op}")
        for slot, _ in self.order_by:
            if slot not in VIEW_SLOTS:
                raise ValueError(f"bad view sort column {slot}")


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """The state of one entity after the event with ``sequence`` was applied. A backend keeps
    that event in the journal: a replay reads it to check the snapshot is not ahead of the
    events (:mod:`cloudstate.proxy.stores.replay`)."""

    sequence: int
    payload: Payload


@dataclass(frozen=True, slots=True)
class StoredValue:
    """The state of one value entity. ``version`` grows by one on every write; ``expires_at``
    (seconds since the epoch) is when it expires, None if never."""

    payload: Payload
    version: int
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class DurableTask:
    """A call the proxy must deliver at least once: a durable side effect, a timer or the next
    tick of a schedule (:mod:`cloudstate.proxy.durable`).

    ``name`` is unique among pending tasks: writing a task whose name is pending replaces it
    (that is how a timer is restarted). ``key`` is unique per scheduled instance and is sent as
    the delivery's idempotency key, so a redelivery is applied once by an entity; completing,
    retrying or dead-lettering a task is conditional on its key, so a delivery that finishes
    after the task was replaced leaves the replacement alone.

    Example::

        DurableTask("timer:expire-t1", "t1#3f2a", "bank.Transfers", "Expire",
                    Payload("type.googleapis.com/bank.TransferId", b"..."), due=time.time() + 30)
    """

    name: str
    key: str
    service: str
    method: str
    payload: Payload
    due: float  # seconds since the epoch
    metadata: bytes = b""  # a serialized cloudstate.Metadata, b"" for none
    attempts: int = 0  # deliveries that failed so far
    max_attempts: int = 0  # 0: the proxy's default
    last_error: str = ""
    created: float = 0.0  # set by the store when 0

    #: The column order of :meth:`from_row` and :meth:`to_row` (SQL backends use it).
    COLUMNS: ClassVar[str] = (
        "name, key, service, method, type_url, payload, due, metadata, attempts, max_attempts, "
        "last_error, created"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DurableTask:
        """A task from a row of :attr:`COLUMNS`."""
        name, key, service, method, type_url, payload, due, metadata, attempts, maximum, error = (
            row[:11]
        )
        return cls(
            str(name),
            str(key),
            str(service),
            str(method),
            Payload(str(type_url), bytes(payload)),
            float(due),
            bytes(metadata),
            int(attempts),
            int(maximum),
            str(error),
            float(row[11]),
        )

    def to_row(self, now: float) -> tuple[Any, ...]:
        """The values of :attr:`COLUMNS`, ``created`` set to ``now`` when it is 0."""
        return (
            self.name,
            self.key,
            self.service,
            self.method,
            self.payload.type_url,
            self.payload.value,
            self.due,
            self.metadata,
            self.attempts,
            self.max_attempts,
            self.last_error,
            self.created or now,
        )


@dataclass(frozen=True, slots=True)
class TaskCancel:
    """Removes the pending task ``name`` (if any) in a write's transaction."""

    name: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A task whose attempts ran out: the task as it was last tried, and when it died."""

    task: DurableTask
    failed_at: float


@dataclass(frozen=True, slots=True)
class ConsumerPosition:
    """A consumer's committed ``offset`` and its reset ``generation`` (0 until the first reset;
    every :meth:`Store.reset_offset` adds one, so a running consumer notices the move)."""

    offset: int
    generation: int = 0


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """An item of an eventing consumer's source (an event, a topic message) whose handler failed
    its attempts: parked so the consumer moves on. ``redrive`` is set when someone asked for it
    to be delivered again (the running consumer picks it up).

    Example::

        ParkedMessage("event_log:carts:shop.Cart", 5007, "alice",
                      Payload("type.googleapis.com/shop.ItemAdded", b"..."), b"",
                      "event 3 of carts|alice", attempts=10, last_error="boom", failed_at=t)
    """

    consumer_id: str
    offset: int  # the item's offset in its source (unique per consumer)
    key: str  # entity id / subject: what per-key order is about
    payload: Payload
    metadata: bytes  # a serialized cloudstate.Metadata (the CloudEvent attributes)
    what: str  # for people: "event 3 of carts|alice"
    attempts: int
    last_error: str
    failed_at: float
    redrive: bool = False

    #: The column order of :meth:`from_row` and :meth:`to_row` (SQL backends use it).
    COLUMNS: ClassVar[str] = (
        'consumer_id, "offset", key, type_url, payload, metadata, what, attempts, last_error, '
        "failed_at, redrive"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ParkedMessage:
        """A parked message from a row of :attr:`COLUMNS`."""
        consumer, offset, key, type_url, payload, meta, what, attempts, error, failed, redrive = row
        return cls(
            str(consumer),
            int(offset),
            str(key),
            Payload(str(type_url), bytes(payload)),
            bytes(meta),
            str(what),
            int(attempts),
            str(error),
            float(failed),
            bool(redrive),
        )

    def to_row(self) -> tuple[Any, ...]:
        """The values of :attr:`COLUMNS`."""
        return (
            self.consumer_id,
            self.offset,
            self.key,
            self.payload.type_url,
            self.payload.value,
            self.metadata,
            self.what,
            self.attempts,
            self.last_error,
            self.failed_at,
            self.redrive,
        )


@dataclass(frozen=True, slots=True)
class ViewGeneration:
    """Which generation of a view's rows answers queries (``active``) and which one a rebuild
    is filling (``building``, None when no rebuild runs). Generation n > 0 keeps its rows under
    the view id :func:`view_generation_id` gives."""

    active: int = 0
    building: int | None = None


def view_generation_id(view: str, generation: int) -> str:
    """Where the rows of ``view``'s generation live in ``view_rows`` (generation 0: ``view``
    itself, so stores written before rebuilds existed keep working).

    Example::

        view_generation_id("shop.Products/products", 2)  # 'shop.Products/products~g2'
    """
    return view if generation == 0 else f"{view}~g{generation}"


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first answer to a keyed call. ``fingerprint`` identifies the request (method and body)
    so that a different request under a used key is refused; ``response`` is opaque to the store
    (the proxy's encoding of the answer)."""

    key: str
    fingerprint: str
    response: bytes
    created: float = 0.0  # set by the store when 0


@dataclass(frozen=True, slots=True)
class EntityRef:
    """Addresses one entity: its type's persistence id and its entity id."""

    persistence_id: str
    entity_id: str


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """A live proxy node of a cluster (docs/scale-out.md, "Nodes in a cluster"): its id, the
    address other nodes forward its entities' commands to, its incarnation (a new, larger one at
    every join: a restarted node is told apart from its predecessor) and the seconds since its
    last heartbeat by the store's clock."""

    node_id: str
    address: str
    incarnation: int
    heartbeat_age: float


class Store(ABC):
    """Persistence for the proxy. Create one per process with
    :func:`~cloudstate.proxy.stores.registry.open_store` (the backend chosen by the URL).

    Example::

        store = await open_store("sqlite:///data/cloudstate.db")
        await store.append_events("carts", "alice", 0, [Payload(url, data)])
        snapshot = await store.load_snapshot("carts", "alice")
        async for event in store.read_events("carts", "alice", after_sequence=0):
            ...
        await store.close()
    """

    #: Short backend name, e.g. "sqlite", "memory", "postgresql".
    name: str = "abstract"
    #: True if several proxy processes may use the store at once (the entity actors then check
    #: that their state is still the latest before answering; see docs/scale-out.md).
    shared: bool = False
    #: This process's CRDT replica id when several processes write the store but it is not
    #: ``shared`` (proxy workers on one SQLite file: "w0", "w1"...); empty for a sole process.
    replica_id: str = ""

    @classmethod
    def from_url(cls, url: str) -> Store:
        """The store ``url`` names, not started yet (the registry's way to build a backend)."""
        raise NotImplementedError(f"{cls.__name__} cannot be opened from a URL")

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections and create or migrate the schema. Called once before use.

        A durable backend checks here that it opens its own, sound store (the schema version, the
        tables, a quick integrity check where the database has one) and raises
        :class:`StoreRefused` otherwise, instead of creating a new store over damaged data."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release resources. The store is unusable afterwards."""

    # -- journal ------------------------------------------------------------------------------

    @abstractmethod
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
        """Atomically append ``events`` after ``expected_sequence`` (and save ``snapshot``).

        The events get sequences ``expected_sequence + 1 ...``. If ``snapshot`` is given it is the
        state after the last of them and replaces any older snapshot. The ``outbox`` messages are
        appended to their topics, the ``tasks`` written (or cancelled, as :meth:`write_tasks`)
        and the ``idempotency`` record inserted in the same transaction. Either everything is
        durable when this returns, or nothing was written. Returns the new highest sequence.

        Raises :class:`ConcurrentWriteError` if the stored highest sequence is not
        ``expected_sequence`` (checked first), :class:`IdempotencyKeyTaken` if the record's key
        is stored already, and ``ValueError`` if ``events`` is empty. In a group-commit batch
        either error fails its own write only.
        """

    @abstractmethod
    def read_events(
        self, persistence_id: str, entity_id: str, after_sequence: int = 0
    ) -> AsyncIterator[StoredEvent]:
        """Yield the entity's events with sequence > ``after_sequence``, in order."""

    @abstractmethod
    async def highest_sequence(self, persistence_id: str, entity_id: str) -> int:
        """The entity's latest event sequence, 0 if it has none."""

    @abstractmethod
    async def load_snapshot(self, persistence_id: str, entity_id: str) -> StoredSnapshot | None:
        """The entity's latest snapshot, if any."""

    @abstractmethod
    def read_all_events(
        self, persistence_id: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[tuple[str, StoredEvent]]:
        """Yield ``(entity_id, event)`` for every event of a persistence id in offset order.

        Only events with offset > ``after_offset`` are returned, at most ``limit`` of them. This is
        the feed for event-log consumers and projections.
        """

    @abstractmethod
    async def highest_offset(self, persistence_id: str) -> int:
        """The offset of the persistence id's latest event, 0 if it has none (the head an
        event-log consumer's lag is measured against)."""

    @abstractmethod
    async def purge_entity(
        self, persistence_id: str, entity_id: str, tombstone_sequence: int
    ) -> int:
        """Physically remove a deleted entity's history, in one transaction: every event before
        ``tombstone_sequence`` (the deletion's tombstone, see
        :mod:`cloudstate.proxy.entities.deletion`) and, if the tombstone is still the entity's
        latest event, the tombstone and the entity's snapshot too (nothing of the entity is
        left). Events after the tombstone (the entity was used again) and the tombstone they
        follow are kept. Serialised with appends. Returns how many events were removed.

        Example::

            removed = await store.purge_entity("carts", "alice", tombstone_sequence=7)
        """

    @abstractmethod
    async def compact_journal(
        self,
        persistence_id: str,
        entity_id: str,
        before_sequence: int,
        up_to_offset: int | None = None,
    ) -> int:
        """Delete the entity's events with sequence < ``before_sequence`` (the sequence of its
        latest snapshot, whose own event stays) and, when ``up_to_offset`` is given, only those
        with offset <= it (what every consumer has read). Returns how many were deleted.

        Example::

            await store.compact_journal("carts", "alice", snapshot.sequence, slowest_consumer)
        """

    # -- eventing offsets ---------------------------------------------------------------------

    @abstractmethod
    async def load_offset(self, consumer_id: str) -> int:
        """The offset ``consumer_id`` committed last, 0 if it never committed one."""

    @abstractmethod
    async def save_offset(
        self, consumer_id: str, offset: int, generation: int | None = None
    ) -> None:
        """Durably record that ``consumer_id`` has processed everything up to ``offset``.

        Returns once the offset is durable. Offsets only move forward: saving a lower offset than
        the stored one leaves the stored one (a stale consumer instance cannot rewind another).
        With ``generation`` the save is conditional on the stored reset generation (a missing
        row has 0): if it differs, :class:`OffsetWasReset` is raised and nothing is written.
        """

    @abstractmethod
    async def load_position(self, consumer_id: str) -> ConsumerPosition:
        """The committed offset and reset generation of ``consumer_id`` (0, 0 if none)."""

    @abstractmethod
    async def reset_offset(self, consumer_id: str, offset: int) -> int:
        """Move ``consumer_id``'s offset to ``offset`` (back or forward, unlike
        :meth:`save_offset`) and add one to its generation; returns the new generation. A running
        consumer's next commit is refused (:class:`OffsetWasReset`), so it re-reads the position.

        Example (replay everything)::

            await store.reset_offset("event_log:carts:shop.Projection", 0)
        """

    @abstractmethod
    async def event_offset_before(self, persistence_id: str, timestamp: float) -> int:
        """The offset of the persistence id's last event journaled before ``timestamp`` (seconds
        since the epoch), 0 if none: a consumer reset to it next reads the first event journaled
        at or after ``timestamp``."""

    @abstractmethod
    async def topic_offset_before(self, topic: str, timestamp: float) -> int:
        """As :meth:`event_offset_before`, for the messages of a topic."""

    # -- parked messages (eventing dead letters) ----------------------------------------------

    @abstractmethod
    async def park_message(self, message: ParkedMessage) -> None:
        """Durably store ``message`` (replacing a parked message of the same consumer and
        offset)."""

    @abstractmethod
    async def list_parked(
        self, consumer_id: str = "", limit: int = 1000, *, redrive_only: bool = False
    ) -> list[ParkedMessage]:
        """Parked messages of ``consumer_id`` ("": of every consumer), by consumer then offset,
        at most ``limit``; with ``redrive_only`` only those whose redrive was requested."""

    @abstractmethod
    async def count_parked(self) -> dict[str, int]:
        """How many messages each consumer has parked (consumers with none are left out)."""

    @abstractmethod
    async def redrive_parked(self, consumer_id: str, offset: int | None = None) -> int:
        """Ask for the parked message at ``offset`` (None: every one) of ``consumer_id`` to be
        delivered again by the running consumer; how many were marked."""

    @abstractmethod
    async def drop_parked(self, consumer_id: str, offset: int | None = None) -> int:
        """Discard the parked message at ``offset`` (None: every one) of ``consumer_id``; how
        many were deleted."""

    @abstractmethod
    async def finish_parked(
        self, consumer_id: str, offset: int, updates: Mapping[str, Sequence[ViewRow]] = {}
    ) -> bool:
        """A redriven message was handled: in one transaction delete it and write the view
        rows of ``updates`` (as :meth:`apply_view_updates`), only if it is still parked. False
        (nothing written) if it is not: so a redrive lands once even if two nodes race."""

    # -- topic log ----------------------------------------------------------------------------

    @abstractmethod
    async def append_topic(self, topic: str, messages: Sequence[TopicMessage]) -> int:
        """Durably append ``messages`` to ``topic`` in one transaction; the offset of the last one.

        Offsets grow with commit order (a reader that has seen offset X never later finds a
        message of the topic below X).
        """

    @abstractmethod
    def read_topic(
        self, topic: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[TopicMessage]:
        """Yield the messages of ``topic`` with offset > ``after_offset`` in offset order, at most
        ``limit`` of them, with ``offset`` and ``timestamp`` filled in."""

    @abstractmethod
    async def highest_topic_offset(self, topic: str) -> int:
        """The offset of the topic's latest message, 0 if it has none."""

    @abstractmethod
    async def trim_topic(
        self,
        topic: str,
        up_to_offset: int,
        *,
        older_than: float | None = None,
        keep_last: int | None = None,
    ) -> int:
        """Delete messages of ``topic`` with offset <= ``up_to_offset`` (what every consumer has
        passed) that are older than ``older_than`` (seconds since the epoch) or not among the
        topic's ``keep_last`` newest messages; with neither limit, nothing is deleted. Returns
        how many were deleted.

        Example (retention: one day, at most 100000 messages, only what consumers passed)::

            await store.trim_topic("orders", min_consumer_offset,
                                   older_than=time.time() - 86400, keep_last=100_000)
        """

    # -- views ----------------------------------------------------------------------------------

    @abstractmethod
    async def load_view_rows(self, view: str, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored rows of ``view`` with these keys (missing keys are left out)."""

    @abstractmethod
    async def apply_view_updates(
        self,
        updates: Mapping[str, Sequence[ViewRow]],
        consumer_id: str,
        offset: int,
        generation: int | None = None,
    ) -> bool:
        """In one transaction: write the rows of each view of ``updates`` (upsert, or delete
        where ``payload`` is None) and move ``consumer_id``'s offset to ``offset``. Only if the
        stored offset is below ``offset``; otherwise nothing is written and False is returned
        (the updates were applied already, by this consumer before a crash or by another
        node). With ``generation``, a stored reset generation that differs raises
        :class:`OffsetWasReset` (nothing written). The view ids are physical ones
        (:func:`view_generation_id`)."""

    @abstractmethod
    async def query_view(self, view: str, select: ViewSelect) -> list[bytes]:
        """The payloads of the rows of ``view`` that pass every filter, sorted by
        ``select.order_by`` then key, after skipping ``select.offset`` and at most
        ``select.limit`` of them. The rows are those of the view's active generation, resolved
        in the same statement (a query never sees a generation half-swapped)."""

    @abstractmethod
    async def load_view_generations(self, views: Sequence[str]) -> dict[str, ViewGeneration]:
        """The generations of ``views`` (a view never rebuilt: ``ViewGeneration()``)."""

    @abstractmethod
    async def start_view_rebuild(self, views: Sequence[str]) -> int:
        """Mark ``views`` as being rebuilt into a new generation (one above the highest active
        or building one among them) and empty that generation's rows; returns it. A rebuild
        that was running is superseded."""

    @abstractmethod
    async def swap_view_generation(
        self,
        views: Sequence[str],
        generation: int,
        consumer_id: str,
        rebuild_consumer_id: str,
    ) -> bool:
        """A rebuild caught up: in one transaction make ``generation`` the active one of every
        view of ``views``, delete the rows of their previous generations, move
        ``consumer_id``'s offset to ``rebuild_consumer_id``'s (the rebuild's) with a new reset
        generation (so the old loop's next write is refused) and delete the rebuild's offset.
        False (nothing done) unless every view is still building ``generation``."""

    # -- value entities -----------------------------------------------------------------------

    @abstractmethod
    async def load_value(self, persistence_id: str, entity_id: str) -> StoredValue | None:
        """The stored value of a value entity, or None if it has none (never written, deleted,
        or expired: its ``expires_at`` is not after now)."""

    @abstractmethod
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
        """Durably replace the value (``None`` deletes it). Returns the new version.

        ``expires_at`` (seconds since the epoch; None: never) is when the value expires: from
        then on it reads as absent (a conditional write treats it as deleted) until
        :meth:`purge_expired_values` removes it. Every write sets it anew.

        The ``outbox`` messages are appended to their topics, the ``tasks`` written (or
        cancelled) and the ``idempotency`` record inserted in the same transaction: a lost
        condition (reported first), a taken idempotency key (:class:`IdempotencyKeyTaken`) or a
        failed write writes none of them.

        With ``expected_version`` the write is conditional: if the stored version differs
        (a missing value has version 0) :class:`ConcurrentWriteError` is raised.
        Versions keep growing across deletes so that a stale writer is always detected. A deleted
        value matches both 0 (what a writer that loaded ``None`` knows) and the version its delete
        returned (what the deleting writer knows); deleting a missing value still bumps the version.
        """

    @abstractmethod
    async def purge_expired_values(self, now: float, limit: int = 1000) -> int:
        """Turn at most ``limit`` values that expired by ``now`` into tombstones (payload gone,
        version kept, so versions keep growing across the purge); how many. Call until it
        returns less than ``limit``.

        Example::

            while await store.purge_expired_values(time.time(), 1000) == 1000:
                pass
        """

    # -- durable tasks (cloudstate.proxy.durable) ------------------------------------------

    @abstractmethod
    async def write_tasks(self, changes: TaskChanges) -> None:
        """Durably write (insert or replace by name) and cancel tasks in one transaction, for
        callers with no entity write to join (actions, CRDT entities, schedules, the CLI).

        Changes apply in order (the last change of a name wins); cancelling a name that is not
        pending is no error; a task's ``created`` of 0 is set to the time of the write. Dead
        letters are not touched."""

    @abstractmethod
    async def due_tasks(self, now: float, limit: int) -> list[DurableTask]:
        """Pending tasks with ``due <= now``, earliest first (then by name), at most ``limit``."""

    @abstractmethod
    async def next_due(self) -> float | None:
        """The earliest ``due`` of any pending task, None if there is none."""

    @abstractmethod
    async def finish_task(self, name: str, key: str) -> bool:
        """Delete the delivered task ``name`` if its key is still ``key`` (False: it was replaced
        or cancelled meanwhile, and is left alone)."""

    @abstractmethod
    async def retry_task(self, name: str, key: str, due: float, error: str) -> bool:
        """Count a failed delivery: attempts + 1, ``last_error`` and the next ``due``; only if the
        task's key is still ``key``."""

    @abstractmethod
    async def dead_letter_task(self, name: str, key: str, error: str) -> bool:
        """Move the task (its key still ``key``) to the dead letters, with ``error`` as its last
        error and attempts + 1, in one transaction. A dead letter of the same name is replaced."""

    @abstractmethod
    async def list_tasks(self, prefix: str = "", limit: int = 1000) -> list[DurableTask]:
        """Pending tasks whose name starts with ``prefix`` (plain text, no wildcards), earliest
        due first (then by name), at most ``limit``."""

    @abstractmethod
    async def count_tasks(self, now: float) -> tuple[int, int]:
        """``(pending, overdue)``: all pending tasks, and those with ``due < now``."""

    @abstractmethod
    async def list_dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        """Dead letters, most recently failed first (then by name), at most ``limit``."""

    @abstractmethod
    async def redrive_dead_letter(self, name: str, due: float) -> bool:
        """Move dead letter ``name`` back to the pending tasks with attempts 0, due at ``due``,
        its key unchanged (a delivery that did land once is still deduplicated) and its
        ``last_error`` kept, in one transaction. False if there is no such dead letter. A
        pending task of the same name is replaced."""

    @abstractmethod
    async def drop_dead_letter(self, name: str) -> bool:
        """Delete dead letter ``name``; False if there is none."""

    # -- idempotency records --------------------------------------------------------------------

    @abstractmethod
    async def load_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record stored under ``key``, if any."""

    @abstractmethod
    async def save_idempotency(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Insert ``record`` unless its key is taken; returns the stored record (``record``
        itself with ``created`` set if it was 0, or the one that was there first)."""

    @abstractmethod
    async def trim_idempotency(self, older_than: float) -> int:
        """Delete records created before ``older_than`` (seconds since the epoch); how many."""

    # -- several nodes (optional capabilities; a store owned by one process needs none) -------

    async def try_own(self, name: str) -> asyncio.Event | None:
        """Try to become the one node that runs ``name`` (e.g. an eventing consumer).

        Returns an event that is set when ownership is lost (the node's lock connection died),
        or None if another node owns it now (try again later). A store owned by one process
        grants everything at once and never takes it back.

        Example::

            lost = await store.try_own("consumer:orders")
            if lost is not None:
                ...  # run it until lost.is_set(), then call store.disown("consumer:orders")
        """
        return asyncio.Event()

    async def disown(self, name: str) -> None:  # noqa: B027 - optional hook
        """Give up ``name`` (acquired with :meth:`try_own`) so another node may take it."""

    # -- cluster membership (a shared store's; one process needs none) ------------------------

    def _no_cluster(self) -> StoreRefused:
        return StoreRefused(
            f"the {self.name} store holds no cluster membership: nodes of a cluster share a "
            "PostgreSQL store (--store postgresql://...); drop --cluster-port to run one node"
        )

    async def cluster_join(self, node_id: str, address: str) -> int:
        """Enter ``node_id`` (reachable at ``address``) as a live member with a fresh heartbeat;
        returns its incarnation, larger than any earlier one of the same node id.

        Example::

            incarnation = await store.cluster_join("10.0.0.7:9100", "10.0.0.7:9100")
            alive = await store.cluster_heartbeat("10.0.0.7:9100", incarnation)
            members = await store.cluster_members(ttl=5.0)
            await store.cluster_leave("10.0.0.7:9100", incarnation)
        """
        raise self._no_cluster()

    async def cluster_heartbeat(self, node_id: str, incarnation: int) -> bool:
        """Renew the heartbeat of ``node_id``'s ``incarnation``; False if that row is gone or
        belongs to another incarnation (the node must join again)."""
        raise self._no_cluster()

    async def cluster_leave(self, node_id: str, incarnation: int) -> None:
        """Delete ``node_id``'s row if it is still ``incarnation``'s (a leaving node)."""
        raise self._no_cluster()

    async def cluster_members(self, ttl: float) -> list[ClusterMember]:
        """The members whose last heartbeat is younger than ``ttl`` seconds, by node id."""
        raise self._no_cluster()

    def publish_change(self, store_id: str, entity_id: str) -> None:  # noqa: B027
        """Tell the other nodes that this node committed ``entity_id``'s state (fire and forget;
        used for CRDT replication). A no-op unless the store is shared."""

    async def subscribe_changes(self, callback: ChangeCallback) -> Callable[[], Awaitable[None]]:
        """Call ``callback`` for every change another node publishes; returns the unsubscribe.

        Example::

            unsubscribe = await store.subscribe_changes(lambda store_id, entity_id: ...)
            await unsubscribe()
        """

        async def unsubscribe() -> None:
            return None

        return unsubscribe

    # -- inspection ---------------------------------------------------------------------------

    @abstractmethod
    async def list_persistence_ids(self) -> list[str]:
        """Every persistence id with journaled events, snapshots or values, sorted."""

    @abstractmethod
    async def list_entity_ids(
        self, persistence_id: str, *, prefix: str = "", after: str = "", limit: int | None = None
    ) -> list[str]:
        """The entity ids of a persistence id with events, snapshots or a value, sorted by their
        UTF-8 bytes: those starting with ``prefix``, greater than ``after`` (keyset paging: pass
        the last id of the previous page), at most ``limit`` (None: all).

        Example::

            page = await store.list_entity_ids("carts", prefix="a", limit=100)
            more = await store.list_entity_ids("carts", prefix="a", after=page[-1], limit=100)
        """
