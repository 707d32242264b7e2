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

from collections.abc import Sequence
from typing import Any

from google.protobuf import any_pb2

from cloudstate.any_support import AnySupport
from cloudstate.component.replies import fill_reply
from cloudstate.component.servicer import (
    UNIMPLEMENTED,
    EntityStreamServicer,
    call_handler,
    failure,
    no_handler,
)
from cloudstate.protocol import entity_pb2, value_entity_pb2, value_entity_pb2_grpc
from cloudstate.value_entity.context import ValueEntityCommandContext
from cloudstate.value_entity.entity import ValueEntity

StreamOut = value_entity_pb2.ValueEntityStreamOut


class Instance:
    """A live value-entity instance: its stored state and command handling (driven by the
    servicer, and by the test kit without one)."""

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
            return _failure_reply(command.id, no_handler(self.entity, command), code=UNIMPLEMENTED)
        message = self._any_support.unpack(command.payload)
        state = await self.current_state()
        ctx = ValueEntityCommandContext(self.entity_id, command, state, self._any_support)
        result, failed = await call_handler(
            self.entity, command, self.entity_id, ctx, lambda: handler.call(state, message, ctx)
        )
        if failed is not None:
            return _failure_reply(command.id, failed.description, code=failed.status_code)
        reply = value_entity_pb2.ValueEntityReply(command_id=command.id)
        fill_reply(reply, ctx, handler, self.entity.service_descriptor, command.name, result)
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
    reply.client_action.failure.CopyFrom(failure(command_id, description, code=code))
    return reply


class ValueEntityServicer(EntityStreamServicer[ValueEntity, Instance]):
    """Serves every registered value entity (dispatching on ``init.service_name``)."""

    stream_out = StreamOut
    kind_name = ValueEntity.KIND_NAME

    async def start(
        self, entity: ValueEntity, init: value_entity_pb2.ValueEntityInit, any_support: AnySupport
    ) -> Instance:
        value: any_pb2.Any | None = None
        if init.HasField("state") and init.state.HasField("value"):
            value = any_pb2.Any()
            value.CopyFrom(init.state.value)
            any_support.unpack(value)  # fail now, not at the first command, if it is unreadable
        return Instance(entity, init.entity_id, value, any_support)

    def describe(self, which: str, message: Any) -> tuple[str, int]:
        return f" handling command {message.name!r} (id {message.id})", message.id

    async def receive(self, instance: Instance, which: str, message: Any) -> Sequence[StreamOut]:
        return [StreamOut(reply=await instance.handle_command(message))]


def add_value_entity_servicer(server: Any, entities: Sequence[ValueEntity]) -> None:
    """Add the ``ValueEntity`` servicer for ``entities`` to a ``grpc.aio.Server``."""
    servicer = ValueEntityServicer(entities)
    value_entity_pb2_grpc.add_ValueEntityServicer_to_server(servicer, server)
