"""CRDT entities: one replicated data type per entity instance, changed by command handlers.

Example (a like counter)::

    entity = CrdtEntity(_LIKES, [likes_pb2.DESCRIPTOR], GCounter)

    @entity.command_handler("Like")
    def like(counter: GCounter, request: LikeRequest) -> Likes:
        counter.increment(1)
        return Likes(count=counter.value)

    CloudState().register_crdt_entity(entity).start()
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.crdt.base import Crdt
from cloudstate.crdt.context import CrdtCommandContext, StreamCancelledContext, SubscriptionContext
from cloudstate.handler import Handler, Param, resolve_handler, takes_an_argument
from cloudstate.handler import return_annotation as _return_annotation
from cloudstate.protocol import crdt_pb2, entity_pb2
from cloudstate.registry import EntityKind

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of CRDT entities.
CRDT_ENTITY_TYPE: str = crdt_pb2.DESCRIPTOR.services_by_name["Crdt"].full_name


def _add_servicer(server: Any, entities: Sequence[Any]) -> None:
    from cloudstate.crdt.servicer import add_crdt_servicer

    add_crdt_servicer(server, entities)


CRDT = EntityKind(entity_type=CRDT_ENTITY_TYPE, add_servicer=_add_servicer)


class CrdtEntity:
    """A CRDT entity for one gRPC service.

    ::

        entity = CrdtEntity(_PRESENCE, [presence_pb2.DESCRIPTOR], ORSet)

        @entity.command_handler("Online")
        def online(users: ORSet) -> OnlineUsers:
            return OnlineUsers(names=sorted(users))

    :param service_descriptor: the user service; its methods are the commands. Server-streaming
        methods are *streamed commands* (see :meth:`CrdtCommandContext.on_change`).
    :param file_descriptors: the ``DESCRIPTOR`` of every generated module whose types the entity
        uses (commands, set elements, map keys ...); the service's own file is always included.
    :param create_crdt: makes the CRDT of an instance the proxy has no state for: a CRDT class
        (``GCounter``), or a function ``(entity_id) -> Crdt`` (or ``() -> Crdt``, sync or
        async). ``None`` (or a function returning ``None``) leaves the state empty until a
        command sets it with ``ctx.state = ...``.
    :param persistence_id: namespace of the replicated state; default: the service's short name.
    :param passivation_timeout: seconds of inactivity after which the proxy may stop the
        instance (default: the proxy's); instances with open streamed commands stay.
    """

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor],
        create_crdt: Callable[..., Any] | None = None,
        persistence_id: str | None = None,
        *,
        passivation_timeout: float | None = None,
    ) -> None:
        if not isinstance(service_descriptor, ServiceDescriptor):
            raise TypeError(
                f"CrdtEntity needs a ServiceDescriptor, not {type(service_descriptor)!r}"
            )
        if create_crdt is not None and not callable(create_crdt):
            raise TypeError(f"create_crdt must be a CRDT class or a function, not {create_crdt!r}")
        if passivation_timeout is not None and not passivation_timeout > 0:
            raise ValueError(f"passivation_timeout must be > 0 seconds, not {passivation_timeout}")
        files = list(file_descriptors)
        if service_descriptor.file not in files:
            files.insert(0, service_descriptor.file)
        self._service = service_descriptor
        self._files = files
        self.create_crdt = create_crdt
        self.persistence_id: str = persistence_id or service_descriptor.name
        self.passivation_timeout = passivation_timeout
        state_type: type = Crdt
        self._create_takes_id = False
        if inspect.isclass(create_crdt) and issubclass(create_crdt, Crdt):
            state_type = create_crdt
        elif create_crdt is not None:
            hint = _return_annotation(create_crdt)
            if inspect.isclass(hint) and issubclass(hint, Crdt):
                state_type = hint
            self._create_takes_id = takes_an_argument(create_crdt)
        #: The CRDT type used for parameter injection (:class:`Crdt` when not known).
        self.state_type: type = state_type
        self.command_handlers: dict[str, Handler] = {}

    # -- registry (cloudstate.registry.EntityDefinition) ---------------------------------------

    @property
    def kind(self) -> EntityKind:
        return CRDT

    def entity_type(self) -> str:
        """``cloudstate.crdt.Crdt``."""
        return CRDT_ENTITY_TYPE

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
            entity_type=CRDT_ENTITY_TYPE,
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
                "CRDT entity %s has no command handler for %s; such commands will fail",
                self.name,
                ", ".join(sorted(missing)),
            )

    # -- decorators -----------------------------------------------------------------------------

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the service method ``name``.

        Parameters (any subset, any order, injected by annotation): the CRDT (``None`` while
        the entity has none), the command message (the method's input type) and a
        :class:`CrdtCommandContext`. The return value is the reply (the method's output type).
        ``None`` replies with an empty message, or, for a streamed command, sends nothing yet.
        """
        method = self._service.methods_by_name.get(name)
        if method is None:
            raise ValueError(
                f"service {self._service.full_name} has no method {name!r}; "
                f"its methods: {', '.join(self._service.methods_by_name)}"
            )
        if method.client_streaming:
            raise ValueError(
                f"{self._service.full_name}.{name} is client-streaming; CRDT commands take one "
                "message (server streaming is supported)"
            )
        if name in self.command_handlers:
            raise ValueError(f"{self.name}: command handler for {name!r} registered twice")

        def register(function: F) -> F:
            self.command_handlers[name] = resolve_handler(
                function,
                role=f"command handler for {self.name}.{name}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=self.command_type(name),
                context_type=CrdtCommandContext,
            )
            return function

        return register

    # -- used by the servicer -------------------------------------------------------------------

    def command_type(self, name: str) -> type:
        """The message class of command ``name``'s input."""
        return message_factory.GetMessageClass(self._service.methods_by_name[name].input_type)

    def callback(self, function: Callable[..., Any], command_name: str, cancel: bool) -> Handler:
        """Resolve an ``on_change`` (or, with ``cancel``, ``on_cancel``) callback's parameters."""
        what = "on_cancel" if cancel else "on_change"
        return resolve_handler(
            function,
            role=f"{what} callback of {self.name}.{command_name}:",
            kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
            state_type=self.state_type,
            message_type=self.command_type(command_name),
            context_type=StreamCancelledContext if cancel else SubscriptionContext,
        )

    async def create_state(self, entity_id: str) -> Crdt | None:
        """The CRDT of an instance without replicated state (``None`` if there is none)."""
        factory = self.create_crdt
        if factory is None:
            return None
        state = factory(entity_id) if self._create_takes_id else factory()
        if inspect.isawaitable(state):
            state = await state
        if state is not None and not isinstance(state, Crdt):
            raise TypeError(
                f"create_crdt of CRDT entity {self.name} returned a {type(state).__name__}, "
                "not a CRDT (GCounter, ORSet, ...) or None"
            )
        return state

    def __repr__(self) -> str:
        return f"CrdtEntity({self.name}, persistence_id={self.persistence_id!r})"
