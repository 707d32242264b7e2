"""The ``cloudstate.eventsourced.EventSourced`` gRPC service: one stream per entity instance.

Stream protocol: ``init`` (with the latest snapshot, if any), then the events recorded after it,
then commands, each answered by exactly one reply echoing its id. When the proxy half-closes the
stream (passivation, restart) the output stream ends too.

Failure handling:

* ``ctx.fail()`` -> the reply carries only ``client_action.failure`` (no events, side effects or
  snapshot). ``restart`` is set when the command had emitted events. The state is also rolled back
  in-process, from a deep copy taken before the command's first event was applied, so the
  instance stays consistent whether or not the proxy restarts it. If the state cannot be copied,
  the instance is marked stale and a later command on the same stream ends it with a top-level
  failure (the proxy then replays into a fresh instance).
* any other exception (in a handler, init, or a protocol violation) -> logged with its
  traceback, a top-level ``Failure{command_id (if any), description}`` is sent and the stream
  ends; the proxy restarts the instance. Other streams and the server are unaffected.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from typing import Any

from google.protobuf import any_pb2

from cloudstate.any_support import AnySupport, pack
from cloudstate.component.replies import fill_reply
from cloudstate.component.servicer import (
    UNIMPLEMENTED,
    EntityStreamServicer,
    StreamError,
    call_handler,
    failure,
    no_handler,
)
from cloudstate.errors import UnknownTypeError
from cloudstate.event_sourced.context import EventSourcedCommandContext, EventSourcedEventContext
from cloudstate.event_sourced.entity import EventSourcedEntity
from cloudstate.handler import Handler
from cloudstate.migrations import missing_migration_advice
from cloudstate.protocol import entity_pb2, event_sourced_pb2, event_sourced_pb2_grpc

log = logging.getLogger(__name__)

StreamOut = event_sourced_pb2.EventSourcedStreamOut


class Instance:
    """A live entity instance: its state, sequence number and command handling (driven by the
    servicer, and by the test kit without one)."""

    def __init__(
        self, entity: EventSourcedEntity, entity_id: str, state: Any, any_support: AnySupport
    ) -> None:
        self.entity = entity
        self._entity_id = entity_id
        self._state = state
        self._sequence = 0
        self._any_support = any_support
        self._backup: tuple[Any, int] | None = None
        self._backup_failed = False
        #: Set when a failed command's events could not be rolled back in-process.
        self.stale = False

    # -- _LiveEntity protocol (used by EventSourcedCommandContext) -------------------------------

    @property
    def entity_id(self) -> str:
        return self._entity_id

    @property
    def state(self) -> Any:
        return self._state

    @property
    def sequence(self) -> int:
        return self._sequence

    @property
    def any_support(self) -> AnySupport:
        return self._any_support

    def event_handler_for(self, event: Any) -> Handler:
        return self.entity.event_handler_for(event)

    def checkpoint(self) -> None:
        try:
            self._backup = (copy.deepcopy(self._state), self._sequence)
        except Exception as e:
            self._backup = None
            self._backup_failed = True
            log.warning(
                "state of %s %r cannot be deep-copied (%s); a failed command that emitted events "
                "will need the proxy to restart the entity",
                self.entity.name,
                self._entity_id,
                e,
            )

    def apply_event(self, handler: Handler, event: Any) -> None:
        sequence = self._sequence + 1
        result = handler.invoke(self._state, event, self._event_context(sequence))
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError(f"{handler.description} returned an awaitable: declare it async def")
        self._set(result, sequence)

    async def apply_event_async(self, handler: Handler, event: Any) -> None:
        sequence = self._sequence + 1
        result = await handler.call(self._state, event, self._event_context(sequence))
        self._set(result, sequence)

    # -- stream operations --------------------------------------------------------------------

    async def apply_snapshot(self, snapshot: event_sourced_pb2.EventSourcedSnapshot) -> None:
        handler = self.entity.snapshot_handler_function
        if handler is None:
            raise RuntimeError(
                "received a snapshot but no @entity.snapshot_handler() is registered"
            )
        sequence = snapshot.snapshot_sequence
        value = self._decode_stored(snapshot.snapshot, f"the snapshot at sequence {sequence}")
        result = await handler.call(self._state, value, self._event_context(sequence))
        self._set(result, sequence)

    async def replay(self, event: event_sourced_pb2.EventSourcedEvent) -> None:
        value = self._decode_stored(event.payload, f"event {event.sequence}")
        handler = self.entity.event_handler_for(value)
        result = await handler.call(self._state, value, self._event_context(event.sequence))
        self._set(result, event.sequence)

    async def handle_command(
        self, command: entity_pb2.Command
    ) -> event_sourced_pb2.EventSourcedReply:
        handler = self.entity.command_handlers.get(command.name)
        if handler is None:
            return _failure_reply(
                command.id, no_handler(self.entity, command), restart=False, code=UNIMPLEMENTED
            )
        message = self._any_support.unpack(command.payload)
        ctx = EventSourcedCommandContext(self, command)
        self._backup = None
        self._backup_failed = False

        async def run() -> Any:
            result = await handler.call(self._state, message, ctx)
            await ctx._drain()
            return result

        result, failed = await call_handler(self.entity, command, self._entity_id, ctx, run)
        if failed is not None:
            emitted = bool(ctx._events)
            if emitted:
                self._roll_back()
            return _failure_reply(
                command.id, failed.description, restart=emitted, code=failed.status_code
            )
        reply = event_sourced_pb2.EventSourcedReply(command_id=command.id)
        reply.events.extend(ctx._events)
        fill_reply(reply, ctx, handler, self.entity.service_descriptor, command.name, result)
        if ctx._delete:  # the proxy's tombstone replaces any snapshot
            reply.delete_entity = True
            return reply
        every = self.entity.snapshot_every
        if every > 0 and any(seq % every == 0 for seq in ctx._event_sequences):
            reply.snapshot.CopyFrom(await self._take_snapshot())
        return reply

    # -- helpers --------------------------------------------------------------------------------

    def _decode_stored(self, payload: any_pb2.Any, what: str) -> Any:
        """A stored event or snapshot decoded, through its migration if one is registered; an
        unknown type URL raises an error naming it, the entity and what to do."""
        try:
            return self.entity.migrations.decode(payload, self._any_support)
        except UnknownTypeError as e:
            raise MissingMigration(
                f"{self.entity.KIND_NAME} {self.entity.name} (entity id {self._entity_id!r}) "
                f"cannot replay {what}: its type URL {payload.type_url!r} is not known ({e}); "
                + missing_migration_advice(payload.type_url, "entity")
            ) from e

    def _event_context(self, sequence: int) -> EventSourcedEventContext:
        return EventSourcedEventContext(self._entity_id, sequence)

    def _set(self, result: Any, sequence: int) -> None:
        if result is not None:
            self._state = result
        self._sequence = sequence

    def _roll_back(self) -> None:
        if self._backup is not None:
            self._state, self._sequence = self._backup
            self._backup = None
        elif self._backup_failed:
            self.stale = True

    async def _take_snapshot(self) -> Any:
        function = self.entity.snapshot_function
        if function is None:  # validate() prevents this
            raise RuntimeError("snapshot due but no @entity.snapshot() is registered")
        value = await function.call(self._state, None, self._event_context(self._sequence))
        if value is None:
            raise TypeError(f"{function.description} returned None instead of a snapshot")
        return pack(value)


class MissingMigration(UnknownTypeError):
    """A stored event or snapshot has a type URL that no registered file declares and no
    migration handles: the entity cannot be replayed (docs/schema-evolution.md)."""


def _failure_reply(
    command_id: int, description: str, *, restart: bool, code: int
) -> event_sourced_pb2.EventSourcedReply:
    reply = event_sourced_pb2.EventSourcedReply(command_id=command_id)
    reply.client_action.failure.CopyFrom(
        failure(command_id, description, code=code, restart=restart)
    )
    return reply


class EventSourcedServicer(EntityStreamServicer[EventSourcedEntity, Instance]):
    """Serves every registered event-sourced entity (dispatching on ``init.service_name``)."""

    stream_out = StreamOut
    kind_name = EventSourcedEntity.KIND_NAME

    async def start(
        self,
        entity: EventSourcedEntity,
        init: event_sourced_pb2.EventSourcedInit,
        any_support: AnySupport,
    ) -> Instance:
        state = await entity.create_state(init.entity_id)
        instance = Instance(entity, init.entity_id, state, any_support)
        if init.HasField("snapshot"):
            await instance.apply_snapshot(init.snapshot)
        return instance

    def describe(self, which: str, message: Any) -> tuple[str, int]:
        if which == "command":
            return f" handling command {message.name!r} (id {message.id})", message.id
        return f" applying event {message.sequence}", 0

    async def receive(self, instance: Instance, which: str, message: Any) -> Sequence[StreamOut]:
        if which == "event":
            await instance.replay(message)
            return ()
        if instance.stale:
            raise StreamError(
                "the state could not be rolled back after a failed command", "Restart required for"
            )
        return [StreamOut(reply=await instance.handle_command(message))]


def add_event_sourced_servicer(server: Any, entities: Sequence[EventSourcedEntity]) -> None:
    """Add the ``EventSourced`` servicer for ``entities`` to a ``grpc.aio.Server``."""
    servicer = EventSourcedServicer(entities)
    event_sourced_pb2_grpc.add_EventSourcedServicer_to_server(servicer, server)
