"""Event-sourced entities: state rebuilt from events, changed only by emitting events.

Example (the shopping cart, ``examples/shoppingcart``)::

    entity = EventSourcedEntity(_SHOPPINGCART, [FILE_DESCRIPTOR], init,
                                persistence_id="shopping-cart", snapshot_every=5)

    @entity.event_handler(ItemAdded)
    def item_added(state: ShoppingCartState, event: ItemAdded) -> None:
        ...

    @entity.command_handler("AddItem")
    def add_item(item: AddLineItem, ctx: EventSourcedCommandContext) -> Empty:
        ctx.emit(ItemAdded(item=...))
        return Empty()
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from cloudstate.component.entity import EntityComponent
from cloudstate.event_sourced.context import EventSourcedCommandContext, EventSourcedEventContext
from cloudstate.handler import ANY_MESSAGE, Handler, Param, resolve_handler
from cloudstate.migrations import Migrations, Transform
from cloudstate.protocol import event_sourced_pb2

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of event-sourced entities.
EVENT_SOURCED_ENTITY_TYPE: str = event_sourced_pb2.DESCRIPTOR.services_by_name[
    "EventSourced"
].full_name


class EventSourcedEntity(EntityComponent):
    """An event-sourced entity for one gRPC service.

    ::

        entity = EventSourcedEntity(_SHOPPINGCART, [FILE_DESCRIPTOR], init, snapshot_every=5)

        @entity.command_handler("GetCart")
        def get_cart(state: ShoppingCartState) -> Cart:
            return Cart(items=state.cart.values())

    :param service_descriptor: the user service (``shoppingcart_pb2._SHOPPINGCART`` or
        ``DESCRIPTOR.services_by_name["ShoppingCart"]``); its methods are the commands.
    :param file_descriptors: the ``DESCRIPTOR`` of every generated module whose types the entity
        uses (commands, events, snapshots); the service's own file is always included.
    :param init_state: ``init(entity_id) -> state`` creates the empty state of a new instance.
        Its return annotation is the *state type* used for parameter injection.
    :param persistence_id: namespace of the entity's events; default: the service's short name.
    :param snapshot_every: take a snapshot every N events (0 = never; needs ``@snapshot()`` and
        ``@snapshot_handler()``).
    :param passivation_timeout: seconds of inactivity after which the proxy may stop the
        instance (default: the proxy's).
    """

    ENTITY_TYPE = EVENT_SOURCED_ENTITY_TYPE
    KIND_NAME = "event-sourced entity"

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor],
        init_state: Callable[..., Any],
        persistence_id: str | None = None,
        snapshot_every: int = 0,
        *,
        passivation_timeout: float | None = None,
    ) -> None:
        super().__init__(service_descriptor, file_descriptors, persistence_id, passivation_timeout)
        if not callable(init_state):
            raise TypeError(f"init_state must be callable, not {init_state!r}")
        if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int):
            raise TypeError(f"snapshot_every must be an int, not {snapshot_every!r}")
        if snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0, not {snapshot_every}")
        self.init_state = init_state
        self.snapshot_every = snapshot_every
        self._state_factory(init_state)
        self._event_handlers: dict[type, Handler] = {}
        self.snapshot_function: Handler | None = None
        self.snapshot_handler_function: Handler | None = None
        #: Migrations of old event and snapshot types, applied on replay
        #: (docs/schema-evolution.md).
        self.migrations = Migrations(f"{self.KIND_NAME} {self.name}")

    def validate(self) -> None:
        if self.snapshot_every > 0 and (
            self.snapshot_function is None or self.snapshot_handler_function is None
        ):
            raise ValueError(
                f"event-sourced entity {self.name} has snapshot_every={self.snapshot_every} but "
                "needs both @entity.snapshot() and @entity.snapshot_handler()"
            )
        super().validate()

    # -- decorators -----------------------------------------------------------------------------

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the service method ``name``.

        Parameters (any subset, any order, injected by annotation): the state, the command
        message (the method's input type) and an :class:`EventSourcedCommandContext`. The return
        value is the reply (the method's output type; ``None`` replies with an empty one).
        """
        return self._command_handler(name, EventSourcedCommandContext)

    def event_handler(self, event_type: type) -> Callable[[F], F]:
        """Register the handler applying events of ``event_type`` to the state.

        Parameters: the state, the event, an :class:`EventSourcedEventContext`. Mutate the state
        in place or return the new state. Called on replay and on ``ctx.emit``.
        """
        if not inspect.isclass(event_type):
            raise TypeError(f"event_handler() takes the event class, not {event_type!r}")
        if event_type in self._event_handlers:
            raise ValueError(
                f"{self.name}: event handler for {event_type.__name__} registered twice"
            )

        def register(function: F) -> F:
            self._event_handlers[event_type] = resolve_handler(
                function,
                role=f"event handler for {event_type.__name__} of {self.name}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=event_type,
                context_type=EventSourcedEventContext,
            )
            return function

        return register

    def snapshot(self, function: F | None = None) -> Any:
        """Register ``snapshot(state) -> message``, turning the state into a snapshot to store.

        Parameters: the state and optionally an :class:`EventSourcedEventContext`.
        """

        def register(fn: F) -> F:
            if self.snapshot_function is not None:
                raise ValueError(f"{self.name}: snapshot function registered twice")
            self.snapshot_function = resolve_handler(
                fn,
                role=f"snapshot function of {self.name}:",
                kinds=(Param.STATE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=None,
                context_type=EventSourcedEventContext,
            )
            return fn

        return register if function is None else register(function)

    def snapshot_handler(self, function: F | None = None) -> Any:
        """Register the handler restoring the state from a stored snapshot.

        Parameters: the state (fresh from ``init``), the snapshot message (recognised by its
        protobuf type annotation) and optionally an :class:`EventSourcedEventContext`. Mutate the
        state or return the new one.
        """

        def register(fn: F) -> F:
            if self.snapshot_handler_function is not None:
                raise ValueError(f"{self.name}: snapshot handler registered twice")
            self.snapshot_handler_function = resolve_handler(
                fn,
                role=f"snapshot handler of {self.name}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=ANY_MESSAGE,
                context_type=EventSourcedEventContext,
            )
            return fn

        return register if function is None else register(function)

    def migrate(
        self, type_url: str, *, to: type[Message], transform: Transform | None = None
    ) -> None:
        """Replay stored events or snapshots typed ``type_url`` as ``to`` instances, built by
        ``transform(old_bytes)`` (default ``to.FromString``: a rename of a wire-compatible
        message). Their handlers are the ones registered for ``to``. Example::

            entity.migrate(
                "type.googleapis.com/com.example.shoppingcart.persistence.ItemAdded",
                to=ItemAddedV2,
                transform=lambda old: upgrade(ItemAddedV1.FromString(old)),
            )
        """
        self.migrations.add(type_url, to, transform)

    # -- used by the servicer -------------------------------------------------------------------

    def event_handler_for(self, event: Any) -> Handler:
        """The handler for ``event``'s type (or a base class of it)."""
        for cls in type(event).__mro__:
            handler = self._event_handlers.get(cls)
            if handler is not None:
                return handler
        raise TypeError(
            f"event-sourced entity {self.name} has no event handler for "
            f"{type(event).__name__}: register one with @entity.event_handler"
            f"({type(event).__name__}), or migrate its stored type to a handled one with "
            "entity.migrate(...) (docs/schema-evolution.md)"
        )


__all__ = ["EVENT_SOURCED_ENTITY_TYPE", "EventSourcedEntity"]
