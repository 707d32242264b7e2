"""What the protocol servicers of every component kind repeat: finding the component a call is
for, running a command handler, and — for the entity kinds — the stream loop.

An entity kind's protocol service is one bidirectional stream per entity instance: ``init``
first, then the kind's messages (commands, events, deltas ...), each handled in order; an error
ends the stream with a top-level ``Failure`` naming the entity, what it was doing and why (the
proxy then restarts the instance). :class:`EntityStreamServicer` runs that loop; a kind says how
an instance starts and what each message does::

    class CounterServicer(EntityStreamServicer[CounterEntity, CounterInstance]):
        stream_out = counter_pb2.CounterStreamOut
        kind_name = CounterEntity.KIND_NAME

        async def start(self, entity, init, any_support):
            return CounterInstance(entity, init.entity_id, any_support)

        def describe(self, which, message):
            return f" handling command {message.name!r} (id {message.id})", message.id

        async def receive(self, instance, which, message):
            return [counter_pb2.CounterStreamOut(reply=await instance.handle_command(message))]
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import grpc

from cloudstate.any_support import AnySupport
from cloudstate.component.context import CommandContext
from cloudstate.component.entity import Component
from cloudstate.errors import CommandFailure
from cloudstate.protocol import entity_pb2
from cloudstate.tracing import handler_span

log = logging.getLogger(__name__)

#: The gRPC status of a command without a handler.
UNIMPLEMENTED: int = grpc.StatusCode.UNIMPLEMENTED.value[0]

C = TypeVar("C", bound=Component)
C_co = TypeVar("C_co", bound=Component, covariant=True)
I = TypeVar("I", bound="Instance[Any]")  # noqa: E741


class Instance(Protocol[C_co]):
    """A live entity instance, as the stream loop names it in failures."""

    @property
    def entity(self) -> C_co: ...

    @property
    def entity_id(self) -> str: ...


class StreamError(Exception):
    """Ends the stream with a top-level failure, without a traceback in the log: ``prefix``
    ``where``: ``message`` (``Protocol error in ...`` unless the prefix says otherwise)."""

    def __init__(self, message: str, prefix: str = "Protocol error in") -> None:
        super().__init__(message)
        self.prefix = prefix


def failure(
    command_id: int, description: str, *, code: int = 0, restart: bool = False
) -> entity_pb2.Failure:
    """A ``Failure`` (of a command for its client, or of the stream)."""
    return entity_pb2.Failure(
        command_id=command_id, description=description, grpc_status_code=code, restart=restart
    )


def no_handler(component: Component, command: entity_pb2.Command) -> str:
    """The description of a command failed for want of a handler (status UNIMPLEMENTED)."""
    return f"{component.name} has no handler for command {command.name!r}"


async def call_handler(
    component: Component,
    command: Any,
    entity_id: str | None,
    ctx: CommandContext,
    call: Callable[[], Awaitable[Any]],
) -> tuple[Any, CommandFailure | None]:
    """Run a handler (``call``) in its trace span: its result, and its failure when it failed
    the command (``ctx.fail``). Other exceptions propagate; the context is finished either way."""
    try:
        with handler_span(component.name, command, entity_id):
            result = await call()
        return result, ctx._failure
    except CommandFailure as e:
        return None, e
    finally:
        ctx._finish()


class ComponentServicer(Generic[C]):
    """Serves every registered component of one kind, found by its service name."""

    def __init__(self, components: Sequence[C]) -> None:
        self._components = {component.name: component for component in components}
        self._any_support = {c.name: AnySupport(c.file_descriptors) for c in components}


class EntityStreamServicer(ComponentServicer[C], Generic[C, I]):
    """The ``handle`` stream of an entity kind; see the module docstring."""

    #: The kind's ``...StreamOut`` message class (its ``failure`` ends the stream).
    stream_out: ClassVar[Callable[..., Any]]
    #: The kind's name in failures: ``Protocol error in <kind_name> <service> (id ...)``.
    kind_name: ClassVar[str]

    async def start(self, entity: C, init: Any, any_support: AnySupport) -> I:
        """The instance ``init`` starts (its state loaded from what ``init`` carries)."""
        raise NotImplementedError

    def describe(self, which: str, message: Any) -> tuple[str, int]:
        """What handling ``message`` (the ``which`` member of the stream's oneof) is doing, for
        failures (`` handling command 'AddItem' (id 3)``), and its command id (or 0)."""
        raise NotImplementedError

    async def receive(self, instance: I, which: str, message: Any) -> Sequence[Any]:
        """Handle ``message``; the stream messages to send in answer, in order."""
        raise NotImplementedError

    async def handle(
        self, request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        instance: I | None = None
        where = f"a new {self.kind_name} stream"
        command_id = 0
        try:
            async for message in request_iterator:
                which = message.WhichOneof("message")
                command_id = 0
                if instance is None:
                    if which != "init":
                        raise StreamError(f"expected init as the first message, got {which}")
                    init = message.init
                    where = f"{self.kind_name} {init.service_name} (id {init.entity_id!r})"
                    instance = await self._start(init)
                    continue
                if which == "init":
                    raise StreamError("received a second init message")
                if which is None:
                    raise StreamError(f"received an empty {type(message).__name__} message")
                payload = getattr(message, which)
                doing, command_id = self.describe(which, payload)
                where = (
                    f"{self.kind_name} {instance.entity.name} (id {instance.entity_id!r}){doing}"
                )
                for out in await self.receive(instance, which, payload):
                    yield out
        except Exception as e:
            if isinstance(e, StreamError):
                description = f"{e.prefix} {where}: {e}"
                log.error("%s", description)
            else:
                log.exception("Unexpected error in %s", where)
                description = f"Unexpected error in {where}: {type(e).__name__}: {e}"
            yield self.stream_out(failure=failure(command_id, description))

    async def _start(self, init: Any) -> I:
        entity = self._components.get(init.service_name)
        if entity is None:
            raise StreamError(
                f"unknown service {init.service_name!r}; this user function serves "
                f"{sorted(self._components)}"
            )
        return await self.start(entity, init, self._any_support[entity.name])


__all__ = [
    "UNIMPLEMENTED",
    "ComponentServicer",
    "EntityStreamServicer",
    "Instance",
    "StreamError",
    "call_handler",
    "failure",
    "no_handler",
]
