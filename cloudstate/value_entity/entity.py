"""Value entities: the state is one value, read when the entity starts and replaced (or deleted)
by commands — the key-value pattern.

Example (the value-entity shopping cart, ``examples/valueentity``)::

    entity = ValueEntity(_SHOPPINGCART, [FILE_DESCRIPTOR], init, persistence_id="value-entity-cart")

    @entity.command_handler("AddItem")
    def add_item(cart: Cart, item: AddLineItem, ctx: ValueEntityCommandContext) -> Empty:
        if item.quantity <= 0:
            ctx.fail(f"Quantity for item {item.product_id} must be greater than zero.")
        ...
        ctx.update_state(cart)
        return Empty()

    CloudState().register_value_entity(entity).start()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.component.entity import EntityComponent
from cloudstate.protocol import value_entity_pb2
from cloudstate.value_entity.context import ValueEntityCommandContext

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of value entities.
VALUE_ENTITY_TYPE: str = value_entity_pb2.DESCRIPTOR.services_by_name["ValueEntity"].full_name


class ValueEntity(EntityComponent):
    """A value entity for one gRPC service.

    ::

        entity = ValueEntity(_SHOPPINGCART, [FILE_DESCRIPTOR], init, persistence_id="carts")

        @entity.command_handler("GetCart")
        def get_cart(cart: Cart) -> Cart:
            return cart

    :param service_descriptor: the user service (``shoppingcart_pb2._SHOPPINGCART`` or
        ``DESCRIPTOR.services_by_name["ShoppingCart"]``); its methods are the commands.
    :param file_descriptors: the ``DESCRIPTOR`` of every generated module whose types the entity
        uses (commands, state); the service's own file is always included.
    :param init_state: ``init(entity_id) -> state`` creates the state of an instance that has none
        stored (new, or deleted). Its return annotation is the *state type* used for parameter
        injection.
    :param persistence_id: namespace of the stored values; default: the service's short name.
    :param passivation_timeout: seconds of inactivity after which the proxy may stop the
        instance (default: the proxy's).
    """

    ENTITY_TYPE = VALUE_ENTITY_TYPE
    KIND_NAME = "value entity"

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor],
        init_state: Callable[..., Any],
        persistence_id: str | None = None,
        *,
        passivation_timeout: float | None = None,
    ) -> None:
        super().__init__(service_descriptor, file_descriptors, persistence_id, passivation_timeout)
        if not callable(init_state):
            raise TypeError(f"init_state must be callable, not {init_state!r}")
        self.init_state = init_state
        self._state_factory(init_state)

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the service method ``name``.

        Parameters (any subset, any order, injected by annotation): the state (the stored one,
        or a fresh one from ``init_state``), the command message (the method's input type) and a
        :class:`~cloudstate.value_entity.ValueEntityCommandContext`. The return value is the
        reply (the method's output type; ``None`` replies with an empty one). Sync ``def`` and
        ``async def`` both work.
        """
        return self._command_handler(name, ValueEntityCommandContext)


__all__ = ["VALUE_ENTITY_TYPE", "ValueEntity"]
