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
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from cloudstate import entity_pb2
from cloudstate.any_support import AnySupport, pack
from cloudstate.errors import CommandFailure, status_code_number
from cloudstate.handler import Context
from cloudstate.metadata import Metadata

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


class EventSourcedCommandContext(EventSourcedContext):
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
        self._live = live
        self._command_name = command.name
        self._command_id = command.id
        self._metadata = Metadata(command.metadata if command.HasField("metadata") else None)
        self._active = True
        self._events: list[Any] = []  # packed google.protobuf.Any, in emission order
        self._event_sequences: list[int] = []
        self._pending: list[tuple[Handler, Any]] = []
        self._forward: entity_pb2.Forward | None = None
        self._effects: list[entity_pb2.SideEffect] = []
        self._failure: CommandFailure | None = None

    @property
    def command_name(self) -> str:
        """The gRPC method name of the command, e.g. ``"AddItem"``."""
        return self._command_name

    @property
    def command_id(self) -> int:
        """The per-stream id of the command."""
        return self._command_id

    @property
    def sequence(self) -> int:
        """Sequence number of the last event applied to the state (including emitted ones)."""
        return self._live.sequence

    @property
    def state(self) -> Any:
        """The current state; use it after ``emit`` if your event handlers return new states."""
        return self._live.state

    @property
    def metadata(self) -> Metadata:
        """The command's metadata (empty when the proxy sends none)."""
        return self._metadata

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

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the command: the client gets an error with ``description``.

        Raises an exception that ends the handler. Events emitted by this command are discarded
        and the state is rolled back. ``code`` (e.g. ``grpc.StatusCode.INVALID_ARGUMENT``) is the
        gRPC status the client should see; by default the proxy chooses.
        """
        self._check_active("fail")
        failure = CommandFailure(str(description), status_code_number(code))
        self._failure = failure
        raise failure

    def forward(
        self,
        service: str | ServiceDescriptor | MethodDescriptor,
        method: str | Any = None,
        message: Any = None,
    ) -> None:
        """Reply by forwarding to another command instead of returning a message.

        Either ``ctx.forward("com.example.Svc", "Method", message)`` or
        ``ctx.forward(METHOD_DESCRIPTOR, message)``. Events and side effects are kept.
        """
        self._check_active("forward")
        if self._forward is not None:
            raise RuntimeError(f"command {self._command_name!r} already forwarded")
        service_name, command_name, payload = self._target("forward", service, method, message)
        self._forward = entity_pb2.Forward(
            service_name=service_name, command_name=command_name, payload=payload
        )

    def effect(
        self,
        service: str | ServiceDescriptor | MethodDescriptor,
        method: str | Any = None,
        message: Any = None,
        *,
        synchronous: bool = False,
    ) -> None:
        """Ask the proxy to call another command after this one succeeds (in call order).

        ``synchronous=True`` makes the proxy wait for it before replying to the client.
        Same target forms as :meth:`forward`. Side effects of a failed command are dropped.
        """
        self._check_active("effect")
        service_name, command_name, payload = self._target("effect", service, method, message)
        self._effects.append(
            entity_pb2.SideEffect(
                service_name=service_name,
                command_name=command_name,
                payload=payload,
                synchronous=synchronous,
            )
        )

    # -- SDK internals ---------------------------------------------------------------------

    def _check_active(self, what: str) -> None:
        if not self._active:
            raise RuntimeError(
                f"ctx.{what}() called after command {self._command_name!r} "
                f"(id {self._command_id}) finished: contexts are valid only inside the handler"
            )
        if self._failure is not None and what != "fail":
            raise RuntimeError(f"ctx.{what}() called after ctx.fail()")

    async def _drain(self) -> None:
        while self._pending:
            handler, event = self._pending.pop(0)
            await self._live.apply_event_async(handler, event)

    def _finish(self) -> None:
        self._active = False

    def _target(
        self,
        operation: str,
        service: str | ServiceDescriptor | MethodDescriptor,
        method: str | Any,
        message: Any,
    ) -> tuple[str, str, Any]:
        descriptor: MethodDescriptor | None
        if isinstance(service, MethodDescriptor):
            if message is None and not isinstance(method, str):
                message = method
            descriptor = service
            service_name, method_name = service.containing_service.full_name, service.name
        else:
            if not isinstance(method, str):
                raise TypeError(
                    f"ctx.{operation}(): pass a method name after the service name, or a method "
                    "descriptor alone"
                )
            if isinstance(service, ServiceDescriptor):
                service_descriptor: ServiceDescriptor | None = service
            else:
                service_descriptor = self._live.any_support.find_service(service)
            service_name, method_name = str(service), method
            descriptor = None
            if service_descriptor is not None:
                service_name = service_descriptor.full_name
                descriptor = service_descriptor.methods_by_name.get(method)
                if descriptor is None:
                    raise ValueError(
                        f"ctx.{operation}(): service {service_name} has no method {method!r}; "
                        f"its methods: {sorted(service_descriptor.methods_by_name)}"
                    )
        if message is None:
            raise TypeError(f"ctx.{operation}() needs the message to send")
        if descriptor is not None and isinstance(message, Message):
            expected = descriptor.input_type.full_name
            if message.DESCRIPTOR.full_name != expected:
                raise TypeError(
                    f"ctx.{operation}(): {service_name}.{method_name} takes {expected}, "
                    f"not {message.DESCRIPTOR.full_name}"
                )
        return service_name, method_name, pack(message)
