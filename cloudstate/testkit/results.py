"""What one command did, as a test sees it: the reply or failure, forwards, side effects (ordinary
and durable), timers started and cancelled, and the state changes of the entity's kind (events, a
new value, a CRDT delta, a workflow's transition; and the calls a workflow's steps made).

Every value is decoded: messages are instances of your generated classes, JSON and primitive
payloads are Python values. Results print readably, so a failed assertion shows what happened::

    result = kit.add_item(AddLineItem(user_id="alice", product_id="apple", quantity=3))
    assert result.events == [ItemAdded(item=LineItem(productId="apple", quantity=3))]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from cloudstate.any_support import AnySupport
from cloudstate.protocol import entity_pb2


def status_code(number: int) -> grpc.StatusCode | None:
    """The ``grpc.StatusCode`` for a ``google.rpc.Code`` number; ``None`` for 0 (unset).

    >>> status_code(3)
    <StatusCode.INVALID_ARGUMENT: (3, 'invalid argument')>
    """
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return None if number == 0 else code
    return grpc.StatusCode.UNKNOWN


@dataclass(frozen=True)
class Failed:
    """A failed command: what the client would see (``result.failure``). Not the SDK's
    :class:`cloudstate.action.Failure`, which an action handler returns.

    ``code`` is the status the entity chose (``ctx.fail(..., code=...)``), or ``None`` when it
    left the choice to the proxy (ours answers ``INVALID_ARGUMENT``).
    """

    description: str
    code: grpc.StatusCode | None = None
    #: True when the entity asked the proxy to restart it (it had emitted events).
    restart: bool = False

    @staticmethod
    def from_proto(failure: entity_pb2.Failure) -> Failed:
        return Failed(failure.description, status_code(failure.grpc_status_code), failure.restart)


@dataclass(frozen=True)
class Forwarded:
    """``ctx.forward(...)``: the command the reply is handed on to (``result.forward``). Not the
    SDK's :class:`cloudstate.Forward`, which ``ctx.forward`` returns in an action."""

    service: str
    method: str
    message: Any

    @staticmethod
    def from_proto(forward: entity_pb2.Forward, any_support: AnySupport) -> Forwarded:
        return Forwarded(
            forward.service_name, forward.command_name, _decode(forward.payload, any_support)
        )


@dataclass(frozen=True)
class SideEffect:
    """``ctx.effect(...)``: a command the proxy calls after this one succeeds. ``durable`` for
    ``ctx.effect(..., durable=True)`` (then ``max_attempts`` is what it asked for, 0: the proxy's
    default)."""

    service: str
    method: str
    message: Any
    synchronous: bool = False
    durable: bool = False
    max_attempts: int = 0
    #: The side effect as sent (e.g. its ``metadata``); not compared.
    proto: entity_pb2.SideEffect = field(
        default_factory=entity_pb2.SideEffect, compare=False, repr=False
    )

    @staticmethod
    def from_proto(effect: entity_pb2.SideEffect, any_support: AnySupport) -> SideEffect:
        return SideEffect(
            effect.service_name,
            effect.command_name,
            _decode(effect.payload, any_support),
            effect.synchronous,
            effect.HasField("durable"),
            effect.durable.max_attempts,
            effect,
        )


@dataclass(frozen=True)
class TimerStarted:
    """``ctx.timers.start(...)``: the timer ``name`` calls ``service``/``method`` with
    ``message`` after ``delay`` or at ``at`` (one of the two is set)."""

    name: str
    service: str
    method: str
    message: Any
    delay: timedelta | None = None
    at: datetime | None = None
    max_attempts: int = 0
    #: The side effect as sent (its metadata goes with the delivery); not compared.
    proto: entity_pb2.SideEffect = field(
        default_factory=entity_pb2.SideEffect, compare=False, repr=False
    )

    @staticmethod
    def from_proto(effect: entity_pb2.SideEffect, any_support: AnySupport) -> TimerStarted:
        durable = effect.durable
        at = None
        if durable.HasField("at"):
            at = datetime.fromtimestamp(durable.at.seconds, UTC) + timedelta(
                microseconds=durable.at.nanos // 1000
            )
        delay = None
        if at is None:
            delay = timedelta(
                seconds=durable.delay.seconds, microseconds=durable.delay.nanos // 1000
            )
        return TimerStarted(
            durable.timer_name,
            effect.service_name,
            effect.command_name,
            _decode(effect.payload, any_support),
            delay,
            at,
            durable.max_attempts,
            effect,
        )


