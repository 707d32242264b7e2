"""Contexts passed to CRDT command handlers and to streamed-command callbacks.

* :class:`CrdtCommandContext` - command handlers: create or delete the CRDT, fail, forward, add
  side effects, choose the write consistency, and for streamed commands register
  ``on_change`` / ``on_cancel`` callbacks;
* :class:`SubscriptionContext` - ``on_change`` callbacks (run after every change of the CRDT):
  end the stream, fail it, forward, add side effects;
* :class:`StreamCancelledContext` - ``on_cancel`` callbacks (the client went away): change the
  CRDT, add side effects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, Protocol, TypeVar

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from cloudstate.any_support import AnySupport
from cloudstate.component.context import CommandContext
from cloudstate.crdt.base import Crdt, WriteConsistency
from cloudstate.protocol import entity_pb2

F = TypeVar("F", bound=Callable[..., Any])


class _LiveEntity(Protocol):
    """What the contexts need from the running entity instance."""

    @property
    def entity_id(self) -> str: ...
    @property
    def state(self) -> Crdt | None: ...
    @property
    def any_support(self) -> AnySupport: ...


class CrdtContext(CommandContext):
    """Base of the CRDT contexts: the entity and its current CRDT."""

    _live: _LiveEntity

    def _start(self, live: _LiveEntity, command: entity_pb2.Command) -> None:
        self._start_command(live.entity_id, command, live.any_support)
        self._live = live

    @property
    def state(self) -> Any:
        """The entity's CRDT, or ``None`` while it has none."""
        return self._live.state


class _StateChanges:
    """``delete()`` and the write consistency, for the contexts that may change the CRDT."""

    _deleted: bool
    _write_consistency: WriteConsistency
    _check_active: Callable[[str], None]

    def delete(self) -> None:
        """Delete the CRDT on every replica once the command succeeds (wins over changes).

        The proxy then ends the entity's stream.
        """
        self._check_active("delete")
        self._deleted = True

    @property
    def write_consistency(self) -> WriteConsistency:
        """How many replicas the proxy updates before replying (default ``LOCAL``)."""
        return self._write_consistency

    @write_consistency.setter
    def write_consistency(self, value: WriteConsistency) -> None:
        self._check_active("write_consistency")
        self._write_consistency = WriteConsistency(value)


class CrdtCommandContext(_StateChanges, CrdtContext):
    """Passed to CRDT command handlers; valid only while the handler runs.

    ::

        @entity.command_handler("Connect")
        def connect(request: User, ctx: CrdtCommandContext) -> Empty:
            ctx.state.add(request.name)               # the entity's ORSet
            ctx.write_consistency = WriteConsistency.MAJORITY
            if ctx.streamed:
                ctx.on_cancel(lambda state: state.discard(request.name))
            return Empty()
    """

    def __init__(self, live: _LiveEntity, command: entity_pb2.Command) -> None:
        self._start(live, command)
        self._streamed = command.streamed
        self._deleted = False
        self._write_consistency = WriteConsistency.LOCAL
        self._new_state: Crdt | None = None
        self._on_change: Callable[..., Any] | None = None
        self._on_cancel: Callable[..., Any] | None = None
        self._stream_ended = False

    @property
    def state(self) -> Any:
        """The entity's CRDT (``None`` until created); assign a new CRDT to create it."""
        return self._new_state if self._new_state is not None else self._live.state

    @state.setter
    def state(self, crdt: Crdt) -> None:
        self.set_state(crdt)

    def set_state(self, crdt: Crdt) -> None:
        """Create the entity's CRDT (when it has none yet), e.g. ``ctx.set_state(ORSet())``."""
        self._check_active("set_state")
        if not isinstance(crdt, Crdt):
            raise TypeError(f"the state of a CRDT entity is a CRDT, not {type(crdt).__name__}")
        current = self.state
        if current is crdt:
            return
        if current is not None:
            raise RuntimeError(
                f"entity {self.entity_id!r} already has a {type(current).__name__}: a CRDT "
                "entity's CRDT is created once (change it through its operations)"
            )
        if self._deleted:
            raise RuntimeError(f"entity {self.entity_id!r} was deleted by this command")
        self._new_state = crdt

    @property
    def streamed(self) -> bool:
        """Whether the client called a server-streaming method and awaits a stream of replies."""
        return self._streamed

    def on_change(self, callback: F) -> F:
        """Call ``callback`` after every later change of the CRDT, while the stream is open.

        Its parameters (injected like a handler's): the CRDT, the command's message, a
        :class:`SubscriptionContext`. What it returns (a message of the method's output type,
        or ``None``) is streamed to the client. Usable as a decorator.
        """
        self._check_streamed("on_change")
        self._on_change = callback
        return callback

    def on_cancel(self, callback: F) -> F:
        """Call ``callback`` when the client cancels the stream (it may change the CRDT).

        Parameters: the CRDT, the command's message, a :class:`StreamCancelledContext`.
        """
        self._check_streamed("on_cancel")
        self._on_cancel = callback
        return callback

    def end_stream(self) -> None:
        """End the client's stream after this reply (callbacks registered are dropped)."""
        self._check_streamed("end_stream")
        self._stream_ended = True

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the command: the client gets an error with ``description``.

        Raises an exception ending the handler. Changes the command made to the CRDT are undone;
        forwards, side effects and callbacks are dropped. ``code`` is the gRPC status the client
        should see (by default the proxy chooses).
        """
        super().fail(description, code)

    def _check_streamed(self, what: str) -> None:
        self._check_active(what)
        if not self._streamed:
            raise RuntimeError(
                f"ctx.{what}() needs a streamed command: {self.command_name} is not called as a "
                "server-streaming method (check ctx.streamed)"
            )


class SubscriptionContext(CrdtContext):
    """Passed to ``on_change`` callbacks of streamed commands.

    ::

        def changed(counter: GCounter, ctx: SubscriptionContext) -> Likes | None:
            if counter.value >= 100:
                ctx.end_stream()
            return Likes(count=counter.value)

    The CRDT must not be changed here (there is no reply to carry the change).
    """

    def __init__(self, live: _LiveEntity, command: entity_pb2.Command) -> None:
        self._start(live, command)
        self._ended = False

    def end_stream(self) -> None:
        """Complete the client's stream after this message."""
        self._check_active("end_stream")
        self._ended = True


class StreamCancelledContext(_StateChanges, CrdtContext):
    """Passed to ``on_cancel`` callbacks; the client is gone, so nothing is replied.

    The callback may change the CRDT (sent with the cancellation response), delete it, choose
    the write consistency and add side effects.
    """

    def __init__(self, live: _LiveEntity, command: entity_pb2.Command) -> None:
        self._start(live, command)
        self._deleted = False
        self._write_consistency = WriteConsistency.LOCAL

    def forward(
        self,
        service: str | ServiceDescriptor | MethodDescriptor,
        method: str | Any = None,
        message: Any = None,
    ) -> None:
        """Not available: a cancelled stream has no client to forward to."""
        raise RuntimeError("ctx.forward() in an on_cancel callback: the client is gone")

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Not available: a cancelled stream has no client to fail."""
        raise RuntimeError("ctx.fail() in an on_cancel callback: the client is gone")


__all__ = [
    "CrdtCommandContext",
    "CrdtContext",
    "StreamCancelledContext",
    "SubscriptionContext",
]
