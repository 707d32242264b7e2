"""Test kit for CRDT entities: commands in, reply / failure / delta out, in-process.

::

    from cloudstate.testkit import CrdtTestKit

    kit = CrdtTestKit(likes_entity, "post-1")
    result = kit.like(post_id="post-1")
    assert kit.state.value == 1                       # the GCounter
    assert result.delta.gcounter.increment == 1       # what the proxy would replicate

Streamed commands (server-streaming methods) stay open when the handler registers
``ctx.on_change``: later commands, and changes from other replicas (:meth:`CrdtTestKit.replicate`),
produce :class:`~cloudstate.testkit.results.StreamedMessage` s in the results' ``messages``.
:meth:`CrdtTestKit.cancel` plays a client going away.

The kit keeps the replicated value as the proxy would, so after a handler raises an unexpected
exception (which reaches the test) the instance starts again from the last replicated value.
"""

from __future__ import annotations

from typing import Any

from cloudstate.crdt.base import Crdt, WriteConsistency, crdt_from_delta
from cloudstate.crdt.entity import CRDT_ENTITY_TYPE, CrdtEntity
from cloudstate.crdt.servicer import Instance
from cloudstate.durable import assume_proxy
from cloudstate.protocol import crdt_pb2, entity_pb2
from cloudstate.testkit._sync import run_sync
from cloudstate.testkit.base import EntityTestKit, register_kind
from cloudstate.testkit.results import CrdtResult, Failed, Forwarded, StreamedMessage


class CrdtTestKit(EntityTestKit[CrdtResult]):
    """One instance of a CRDT entity, driven in-process.

    :param entity: the :class:`~cloudstate.crdt.CrdtEntity`.
    :param entity_id: the instance's id.
    :param delta: a replicated value to start from (a ``CrdtDelta`` holding the whole value, as
        the proxy sends it); default: the entity's ``create_crdt``.
    """

    def __init__(
        self,
        entity: CrdtEntity,
        entity_id: str = "test",
        *,
        delta: crdt_pb2.CrdtDelta | None = None,
    ) -> None:
        if not isinstance(entity, CrdtEntity):
            raise TypeError(f"CrdtTestKit needs a CrdtEntity, not {entity!r}")
        super().__init__(entity, entity_id)
        self._entity = entity
        self._replicated = delta  # the proxy's value: what a restarted instance starts from
        self._instance: Instance | None = None

    @property
    def state(self) -> Any:
        """The CRDT (``GCounter``, ``ORSet``, ...), or ``None`` when there is none yet."""
        return self._live().state

    def replicate(self, delta: crdt_pb2.CrdtDelta) -> list[StreamedMessage]:
        """Apply a change made on another replica; the streamed messages it causes."""
        return run_sync(self.replicate_async(delta), "kit.replicate_async(delta)")

    async def replicate_async(self, delta: crdt_pb2.CrdtDelta) -> list[StreamedMessage]:
        """:meth:`replicate` for ``async def`` tests."""
        instance = await self._ready()
        with assume_proxy():  # on_change callbacks may start timers
            outputs = await instance.apply_delta(delta)
        self._remember(instance)
        return [
            self._streamed(o.streamed_message) for o in outputs if o.HasField("streamed_message")
        ]

    def cancel(self, command_id: int) -> CrdtResult:
        """The client of streamed command ``command_id`` went away: run its ``on_cancel``."""
        return run_sync(self.cancel_async(command_id), "kit.cancel_async(command_id)")

    async def cancel_async(self, command_id: int) -> CrdtResult:
        """:meth:`cancel` for ``async def`` tests."""
        instance = await self._ready()
        with assume_proxy():  # on_cancel callbacks may start timers
            outputs = await instance.cancel(
                entity_pb2.StreamCancelled(entity_id=self.entity_id, id=command_id)
            )
        result = CrdtResult("(cancelled)", command_id=command_id)
        for out in outputs:
            if out.HasField("stream_cancelled_response"):
                response = out.stream_cancelled_response
                self._side_effects(result, response.side_effects)
                self._state_action(result, response.state_action)
            elif out.HasField("streamed_message"):
                result.messages.append(self._streamed(out.streamed_message))
        self._remember(instance)
        return result

    # -- the proxy's part ---------------------------------------------------------------------

    def _live(self) -> Instance:
        if self._instance is None:
            run_sync(self._ready(), "kit.replicate_async(...)")
        assert self._instance is not None
        return self._instance

    async def _ready(self) -> Instance:
        if self._instance is None:
            state: Crdt | None
            if self._replicated is not None:
                state = crdt_from_delta(self._replicated, self.any_support)
            else:
                state = await self._entity.create_state(self.entity_id)
            self._instance = Instance(self._entity, self.entity_id, state, self.any_support)
        return self._instance

    def _remember(self, instance: Instance) -> None:
        state = instance.state
        self._replicated = None if state is None else state._state_delta()

    async def _handle(self, command: entity_pb2.Command) -> CrdtResult:
        instance = await self._ready()
        command.streamed = self.method(command.name).server_streaming
        try:
            outputs = await instance.handle_command(command)
        except BaseException as e:
            self._instance = None  # the proxy restarts the entity from its replicated value
            e.add_note(
                f"(in CRDT entity {self._entity.name}, id {self.entity_id!r}, command "
                f"{command.name!r}; the test kit restarts it from the replicated value)"
            )
            raise
        result = CrdtResult(command.name, command_id=command.id)
        for out in outputs:
            if out.HasField("reply"):
                self._reply(result, out.reply)
            elif out.HasField("streamed_message"):
                result.messages.append(self._streamed(out.streamed_message))
        if result.failure is None:
            self._remember(instance)
        return result

    def _reply(self, result: CrdtResult, reply: crdt_pb2.CrdtReply) -> None:
        action = reply.client_action.WhichOneof("action")
        if action == "failure":
            result.failure = Failed.from_proto(reply.client_action.failure)
            return
        if action == "reply":
            result.reply = self.decode(reply.client_action.reply.payload)
        elif action == "forward":
            result.forward = Forwarded.from_proto(reply.client_action.forward, self.any_support)
        self._side_effects(result, reply.side_effects)
        result.streamed = reply.streamed
        self._state_action(result, reply.state_action)

    def _state_action(self, result: CrdtResult, action: crdt_pb2.CrdtStateAction) -> None:
        which = action.WhichOneof("action")
        if which == "update":
            result.delta = action.update
        elif which == "delete":
            result.deleted = True
        if which is not None:
            result.write_consistency = WriteConsistency(action.write_consistency)

    def _streamed(self, message: crdt_pb2.CrdtStreamedMessage) -> StreamedMessage:
        streamed = StreamedMessage(message.command_id, end_stream=message.end_stream)
        action = message.client_action.WhichOneof("action")
        if action == "failure":
            streamed.failure = Failed.from_proto(message.client_action.failure)
            streamed.end_stream = True
        elif action == "reply":
            streamed.reply = self.decode(message.client_action.reply.payload)
        elif action == "forward":
            streamed.forward = Forwarded.from_proto(message.client_action.forward, self.any_support)
        self._side_effects(streamed, message.side_effects, succeeded=action != "failure")
        return streamed


register_kind(CRDT_ENTITY_TYPE, CrdtTestKit)
