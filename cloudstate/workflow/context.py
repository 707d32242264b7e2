"""The contexts of workflow handlers: :class:`WorkflowCommandContext` (commands) and
:class:`StepContext` (steps and their continuations), and what they share
(:class:`WorkflowContext`: the workflow's view, the state update and the transition).

A handler makes at most one transition — ``go_to``, ``pause``, ``end`` or ``fail_workflow`` —
and may replace the state; both travel in the reply's ``Effect``
(docs/protocol-workflows.md)::

    ctx.update_state(TransferState(...))
    ctx.go_to("withdraw", WithdrawRequest(...))
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from datetime import timedelta
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from cloudstate.any_support import PROTOBUF_PREFIX, AnySupport, pack
from cloudstate.component.context import CommandContext
from cloudstate.durable import Timers, build_effect, duration_of
from cloudstate.errors import CommandFailure
from cloudstate.handler import Context
from cloudstate.protocol import entity_pb2, workflow_pb2
from cloudstate.targets import MetadataLike, metadata_proto, payload_for, resolve_method

_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


class WorkflowStatus(enum.IntEnum):
    """Where a workflow is (``ctx.status``); the values of ``cloudstate.workflow.Status``."""

    NOT_STARTED = workflow_pb2.NOT_STARTED
    RUNNING = workflow_pb2.RUNNING
    WAITING = workflow_pb2.WAITING
    SUSPENDED = workflow_pb2.SUSPENDED
    COMPLETED = workflow_pb2.COMPLETED
    FAILED = workflow_pb2.FAILED
    CANCELLED = workflow_pb2.CANCELLED


def decode_state(
    state: any_pb2.Any | None, state_type: type[Message] | None, any_support: AnySupport
) -> Any:
    """The workflow's state as the handlers see it: ``None`` when unset, an instance of
    ``state_type`` when given, else whatever the type URL names."""
    if state is None or not state.type_url:
        return None
    if state_type is None:
        return any_support.unpack(state)
    expected = PROTOBUF_PREFIX + state_type.DESCRIPTOR.full_name
    if state.type_url != expected:
        raise TypeError(
            f"the workflow's stored state is a {state.type_url!r}, but its state_type is "
            f"{state_type.DESCRIPTOR.full_name}: update the state with that type only"
        )
    try:
        return state_type.FromString(state.value)
    except DecodeError as e:
        raise TypeError(f"the workflow's stored state is not a valid {expected}: {e}") from e


def duration(what: str, value: Any) -> duration_pb2.Duration:
    """A ``timedelta`` or a number of seconds (``>= 0``) as a ``Duration``; ``what`` names the
    setting in errors: ``duration("step 'ship' of workflow W: timeout", timedelta(seconds=5))``."""
    negative = (isinstance(value, timedelta) and value < timedelta(0)) or (
        isinstance(value, int | float) and not isinstance(value, bool) and value < 0
    )
    if negative:
        raise ValueError(f"{what} is negative ({value!r}); durations are >= 0")
    if not isinstance(value, timedelta | int | float) or isinstance(value, bool):
        raise TypeError(
            f"{what} must be a datetime.timedelta or a number of seconds, not {value!r}"
        )
    return duration_of(what, value)


class WorkflowContext(Context):
    """What command and step contexts share: the workflow as the proxy sent it, the state
    update and the one transition a handler may make."""

    _workflow_name: str
    _steps: Collection[str]
    _view: workflow_pb2.WorkflowView
    _state_type: type[Message] | None
    _state: Any
    _new_state: any_pb2.Any | None
    _transition: tuple[str, Message] | None
    _workflow_any_support: AnySupport

    def _start_workflow(
        self,
        workflow_name: str,
        steps: Collection[str],
        view: workflow_pb2.WorkflowView,
        state: Any,
        state_type: type[Message] | None,
        any_support: AnySupport,
    ) -> None:
        self._workflow_name = workflow_name
        self._steps = steps
        self._view = view
        self._state = state
        self._state_type = state_type
        self._new_state = None
        self._transition = None
        self._workflow_any_support = any_support

    # -- the workflow ---------------------------------------------------------------------------

    @property
    def workflow_id(self) -> str:
        """The workflow's id (the entity key of its commands)."""
        return self._view.workflow_id

    @property
    def status(self) -> WorkflowStatus:
        """Its status when this call began (``WorkflowStatus.NOT_STARTED`` before the first
        transition)."""
        return WorkflowStatus(self._view.status)

    @property
    def current_step(self) -> str:
        """The current step (running or suspended), or the step that paused; ``""`` before the
        first step."""
        return self._view.step

    @property
    def transitions(self) -> int:
        """Transitions made so far (it identifies the current step's execution)."""
        return self._view.transitions

    @property
    def reason(self) -> str:
        """Why the workflow failed or was cancelled (``""`` otherwise)."""
        return self._view.reason

    @property
    def state(self) -> Any:
        """The state as this call leaves it so far: the one received, or the last one given to
        :meth:`update_state`; ``None`` before the first update."""
        return self._state

    # -- what the handler does ------------------------------------------------------------------

    def update_state(self, state: Message) -> None:
        """Replace the workflow's state (persisted with the transition, before the next step or
        the command's reply; several calls collapse to the last)."""
        self._check_active("update_state")
        if state is None:
            raise TypeError(
                f"ctx.update_state(None) in {self._where()}: a workflow's state cannot be removed"
            )
        if self._state_type is not None and not isinstance(state, self._state_type):
            raise TypeError(
                f"ctx.update_state() in {self._where()}: the state_type is "
                f"{self._state_type.DESCRIPTOR.full_name}, not {type(state).__name__}"
            )
        self._new_state = pack(state)
        self._state = state

    def go_to(self, step: str, input: Any = None) -> None:
        """Make the transition to ``step``, which then runs with ``input`` (a message, or
        ``None``)::

            ctx.go_to("deposit", DepositRequest(account_id=..., amount=..., transfer_id=...))
        """
        self._check_active("go_to")
        if step not in self._steps:
            self._invalid(
                f"ctx.go_to({step!r}) in {self._where()}: workflow {self._workflow_name} has no "
                f"step {step!r}; its steps: {', '.join(repr(s) for s in self._steps)}"
            )
        transition = workflow_pb2.Transition(step=step)
        if input is not None:
            transition.input.CopyFrom(pack(input))
        self._set_transition("go_to", transition)

    def pause(self, timeout: timedelta | float | None = None, timeout_step: str = "") -> None:
        """Wait for a command (a signal) to make the next transition. After ``timeout`` (a
        ``timedelta`` or seconds; ``None``: for ever) without one, the proxy goes to
        ``timeout_step`` (with no input), or fails the workflow when it is empty::

            ctx.pause(timeout=timedelta(hours=1), timeout_step="expire")
        """
        self._check_active("pause")
        pause = workflow_pb2.Pause(timeout_step=timeout_step)
        if timeout is not None:
            pause.timeout.CopyFrom(duration(f"ctx.pause() in {self._where()}: timeout", timeout))
        elif timeout_step:
            raise TypeError(
                f"ctx.pause(timeout_step={timeout_step!r}) in {self._where()}: a timeout step "
                "needs a timeout (pass timeout=...)"
            )
        if timeout_step and timeout_step not in self._steps:
            self._invalid(
                f"ctx.pause(timeout_step={timeout_step!r}) in {self._where()}: workflow "
                f"{self._workflow_name} has no step {timeout_step!r}; its steps: "
                f"{', '.join(repr(s) for s in self._steps)}"
            )
        self._set_transition("pause", pause)

    def end(self) -> None:
        """The workflow completed (``WorkflowStatus.COMPLETED``); no step runs any more."""
        self._check_active("end")
        self._set_transition("end", workflow_pb2.End())

    def fail_workflow(self, reason: str) -> None:
        """The workflow failed (``WorkflowStatus.FAILED``) with ``reason``; no step runs any more
        (unlike a failed attempt, nothing is retried)."""
        self._check_active("fail_workflow")
        self._set_transition("fail", workflow_pb2.Fail(reason=str(reason)))

    # -- SDK internals --------------------------------------------------------------------------

    def _set_transition(self, kind: str, proto: Message) -> None:
        if self._transition is not None:
            raise RuntimeError(
                f"ctx.{_OPERATIONS[kind]}() in {self._where()}: it already made a transition "
                f"(ctx.{_OPERATIONS[self._transition[0]]}()); a command or step makes one at most"
            )
        self._transition = (kind, proto)

    def _effect(self) -> workflow_pb2.Effect | None:
        """The reply's ``Effect``: the state update and the transition, if any."""
        if self._new_state is None and self._transition is None:
            return None
        effect = workflow_pb2.Effect()
        if self._new_state is not None:
            effect.state.CopyFrom(self._new_state)
        if self._transition is not None:
            kind, proto = self._transition
            getattr(effect, kind).CopyFrom(proto)
        return effect

    def _invalid(self, message: str) -> NoReturn:
        raise ValueError(message)

    def _check_active(self, what: str) -> None:
        raise NotImplementedError

    def _where(self) -> str:
        raise NotImplementedError


