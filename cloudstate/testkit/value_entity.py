"""Test kit for value entities: commands in, reply / failure / new state out, in-process.

::

    from cloudstate.testkit import ValueEntityTestKit

    def test_add_item() -> None:
        kit = ValueEntityTestKit(cart_entity, "alice")
        result = kit.add_item(user_id="alice", product_id="apple", name="Apple", quantity=3)
        assert result.updated and kit.state.items[0].quantity == 3

The kit keeps the stored value as the proxy would (serialized), so every command sees the state
the previous successful command stored, and a failed command changes nothing.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2

from cloudstate.any_support import pack
from cloudstate.protocol import entity_pb2
from cloudstate.testkit._sync import run_sync
from cloudstate.testkit.base import EntityTestKit, register_kind
from cloudstate.testkit.results import Failed, Forwarded, ValueEntityResult
from cloudstate.value_entity.entity import VALUE_ENTITY_TYPE, ValueEntity
from cloudstate.value_entity.servicer import Instance


class ValueEntityTestKit(EntityTestKit[ValueEntityResult]):
    """One instance of a value entity, driven in-process.

    :param entity: the :class:`~cloudstate.value_entity.ValueEntity`.
    :param entity_id: the instance's id.
    :param state: a stored state to start from (default: none, so ``init_state`` is used).
    """

    def __init__(self, entity: ValueEntity, entity_id: str = "test", *, state: Any = None) -> None:
        if not isinstance(entity, ValueEntity):
            raise TypeError(f"ValueEntityTestKit needs a ValueEntity, not {entity!r}")
        super().__init__(entity, entity_id)
        self._entity = entity
        self._value: any_pb2.Any | None = None if state is None else pack(state)
        self._instance = self._new_instance()

    @property
    def state(self) -> Any:
        """The current state: the stored value, or a fresh ``init_state`` when none is stored."""
        return run_sync(self._instance.current_state(), "kit.state_async()")

    async def state_async(self) -> Any:
        """:attr:`state` for ``async def`` tests with an ``async def`` ``init_state``."""
        return await self._instance.current_state()

    @property
    def stored(self) -> Any:
        """The stored value, decoded; ``None`` when there is none (never written, or deleted)."""
        return None if self._value is None else self.decode(self._value)

    def _new_instance(self) -> Instance:
        return Instance(self._entity, self.entity_id, self._value, self.any_support)

    async def _handle(self, command: entity_pb2.Command) -> ValueEntityResult:
        try:
            reply = await self._instance.handle_command(command)
        except BaseException as e:
            self._instance = self._new_instance()  # the proxy would restart the entity
            e.add_note(
                f"(in {self._entity.name}, entity {self.entity_id!r}, command {command.name!r}; "
                "the stored state is unchanged)"
            )
            raise
        result = ValueEntityResult(command.name)
        action = reply.client_action.WhichOneof("action")
        if action == "failure":
            result.failure = Failed.from_proto(reply.client_action.failure)
            return result
        if action == "reply":
            result.reply = self.decode(reply.client_action.reply.payload)
        elif action == "forward":
            result.forward = Forwarded.from_proto(reply.client_action.forward, self.any_support)
        self._side_effects(result, reply.side_effects)
        change = reply.state_action.WhichOneof("action") if reply.HasField("state_action") else None
        if change == "update":
            self._value = reply.state_action.update.value
            result.updated = True
            result.new_state = self.decode(self._value)
        elif change == "delete":
            self._value = None
            result.deleted = True
        return result


register_kind(VALUE_ENTITY_TYPE, ValueEntityTestKit)
