"""The ``cloudstate.crdt.Crdt`` gRPC service: one stream per CRDT entity instance.

Stream protocol (``crdt.proto``): ``init`` first (with the replicated value as a delta, if the
proxy has one); then, in any order, ``delta`` (another replica's changes), ``command``,
``stream_cancelled`` (a streamed command's client went away) and ``delete`` (the CRDT was
deleted elsewhere: the state is cleared, nothing is answered). Messages are handled one at a
time, in order.

For each command: exactly one ``CrdtReply`` carrying one aggregated delta of the command's
changes (or the deletion), then a ``CrdtStreamedMessage`` for each streamed command whose
``on_change`` callback has something to send. ``ctx.fail()`` gives a reply with only
``client_action.failure`` and undoes the command's changes. Any other exception (or a protocol
violation) is logged, answered with a top-level ``Failure`` and ends the stream; the proxy then
restarts the instance from its replicated state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from cloudstate.any_support import AnySupport
from cloudstate.component.replies import fill_reply
from cloudstate.component.servicer import (
    UNIMPLEMENTED,
    EntityStreamServicer,
    StreamError,
    call_handler,
    failure,
    no_handler,
)
from cloudstate.crdt.base import Crdt, Transaction, WriteConsistency, crdt_from_delta
from cloudstate.crdt.context import (
    CrdtCommandContext,
    StreamCancelledContext,
    SubscriptionContext,
)
from cloudstate.crdt.entity import CrdtEntity
from cloudstate.errors import CommandFailure
from cloudstate.handler import Handler
from cloudstate.protocol import crdt_pb2, crdt_pb2_grpc, entity_pb2

_ENDED_REMEMBERED = 1024
Out = crdt_pb2.CrdtStreamOut


@dataclass
class _Subscription:
    """A streamed command still open: its callbacks and the message it was called with."""

    command: entity_pb2.Command
    message: Any
    on_change: Handler | None
    on_cancel: Handler | None


class Instance:
    """A live CRDT entity instance: its CRDT and its open streamed commands (driven by the
    servicer, and by the test kit without one)."""

    def __init__(
        self, entity: CrdtEntity, entity_id: str, state: Crdt | None, any_support: AnySupport
    ) -> None:
        self.entity = entity
        self._entity_id = entity_id
        self._state = state
        self._any_support = any_support
        self._subscriptions: dict[int, _Subscription] = {}
        # Streamed commands whose stream ended on our side (end_stream, failure, no callbacks,
        # delete): the proxy may still cancel them, which is answered. Bounded: oldest forgotten.
        self._ended: OrderedDict[int, None] = OrderedDict()

    # -- _LiveEntity protocol (used by the contexts) --------------------------------------------

    @property
    def entity_id(self) -> str:
        return self._entity_id

    @property
    def state(self) -> Crdt | None:
        return self._state

    @property
    def any_support(self) -> AnySupport:
        return self._any_support

    # -- stream messages ----------------------------------------------------------------------

    async def apply_delta(self, delta: crdt_pb2.CrdtDelta) -> list[Out]:
        """A replicated change: apply it, then let the streamed commands react."""
        if self._state is None:
            self._state = crdt_from_delta(delta, self._any_support)
        else:
            self._state._apply_delta(delta, self._any_support)
        return await self._notify()

    def delete(self) -> None:
        """The CRDT was deleted: forget it and every open stream (nothing is answered)."""
        self._state = None
        for command_id in list(self._subscriptions):
            self._end(command_id)

    async def handle_command(self, command: entity_pb2.Command) -> list[Out]:
        handler = self.entity.command_handlers.get(command.name)
        if command.streamed:  # ended unless it subscribes below
            self._ended[command.id] = None
            self._forget_old_ends()
        if handler is None:
            return [_failure_reply(command.id, no_handler(self.entity, command), UNIMPLEMENTED)]
        message = self._any_support.unpack(command.payload)
        ctx = CrdtCommandContext(self, command)
        with Transaction() as changes:
            result, failed = await call_handler(
                self.entity,
                command,
                self.entity_id,
                ctx,
                lambda: handler.call(self._state, message, ctx),
            )
            if failed is not None:
                changes.rollback()
                return [_failure_reply(command.id, failed.description, failed.status_code)]
        if ctx._new_state is not None:
            self._state = ctx._new_state
        reply = crdt_pb2.CrdtReply(command_id=command.id)
        fill_reply(
            reply,
            ctx,
            handler,
            self.entity.service_descriptor,
            command.name,
            result,
            empty_reply=not command.streamed,
        )
        changed = self._take_state_action(reply.state_action, ctx._deleted, ctx._write_consistency)
        subscription: _Subscription | None = None
        if (
            command.streamed
            and not ctx._deleted
            and not ctx._stream_ended
            and (ctx._on_change is not None or ctx._on_cancel is not None)
        ):
            subscription = _Subscription(
                command=_without_payload(command),
                message=message,
                on_change=self._callback(ctx._on_change, command.name, cancel=False),
                on_cancel=self._callback(ctx._on_cancel, command.name, cancel=True),
            )
            reply.streamed = True
        out = [Out(reply=reply)]
        if changed:  # the others hear of the change; the new subscription starts after it
            out.extend(await self._notify())
        if subscription is not None:
            self._ended.pop(command.id, None)
            self._subscriptions[command.id] = subscription
        return out

    async def cancel(self, cancelled: entity_pb2.StreamCancelled) -> list[Out]:
        """A streamed command's client went away: run its ``on_cancel`` callback, if any."""
        command_id = cancelled.id
        subscription = self._subscriptions.pop(command_id, None)
        if subscription is None:
            if command_id not in self._ended:
                raise StreamError(
                    f"stream_cancelled for command id {command_id}, which is not a streamed "
                    "command of this entity"
                )
            del self._ended[command_id]
        response = crdt_pb2.CrdtStreamCancelledResponse(command_id=command_id)
        if subscription is None or subscription.on_cancel is None:
            return [Out(stream_cancelled_response=response)]
        ctx = StreamCancelledContext(self, subscription.command)
        try:
            await subscription.on_cancel.call(self._state, subscription.message, ctx)
        finally:
            ctx._finish()
        response.side_effects.extend(ctx._effects)
        changed = self._take_state_action(
            response.state_action, ctx._deleted, ctx._write_consistency
        )
        out = [Out(stream_cancelled_response=response)]
        if changed:
            out.extend(await self._notify())
        return out

    # -- helpers --------------------------------------------------------------------------------

    def _end(self, command_id: int) -> None:
        """The stream of a streamed command ended on our side."""
        self._subscriptions.pop(command_id, None)
        self._ended[command_id] = None
        self._forget_old_ends()

    def _forget_old_ends(self) -> None:
        while len(self._ended) > _ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    def _callback(self, function: Any, command_name: str, *, cancel: bool) -> Handler | None:
        return None if function is None else self.entity.callback(function, command_name, cancel)

    def _take_state_action(
        self, action: crdt_pb2.CrdtStateAction, deleted: bool, consistency: WriteConsistency
    ) -> bool:
        """Fill ``action`` with the deletion or the pending delta; True if the CRDT changed."""
        if deleted:
            action.delete.SetInParent()
            action.write_consistency = cast(crdt_pb2.CrdtWriteConsistency, int(consistency))
            self.delete()
            return False
        state = self._state
        if state is None or not state._has_delta():
            return False
        action.update.CopyFrom(state._delta())
        action.write_consistency = cast(crdt_pb2.CrdtWriteConsistency, int(consistency))
        state._reset_delta()
        return True

    async def _notify(self) -> list[Out]:
        """Run the ``on_change`` callbacks; the streamed messages they produce."""
        out: list[Out] = []
        state = self._state
        for command_id, subscription in list(self._subscriptions.items()):
            callback = subscription.on_change
            if callback is None:
                continue
            ctx = SubscriptionContext(self, subscription.command)
            failed: CommandFailure | None = None
            result: Any = None
            try:
                result = await callback.call(state, subscription.message, ctx)
            except CommandFailure as e:
                failed = e
            finally:
                ctx._finish()
            if state is not None and state._has_delta():
                raise StreamError(
                    f"{callback.description} changed the CRDT; on_change callbacks may only "
                    "read it (change it in a command handler or an on_cancel callback)",
                    "Callback error in",
                )
            message = crdt_pb2.CrdtStreamedMessage(command_id=command_id)
            if failed is not None:
                self._end(command_id)
                message.client_action.failure.CopyFrom(
                    failure(command_id, failed.description, code=failed.status_code)
                )
                out.append(Out(streamed_message=message))
                continue
            fill_reply(
                message,
                ctx,
                callback,
                self.entity.service_descriptor,
                subscription.command.name,
                result,
                empty_reply=False,
            )
            if ctx._ended:
                message.end_stream = True
                self._end(command_id)
            if message.HasField("client_action") or message.side_effects or message.end_stream:
                out.append(Out(streamed_message=message))
        return out


