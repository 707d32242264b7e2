"""Test kit for event-sourced entities: commands in, reply / failure / events out, in-process.

::

    from cloudstate.testkit import EventSourcedTestKit

    def test_add_item() -> None:
        kit = EventSourcedTestKit(shopping_cart_entity, "alice")
        result = kit.add_item(user_id="alice", product_id="apple", name="Apple", quantity=3)
        assert result.events == [ItemAdded(item=DomainLineItem(productId="apple", ...))]
        assert kit.get_cart(user_id="alice").reply.items[0].quantity == 3

The kit plays the proxy's part faithfully: it runs the SDK's own stream logic, keeps the
journal of persisted events and the latest snapshot, discards the events of failed commands, and
rebuilds the instance from snapshot + events whenever the proxy would restart it (a failure after
emitting events, an unexpected exception), or when you call :meth:`EventSourcedTestKit.restart`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import any_pb2

from cloudstate.any_support import pack
from cloudstate.event_sourced.entity import EVENT_SOURCED_ENTITY_TYPE, EventSourcedEntity
from cloudstate.event_sourced.servicer import Instance
from cloudstate.protocol import entity_pb2, event_sourced_pb2
from cloudstate.testkit._sync import run_sync
from cloudstate.testkit.base import EntityTestKit, register_kind
from cloudstate.testkit.results import EventSourcedResult, Failed, Forwarded


class EventSourcedTestKit(EntityTestKit[EventSourcedResult]):
    """One instance of an event-sourced entity, driven in-process.

    :param entity: the :class:`~cloudstate.event_sourced.EventSourcedEntity`.
    :param entity_id: the instance's id (what the entity-key fields of commands hold).
    :param events: past events to start from (replayed in order, after the snapshot).
    :param snapshot: a past snapshot to start from (a message of your snapshot type).
    :param snapshot_sequence: the sequence number of ``snapshot`` (default 1); seeded
        ``events`` get the numbers after it.
    """

    def __init__(
        self,
        entity: EventSourcedEntity,
        entity_id: str = "test",
        *,
        events: Iterable[Any] = (),
        snapshot: Any = None,
        snapshot_sequence: int | None = None,
    ) -> None:
        if not isinstance(entity, EventSourcedEntity):
            raise TypeError(f"EventSourcedTestKit needs an EventSourcedEntity, not {entity!r}")
        super().__init__(entity, entity_id)
        self._entity = entity
        self._snapshot: tuple[int, any_pb2.Any] | None = None
        sequence = 0
        if snapshot is not None:
            sequence = 1 if snapshot_sequence is None else snapshot_sequence
            if sequence < 1:
                raise ValueError(f"snapshot_sequence must be >= 1, not {sequence}")
            self._snapshot = (sequence, pack(snapshot))
        elif snapshot_sequence is not None:
            raise ValueError("snapshot_sequence given without a snapshot")
        self._journal: list[tuple[int, any_pb2.Any]] = []
        for event in events:
            sequence += 1
            self._journal.append((sequence, pack(event)))
        self._instance: Instance | None = None  # built from the journal on first use

    # -- what a test looks at -----------------------------------------------------------------

    @property
    def state(self) -> Any:
        """The instance's current state."""
        return self._live().state

    @property
    def sequence(self) -> int:
        """The sequence number of the last persisted event (0: none)."""
        if self._journal:
            return self._journal[-1][0]
        return self._snapshot[0] if self._snapshot is not None else 0

    @property
    def events(self) -> list[Any]:
        """Every persisted event (seeded and emitted), decoded, in order."""
        return [self.decode(payload) for _, payload in self._journal]

    @property
    def snapshot(self) -> Any:
        """The latest snapshot (seeded, or taken after a command), decoded; ``None`` if none."""
        return None if self._snapshot is None else self.decode(self._snapshot[1])

    @property
    def snapshot_sequence(self) -> int:
        """The sequence number of :attr:`snapshot` (0 if there is none)."""
        return 0 if self._snapshot is None else self._snapshot[0]

    def restart(self) -> None:
        """Rebuild the instance from the latest snapshot and the events after it, as the proxy
        does when the entity is passivated and used again. A state that comes out different from
        :attr:`state` before the restart means an event handler is not deterministic."""
        run_sync(self._recover(), "kit.restart_async()")

    async def restart_async(self) -> None:
        """:meth:`restart` for ``async def`` tests."""
        await self._recover()

    # -- the proxy's part ---------------------------------------------------------------------

    async def _recover(self) -> None:
        self._instance = None
        state = await self._entity.create_state(self.entity_id)
        instance = Instance(self._entity, self.entity_id, state, self.any_support)
        after = 0
        if self._snapshot is not None:
            after, payload = self._snapshot
            await instance.apply_snapshot(
                event_sourced_pb2.EventSourcedSnapshot(snapshot_sequence=after, snapshot=payload)
            )
        for sequence, payload in self._journal:
            if sequence > after:
                await instance.replay(
                    event_sourced_pb2.EventSourcedEvent(sequence=sequence, payload=payload)
                )
        self._instance = instance

    def _live(self) -> Instance:
        if self._instance is None or self._instance.stale:
            run_sync(self._recover(), "kit.restart_async()")
        assert self._instance is not None
        return self._instance

    async def _handle(self, command: entity_pb2.Command) -> EventSourcedResult:
        if self._instance is None or self._instance.stale:
            await self._recover()
        instance = self._instance
        assert instance is not None
        try:
            reply = await instance.handle_command(command)
        except BaseException as e:
            self._instance = None  # the proxy would restart the entity
            e.add_note(
                f"(in {self._entity.name}, entity {self.entity_id!r}, command {command.name!r}; "
                "the test kit rebuilds the instance from the persisted events)"
            )
            raise
        result = EventSourcedResult(command.name)
        action = reply.client_action.WhichOneof("action")
        if action == "failure":
            result.failure = Failed.from_proto(reply.client_action.failure)
            if result.failure.restart:
                await self._recover()
            return result
        if action == "reply":
            result.reply = self.decode(reply.client_action.reply.payload)
        elif action == "forward":
            result.forward = Forwarded.from_proto(reply.client_action.forward, self.any_support)
        self._side_effects(result, reply.side_effects)
        sequence = self.sequence
        for payload in reply.events:
            sequence += 1
            self._journal.append((sequence, payload))
            result.events.append(self.decode(payload))
        if reply.HasField("snapshot"):
            self._snapshot = (sequence, reply.snapshot)
            result.snapshot = self.decode(reply.snapshot)
        return result


register_kind(EVENT_SOURCED_ENTITY_TYPE, EventSourcedTestKit)
