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
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from cloudstate.any_support import AnySupport, pack
from cloudstate.errors import CommandFailure
from cloudstate.event_sourced.context import EventSourcedCommandContext, EventSourcedEventContext
from cloudstate.event_sourced.entity import EventSourcedEntity
from cloudstate.handler import Handler
from cloudstate.protocol import entity_pb2, event_sourced_pb2, event_sourced_pb2_grpc
from cloudstate.replies import reply_payload
from cloudstate.tracing import handler_span

log = logging.getLogger(__name__)

_NOT_FOUND_CODE = grpc.StatusCode.UNIMPLEMENTED.value[0]


class _Instance:
    """A live entity instance: its state, sequence number and command handling."""

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
        value = self._any_support.unpack(snapshot.snapshot)
        sequence = snapshot.snapshot_sequence
        result = await handler.call(self._state, value, self._event_context(sequence))
        self._set(result, sequence)

    async def replay(self, event: event_sourced_pb2.EventSourcedEvent) -> None:
        value = self._any_support.unpack(event.payload)
        handler = self.entity.event_handler_for(value)
        result = await handler.call(self._state, value, self._event_context(event.sequence))
        self._set(result, event.sequence)

    async def handle_command(
        self, command: entity_pb2.Command
    ) -> event_sourced_pb2.EventSourcedReply:
        handler = self.entity.command_handlers.get(command.name)
        if handler is None:
            return _failure_reply(
                command.id,
                f"{self.entity.name} has no handler for command {command.name!r}",
                restart=False,
                code=_NOT_FOUND_CODE,
            )
        message = self._any_support.unpack(command.payload)
        ctx = EventSourcedCommandContext(self, command)
        self._backup = None
        self._backup_failed = False
        failure: CommandFailure | None = None
        try:
            with handler_span(self.entity.name, command, self._entity_id):
                result = await handler.call(self._state, message, ctx)
                await ctx._drain()
            failure = ctx._failure
        except CommandFailure as e:
            failure = e
        finally:
            ctx._finish()
        if failure is not None:
            emitted = bool(ctx._events)
            if emitted:
                self._roll_back()
            return _failure_reply(
                command.id, failure.description, restart=emitted, code=failure.status_code
            )
        reply = event_sourced_pb2.EventSourcedReply(command_id=command.id)
        reply.events.extend(ctx._events)
        reply.side_effects.extend(ctx._effects)
        if ctx._forward is not None:
            if result is not None:
                log.debug(
                    "%s returned a value and forwarded: the forward wins", handler.description
                )
            reply.client_action.forward.CopyFrom(ctx._forward)
        else:
            payload = reply_payload(handler, self.entity.service_descriptor, command.name, result)
            reply.client_action.reply.payload.CopyFrom(payload)
        every = self.entity.snapshot_every
        if every > 0 and any(seq % every == 0 for seq in ctx._event_sequences):
            reply.snapshot.CopyFrom(await self._take_snapshot())
        return reply

    # -- helpers --------------------------------------------------------------------------------

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


def _failure_reply(
    command_id: int, description: str, *, restart: bool, code: int
) -> event_sourced_pb2.EventSourcedReply:
    reply = event_sourced_pb2.EventSourcedReply(command_id=command_id)
    reply.client_action.failure.CopyFrom(
        entity_pb2.Failure(
            command_id=command_id, description=description, restart=restart, grpc_status_code=code
        )
    )
    return reply


def _top_failure(command_id: int, description: str) -> event_sourced_pb2.EventSourcedStreamOut:
    return event_sourced_pb2.EventSourcedStreamOut(
        failure=entity_pb2.Failure(command_id=command_id, description=description)
    )


class EventSourcedServicer:
    """Serves every registered event-sourced entity (dispatching on ``init.service_name``)."""

    def __init__(self, entities: Sequence[EventSourcedEntity]) -> None:
        self._entities = {entity.name: entity for entity in entities}
        self._any_support = {e.name: AnySupport(e.file_descriptors) for e in entities}

    async def handle(
        self,
        request_iterator: AsyncIterator[event_sourced_pb2.EventSourcedStreamIn],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[event_sourced_pb2.EventSourcedStreamOut]:
        instance: _Instance | None = None
        where = "starting an entity stream"
        command_id = 0
        try:
            async for message in request_iterator:
                which = message.WhichOneof("message")
                command_id = 0
                if instance is None:
                    if which != "init":
                        raise _protocol_error(f"expected init as the first message, got {which}")
                    init = message.init
                    where = f"entity {init.service_name} (id {init.entity_id!r})"
                    instance = await self._start(init)
                elif which == "event":
                    where = (
                        f"{instance.entity.name} (id {instance.entity_id!r}) applying event "
                        f"{message.event.sequence}"
                    )
                    await instance.replay(message.event)
                elif which == "command":
                    command = message.command
                    command_id = command.id
                    where = (
                        f"{instance.entity.name} (id {instance.entity_id!r}) handling command "
                        f"{command.name!r} (id {command.id})"
                    )
                    if instance.stale:
                        raise _StreamError(
                            "Restart required for",
                            "the state could not be rolled back after a failed command",
                        )
                    yield event_sourced_pb2.EventSourcedStreamOut(
                        reply=await instance.handle_command(command)
                    )
                elif which == "init":
                    raise _protocol_error("received a second init message")
                else:
                    raise _protocol_error("received an empty EventSourcedStreamIn message")
        except Exception as e:
            if isinstance(e, _StreamError):
                description = f"{e.prefix} event-sourced {where}: {e}"
                log.error("%s", description)
            else:
                log.exception("Unexpected error in event-sourced %s", where)
                description = f"Unexpected error in event-sourced {where}: {type(e).__name__}: {e}"
            yield _top_failure(command_id, description)

    async def _start(self, init: event_sourced_pb2.EventSourcedInit) -> _Instance:
        entity = self._entities.get(init.service_name)
        if entity is None:
            raise _protocol_error(
                f"unknown service {init.service_name!r}; this user function serves "
                f"{sorted(self._entities)}"
            )
        state = await entity.create_state(init.entity_id)
        instance = _Instance(entity, init.entity_id, state, self._any_support[entity.name])
        if init.HasField("snapshot"):
            await instance.apply_snapshot(init.snapshot)
        return instance


class _StreamError(Exception):
    """Ends the stream with a top-level failure, without a traceback in the log."""

    def __init__(self, prefix: str, message: str) -> None:
        super().__init__(message)
        self.prefix = prefix


def _protocol_error(message: str) -> _StreamError:
    return _StreamError("Protocol error in", message)


def add_event_sourced_servicer(server: Any, entities: Sequence[EventSourcedEntity]) -> None:
    """Add the ``EventSourced`` servicer for ``entities`` to a ``grpc.aio.Server``."""
    servicer = EventSourcedServicer(entities)
    event_sourced_pb2_grpc.add_EventSourcedServicer_to_server(servicer, server)