_OPERATIONS = {"go_to": "go_to", "pause": "pause", "end": "end", "fail": "fail_workflow"}


class WorkflowCommandContext(CommandContext, WorkflowContext):
    """Passed to a workflow's command handlers; valid only while the handler runs.

    ::

        @transfer.command_handler("Start")
        def start(state: TransferState | None, request: StartTransfer,
                  ctx: WorkflowCommandContext) -> TransferStatus:
            if ctx.status != WorkflowStatus.NOT_STARTED:
                ctx.fail("transfer already started")
            ctx.update_state(TransferState(...))
            ctx.go_to("withdraw", WithdrawRequest(...))

    Besides the workflow operations (:class:`WorkflowContext`), a command can fail
    (:meth:`fail`: nothing it did takes effect), forward, and add side effects and timers.
    A transition is refused by the proxy (``FAILED_PRECONDITION``) when the workflow is
    suspended or ended; a state update alone is accepted in every status.
    """

    def __init__(
        self,
        workflow_name: str,
        steps: Collection[str],
        command: entity_pb2.Command,
        view: workflow_pb2.WorkflowView,
        state: Any,
        state_type: type[Message] | None,
        any_support: AnySupport,
    ) -> None:
        self._start_command(view.workflow_id, command, any_support)
        self._start_workflow(workflow_name, steps, view, state, state_type, any_support)

    def fail(self, description: str, code: grpc.StatusCode | int | None = None) -> NoReturn:
        """Fail the command: the client gets an error with ``description``; the state update,
        transition, forward and side effects of this command are dropped."""
        super().fail(description, code)

    def _invalid(self, message: str) -> NoReturn:
        # The protocol's answer to a go_to naming no step is INVALID_ARGUMENT (the client's
        # request led there), so the SDK gives the same answer before the proxy has to.
        self._failure = CommandFailure(message, _INVALID_ARGUMENT)
        raise self._failure

    def _where(self) -> str:
        return (
            f"command {self._command_name!r} of workflow {self._workflow_name} "
            f"(id {self._view.workflow_id!r})"
        )


