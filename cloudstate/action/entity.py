"""Actions: stateless functions on a gRPC service, in all four call shapes.

An action holds no state. Each call runs its handler, which replies, forwards to another method
(an entity's, for example) or fails, and may add side effects. Example (``examples/actions``)::

    action = Action(_SHOPPINGCARTACTIONS, [actions_pb2.DESCRIPTOR, shoppingcart_pb2.DESCRIPTOR])
    ShoppingCart = service(shoppingcart_pb2.DESCRIPTOR.services_by_name["ShoppingCart"])

    @action.unary("AddItem")
    def add_item(request: AddRequest, ctx: ActionContext) -> Forward:
        if request.quantity <= 0:
            ctx.fail("quantity must be positive")
        return ctx.forward(ShoppingCart.AddItem, AddLineItem(user_id=request.user_id, ...))

    @action.streamed_out("Catalog")
    async def catalog(request: CatalogRequest) -> AsyncIterator[Product]:
        for product in PRODUCTS:
            yield product

    CloudState().register_action(action).start()

Decorators (the method's streaming flags must match; :meth:`Action.command_handler` picks the
shape from the descriptor). Parameters are injected by annotation as for entities: the request
(or the request stream) and an :class:`~cloudstate.action.ActionContext`, in any order.

====================  =====================================  ==================================
decorator (alias)     the handler receives                   and produces
====================  =====================================  ==================================
``unary``             the request                            one response (``def`` or
(``unary_handler``)                                          ``async def``)
``streamed_in``       ``async def``: an async iterator of    one response
(``stream_in_``       the requests; ``def``: a list of all
``handler``)          of them, once the client is done
``streamed_out``      the request                            a (sync or async) generator, or a
(``stream_out_``                                             function returning an iterable
``handler``)
``streamed``          async generator: an async iterator     async generator: any number of
(``stream_handler``)  of the requests. Anything else         responses; otherwise one response
                      (``def``, ``async def``, generator):   per call (a generator: one per
                      called once per request                yield)
====================  =====================================  ==================================

What a response can be (a message, ``ctx.forward(...)``, ``ctx.failure(...)``, ``NO_REPLY``) is
described in :mod:`cloudstate.action.context`.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from cloudstate.action.context import ActionContext
from cloudstate.component.entity import Component
from cloudstate.handler import Handler, Param, resolve_handler
from cloudstate.migrations import Migrations, Transform
from cloudstate.protocol import action_pb2

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of actions.
ACTION_ENTITY_TYPE: str = action_pb2.DESCRIPTOR.services_by_name["ActionProtocol"].full_name


class Shape(enum.Enum):
    """The four gRPC call shapes, with the protocol call and decorator of each."""

    UNARY = ("unary", "handleUnary", "unary")
    STREAMED_IN = ("client-streaming", "handleStreamedIn", "streamed_in")
    STREAMED_OUT = ("server-streaming", "handleStreamedOut", "streamed_out")
    STREAMED = ("duplex-streaming", "handleStreamed", "streamed")

    @property
    def description(self) -> str:
        return self.value[0]

    @property
    def decorator(self) -> str:
        return self.value[2]

    @staticmethod
    def of(client_streaming: bool, server_streaming: bool) -> Shape:
        if client_streaming:
            return Shape.STREAMED if server_streaming else Shape.STREAMED_IN
        return Shape.STREAMED_OUT if server_streaming else Shape.UNARY


class FunctionKind(enum.Enum):
    PLAIN = "def"
    COROUTINE = "async def"
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async generator"

    @staticmethod
    def of(function: Callable[..., Any]) -> FunctionKind:
        target = function if inspect.isroutine(function) else getattr(function, "__call__", None)  # noqa: B004
        for candidate in (function, target):
            if candidate is None:
                continue
            if inspect.isasyncgenfunction(candidate):
                return FunctionKind.ASYNC_GENERATOR
            if inspect.isgeneratorfunction(candidate):
                return FunctionKind.GENERATOR
            if inspect.iscoroutinefunction(candidate):
                return FunctionKind.COROUTINE
        return FunctionKind.PLAIN


@dataclass(frozen=True)
class ActionMethod:
    """A registered handler with what the servicer needs to call it."""

    name: str
    shape: Shape
    handler: Handler
    kind: FunctionKind
    output_type: Descriptor
    #: Duplex only: the handler is called once per request instead of taking the stream.
    per_message: bool = False

    @property
    def takes_stream(self) -> bool:
        """The handler's message parameter is the request stream (or list)."""
        return self.shape is Shape.STREAMED_IN or (
            self.shape is Shape.STREAMED and not self.per_message
        )


