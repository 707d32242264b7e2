"""Test kit for workflows: run one workflow in-process, step by step, with the calls its steps
make answered by mocks; assert its transitions, retries and compensation.

::

    kit = WorkflowTestKit(transfer, "t1")
    kit.mock(Accounts.Withdraw, Balance(account_id="alice", balance=90))
    kit.mock(Accounts.Deposit, error="account closed")
    kit.command("Start", TransferRequest(transfer_id="t1", from_account="alice", ...))
    kit.run_to_end()
    assert kit.status == WorkflowStatus.FAILED and kit.state.stage == "refunded"

The kit plays the proxy: it keeps the workflow's record (status, state, step, input, attempt)
and applies every reply as docs/protocol-workflows.md says — refused transitions, retries up to
``max_attempts`` (the proxy's default when 0), the recovery step with the failed step's input,
pauses and timeouts — but never sleeps: back-offs and timeouts pass when the test says
(:meth:`WorkflowTestKit.run_step`, :meth:`~WorkflowTestKit.fire_pause_timeout`,
:meth:`~WorkflowTestKit.fire_workflow_timeout`). Step timeouts are not measured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.any_support import pack, pack_message
from cloudstate.durable import assume_proxy
from cloudstate.protocol import entity_pb2, workflow_pb2
from cloudstate.targets import method_descriptor
from cloudstate.testkit._sync import run_sync
from cloudstate.testkit.base import EntityTestKit, MetadataArg, register_kind
from cloudstate.testkit.results import (
    CallMade,
    Failed,
    Forwarded,
    SideEffect,
    SideEffects,
    Transition,
    WorkflowResult,
)
from cloudstate.workflow.context import WorkflowStatus, decode_state
from cloudstate.workflow.entity import WORKFLOW_TYPE, Workflow
from cloudstate.workflow.servicer import handle_command, run_step

#: The proxy's defaults (docs/protocol-workflows.md, Defaults) the kit applies.
DEFAULT_MAX_ATTEMPTS = 3
#: The longest step key sent as is; longer ones are hashed (as the proxy does).
MAX_STEP_KEY = 255

_ENDED = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED)
_FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class _Mock:
    reply: Any = None
    error: str | None = None


class WorkflowTestKit(EntityTestKit[WorkflowResult]):
    """One workflow instance, driven in-process (see the module documentation).

    :param workflow: the :class:`~cloudstate.Workflow` (validated, as the server would).
    :param workflow_id: the workflow's id.
    """

    def __init__(self, workflow: Workflow, workflow_id: str = "test") -> None:
        if not isinstance(workflow, Workflow):
            raise TypeError(f"WorkflowTestKit needs a Workflow, not {workflow!r}")
        workflow.validate()
        super().__init__(workflow, workflow_id)
        self.workflow = workflow
        self._view = workflow_pb2.WorkflowView(workflow_id=workflow_id)
        self._input: any_pb2.Any | None = None
        self._attempt = 1
        self._pause_timeout: bool = False
        self._pause_timeout_step = ""
        self._workflow_timeout_fired = False
        self._suspended_from: workflow_pb2.Status = workflow_pb2.RUNNING
        self._mocks: dict[tuple[str, str], _Mock] = {}
        #: ``(step, attempt, outcome)`` for every attempt run: ``"ok"`` or ``"failed: <why>"``.
        self.history: list[tuple[str, int, str]] = []
        #: The calls the steps asked for, in order.
        self.calls: list[CallMade] = []
        #: The side effects performed (of successful commands and of finished steps), in order.
        self.effects: list[SideEffect] = []
        #: The transitions made, in order.
        self.transitions: list[Transition] = []

    # -- what the test reads --------------------------------------------------------------------

    @property
    def status(self) -> WorkflowStatus:
        return WorkflowStatus(self._view.status)

    @property
    def current_step(self) -> str:
        """The current step (or the one that paused); ``""`` before the first."""
        return self._view.step

    @property
    def state(self) -> Any:
        """The state as persisted (``None`` before the first update)."""
        state = self._view.state if self._view.HasField("state") else None
        return decode_state(state, self.workflow.state_type, self.any_support)

    @property
    def attempt(self) -> int:
        """The attempt the current step runs next (1 after each transition)."""
        return self._attempt

    @property
    def reason(self) -> str:
        """Why the workflow failed (the last error, or ``fail_workflow``'s reason)."""
        return self._view.reason

    @property
    def step_key(self) -> str:
        """The current step execution's idempotency key, as the proxy computes it."""
        key = f"wf:{self.workflow.name}/{self.entity_id}/{self._view.transitions}"
        if len(key) > MAX_STEP_KEY:
            key = "wf:" + hashlib.sha256(key.encode()).hexdigest()
        return key

    # -- mocks ----------------------------------------------------------------------------------

    def mock(
        self,
        target: Any,
        reply: Message | Callable[[Any], Message] | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """Answer every call of the steps to ``target`` (as for ``ctx.call``) with ``reply`` (the
        method's output message, or ``reply(request) -> message``, which may raise to fail the
        call), or fail it with ``error``. A later mock of the same method replaces it::

            kit.mock(Accounts.Withdraw, Balance(account_id="alice", balance=90))
            kit.mock(Accounts.Deposit, error="account closed")
        """
        descriptor = method_descriptor("kit.mock()", target, None, self.any_support)
        if (reply is None) == (error is None):
            raise TypeError(
                f"kit.mock({descriptor.full_name}): give either a reply (a message or a "
                "function of the request) or error=..., not both or neither"
            )
        name = (descriptor.containing_service.full_name, descriptor.name)
        self._mocks[name] = _Mock(reply, error)

    # -- commands -------------------------------------------------------------------------------

    def command(
        self, method: str, message: Any = None, /, *, metadata: MetadataArg = None, **fields: Any
    ) -> WorkflowResult:
        """Handle one command (start, signal, read) as the proxy would; :meth:`call` by name."""
        return self.call(method, message, metadata=metadata, **fields)

    async def _handle(self, command: entity_pb2.Command) -> WorkflowResult:
        request = workflow_pb2.WorkflowCommand(
            service_name=self.workflow.name, command=command, workflow=self._view
        )
        reply = await handle_command(self.workflow, request, self.any_support)
        result = WorkflowResult(command.name)
        action = reply.client_action.WhichOneof("action")
        if action == "failure":
            result.failure = Failed.from_proto(reply.client_action.failure)
            result.state = self.state
            return result
        refused = self._refusal(reply.effect) if reply.HasField("effect") else None
        if refused is not None:
            result.failure = refused
            result.state = self.state
            return result
        if action == "reply":
            result.reply = self.decode(reply.client_action.reply.payload)
        elif action == "forward":
            result.forward = Forwarded.from_proto(reply.client_action.forward, self.any_support)
        self._side_effects(result, reply.side_effects)
        self.effects.extend(result.effects)
        if reply.HasField("effect"):
            result.transition = self._apply(reply.effect)
        result.state = self.state
        return result

    def _refusal(self, effect: workflow_pb2.Effect) -> Failed | None:
        """The proxy's answer to a command whose transition it refuses (nothing is written)."""
        which = effect.WhichOneof("transition")
        if which is None:
            return None  # a state update alone is accepted in every status
        status = self.status
        if status == WorkflowStatus.SUSPENDED or status in _ENDED:
            what = "resume it first" if status == WorkflowStatus.SUSPENDED else "it has ended"
            return Failed(
                f"workflow {self.workflow.name} (id {self.entity_id!r}) is {status.name}: "
                f"the command's transition is refused ({what})",
                _FAILED_PRECONDITION,
            )
        if which == "go_to" and effect.go_to.step not in self.workflow.steps:
            return Failed(
                f"workflow {self.workflow.name} has no step {effect.go_to.step!r}",
                _INVALID_ARGUMENT,
            )
        return None

    # -- steps ----------------------------------------------------------------------------------

    def run_step(self) -> tuple[str, int, str]:
        """Run one attempt of the current step (step -> mocked call -> continuation) and apply
        its outcome: the transition, or the failure (the next attempt, or the recovery step after
        ``max_attempts``, or the workflow fails). Returns its :attr:`history` entry."""
        return run_sync(self.run_step_async(), "kit.run_step_async()")

    async def run_step_async(self) -> tuple[str, int, str]:
        """:meth:`run_step` for ``async def`` tests."""
        if self.status != WorkflowStatus.RUNNING:
            raise RuntimeError(
                f"workflow {self.workflow.name} (id {self.entity_id!r}) has no step to run: it is "
                f"{self.status.name}"
                + (f" in step {self.current_step!r}" if self.current_step else "")
                + " (send a command, or fire a timeout)"
            )
        step, attempt = self._view.step, self._attempt
        with assume_proxy():
            failure, done = await self._attempt_once(step, attempt)
        if failure is None:
            assert done is not None
            self.history.append((step, attempt, "ok"))
            self._side_effects_of_step(done)
            self._apply(done.effect)
        else:
            self.history.append((step, attempt, f"failed: {failure}"))
            self._failed(step, attempt, failure)
        return self.history[-1]

    def run_to_end(self, max_steps: int = 100) -> WorkflowStatus:
        """Run attempts while the workflow is ``RUNNING`` (it stops when it pauses or ends);
        ``RuntimeError`` after ``max_steps`` attempts. Returns the status it stopped in."""
        for _ in range(max_steps):
            if self.status != WorkflowStatus.RUNNING:
                return self.status
            self.run_step()
        if self.status == WorkflowStatus.RUNNING:
            raise RuntimeError(
                f"workflow {self.workflow.name} (id {self.entity_id!r}) still runs after "
                f"{max_steps} attempts (in step {self.current_step!r}); last: {self.history[-3:]}"
            )
        return self.status

    async def _attempt_once(
        self, step: str, attempt: int
    ) -> tuple[str | None, workflow_pb2.StepReply | None]:
        """One attempt: its error, or the reply holding its effect."""
        run = workflow_pb2.StepRun(
            service_name=self.workflow.name,
            workflow=self._view,
            step=step,
            attempt=attempt,
            step_key=self.step_key,
        )
        if self._input is not None:
            run.input.CopyFrom(self._input)
        reply = await run_step(self.workflow, run, self.any_support)
        if reply.WhichOneof("outcome") == "call":
            answer, error = self._answer(step, attempt, reply.call)
            if error is not None:
                return error, None
            assert answer is not None
            run.call_result.reply.CopyFrom(answer)
            reply = await run_step(self.workflow, run, self.any_support)
            if reply.WhichOneof("outcome") == "call":
                return "protocol error: a continuation asked for another call", None
        outcome = reply.WhichOneof("outcome")
        if outcome == "failure":
            return reply.failure.description, None
        if outcome != "effect" or reply.effect.WhichOneof("transition") is None:
            return "protocol error: the step's reply holds no transition", None
        if (
            reply.effect.WhichOneof("transition") == "go_to"
            and reply.effect.go_to.step not in self.workflow.steps
        ):
            return f"go_to names no step of the workflow: {reply.effect.go_to.step!r}", None
        return None, reply

    def _answer(
        self, step: str, attempt: int, call: workflow_pb2.StepCall
    ) -> tuple[any_pb2.Any | None, str | None]:
        """The mocked answer to ``call``: its packed reply, or its error."""
        metadata = {"idempotency-key": self.step_key, "cloudstate-attempt": str(attempt)}
        for entry in call.metadata.entries:
            metadata.setdefault(entry.key, entry.string_value)
        message = self.decode(call.payload)
        self.calls.append(
            CallMade(
                step,
                attempt,
                self.step_key,
                call.service_name,
                call.command_name,
                message,
                metadata,
            )
        )
        mock = self._mocks.get((call.service_name, call.command_name))
        if mock is None:
            mocked = ", ".join(f"{s}.{m}" for s, m in self._mocks) or "none"
            raise LookupError(
                f"step {step!r} of workflow {self.workflow.name} called "
                f"{call.service_name}.{call.command_name}, which has no mock (mocked: {mocked}): "
                f"add kit.mock(<{call.command_name} target>, <reply>) or error=..."
            )
        if mock.error is not None:
            return None, mock.error
        reply = mock.reply
        if callable(reply) and not isinstance(reply, Message):
            try:
                reply = reply(message)
            except Exception as e:
                return None, str(e) or type(e).__name__
        descriptor = self.any_support.find_service(call.service_name)
        output = descriptor.methods_by_name[call.command_name].output_type if descriptor else None
        if output is not None and output.full_name == "google.protobuf.Any":
            return pack_message(pack(reply)), None
        if not isinstance(reply, Message) or (
            output is not None and reply.DESCRIPTOR.full_name != output.full_name
        ):
            raise TypeError(
                f"the mock of {call.service_name}.{call.command_name} answered {reply!r}; it "
                f"returns a {output.full_name if output else 'message'}"
            )
        return pack_message(reply), None

    def _side_effects_of_step(self, reply: workflow_pb2.StepReply) -> None:
        sorted_out = SideEffects.from_protos(reply.side_effects, self.any_support)
        self.effects.extend(sorted_out.effects)
        for change in sorted_out.timer_changes:
            if isinstance(change, str):
                self._pending_timers.pop(change, None)
            else:
                self._pending_timers.pop(change.name, None)
                self._pending_timers[change.name] = change

    def _failed(self, step: str, attempt: int, error: str) -> None:
        """A failed attempt: the next one, or the recovery, or the workflow fails."""
        recovery = self.workflow.recovery_of(step)
        max_attempts = recovery.max_attempts or DEFAULT_MAX_ATTEMPTS
        if attempt < max_attempts:
            self._attempt = attempt + 1
            return
        if recovery.recover_step:
            self._enter(recovery.recover_step, self._input)
        else:
            self._end(WorkflowStatus.FAILED, error)

    # -- timeouts -------------------------------------------------------------------------------

    def fire_pause_timeout(self) -> Transition:
        """The pause's timeout passes now: the transition to its ``timeout_step`` (no input), or
        the workflow fails."""
        if self.status != WorkflowStatus.WAITING or not self._pause_timeout:
            raise RuntimeError(
                f"workflow {self.workflow.name} (id {self.entity_id!r}) has no pause timeout to "
                f"fire: it is {self.status.name}"
                + ("" if self.status != WorkflowStatus.WAITING else ", paused without a timeout")
            )
        if self._pause_timeout_step:
            return self._enter(self._pause_timeout_step, None)
        return self._end(
            WorkflowStatus.FAILED, f"step {self.current_step!r} paused longer than its timeout"
        )

    def fire_workflow_timeout(self) -> Transition:
        """The workflow's ``timeout`` passes now (once): the transition to the definition's
        ``timeout_step`` (no input), or the workflow fails."""
        if self.workflow.timeout is None:
            raise RuntimeError(f"workflow {self.workflow.name} has no timeout")
        if self.status == WorkflowStatus.NOT_STARTED or self.status in _ENDED:
            raise RuntimeError(
                f"workflow {self.workflow.name} (id {self.entity_id!r}) is {self.status.name}: "
                "its timeout fires only between its start and its end"
            )
        if self._workflow_timeout_fired:
            raise RuntimeError(f"workflow {self.workflow.name}: its timeout fires only once")
        self._workflow_timeout_fired = True
        if self.workflow.timeout_step:
            return self._enter(self.workflow.timeout_step, None)
        return self._end(WorkflowStatus.FAILED, "the workflow timed out")

    # -- the operator's actions (the proxy's admin API) ------------------------------------------

    def suspend(self) -> None:
        """Suspend the workflow as an operator does: no step runs and commands' transitions are
        refused until :meth:`resume` (its timeout keeps counting)."""
        if self.status not in (WorkflowStatus.RUNNING, WorkflowStatus.WAITING):
            raise RuntimeError(self._operator_refusal("suspend", "running or waiting"))
        self._suspended_from = self._view.status
        self._view.status = workflow_pb2.SUSPENDED

    def resume(self) -> None:
        """Resume a suspended workflow where it was (the same step execution and attempt)."""
        if self.status != WorkflowStatus.SUSPENDED:
            raise RuntimeError(self._operator_refusal("resume", "suspended"))
        self._view.status = self._suspended_from

    def cancel(self) -> None:
        """Cancel the workflow as an operator does (``CANCELLED``; no compensation runs)."""
        if self.status in _ENDED:
            raise RuntimeError(self._operator_refusal("cancel", "not ended"))
        self._view.status = workflow_pb2.CANCELLED
        self._view.reason = "cancelled by an operator"

    def _operator_refusal(self, action: str, needed: str) -> str:
        return (
            f"cannot {action} workflow {self.workflow.name} (id {self.entity_id!r}): it is "
            f"{self.status.name}, and only a workflow {needed} can be"
        )

    # -- applying transitions, as the proxy does --------------------------------------------------

    def _apply(self, effect: workflow_pb2.Effect) -> Transition | None:
        if effect.HasField("state"):
            self._view.state.CopyFrom(effect.state)
        which = effect.WhichOneof("transition")
        if which == "go_to":
            go_to = effect.go_to
            return self._enter(go_to.step, go_to.input if go_to.HasField("input") else None)
        if which == "pause":
            pause = effect.pause
            timeout = pause.timeout.ToTimedelta() if pause.HasField("timeout") else None
            self._pause_timeout = bool(timeout)
            self._pause_timeout_step = pause.timeout_step if timeout else ""
            self._view.status = workflow_pb2.WAITING
            return self._made(Transition("pause", timeout=timeout, timeout_step=pause.timeout_step))
        if which == "end":
            return self._end(WorkflowStatus.COMPLETED, "")
        if which == "fail":
            return self._end(WorkflowStatus.FAILED, effect.fail.reason)
        return None

    def _enter(self, step: str, input: any_pb2.Any | None) -> Transition:
        self._view.status = workflow_pb2.RUNNING
        self._view.step = step
        self._input = None if input is None else _copy(input)
        self._attempt = 1
        self._pause_timeout = False
        decoded = None if input is None else self.decode(input)
        return self._made(Transition("go_to", step=step, input=decoded))

    def _end(self, status: WorkflowStatus, reason: str) -> Transition:
        self._view.status = cast(workflow_pb2.Status, int(status))
        self._view.reason = reason
        self._pause_timeout = False
        kind = "end" if status == WorkflowStatus.COMPLETED else "fail"
        return self._made(Transition(kind, reason=reason))

    def _made(self, transition: Transition) -> Transition:
        self._view.transitions += 1
        self.transitions.append(transition)
        return transition

    def __repr__(self) -> str:
        return (
            f"WorkflowTestKit({self.workflow.name}, {self.entity_id!r}: {self.status.name}"
            f" in {self.current_step!r}, attempt {self._attempt})"
        )


def _copy(value: any_pb2.Any) -> any_pb2.Any:
    copy = any_pb2.Any()
    copy.CopyFrom(value)
    return copy


register_kind(WORKFLOW_TYPE, WorkflowTestKit)

__all__ = ["CallMade", "Transition", "WorkflowResult", "WorkflowTestKit"]