@dataclass
class SideEffects:
    """A reply's ``side_effects`` sorted out: ordinary and durable effects, timers started, timer
    names cancelled (each in the order the handler asked)."""

    effects: list[SideEffect] = field(default_factory=list)
    timers: list[TimerStarted] = field(default_factory=list)
    cancelled_timers: list[str] = field(default_factory=list)
    #: Starts and cancellations in the order asked (what the proxy applies one after the other).
    timer_changes: list[TimerStarted | str] = field(default_factory=list)

    @staticmethod
    def from_protos(
        protos: Iterable[entity_pb2.SideEffect], any_support: AnySupport
    ) -> SideEffects:
        sorted_out = SideEffects()
        for effect in protos:
            if effect.HasField("durable") and effect.durable.timer_name:
                if effect.durable.cancel:
                    sorted_out.cancelled_timers.append(effect.durable.timer_name)
                    sorted_out.timer_changes.append(effect.durable.timer_name)
                else:
                    timer = TimerStarted.from_proto(effect, any_support)
                    sorted_out.timers.append(timer)
                    sorted_out.timer_changes.append(timer)
            else:
                sorted_out.effects.append(SideEffect.from_proto(effect, any_support))
        return sorted_out

    def fill(self, result: CommandResult | StreamedMessage) -> None:
        result.effects = self.effects
        result.timers = self.timers
        result.cancelled_timers = self.cancelled_timers