class StepContext(WorkflowContext):
    """Passed to a step and to its continuation; valid only while they run.

    ::

        @transfer.step("withdraw")
        def withdraw(state: TransferState, request: WithdrawRequest, ctx: StepContext) -> Any:
            return ctx.call(Accounts.Withdraw, request)

    A step either makes the transition itself or returns :meth:`call`; the call's reply goes to
    the continuation (``@withdraw.then``), which makes the transition. Raising an exception in
    either fails the attempt (its text is the error); the proxy retries it per the step's
    :class:`~cloudstate.workflow.Recovery`. Side effects and timers are performed when the
    transition is written.
    """

    def __init__(
        self,
        workflow_name: str,
        steps: Collection[str],
        run: workflow_pb2.StepRun,
        state: Any,
        state_type: type[Message] | None,
        any_support: AnySupport,
    ) -> None:
        self._start_workflow(workflow_name, steps, run.workflow, state, state_type, any_support)
        self._step = run.step
        self._attempt = run.attempt
        self._step_key = run.step_key
        self._continuation = run.HasField("call_result")
        self._call: workflow_pb2.StepCall | None = None
        self._effects: list[entity_pb2.SideEffect] = []
        self._active = True

    @property
    def step(self) -> str:
        """The step running."""
        return self._step

    @property
    def attempt(self) -> int:
        """The attempt of this step execution, 1 for the first."""
        return self._attempt

    @property
    def step_key(self) -> str:
        """The same in every attempt of this step execution and after any crash: the
        idempotency key of the step's call, and of anything the step writes elsewhere by
        itself."""
        return self._step_key

    def call(
        self,
        target: str | ServiceDescriptor | MethodDescriptor | Any,
        message: Any = None,
        metadata: MetadataLike | None = None,
        *,
        method: str | None = None,
    ) -> workflow_pb2.StepCall:
        """Ask the proxy to make one call, with ``step_key`` as its idempotency key; return what
        this gives from the step, and the reply goes to its continuation (``@step.then``).
        Targets as for ``ctx.effect`` (``Accounts.Withdraw``, a method descriptor,
        ``"pkg.Service/Method"``; ``method=`` names the method of a service target)::

            return ctx.call(Accounts.Withdraw, request)
        """
        operation = f"ctx.call() in {self._where()}"
        self._check_active("call")
        if self._continuation:
            raise RuntimeError(
                f"{operation}: a continuation may not ask for another call; make the "
                "transition to another step that makes it"
            )
        if self._call is not None:
            raise RuntimeError(
                f"{operation}: this attempt already asked for a call to "
                f"{self._call.service_name}.{self._call.command_name}; a step makes one call"
            )
        if method is not None:
            descriptor, message = resolve_method(
                operation, target, method, message, self._workflow_any_support
            )
        else:
            descriptor, message = resolve_method(
                operation, target, message, None, self._workflow_any_support
            )
        call = workflow_pb2.StepCall(
            service_name=descriptor.containing_service.full_name,
            command_name=descriptor.name,
            payload=payload_for(descriptor, message),
        )
        extra = metadata_proto(metadata)
        if extra is not None:
            call.metadata.CopyFrom(extra)
        self._call = call
        return call

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
        """Ask the proxy to call another command once this step's transition is written, like
        ``ctx.effect`` in a command (``durable=True``: recorded with the transition, delivered
        until it succeeds)."""
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
                any_support=self._workflow_any_support,
                metadata=metadata,
            )
        )

    @property
    def timers(self) -> Timers:
        """Start and cancel durable timers, as in a command; they take effect with the step's
        transition."""
        return Timers(
            self._effects.append, self._check_active, self._workflow_any_support, self._where()
        )

    def _check_active(self, what: str) -> None:
        if not self._active:
            raise RuntimeError(
                f"ctx.{what}() called after {self._where()} finished: contexts are valid only "
                "inside the step"
            )

    def _finish(self) -> None:
        self._active = False

    def _where(self) -> str:
        part = "continuation of step" if self._continuation else "step"
        return (
            f"{part} {self._step!r} (attempt {self._attempt}) of workflow "
            f"{self._workflow_name} (id {self._view.workflow_id!r})"
        )


__all__ = [
    "StepContext",
    "WorkflowCommandContext",
    "WorkflowContext",
    "WorkflowStatus",
    "decode_state",
    "duration",
]