class Action(Component):
    """A stateless service: ``Action(service_descriptor, [file_descriptors])``.

    :param service_descriptor: the gRPC service (``actions_pb2._SHOPPINGCARTACTIONS`` or
        ``DESCRIPTOR.services_by_name["ShoppingCartActions"]``).
    :param file_descriptors: the ``DESCRIPTOR`` of every generated module whose types the action
        uses, including the services it forwards to (the service's own file is always included).
    """

    ENTITY_TYPE = ACTION_ENTITY_TYPE
    KIND_NAME = "action"

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor] = (),
    ) -> None:
        super().__init__(service_descriptor, file_descriptors)
        self.methods: dict[str, ActionMethod] = {}
        #: Migrations of old event types, applied to the requests (docs/schema-evolution.md).
        self.migrations = Migrations(f"{self.KIND_NAME} {self.name}")

    def migrate(
        self, type_url: str, *, to: type[Message], transform: Transform | None = None
    ) -> None:
        """Decode requests (events of a subscribed event log) typed ``type_url`` as ``to``, built
        by ``transform(old_bytes)`` (default ``to.FromString``: a rename). Example::

            action.migrate("type.googleapis.com/shop.ItemAdded", to=ItemAddedV2,
                           transform=lambda old: ItemAddedV2(sku=ItemAdded.FromString(old).id))
        """
        self.migrations.add(type_url, to, transform)

    def handled_methods(self) -> Collection[str]:
        return self.methods

    # -- decorators -----------------------------------------------------------------------------

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of ``name``, of whatever shape the method has."""
        method = self._method(name)
        return self._register(name, Shape.of(method.client_streaming, method.server_streaming))

    def unary(self, name: str) -> Callable[[F], F]:
        """Register the handler of the unary method ``name``: request -> one response."""
        return self._register(name, Shape.UNARY)

    def streamed_in(self, name: str) -> Callable[[F], F]:
        """Register the handler of the client-streaming method ``name``: requests -> response."""
        return self._register(name, Shape.STREAMED_IN)

    def streamed_out(self, name: str) -> Callable[[F], F]:
        """Register the handler of the server-streaming method ``name``: request -> responses."""
        return self._register(name, Shape.STREAMED_OUT)

    def streamed(self, name: str) -> Callable[[F], F]:
        """Register the handler of the duplex-streaming method ``name``."""
        return self._register(name, Shape.STREAMED)

    # The original Python support's names.
    unary_handler = unary
    stream_in_handler = streamed_in
    stream_out_handler = streamed_out
    stream_handler = streamed

    def _register(self, name: str, shape: Shape) -> Callable[[F], F]:
        method = self._method(name)
        actual = Shape.of(method.client_streaming, method.server_streaming)
        if actual is not shape:
            raise ValueError(
                f"{self.name}.{name} is {actual.description}: register its handler with "
                f"@action.{actual.decorator}({name!r}) (or @action.command_handler)"
            )
        self._check_new_handler(name)
        input_class = message_factory.GetMessageClass(method.input_type)

        def register(function: F) -> F:
            kind = FunctionKind.of(function)
            role = f"{shape.decorator} handler for {self.name}.{name}:"
            if shape in (Shape.UNARY, Shape.STREAMED_IN) and kind in (
                FunctionKind.GENERATOR,
                FunctionKind.ASYNC_GENERATOR,
            ):
                raise TypeError(
                    f"{role} {getattr(function, '__qualname__', function)} is a {kind.value}, "
                    f"but a {shape.description} method has a single response: return it"
                )
            per_message = shape is Shape.STREAMED and kind is not FunctionKind.ASYNC_GENERATOR
            message_type: type = input_class
            if shape is Shape.STREAMED_IN:
                message_type = AsyncIterator if kind is FunctionKind.COROUTINE else list
            elif shape is Shape.STREAMED and not per_message:
                message_type = AsyncIterator
            handler = resolve_handler(
                function,
                role=role,
                kinds=(Param.MESSAGE, Param.CONTEXT),
                state_type=None,
                message_type=message_type,
                context_type=ActionContext,
            )
            self.methods[name] = ActionMethod(
                name, shape, handler, kind, method.output_type, per_message
            )
            return function

        return register


__all__ = ["ACTION_ENTITY_TYPE", "Action", "ActionMethod", "FunctionKind", "Shape"]