@dataclass
class CommandResult:
    """The outcome of one command, common to every entity kind.

    Exactly one of ``reply``, ``forward`` and ``failure`` describes the client's answer (``reply``
    is also ``None`` when the entity chose not to reply).
    """

    #: The method name, e.g. ``"AddItem"``.
    command: str
    #: The reply message (``None`` on failure, forward or no reply).
    reply: Any = None
    failure: Failed | None = None
    forward: Forwarded | None = None
    #: Side effects, ordinary and durable (``ctx.effect``), in order.
    effects: list[SideEffect] = field(default_factory=list)
    #: Timers started (``ctx.timers.start``), in order.
    timers: list[TimerStarted] = field(default_factory=list)
    #: Names of the timers cancelled (``ctx.timers.cancel``), in order.
    cancelled_timers: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True unless the command failed."""
        return self.failure is None

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def __str__(self) -> str:
        return f"{self.command}: " + ", ".join(
            f"{name}={value!r}" for name, value in self._shown().items()
        )

    def _shown(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if self.failure is not None:
            shown["failure"] = self.failure
        elif self.forward is not None:
            shown["forward"] = self.forward
        else:
            shown["reply"] = _one_line(self.reply)
        if self.effects:
            shown["effects"] = self.effects
        if self.timers:
            shown["timers"] = self.timers
        if self.cancelled_timers:
            shown["cancelled_timers"] = self.cancelled_timers
        return shown


@dataclass
class EventSourcedResult(CommandResult):
    """A command of an event-sourced entity: also the events it emitted (and persisted, unless
    it failed) and the snapshot taken after it, if one was due."""

    events: list[Any] = field(default_factory=list)
    snapshot: Any = None

    def _shown(self) -> dict[str, Any]:
        shown = super()._shown()
        if self.events:
            shown["events"] = [_one_line(e) for e in self.events]
        if self.snapshot is not None:
            shown["snapshot"] = _one_line(self.snapshot)
        return shown


@dataclass
class ValueEntityResult(CommandResult):
    """A command of a value entity: also whether it replaced or deleted the state."""

    #: True when the command called ``ctx.update_state`` (``new_state`` is the value stored).
    updated: bool = False
    #: True when the command called ``ctx.delete_state``.
    deleted: bool = False
    #: The value stored by ``ctx.update_state`` (``None`` if not updated).
    new_state: Any = None

    def _shown(self) -> dict[str, Any]:
        shown = super()._shown()
        if self.updated:
            shown["new_state"] = _one_line(self.new_state)
        if self.deleted:
            shown["deleted"] = True
        return shown


@dataclass
class StreamedMessage:
    """A message of a streamed CRDT command (``ctx.on_change``), after its first reply."""

    #: The id of the streamed command (:attr:`CrdtResult.command_id` of its result).
    command_id: int
    reply: Any = None
    failure: Failed | None = None
    forward: Forwarded | None = None
    effects: list[SideEffect] = field(default_factory=list)
    timers: list[TimerStarted] = field(default_factory=list)
    cancelled_timers: list[str] = field(default_factory=list)
    #: True when the stream ended with this message (``ctx.end_stream()``, or a failure).
    end_stream: bool = False


@dataclass
class CrdtResult(CommandResult):
    """A command of a CRDT entity: also the delta it produced, and the streamed messages that
    the change caused on open streamed commands."""

    #: The command's id; a streamed command's later messages carry it.
    command_id: int = 0
    #: The aggregated change (a ``cloudstate.crdt.CrdtDelta``); ``None`` if nothing changed.
    delta: Any = None
    #: True when the command deleted the CRDT (``ctx.delete()``).
    deleted: bool = False
    #: The write consistency the change asked for (``WriteConsistency``), when it changed.
    write_consistency: Any = None
    #: True when the command stays open as a stream (it registered ``on_change``/``on_cancel``).
    streamed: bool = False
    #: Messages for open streamed commands, in order (this command's own change included).
    messages: list[StreamedMessage] = field(default_factory=list)

    def _shown(self) -> dict[str, Any]:
        shown = super()._shown()
        if self.delta is not None:
            shown["delta"] = _one_line(self.delta)
        if self.deleted:
            shown["deleted"] = True
        if self.streamed:
            shown["streamed"] = True
        if self.messages:
            shown["messages"] = self.messages
        return shown


def _decode(payload: Any, any_support: AnySupport) -> Any:
    try:
        return any_support.unpack(payload)
    except LookupError:
        return payload  # a type the entity's descriptors do not know: the raw Any


def _one_line(value: Any) -> Any:
    from google.protobuf import text_format
    from google.protobuf.message import Message

    if isinstance(value, Message):
        text = text_format.MessageToString(value, as_one_line=True)
        return _Shown(f"{value.DESCRIPTOR.name}({text})")
    return value


class _Shown(str):
    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Transition:
    """A transition the workflow made: ``kind`` is ``"go_to"`` (to ``step``, with ``input``),
    ``"pause"`` (``timeout``, ``timeout_step``), ``"end"`` or ``"fail"`` (``reason``)."""

    kind: str
    step: str = ""
    input: Any = None
    reason: str = ""
    timeout: timedelta | None = None
    timeout_step: str = ""


@dataclass(frozen=True)
class CallMade:
    """A call a step asked for (``kit.calls``), with the metadata the proxy adds to it."""

    step: str
    attempt: int
    step_key: str
    service: str
    method: str
    message: Any
    metadata: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass
class WorkflowResult(CommandResult):
    """What one command did: the reply or failure (``FAILED_PRECONDITION`` when it made a
    transition the workflow's status refuses), its side effects, the transition it made
    (``None``: none) and the state after it."""

    transition: Transition | None = None
    state: Any = None
