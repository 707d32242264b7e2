"""Event-sourced entities: one actor per active entity, owning one ``EventSourced.handle`` stream.

The queue, the one-at-a-time loop, passivation and restarts are the shared machinery of
:mod:`cloudstate.proxy.entities.actor`. What is event sourced:

1. **Activation** — load the latest snapshot, open the stream, send ``init`` (with the snapshot)
   and replay every journaled event after it. Command ids restart at 1 on every stream. A journal
   with a gap, or a snapshot ahead of it, fails the entity's commands with DATA_LOSS
   (:mod:`cloudstate.proxy.stores.replay`); other entities keep serving.
2. **Replies** — a reply's events (and snapshot) are committed to the journal — atomically,
   conditional on the expected sequence — *before* the outcome is handed back, so a client never
   sees a reply whose events could be lost.
3. **Restart** — besides the shared causes (broken stream, timeout, top-level failure), a failure
   with ``restart`` or a lost journal write ends the stream; the command in flight fails (nothing
   of it was persisted) and the next command replays into a fresh stream.
4. **Deletion** — a reply with ``delete_entity`` journals the tombstone after its events, as
   the snapshot too, with the purge task (:mod:`cloudstate.proxy.entities.deletion`); the stream
   ends after the reply, and an activation that finds a tombstone snapshot starts fresh.
5. **Compaction** (opt in) — after a write with a snapshot, the events before it are deleted,
   only those every known consumer of the event log has read.
6. **Several nodes** — the append is conditional on the sequence this actor replayed to; a reply
   that journals nothing is released only if the journal's highest sequence is still that one.
   Otherwise the command re-runs on a fresh stream replayed to the latest sequence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2, event_sourced_pb2, event_sourced_pb2_grpc
from cloudstate.proxy import metrics
from cloudstate.proxy.durable.tasks import split_side_effects
from cloudstate.proxy.entities.actor import (
    EntityActor,
    EntityManager,
    EntitySettings,
    ReportError,
)
from cloudstate.proxy.entities.base import Outcome, PendingCommand, failure_error
from cloudstate.proxy.entities.deletion import DEFAULT_GRACE, is_tombstone, purge_task, tombstone
from cloudstate.proxy.errors import StoreUnavailable
from cloudstate.proxy.model import ServiceModel
from cloudstate.proxy.stores.base import Payload, Store, StoreError
from cloudstate.proxy.stores.replay import replay_events

if TYPE_CHECKING:
    from cloudstate.proxy.eventing.topics import TopicPublisher

__all__ = ["EntitySettings", "EventSourcedActor", "EventSourcedHandler"]

log = logging.getLogger(__name__)

StreamIn = event_sourced_pb2.EventSourcedStreamIn


class EventSourcedHandler(EntityManager["EventSourcedActor"]):
    """Routes commands of one event-sourced service to its entity actors."""

    def __init__(
        self,
        service: ServiceModel,
        channel: grpc.aio.Channel,
        store: Store,
        settings: EntitySettings,
        report_error: ReportError,
    ) -> None:
        super().__init__(service, channel, store, settings, report_error)
        self.replay_metrics = (
            metrics.REPLAYED_EVENTS.labels(service.name),
            metrics.REPLAY_SECONDS.labels(service.name),
        )
        self.stub = event_sourced_pb2_grpc.EventSourcedStub(channel)
        #: Called with the persistence id after events were journaled (wakes eventing consumers).
        self.on_appended: Callable[[str], None] | None = None
        #: Set by eventing when methods publish (``out.topic``): replies go to their topic in the
        #: same transaction as the events (the outbox).
        self.outbox: TopicPublisher | None = None
        #: Seconds from a deletion to the physical removal of the entity's events.
        self.deletion_grace = DEFAULT_GRACE
        #: Compact the journal after each snapshot (--journal-compaction).
        self.compaction = False
        #: Offset keys of the consumers of this entity type's event log (set by eventing): a
        #: compaction deletes only what all of them have read.
        self.journal_readers: list[str] = []

    def _new_actor(self, entity_id: str) -> EventSourcedActor:
        return EventSourcedActor(self, entity_id)


class EventSourcedActor(EntityActor[EventSourcedHandler]):
    """The actor of one active entity. Created by :class:`EventSourcedHandler`."""

    def __init__(self, manager: EventSourcedHandler, entity_id: str) -> None:
        super().__init__(manager, entity_id)
        self._sequence = 0

    async def _activate(self) -> None:
        start = metrics.now()
        store = self.manager.store
        try:
            snapshot = await store.load_snapshot(self.persistence_id, self.entity_id)
        except StoreError as e:
            raise StoreUnavailable(f"cannot load {self._describe()}: {e}") from e
        init = event_sourced_pb2.EventSourcedInit(
            service_name=self.manager.service.name, entity_id=self.entity_id
        )
        self._sequence = 0
        if snapshot is not None and is_tombstone(snapshot.payload):
            self._sequence = snapshot.sequence  # deleted: a fresh entity, after the tombstone
        elif snapshot is not None:
            init.snapshot.snapshot_sequence = snapshot.sequence
            init.snapshot.snapshot.type_url = snapshot.payload.type_url
            init.snapshot.snapshot.value = snapshot.payload.value
            self._sequence = snapshot.sequence
        replayed_from = self._sequence
        await self._open_stream(self.manager.stub.handle, self._init_and_replay(init), "replay")
        replay = self.manager.replay_metrics
        replay[0].inc(self._sequence - replayed_from)
        replay[1].observe(metrics.now() - start)

    async def _init_and_replay(
        self, init: event_sourced_pb2.EventSourcedInit
    ) -> AsyncIterator[event_sourced_pb2.EventSourcedStreamIn]:
        yield StreamIn(init=init)
        # Checked: a gap or a snapshot ahead of the journal raises JournalDamaged (DATA_LOSS).
        async for event in replay_events(
            self.manager.store, self.persistence_id, self.entity_id, self._sequence
        ):
            yield StreamIn(
                event=event_sourced_pb2.EventSourcedEvent(
                    sequence=event.sequence,
                    payload=any_pb2.Any(type_url=event.payload.type_url, value=event.payload.value),
                )
            )
            self._sequence = event.sequence

    def _command_in(self, command: entity_pb2.Command) -> event_sourced_pb2.EventSourcedStreamIn:
        return StreamIn(command=command)

    async def _is_current(self) -> bool:
        return (
            await self.manager.store.highest_sequence(self.persistence_id, self.entity_id)
            == self._sequence
        )

    async def _apply_reply(
        self, command: PendingCommand, reply: event_sourced_pb2.EventSourcedReply
    ) -> bool:
        action = reply.client_action
        failed = action.WhichOneof("action") == "failure"
        # Several nodes: an answer that journals nothing must come from the latest state.
        writes = bool(reply.events) or reply.delete_entity
        if (failed or not writes) and not await self._confirm_current(command):
            return False
        if failed:
            # Idempotency: a failure is an answer too, recorded before it is released.
            if await self._record_alone(command, action):
                command.fail(failure_error(action.failure, self.manager.settings.failure_status))
            if action.failure.restart:
                # The user function's state includes events it then discarded: replay.
                self._call.cancel()
                return False
            # A failed command changes nothing: any events sent with it are ignored.
            return True
        publisher = self.manager.outbox
        outbox = self._reply_outbox(publisher, command, action)
        if outbox is None:  # nothing is written; the user function replays
            return False
        side_effects, calls = split_side_effects(reply.side_effects)
        events = [Payload(e.type_url, e.value) for e in reply.events]
        snapshot = (
            Payload(reply.snapshot.type_url, reply.snapshot.value)
            if reply.HasField("snapshot")
            else None
        )
        deleting = reply.delete_entity
        if deleting:  # the tombstone after the events, and as the snapshot
            now = time.time()
            grace = self.manager.deletion_grace
            snapshot = tombstone(self.entity_id, "command", now, grace)
            events.append(snapshot)
        last = self._sequence + len(events) if events else None
        tasks = await self._durable_changes(command, calls, last)
        if tasks is None:  # an invalid durable call: nothing is written, the entity replays
            return False
        if deleting:
            assert last is not None
            tasks.append(purge_task(self.persistence_id, self.entity_id, last, now + grace))
        if events:
            # The outbox, the durable calls and the key's record, in the events' transaction.
            extra = self._write_arguments(command, action, outbox, tasks)
            try:
                self._sequence = await self.manager.store.append_events(
                    self.persistence_id, self.entity_id, self._sequence, events, snapshot, **extra
                )
            except StoreError as e:
                return self._write_failed(command, e, "the events")
            self._written(extra)
            if self.manager.on_appended is not None:
                self.manager.on_appended(self.persistence_id)
            if snapshot is not None and self.manager.compaction and not deleting:
                await self._compact()
        elif not await self._write_alone(command, outbox, tasks):
            return False  # a reply that journals nothing still publishes and records, and failed
        if publisher is not None and outbox:
            publisher.committed(outbox)
        if tasks and self.manager.durable is not None:
            self.manager.durable.written(tasks)
        if not events and not await self._record_alone(command, action):
            return True  # answered with the key's record stored first, or failed
        command.succeed(Outcome(action, side_effects, published=bool(outbox)))
        if deleting:  # the user function holds the deleted state: the next command starts fresh
            self._call.cancel()
            return False
        return True

    async def _compact(self) -> None:
        """Delete the events before the snapshot just written, those every consumer of the
        event log has read (a failure only logs: the next snapshot compacts more)."""
        store = self.manager.store
        try:
            readers = [await store.load_offset(c) for c in self.manager.journal_readers]
            removed = await store.compact_journal(
                self.persistence_id,
                self.entity_id,
                self._sequence,
                min(readers) if readers else None,
            )
        except StoreError as e:
            log.warning("could not compact the journal of %s: %s", self._describe(), e)
            return
        log.debug("compacted %s: %d events removed", self._describe(), removed)
