"""The ``cloudstate.valueentity.ValueEntity`` gRPC service: one stream per entity instance.

Stream protocol: ``init`` (its ``state.value`` is the stored state, absent for a new or deleted
entity), then commands, each answered by exactly one reply echoing its id. When the proxy
half-closes the stream (passivation, restart) the output stream ends too.

The instance keeps the state as the proxy stored it (the packed ``Any``) and hands every command
handler a freshly decoded copy (or a fresh ``init_state`` when there is none), so a handler that
mutates its state without calling ``ctx.update_state`` — or mutates it and then fails — never
changes what later commands see.

Failure handling:

* ``ctx.fail()`` -> the reply carries only ``client_action.failure``: no state action, no side
  effects; the state stays as it was.
* any other exception (in a handler, ``init_state``, decoding, or a protocol violation) -> logged
  with its traceback, a top-level ``Failure{command_id (if any), description}`` is sent and the
  stream ends; the proxy restarts the instance from the stored state.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2

from cloudstate.any_support import AnySupport
from cloudstate.errors import CommandFailure
from cloudstate.protocol import entity_pb2, value_entity_pb2, value_entity_pb2_grpc
from cloudstate.replies import reply_payload
from cloudstate.tracing import handler_span
from cloudstate.value_entity.context import ValueEntityCommandContext
from cloudstate.value_entity.entity import ValueEntity

log = logging.getLogger(__name__)

_NOT_FOUND_CODE = grpc.StatusCode.UNIMPLEMENTED.value[0]


class _Instance:
    """A live value-entity instance: its stored state and command handling."""

    def __init__(
        self,
        entity: ValueEntity,
        entity_id: str,
        value: any_pb2.Any | None,
        any_support: AnySupport,
    ) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self._value = value  # the state as stored by the proxy; None = no state
        self._any_support = any_support

    async def current_state(self) -> Any:
        if self._value is None:
            return await self.entity.create_state(self.entity_id)
        return self._any_support.unpack(self._value)

    async def handle_command(
        self, command: entity_pb2.Command
    ) -> value_entity_pb2.ValueEntityReply:
        handler = self.entity.command_handlers.get(command.name)
        if handler is None:
            return _failure_reply(
                command.id,
                f"{self.entity.name} has no handler for command {command.name!r}",
                code=_NOT_FOUND_CODE,
            )
        message = self._any_support.unpack(command.payload)
        state = await self.current_state()
        ctx = ValueEntityCommandContext(self.entity_id, command, state, self._any_support)
        failure: CommandFailure | None = None
        try:
            with handler_span(self.entity.name, command, self.entity_id):
                result = await handler.call(state, message, ctx)
            failure = ctx._failure
        except CommandFailure as e:
            failure = e
        finally:
            ctx._finish()
        if failure is not None:
            return _failure_reply(command.id, failure.description, code=failure.status_code)
        reply = value_entity_pb2.ValueEntityReply(command_id=command.id)
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
        if ctx._change is not None:
            kind, value = ctx._change
            if kind == "update":
                assert value is not None
                reply.state_action.update.value.CopyFrom(value)
            else:
                reply.state_action.delete.SetInParent()
            self._value = value
        return reply


def _failure_reply(
    command_id: int, description: str, *, code: int
) -> value_entity_pb2.ValueEntityReply:
    reply = value_entity_pb2.ValueEntityReply(command_id=command_id)
    reply.client_action.failure.CopyFrom(
        entity_pb2.Failure(command_id=command_id, description=description, grpc_status_code=code)
    )
    return reply


class ValueEntityServicer:
    """Serves every registered value entity (dispatching on ``init.service_name``)."""

    def __init__(self, entities: Sequence[ValueEntity]) -> None:
        self._entities = {entity.name: entity for entity in entities}
        self._any_support = {e.name: AnySupport(e.file_descriptors) for e in entities}

    async def handle(
        self,
        request_iterator: AsyncIterator[value_entity_pb2.ValueEntityStreamIn],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[value_entity_pb2.ValueEntityStreamOut]:
        instance: _Instance | None = None
        where = "starting an entity stream"
        command_id = 0
        try:
            async for message in request_iterator:
                which = message.WhichOneof("message")
                command_id = 0
                if instance is None:
                    if which != "init":
                        raise _StreamError(f"expected init as the first message, got {which}")
                    init = message.init
                    where = f"value entity {init.service_name} (id {init.entity_id!r})"
                    instance = self._start(init)
                elif which == "command":
                    command = message.command
                    command_id = command.id
                    where = (
                        f"value entity {instance.entity.name} (id {instance.entity_id!r}) "
                        f"handling command {command.name!r} (id {command.id})"
                    )
                    yield value_entity_pb2.ValueEntityStreamOut(
                        reply=await instance.handle_command(command)
                    )
                elif which == "init":
                    raise _StreamError("received a second init message")
                else:
                    raise _StreamError("received an empty ValueEntityStreamIn message")
        except Exception as e:
            if isinstance(e, _StreamError):
                description = f"Protocol error in {where}: {e}"
                log.error("%s", description)
            else:
                log.exception("Unexpected error in %s", where)
                description = f"Unexpected error in {where}: {type(e).__name__}: {e}"
            yield value_entity_pb2.ValueEntityStreamOut(
                failure=entity_pb2.Failure(command_id=command_id, description=description)
            )

    def _start(self, init: value_entity_pb2.ValueEntityInit) -> _Instance:
        entity = self._entities.get(init.service_name)
        if entity is None:
            raise _StreamError(
                f"unknown service {init.service_name!r}; this user function serves "
                f"{sorted(self._entities)}"
            )
        any_support = self._any_support[entity.name]
        value: any_pb2.Any | None = None
        if init.HasField("state") and init.state.HasField("value"):
            value = any_pb2.Any()
            value.CopyFrom(init.state.value)
            any_support.unpack(value)  # fail now, not at the first command, if it is unreadable
        return _Instance(entity, init.entity_id, value, any_support)


class _StreamError(Exception):
    """A protocol violation: ends the stream with a top-level failure, without a traceback."""


def add_value_entity_servicer(server: Any, entities: Sequence[ValueEntity]) -> None:
    """Add the ``ValueEntity`` servicer for ``entities`` to a ``grpc.aio.Server``."""
    servicer = ValueEntityServicer(entities)
    value_entity_pb2_grpc.add_ValueEntityServicer_to_server(servicer, server)
