"""The part every entity kind's test kit shares: building commands, calling by method name or
snake_case attribute, sync and async entry points, the timers a kit's commands left pending (and
firing them), and the registry that picks the kit for an entity.

A kind plugs in by subclassing :class:`EntityTestKit` (implementing :meth:`_handle`) and calling
:func:`register_kind` with its ``entity_type``::

    register_kind(EVENT_SOURCED_ENTITY_TYPE, EventSourcedTestKit)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from cloudstate.any_support import AnySupport, pack
from cloudstate.client import build_request, snake_case
from cloudstate.durable import assume_proxy
from cloudstate.protocol import entity_pb2
from cloudstate.registry import EntityDefinition
from cloudstate.targets import metadata_proto
from cloudstate.testkit._sync import run_sync
from cloudstate.testkit.results import CommandResult, SideEffects, StreamedMessage, TimerStarted

R = TypeVar("R", bound=CommandResult)

#: Metadata for a command: a mapping or ``(key, value)`` pairs; bytes values stay binary.
MetadataArg = Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None

_KINDS: dict[str, Callable[..., EntityTestKit[Any]]] = {}


def register_kind(entity_type: str, factory: Callable[..., EntityTestKit[Any]]) -> None:
    """Make :func:`kit_for` build ``factory(entity, entity_id, ...)`` for ``entity_type``."""
    _KINDS[entity_type] = factory


def kit_for(entity: EntityDefinition, entity_id: str = "test", **options: Any) -> Any:
    """The test kit for any kind of entity, chosen by its entity type::

    kit = kit_for(shopping_cart_entity, "alice")
    kit.add_item(AddLineItem(user_id="alice", product_id="apple", name="Apple", quantity=1))
    """
    entity_type = entity.kind.entity_type
    factory = _KINDS.get(entity_type)
    if factory is None:
        raise ValueError(
            f"no test kit for {entity_type} entities (service "
            f"{entity.service_descriptor.full_name}); kits exist for {sorted(_KINDS)}"
        )
    return factory(entity, entity_id, **options)


class EntityTestKit(Generic[R]):
    """Drives one instance of an entity in-process: no proxy, no network.

    Call commands by method name (``kit.call("AddItem", message)``) or as snake_case methods
    (``kit.add_item(message)``); pass the request message or its fields as keywords
    (``kit.add_item(product_id="apple", quantity=3)``). Every call returns a result describing
    the reply or failure and what the command changed. From ``async def`` code, use
    ``await kit.call_async(...)``.

    A handler raising anything other than ``ctx.fail`` is a bug: the exception propagates to the
    test, and the instance is rebuilt from what was persisted before the next command, as the
    proxy would do.
    """

    def __init__(self, entity: EntityDefinition, entity_id: str = "test") -> None:
        self.entity = entity
        #: The id of the entity instance under test.
        self.entity_id = entity_id
        self.any_support = AnySupport(entity.file_descriptors)
        self._service: ServiceDescriptor = entity.service_descriptor
        self._methods = {snake_case(name): name for name in self._service.methods_by_name}
        self._next_command_id = 1
        self._pending_timers: dict[str, TimerStarted] = {}
        self._firings = 0

    # -- calling commands -----------------------------------------------------------------------

    def call(
        self,
        method: str,
        message: Any = None,
        /,
        *,
        metadata: MetadataArg = None,
        **fields: Any,
    ) -> R:
        """Handle one command and return what it did (see the class documentation)."""
        return run_sync(
            self._as_proxy(method, message, metadata, fields), f"kit.call_async({method!r}, ...)"
        )

    async def call_async(
        self,
        method: str,
        message: Any = None,
        /,
        *,
        metadata: MetadataArg = None,
        **fields: Any,
    ) -> R:
        """:meth:`call` for ``async def`` tests."""
        return await self._as_proxy(method, message, metadata, fields)

    # -- timers -----------------------------------------------------------------------------------

    @property
    def pending_timers(self) -> dict[str, TimerStarted]:
        """The timers this kit's successful commands started and nothing cancelled or fired yet,
        by name, in the order started (a restarted timer replaces the earlier one, as the proxy
        does)."""
        return dict(self._pending_timers)

    def fire_timer(self, name: str, *, on: EntityTestKit[Any] | None = None) -> Any:
        """Deliver the pending timer ``name`` now, as the proxy does when it is due: call its
        target with its message and return that command's result. The target is this kit's
        entity, or ``on`` (the kit of another entity or action, e.g. the one a timer of this
        entity calls). The timer is no longer pending afterwards::

            transfer.start(...)                        # starts the timer "expire-t1"
            result = transfer.fire_timer("expire-t1")  # calls Transfers.Expire on this kit

        The delivery carries the metadata the proxy sends (``cloudstate-timer``,
        ``cloudstate-attempt: 1``, an ``idempotency-key``) and the timer's own.
        """
        return run_sync(self.fire_timer_async(name, on=on), f"kit.fire_timer_async({name!r})")

    async def fire_timer_async(self, name: str, *, on: EntityTestKit[Any] | None = None) -> Any:
        """:meth:`fire_timer` for ``async def`` tests."""
        timer = self._pending_timers.get(name)
        if timer is None:
            pending = ", ".join(repr(n) for n in self._pending_timers) or "none"
            raise LookupError(
                f"no timer {name!r} is pending on this {type(self).__name__} of "
                f"{self._service.full_name} (pending: {pending}); a timer is pending once a "
                "successful command started it, until it is cancelled or fired"
            )
        target = self if on is None else on
        if target._service.full_name != timer.service:
            raise ValueError(
                f"timer {name!r} calls {timer.service}.{timer.method}, but the kit it would be "
                f"delivered to drives {target._service.full_name}: pass on=<the kit of "
                f"{timer.service}>"
            )
        del self._pending_timers[name]
        self._firings += 1
        metadata: list[tuple[str, str | bytes]] = [
            ("idempotency-key", f"timer:{name}#testkit-{self._firings}"),
            ("cloudstate-attempt", "1"),
            ("cloudstate-timer", name),
        ]
        for entry in timer.proto.metadata.entries:
            value = entry.bytes_value if entry.HasField("bytes_value") else entry.string_value
            metadata.append((entry.key, value))
        return await target._as_proxy(timer.method, timer.message, metadata, {})

    def __getattr__(self, name: str) -> Callable[..., R]:
        methods = self.__dict__.get("_methods")
        if methods is None or name.startswith("_"):
            raise AttributeError(name)
        method = methods.get(name)
        if method is None:
            raise AttributeError(
                f"{type(self).__name__} of {self._service.full_name} has no attribute {name!r}; "
                f"its commands: {', '.join(sorted(methods))}"
            )

        def invoke(message: Any = None, /, *, metadata: MetadataArg = None, **fields: Any) -> R:
            return self.call(method, message, metadata=metadata, **fields)

        invoke.__name__ = name
        invoke.__doc__ = f"Handle a {self._service.full_name}.{method} command."
        return invoke

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self._methods]

    # -- for the kinds ----------------------------------------------------------------------------

    async def _as_proxy(
        self, method: str, message: Any, metadata: MetadataArg, fields: Mapping[str, Any]
    ) -> R:
        """Run a command as the kit's proxy, which has the durable-calls extension."""
        with assume_proxy():
            return await self._invoke(method, message, metadata, fields)

    def _side_effects(
        self, result: CommandResult | StreamedMessage, protos: Any, *, succeeded: bool = True
    ) -> None:
        """Fill ``result``'s effects and timers from a reply's ``side_effects``; a successful
        reply's timer starts and cancellations change :attr:`pending_timers`, in order."""
        sorted_out = SideEffects.from_protos(protos, self.any_support)
        sorted_out.fill(result)
        if not succeeded:
            return
        for change in sorted_out.timer_changes:
            if isinstance(change, str):
                self._pending_timers.pop(change, None)
            else:
                self._pending_timers.pop(change.name, None)  # a restart goes to the end
                self._pending_timers[change.name] = change

    async def _invoke(
        self, method: str, message: Any, metadata: MetadataArg, fields: Mapping[str, Any]
    ) -> R:
        """Build the command and handle it (kinds with other call shapes override this)."""
        return await self._handle(self._command(method, message, metadata, fields))

    async def _handle(self, command: entity_pb2.Command) -> R:
        """Run ``command`` through the SDK and return its decoded result."""
        raise NotImplementedError

    def decode(self, payload: Any) -> Any:
        """An ``Any`` payload as a Python value (the raw ``Any`` if its type is unknown)."""
        try:
            return self.any_support.unpack(payload)
        except LookupError:
            return payload

    def method(self, name: str) -> MethodDescriptor:
        """The service's method ``name`` (or its snake_case spelling)."""
        found = self._service.methods_by_name.get(name) or self._service.methods_by_name.get(
            self._methods.get(name, "")
        )
        if found is None:
            raise ValueError(
                f"{self._service.full_name} has no method {name!r}; its methods: "
                f"{', '.join(self._service.methods_by_name)}"
            )
        return found

    def _command(
        self, name: str, message: Any, metadata: MetadataArg, fields: Mapping[str, Any]
    ) -> entity_pb2.Command:
        method = self.method(name)
        message = build_request(method, message, fields)
        command = entity_pb2.Command(
            entity_id=self.entity_id,
            id=self._next_command_id,
            name=method.name,
            payload=pack(message),
        )
        self._next_command_id += 1
        proto = metadata_proto(metadata) if metadata else None
        if proto is not None:
            command.metadata.CopyFrom(proto)
        return command
