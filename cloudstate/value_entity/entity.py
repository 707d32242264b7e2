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

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.handler import Handler, Param, resolve_handler, takes_an_argument
from cloudstate.handler import return_annotation as _return_annotation
from cloudstate.protocol import entity_pb2, value_entity_pb2
from cloudstate.registry import EntityKind
from cloudstate.value_entity.context import ValueEntityCommandContext

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of value entities.
VALUE_ENTITY_TYPE: str = value_entity_pb2.DESCRIPTOR.services_by_name["ValueEntity"].full_name


def _add_servicer(server: Any, entities: Sequence[Any]) -> None:
    from cloudstate.value_entity.servicer import add_value_entity_servicer

    add_value_entity_servicer(server, entities)


VALUE_ENTITY = EntityKind(entity_type=VALUE_ENTITY_TYPE, add_servicer=_add_servicer)


class ValueEntity:
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

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor],
        init_state: Callable[..., Any],
        persistence_id: str | None = None,
        *,
        passivation_timeout: float | None = None,
    ) -> None:
        if not isinstance(service_descriptor, ServiceDescriptor):
            raise TypeError(
                f"ValueEntity needs a ServiceDescriptor, not {type(service_descriptor)!r}"
            )
        if not callable(init_state):
            raise TypeError(f"init_state must be callable, not {init_state!r}")
        if passivation_timeout is not None and not passivation_timeout > 0:
            raise ValueError(f"passivation_timeout must be > 0 seconds, not {passivation_timeout}")
        files = list(file_descriptors)
        if service_descriptor.file not in files:
            files.insert(0, service_descriptor.file)
        self._service = service_descriptor
        self._files = files
        self.init_state = init_state
        self.persistence_id: str = persistence_id or service_descriptor.name
        self.passivation_timeout = passivation_timeout
        hint = _return_annotation(init_state)
        #: The state type used for parameter injection (``None`` if ``init`` is unannotated).
        self.state_type: type | None = hint if inspect.isclass(hint) else None
        self._init_takes_id = takes_an_argument(init_state)
        self.command_handlers: dict[str, Handler] = {}

    # -- registry (cloudstate.registry.EntityDefinition) ---------------------------------------

    @property
    def kind(self) -> EntityKind:
        return VALUE_ENTITY

    def entity_type(self) -> str:
        """``cloudstate.valueentity.ValueEntity``."""
        return VALUE_ENTITY_TYPE

    @property
    def service_descriptor(self) -> ServiceDescriptor:
        return self._service

    @property
    def file_descriptors(self) -> Sequence[FileDescriptor]:
        return tuple(self._files)

    @property
    def name(self) -> str:
        """The service's full name, used in logs and error messages."""
        return str(self._service.full_name)

    def entity_spec(self) -> entity_pb2.Entity:
        spec = entity_pb2.Entity(
            entity_type=VALUE_ENTITY_TYPE,
            service_name=self._service.full_name,
            persistence_id=self.persistence_id,
        )
        if self.passivation_timeout is not None:
            spec.passivation_strategy.timeout.timeout = max(
                1, round(self.passivation_timeout * 1000)
            )
        return spec

    def validate(self) -> None:
        missing = [m for m in self._service.methods_by_name if m not in self.command_handlers]
        if missing:
            log.warning(
                "value entity %s has no command handler for %s; such commands will fail",
                self.name,
                ", ".join(sorted(missing)),
            )

    # -- decorators -----------------------------------------------------------------------------

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the service method ``name``.

        Parameters (any subset, any order, injected by annotation): the state (the stored one,
        or a fresh one from ``init_state``), the command message (the method's input type) and a
        :class:`~cloudstate.value_entity.ValueEntityCommandContext`. The return value is
        the reply (the method's output type; ``None`` replies with an empty one). Sync ``def``
        and ``async def`` both work.
        """
        method = self._service.methods_by_name.get(name)
        if method is None:
            raise ValueError(
                f"service {self._service.full_name} has no method {name!r}; "
                f"its methods: {', '.join(self._service.methods_by_name)}"
            )
        if method.client_streaming or method.server_streaming:
            raise ValueError(
                f"{self._service.full_name}.{name} is streaming; value-entity commands are unary"
            )
        if name in self.command_handlers:
            raise ValueError(f"{self.name}: command handler for {name!r} registered twice")
        command_type = message_factory.GetMessageClass(method.input_type)

        def register(function: F) -> F:
            self.command_handlers[name] = resolve_handler(
                function,
                role=f"command handler for {self.name}.{name}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=command_type,
                context_type=ValueEntityCommandContext,
            )
            return function

        return register

    # -- used by the servicer -------------------------------------------------------------------

    async def create_state(self, entity_id: str) -> Any:
        """Call ``init_state`` (sync or async) for an instance without a stored state."""
        state = self.init_state(entity_id) if self._init_takes_id else self.init_state()
        if inspect.isawaitable(state):
            state = await state
        return state

    def __repr__(self) -> str:
        return f"ValueEntity({self.name}, persistence_id={self.persistence_id!r})"
