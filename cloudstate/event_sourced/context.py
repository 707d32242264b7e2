"""Contexts passed to event-sourced entity handlers.

* :class:`EventSourcedCommandContext` - command handlers: emit events, fail the command, forward
  the command or add side effects.
* :class:`EventSourcedEventContext` - event handlers, the snapshot handler and the snapshot
  function: which entity and sequence number is being applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import grpc

from cloudstate.any_support import AnySupport, pack
from cloudstate.component.context import CommandContext
from cloudstate.durable import LIFECYCLE, require_extension
from cloudstate.handler import Context
from cloudstate.protocol import entity_pb2

if TYPE_CHECKING:
    from cloudstate.handler import Handler


class _LiveEntity(Protocol):
    """What a command context needs from the running entity instance."""

    @property
    def entity_id(self) -> str: ...
    @property
    def state(self) -> Any: ...
    @property
    def sequence(self) -> int: ...
    @property
    def any_support(self) -> AnySupport: ...
    def event_handler_for(self, event: Any) -> Handler: ...
    def checkpoint(self) -> None: ...
    def apply_event(self, handler: Handler, event: Any) -> None: ...
    async def apply_event_async(self, handler: Handler, event: Any) -> None: ...


class EventSourcedContext(Context):
    """Base of the event-sourced contexts."""

    def __init__(self, entity_id: str) -> None:
        self._entity_id = entity_id

    @property
    def entity_id(self) -> str:
        """The id of the entity instance (for the shopping cart: the user id)."""
        return self._entity_id


class EventSourcedEventContext(EventSourcedContext):
    """Passed to event handlers, the snapshot handler and the snapshot function::

    @entity.event_handler(ItemAdded)
    def item_added(state: ShoppingCartState, event: ItemAdded, ctx: EventSourcedEventContext):
        print(ctx.entity_id, ctx.sequence)
    """

    def __init__(self, entity_id: str, sequence: int) -> None:
        super().__init__(entity_id)
        self._sequence = sequence

    @property
    def sequence(self) -> int:
        """Sequence number of the event being applied (of the snapshot, for snapshots)."""
        return self._sequence


class _Applied:
    """Returned by :meth:`EventSourcedCommandContext.emit`; awaiting it finishes applying."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: EventSourcedCommandContext) -> None:
        self._ctx = ctx

    def __await__(self) -> Generator[Any, None, None]:
        return self._ctx._drain().__await__()


class EventSourcedCommandContext(EventSourcedContext, CommandContext):
    """Passed to command handlers; valid only while the handler runs.

    Example (from the shopping cart)::

        @entity.command_handler("AddItem")
        def add_item(item: AddLineItem, ctx: EventSourcedCommandContext) -> Empty:
            if item.quantity <= 0:
                ctx.fail(f"Quantity for item {item.product_id} must be greater than zero.")
            ctx.emit(ItemAdded(item=DomainLineItem(...)))
            return Empty()
    """

    def __init__(self, live: _LiveEntity, command: entity_pb2.Command) -> None:
        super().__init__(live.entity_id)
        self._start_command(live.entity_id, command, live.any_support)
        self._live = live
        self._events: list[Any] = []  # packed google.protobuf.Any, in emission order
        self._event_sequences: list[int] = []
        self._pending: list[tuple[Handler, Any]] = []
        self._delete = False

    @property
    def sequence(self) -> int:
        """Sequence number of the last event applied to the state (including emitted ones)."""
        return self._live.sequence

    @property
    def state(self) -> Any:
        """The current state; use it after ``emit`` if your event handlers return new states."""
        return self._live.state

    def emit(self, event: Any) -> Awaitable[None]:
        """Record ``event`` for persistence and apply its event handler to the state right away.

        With a sync event handler the state is updated when ``emit`` returns. With an
        ``async def`` event handler, ``await ctx.emit(event)`` to see the new state; un-awaited
        applications are finished, in order, when the command handler returns.
        """
        self._check_active("emit")
        handler = self._live.event_handler_for(event)
        packed = pack(event)
        if not self._events:
            self._live.checkpoint()
        self._events.append(packed)
        self._event_sequences.append(self._live.sequence + len(self._pending) + 1)
        self._pending.append((handler, event))
        while self._pending and not self._pending[0][0].is_async:
            sync_handler, sync_event = self._pending.pop(0)
            self._live.apply_event(sync_handler, sync_event)
        return _Applied(self)

    def delete_entity(self) -> None:
        """Delete this entity once the command succeeds: the proxy journals a tombstone after
        the command's events (consumers of the event log receive a
        ``cloudstate.lifecycle.EntityDeleted``), the next command starts the entity fresh, and
        its events are physically removed after the proxy's grace period
        (docs/eventsourced.md#deleting-an-entity). Example::

            @entity.command_handler("Close")
            def close(ctx: EventSourcedCommandContext) -> Empty:
                ctx.emit(CartClosed())
                ctx.delete_entity()
                return Empty()

        Needs a proxy with the ``cloudstate.lifecycle/1`` extension; otherwise the command fails
        (``UNIMPLEMENTED``) naming the proxy, and nothing is deleted.
        """
        self._check_active("delete_entity")
        require_extension(
            LIFECYCLE, "delete_entity()", f"command {self._command_name!r} of {self.entity_id!r}"
        )
        self._delete = True

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the command: the client gets an error with ``description``.

        Raises an exception that ends the handler. Events emitted by this command are discarded
        and the state is rolled back. ``code`` (e.g. ``grpc.StatusCode.INVALID_ARGUMENT``) is the
        gRPC status the client should see; by default the proxy chooses.
        """
        super().fail(description, code)

    # -- SDK internals ---------------------------------------------------------------------

    async def _drain(self) -> None:
        while self._pending:
            handler, event = self._pending.pop(0)
            await self._live.apply_event_async(handler, event)
