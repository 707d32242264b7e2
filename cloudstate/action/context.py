"""The context passed to action handlers, and the values a handler may return or yield.

An action handler produces *responses*: a unary or streamed-in handler returns one, a
streamed-out or duplex handler yields any number. Each response is one of

* a message of the method's output type — the reply;
* :class:`Forward` (``return ctx.forward(...)``) — the target's reply becomes the client's;
* :class:`Failure` (``yield ctx.failure(...)``) — the client's call fails with the description;
  ``ctx.fail(...)`` does the same by raising, which also ends a streaming handler;
* :data:`NO_REPLY` — nothing for the client (in a stream, ``None`` means the same; in a unary
  handler ``None`` replies with the empty output message);

and carries the side effects added with ``ctx.effect(...)`` since the previous response. Side
effects (and a forward from ``ctx.forward`` that was not returned) left over when a streaming
handler ends are sent in one last response without a reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from cloudstate.any_support import AnySupport
from cloudstate.durable import Timers, build_effect
from cloudstate.errors import CommandFailure, status_code_number
from cloudstate.handler import Context
from cloudstate.metadata import Metadata
from cloudstate.protocol import entity_pb2
from cloudstate.targets import MetadataLike, make_forward


class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_REPLY"


#: Return or yield this to send the client nothing for this response.
NO_REPLY: Any = _NoReply()


@dataclass(frozen=True, slots=True)
class Forward:
    """A forward to another service's method, made by :meth:`ActionContext.forward`."""

    proto: entity_pb2.Forward


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed response, made by :meth:`ActionContext.failure`."""

    description: str
    status_code: int = 0


class ActionContext(Context):
    """Passed to action handlers; valid while the handler (or its stream) runs.

    Example (from ``examples/actions``)::

        @action.unary("AddItem")
        def add_item(request: AddRequest, ctx: ActionContext) -> Forward:
            if request.quantity <= 0:
                ctx.fail("quantity must be positive", code=grpc.StatusCode.INVALID_ARGUMENT)
            return ctx.forward(ShoppingCart.AddItem, AddLineItem(user_id=request.user_id, ...))
    """

    def __init__(
        self,
        service_name: str,
        command_name: str,
        metadata: entity_pb2.Metadata | None,
        any_support: AnySupport,
    ) -> None:
        self._service_name = service_name
        self._command_name = command_name
        self._metadata = Metadata(metadata)
        self._any_support = any_support
        self._forward: Forward | None = None
        self._effects: list[entity_pb2.SideEffect] = []
        self._active = True

    @property
    def service_name(self) -> str:
        """Full name of the action's service, e.g. ``com.example.actions.ShoppingCartActions``."""
        return self._service_name

    @property
    def command_name(self) -> str:
        """The method being called, e.g. ``"AddItem"``."""
        return self._command_name

    @property
    def metadata(self) -> Metadata:
        """The call's metadata (request headers; CloudEvent attributes for events)."""
        return self._metadata

    def forward(
        self,
        target: Any,
        method: Any = None,
        message: Any = None,
        *,
        metadata: MetadataLike | None = None,
    ) -> Forward:
        """Hand the call to another method; its reply becomes the client's.

        Return (or yield) the result. Targets: ``ShoppingCart.AddItem`` (a
        :func:`~cloudstate.targets.service` attribute or method descriptor), a method of the
        generated gRPC code (``shoppingcart_pb2_grpc.ShoppingCart.AddItem``),
        ``"pkg.Service/Method"`` or ``("pkg.Service", "Method")``; see
        :mod:`cloudstate.targets`. ``metadata`` entries are added to the call's own metadata,
        which the proxy passes on.
        """
        self._check_active("forward")
        if self._forward is not None:
            raise RuntimeError(
                f"ctx.forward() called twice for one response of {self._where()}: return or "
                "yield the first forward before making another"
            )
        forward = Forward(
            make_forward(
                "ctx.forward()",
                target,
                method,
                message,
                any_support=self._any_support,
                metadata=metadata,
            )
        )
        self._forward = forward
        return forward

    def effect(
        self,
        target: Any,
        method: Any = None,
        message: Any = None,
        *,
        synchronous: bool = False,
        durable: bool = False,
        max_attempts: int = 0,
        metadata: MetadataLike | None = None,
    ) -> None:
        """Ask the proxy to call another method as a side effect of the next response.

        Same targets as :meth:`forward`. Synchronous effects finish before the client gets the
        response (and a failing one fails the call); asynchronous ones run after it. Durable ones
        (``durable=True``) are recorded by the proxy before the client gets the response and
        called until they succeed (``max_attempts`` failed attempts, 0 for the proxy's default,
        make a dead letter); they need a proxy with the ``cloudstate.durable-calls/1``
        extension, else the call fails::

            ctx.effect(Account.Deposit, deposit, durable=True)
        """
        self._check_active("effect")
        self._effects.append(
            build_effect(
                "ctx.effect()",
                self._where(),
                target,
                method,
                message,
                synchronous=synchronous,
                durable=durable,
                max_attempts=max_attempts,
                any_support=self._any_support,
                metadata=metadata,
            )
        )

    @property
    def timers(self) -> Timers:
        """Start and cancel durable timers (:class:`~cloudstate.durable.Timers`), sent with the
        next response like side effects::

            ctx.timers.start(f"expire-{transfer_id}", Transfers.Expire, expire, delay=3600)
        """
        # Not bound to the list: each response takes the effects so far and starts a new one.
        return Timers(self._effects_append, self._check_active, self._any_support, self._where())

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the call with ``description`` (and the gRPC status ``code``, else the proxy's
        default). Raises: the handler ends here; a stream ends after this response."""
        self._check_active("fail")
        raise CommandFailure(str(description), status_code_number(code))

    def failure(self, description: str, code: grpc.StatusCode | int | None = None) -> Failure:
        """A failed response to return or yield, without ending the handler (a streaming handler
        may go on, though our proxy ends the client's call at the first failure)."""
        return Failure(str(description), status_code_number(code))

    # -- SDK internals ---------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self._service_name}.{self._command_name}"

    def _check_active(self, what: str) -> None:
        if not self._active:
            raise RuntimeError(
                f"ctx.{what}() called after {self._where()} finished: contexts are valid only "
                "while the handler runs"
            )

    def _finish(self) -> None:
        self._active = False

    def _effects_append(self, effect: entity_pb2.SideEffect) -> None:
        self._effects.append(effect)

    def _has_pending(self) -> bool:
        return self._forward is not None or bool(self._effects)

    def _take(self) -> tuple[Forward | None, list[entity_pb2.SideEffect]]:
        """The pending forward and side effects, which the next response carries."""
        forward, effects = self._forward, self._effects
        self._forward, self._effects = None, []
        return forward, effects
