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
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from cloudstate.component.entity import EntityComponent
from cloudstate.crdt.base import Crdt
from cloudstate.crdt.context import CrdtCommandContext, StreamCancelledContext, SubscriptionContext
from cloudstate.handler import Handler, Param, resolve_handler, return_annotation
from cloudstate.protocol import crdt_pb2

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of CRDT entities.
CRDT_ENTITY_TYPE: str = crdt_pb2.DESCRIPTOR.services_by_name["Crdt"].full_name


class CrdtEntity(EntityComponent):
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

    ENTITY_TYPE = CRDT_ENTITY_TYPE
    KIND_NAME = "CRDT entity"

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor],
        create_crdt: Callable[..., Any] | None = None,
        persistence_id: str | None = None,
        *,
        passivation_timeout: float | None = None,
    ) -> None:
        super().__init__(service_descriptor, file_descriptors, persistence_id, passivation_timeout)
        if create_crdt is not None and not callable(create_crdt):
            raise TypeError(f"create_crdt must be a CRDT class or a function, not {create_crdt!r}")
        self.create_crdt = create_crdt
        if inspect.isclass(create_crdt) and issubclass(create_crdt, Crdt):
            self._state_factory(create_crdt, takes_id=False)
            state_type: type = create_crdt
        else:
            self._state_factory(create_crdt)
            hint = None if create_crdt is None else return_annotation(create_crdt)
            state_type = hint if inspect.isclass(hint) and issubclass(hint, Crdt) else Crdt
        #: The CRDT type used for parameter injection (:class:`Crdt` when not known).
        self.state_type = state_type

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the service method ``name``.

        Parameters (any subset, any order, injected by annotation): the CRDT (``None`` while
        the entity has none), the command message (the method's input type) and a
        :class:`CrdtCommandContext`. The return value is the reply (the method's output type).
        ``None`` replies with an empty message, or, for a streamed command, sends nothing yet.
        """
        return self._command_handler(name, CrdtCommandContext, server_streaming=True)

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
        state = await super().create_state(entity_id)
        if state is not None and not isinstance(state, Crdt):
            raise TypeError(
                f"create_crdt of CRDT entity {self.name} returned a {type(state).__name__}, "
                "not a CRDT (GCounter, ORSet, ...) or None"
            )
        return state


__all__ = ["CRDT_ENTITY_TYPE", "CrdtEntity"]