def _without_payload(command: entity_pb2.Command) -> entity_pb2.Command:
    """What a streamed command's callbacks see of it: id, name, metadata (the message is kept
    decoded)."""
    kept = entity_pb2.Command(entity_id=command.entity_id, id=command.id, name=command.name)
    if command.HasField("metadata"):
        kept.metadata.CopyFrom(command.metadata)
    return kept


def _failure_reply(command_id: int, description: str, code: int) -> Out:
    reply = crdt_pb2.CrdtReply(command_id=command_id)
    reply.client_action.failure.CopyFrom(failure(command_id, description, code=code))
    return Out(reply=reply)


class CrdtServicer(EntityStreamServicer[CrdtEntity, Instance]):
    """Serves every registered CRDT entity (dispatching on ``init.service_name``)."""

    stream_out = Out
    kind_name = CrdtEntity.KIND_NAME

    async def start(
        self, entity: CrdtEntity, init: crdt_pb2.CrdtInit, any_support: AnySupport
    ) -> Instance:
        state: Crdt | None
        if init.HasField("delta"):
            state = crdt_from_delta(init.delta, any_support)
        else:
            state = await entity.create_state(init.entity_id)
        return Instance(entity, init.entity_id, state, any_support)

    def describe(self, which: str, message: Any) -> tuple[str, int]:
        if which == "command":
            return f" handling command {message.name!r} (id {message.id})", message.id
        if which == "stream_cancelled":
            return f" cancelling streamed command {message.id}", message.id
        if which == "delta":
            return " applying a replicated delta", 0
        return " deleting its CRDT", 0

    async def receive(self, instance: Instance, which: str, message: Any) -> Sequence[Out]:
        if which == "command":
            return await instance.handle_command(message)
        if which == "delta":
            return await instance.apply_delta(message)
        if which == "stream_cancelled":
            return await instance.cancel(message)
        instance.delete()
        return ()


def add_crdt_servicer(server: Any, entities: Sequence[CrdtEntity]) -> None:
    """Add the ``Crdt`` servicer for ``entities`` to a ``grpc.aio.Server``."""
    servicer = CrdtServicer(entities)
    crdt_pb2_grpc.add_CrdtServicer_to_server(servicer, server)
