"""What every component kind's class repeats: the service it implements, the descriptors of its
types, its entry in discovery, and the checks made when a handler is registered.

A kind's class derives from :class:`Component` (actions, views) or :class:`EntityComponent` (the
kinds with state: event-sourced, value and CRDT entities), names its protocol service in
``ENTITY_TYPE`` and itself, for messages, in ``KIND_NAME``::

    class CounterEntity(EntityComponent):
        ENTITY_TYPE = "cloudstate.counter.Counter"
        KIND_NAME = "counter entity"

        def __init__(self, service_descriptor, file_descriptors, init_state, persistence_id=None):
            super().__init__(service_descriptor, file_descriptors, persistence_id)
            self._state_factory(init_state)

        def command_handler(self, name: str) -> Callable[[F], F]:
            return self._command_handler(name, CounterCommandContext)

Its package registers the kind (protocol service and servicer, :mod:`cloudstate.registry`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any, ClassVar, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor, ServiceDescriptor

from cloudstate.handler import Handler, Param, resolve_handler, return_annotation
from cloudstate.handler import takes_an_argument as _takes_an_argument
from cloudstate.protocol import entity_pb2
from cloudstate.registry import EntityKind, kind_of

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class Component:
    """A user service of some component kind (a :class:`~cloudstate.registry.EntityDefinition`).

    :param service_descriptor: the gRPC service (``shoppingcart_pb2._SHOPPINGCART`` or
        ``DESCRIPTOR.services_by_name["ShoppingCart"]``); its methods get the handlers.
    :param file_descriptors: the ``DESCRIPTOR`` of every generated module whose types the
        component uses; the service's own file is always included.
    """

    #: ``Entity.entity_type``: the full name of the kind's protocol service.
    ENTITY_TYPE: ClassVar[str]
    #: What messages call a component of the kind, e.g. ``"event-sourced entity"``.
    KIND_NAME: ClassVar[str]

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor] = (),
    ) -> None:
        if not isinstance(service_descriptor, ServiceDescriptor):
            raise TypeError(
                f"{type(self).__name__} needs a ServiceDescriptor, not {type(service_descriptor)!r}"
            )
        files = list(file_descriptors)
        if service_descriptor.file not in files:
            files.insert(0, service_descriptor.file)
        self._service = service_descriptor
        self._files = files

    # -- registry (cloudstate.registry.EntityDefinition) ---------------------------------------

    @property
    def kind(self) -> EntityKind:
        return kind_of(self.ENTITY_TYPE)

    def entity_type(self) -> str:
        """The kind's protocol service, e.g. ``cloudstate.eventsourced.EventSourced`` (a method,
        as in the original SDK)."""
        return self.ENTITY_TYPE

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
        return entity_pb2.Entity(entity_type=self.ENTITY_TYPE, service_name=self.name)

    def validate(self) -> None:
        """Warn about methods without a handler (calls to them will fail)."""
        handled = self.handled_methods()
        missing = [m for m in self._service.methods_by_name if m not in handled]
        if missing:
            log.warning(
                "%s %s has no handler for %s; such calls will fail",
                self.KIND_NAME,
                self.name,
                ", ".join(sorted(missing)),
            )

    def handled_methods(self) -> Collection[str]:
        """The names of the methods with a registered handler."""
        raise NotImplementedError

    # -- for the decorators ---------------------------------------------------------------------

    def _method(self, name: str) -> MethodDescriptor:
        """The service's method ``name``; a ValueError naming the methods if there is none."""
        method = self._service.methods_by_name.get(name)
        if method is None:
            raise ValueError(
                f"service {self.name} has no method {name!r}; its methods: "
                f"{', '.join(self._service.methods_by_name)}"
            )
        return method

    def _check_new_handler(self, name: str) -> None:
        if name in self.handled_methods():
            raise ValueError(f"{self.KIND_NAME} {self.name}: handler for {name!r} registered twice")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class EntityComponent(Component):
    """A component with state, one instance per entity id: command handlers, a persistence id,
    passivation, and the state of an instance that has none yet.

    :param persistence_id: namespace of the entity's stored state; default: the service's short
        name.
    :param passivation_timeout: seconds of inactivity after which the proxy may stop the
        instance (default: the proxy's).
    """

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor],
        persistence_id: str | None = None,
        passivation_timeout: float | None = None,
    ) -> None:
        super().__init__(service_descriptor, file_descriptors)
        if passivation_timeout is not None and not passivation_timeout > 0:
            raise ValueError(f"passivation_timeout must be > 0 seconds, not {passivation_timeout}")
        self.persistence_id: str = persistence_id or service_descriptor.name
        self.passivation_timeout = passivation_timeout
        self.command_handlers: dict[str, Handler] = {}
        #: The state type used for parameter injection (``None`` when not known).
        self.state_type: type | None = None
        self._factory: Callable[..., Any] | None = None
        self._factory_takes_id = False

    def entity_spec(self) -> entity_pb2.Entity:
        spec = super().entity_spec()
        spec.persistence_id = self.persistence_id
        if self.passivation_timeout is not None:
            spec.passivation_strategy.timeout.timeout = max(
                1, round(self.passivation_timeout * 1000)
            )
        return spec

    def handled_methods(self) -> Collection[str]:
        return self.command_handlers

    # -- the state of a new instance ------------------------------------------------------------

    def _state_factory(
        self, factory: Callable[..., Any] | None, *, takes_id: bool | None = None
    ) -> None:
        """Make new instances' state with ``factory``: ``(entity_id) -> state`` or
        ``() -> state`` (``takes_id`` says which when its signature cannot), sync or async. Its
        return annotation, when a class, is the state type."""
        self._factory = factory
        if factory is None:
            self._factory_takes_id = False
            return
        hint = return_annotation(factory)
        self.state_type = hint if inspect.isclass(hint) else None
        self._factory_takes_id = _takes_an_argument(factory) if takes_id is None else takes_id

    async def create_state(self, entity_id: str) -> Any:
        """The state of a new instance (or one without stored state); ``None`` without a
        factory."""
        factory = self._factory
        if factory is None:
            return None
        state = factory(entity_id) if self._factory_takes_id else factory()
        if inspect.isawaitable(state):
            state = await state
        return state

    # -- for the decorators ---------------------------------------------------------------------

    def _command_handler(
        self,
        name: str,
        context_type: type,
        *,
        server_streaming: bool = False,
        message_type: type | None = None,
    ) -> Callable[[F], F]:
        """The decorator registering the handler of the method ``name``: parameters (any subset,
        any order, injected by annotation) the state, the command message and a
        ``context_type``. Streaming methods are refused, but for server streaming when
        ``server_streaming`` (CRDT streamed commands)."""
        method = self._method(name)
        if method.client_streaming or (method.server_streaming and not server_streaming):
            if server_streaming:
                raise ValueError(
                    f"{self.name}.{name} is client-streaming; {self.KIND_NAME} commands take "
                    "one message (server streaming is supported)"
                )
            raise ValueError(
                f"{self.name}.{name} is streaming; {self.KIND_NAME} commands are unary"
            )
        self._check_new_handler(name)
        command_type = message_type or message_factory.GetMessageClass(method.input_type)

        def register(function: F) -> F:
            self.command_handlers[name] = resolve_handler(
                function,
                role=f"command handler for {self.name}.{name}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=command_type,
                context_type=context_type,
            )
            return function

        return register

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, persistence_id={self.persistence_id!r})"


__all__ = ["Component", "EntityComponent"]
