"""What the command contexts of every entity kind share: the command's identity and metadata,
``fail``, ``forward``, ``effect`` (ordinary or durable) and ``timers``.

:class:`CommandContext` is a base class; each kind's context (event sourced, value entity, ...)
derives from it, calls :meth:`CommandContext._start_command` in its ``__init__`` and adds its own
state operations (``emit``, ``update_state``, ...)::

    class CounterCommandContext(CommandContext):
        def __init__(self, entity_id, command, any_support):
            self._start_command(entity_id, command, any_support)
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from cloudstate.any_support import AnySupport
from cloudstate.durable import Timers, build_effect
from cloudstate.errors import CommandFailure, status_code_number
from cloudstate.handler import Context
from cloudstate.metadata import Metadata
from cloudstate.protocol import entity_pb2
from cloudstate.targets import MetadataLike, make_forward


class CommandContext(Context):
    """Base of the contexts passed to command handlers; valid only while the handler runs."""

    _entity_id: str
    _command_name: str
    _command_id: int
    _metadata: Metadata
    _command_any_support: AnySupport
    _active: bool
    _forward: entity_pb2.Forward | None
    _effects: list[entity_pb2.SideEffect]
    _failure: CommandFailure | None

    def _start_command(
        self, entity_id: str, command: entity_pb2.Command, any_support: AnySupport
    ) -> None:
        self._entity_id = entity_id
        self._command_name = command.name
        self._command_id = command.id
        self._metadata = Metadata(command.metadata if command.HasField("metadata") else None)
        self._command_any_support = any_support
        self._active = True
        self._forward = None
        self._effects = []
        self._failure = None

    @property
    def entity_id(self) -> str:
        """The id of the entity instance (for the shopping cart: the user id)."""
        return self._entity_id

    @property
    def command_name(self) -> str:
        """The gRPC method name of the command, e.g. ``"AddItem"``."""
        return self._command_name

    @property
    def command_id(self) -> int:
        """The per-stream id of the command."""
        return self._command_id

    @property
    def metadata(self) -> Metadata:
        """The command's metadata (empty when the proxy sends none)."""
        return self._metadata

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the command: the client gets an error with ``description``.

        Raises an exception that ends the handler; nothing the command did (state changes,
        forwards, side effects) takes effect. ``code`` (e.g. ``grpc.StatusCode.NOT_FOUND``) is the
        gRPC status the client should see; by default the proxy chooses.
        """
        self._check_active("fail")
        failure = CommandFailure(str(description), status_code_number(code))
        self._failure = failure
        raise failure

    def forward(
        self,
        service: str | ServiceDescriptor | MethodDescriptor | Any,
        method: str | Any = None,
        message: Any = None,
    ) -> None:
        """Reply by forwarding to another command instead of returning a message.

        ``ctx.forward(ShoppingCart.AddItem, message)`` (a :func:`cloudstate.targets.service`
        attribute or a method descriptor), ``ctx.forward("com.example.Svc", "Method", message)``
        or ``ctx.forward("com.example.Svc/Method", message)``; see :mod:`cloudstate.targets`.
        The target and message type are checked. State changes and side effects are kept.
        """
        self._check_active("forward")
        if self._forward is not None:
            raise RuntimeError(f"command {self._command_name!r} already forwarded")
        self._forward = make_forward(
            "ctx.forward()", service, method, message, any_support=self._command_any_support
        )

    def effect(
        self,
        service: str | ServiceDescriptor | MethodDescriptor | Any,
        method: str | Any = None,
        message: Any = None,
        *,
        synchronous: bool = False,
        durable: bool = False,
        max_attempts: int = 0,
        metadata: MetadataLike | None = None,
    ) -> None:
        """Ask the proxy to call another command after this one succeeds (in call order).

        ``synchronous=True`` makes the proxy wait for it before replying to the client.
        ``durable=True`` makes the proxy record it in the same transaction as this command's
        events or state and call it until it succeeds (at least once; ``max_attempts`` failed
        attempts, 0 for the proxy's default, make it a dead letter); it needs a proxy with the
        ``cloudstate.durable-calls/1`` extension, else the command fails. ``metadata`` entries
        are sent with the call. Same target forms as :meth:`forward`. Side effects of a failed
        command are dropped::

            ctx.effect(Account.Deposit, deposit, durable=True)
        """
        self._check_active("effect")
        self._effects.append(
            build_effect(
                "ctx.effect()",
                self._where(),
                service,
                method,
                message,
                synchronous=synchronous,
                durable=durable,
                max_attempts=max_attempts,
                any_support=self._command_any_support,
                metadata=metadata,
            )
        )

    @property
    def timers(self) -> Timers:
        """Start and cancel durable timers (:class:`~cloudstate.durable.Timers`); like side
        effects, they take effect only if the command succeeds::

            ctx.timers.start(f"expire-{transfer_id}", Transfers.Expire, expire, delay=3600)
        """
        return Timers(
            self._effects.append, self._check_active, self._command_any_support, self._where()
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

    def _finish(self) -> None:
        self._active = False

    def _where(self) -> str:
        return f"command {self._command_name!r} of entity {self._entity_id!r}"
