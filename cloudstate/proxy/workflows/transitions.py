"""The status rules of docs/protocol-workflows.md as changes to a record, and the wake-ups each
written record carries. Pure functions: no I/O.

Example::

    record = new_record("t1")
    check_effect(definition, record, effect, "Start")  # TransitionRefused / BadTransition
    moved = apply_effect(definition, record, effect, now)
    changes = record_tasks(definition, record, now, started=moved and was_new)
"""

from __future__ import annotations

import grpc

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.stores.base import DurableTask, TaskCancel
from cloudstate.proxy.workflows.definition import Definition, Step
from cloudstate.proxy.workflows.record import (
    ENDED,
    RETRY_KIND,
    WAKE_GRACE,
    Record,
    add_history,
    deadline_cancel,
    deadline_task,
    status_name,
    wake_cancel,
    wake_task,
)

TaskChange = DurableTask | TaskCancel


class TransitionRefused(ProxyError):
    """A command asked for a transition its workflow's status refuses (FAILED_PRECONDITION,
    HTTP 409); nothing was written."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


def describe(service: str, workflow_id: str) -> str:
    return f"workflow {workflow_id!r} of {service}"


def check_effect(
    definition: Definition, record: Record, effect: workflow_pb2.Effect, what: str
) -> None:
    """Refuse ``effect`` (from ``what``: a command or step) before anything is written:
    :class:`TransitionRefused` when the status refuses transitions, a ProxyError with
    INVALID_ARGUMENT when it names a step the definition does not have."""
    kind = effect.WhichOneof("transition")
    if kind is None:
        return  # a state update alone is accepted in every status
    status = record.view.status
    who = describe(definition.service, record.view.workflow_id)
    if status == workflow_pb2.SUSPENDED:
        raise TransitionRefused(
            f"{what} of {who} asked for a transition ({kind}) but the workflow is SUSPENDED: "
            "an operator suspended it; resume it first (nothing was applied)"
        )
    if status in ENDED:
        raise TransitionRefused(
            f"{what} of {who} asked for a transition ({kind}) but the workflow has ended "
            f"({status_name(status)}); start a workflow with another id (nothing was applied)"
        )
    names = []
    if kind == "go_to":
        names.append(("go_to", effect.go_to.step))
    elif kind == "pause" and effect.pause.timeout_step:
        names.append(("pause timeout_step", effect.pause.timeout_step))
    for field, step in names:
        if step not in definition.steps:
            raise ProxyError(
                f"{what} of {who} made a transition ({field}) to step {step!r}, which the "
                f"workflow does not define (steps: {', '.join(definition.steps) or 'none'}); "
                "nothing was applied: fix the user function",
                grpc.StatusCode.INVALID_ARGUMENT,
            )


def _enter(definition: Definition, record: Record, now: float) -> None:
    """Count a transition; a first one starts the workflow's clock."""
    view = record.view
    if view.status == workflow_pb2.NOT_STARTED and not record.started_at:
        record.started_at = now
        if definition.timeout > 0:
            record.deadline = now + definition.timeout
    view.transitions += 1
    record.attempt = 0
    record.last_error = ""
    record.pause_timeout_step = ""
    record.pause_until = 0.0
    record.suspended_from = workflow_pb2.NOT_STARTED


def go_to(
    definition: Definition,
    record: Record,
    step: str,
    step_input: object | None,
    now: float,
) -> None:
    """Make the transition to ``step`` (RUNNING, attempt 1) with ``step_input`` (an Any)."""
    _enter(definition, record, now)
    record.view.status = workflow_pb2.RUNNING
    record.view.step = step
    record.attempt = 1
    record.ClearField("input")
    if step_input is not None:
        record.input.CopyFrom(step_input)  # type: ignore[arg-type]


def end(definition: Definition, record: Record, status: int, reason: str, now: float) -> None:
    """Make the transition to the ended ``status`` (COMPLETED, FAILED, CANCELLED)."""
    _enter(definition, record, now)
    record.view.status = status  # type: ignore[assignment]
    record.view.reason = reason
    record.deadline = 0.0


def apply_effect(
    definition: Definition, record: Record, effect: workflow_pb2.Effect, now: float
) -> bool:
    """Apply a checked ``effect`` to ``record``; True when it made a transition."""
    if effect.HasField("state"):
        record.view.state.CopyFrom(effect.state)
    kind = effect.WhichOneof("transition")
    if kind == "go_to":
        target = effect.go_to
        go_to(
            definition, record, target.step, target.input if target.HasField("input") else None, now
        )
    elif kind == "pause":
        pause = effect.pause
        _enter(definition, record, now)
        record.view.status = workflow_pb2.WAITING
        record.ClearField("input")
        seconds = pause.timeout.seconds + pause.timeout.nanos / 1e9
        if seconds > 0:
            record.pause_until = now + seconds
            record.pause_timeout_step = pause.timeout_step
    elif kind == "end":
        end(definition, record, workflow_pb2.COMPLETED, "", now)
    elif kind == "fail":
        end(definition, record, workflow_pb2.FAILED, effect.fail.reason or "failed", now)
    else:
        return False
    return True


def attempt_failed(
    definition: Definition,
    record: Record,
    step: Step,
    attempt: int,
    error: str,
    started: float,
    now: float,
) -> tuple[float | None, str]:
    """Apply failed attempt ``attempt`` of ``step`` to ``record``: the next attempt's number and
    the error (its back-off's end is returned), or, attempts exhausted, the transition to the
    recover step (with the step's input) or FAILED. Returns ``(due of the next attempt or None,
    outcome: retry, recover or failed)``."""
    record.last_error = error
    if attempt < step.max_attempts:
        record.attempt = attempt + 1
        return now + step.backoff(attempt), "retry"
    add_history(record, step.name, started, now, attempt, "failed: " + error)
    step_input = record.input if record.HasField("input") else None
    if step.recover_step:
        go_to(definition, record, step.recover_step, step_input, now)
        record.last_error = error
        return None, "recover"
    end(definition, record, workflow_pb2.FAILED, error, now)
    return None, "failed"


def time_out(definition: Definition, record: Record, step: str, why: str, now: float) -> None:
    """The pause or workflow timeout passed: go to ``step`` (no input), or fail with ``why``."""
    if record.view.status == workflow_pb2.RUNNING:
        add_history(record, record.view.step, now, now, record.attempt, "timed out")
    if step:
        go_to(definition, record, step, None, now)
    else:
        end(definition, record, workflow_pb2.FAILED, why, now)


def record_tasks(
    definition: Definition,
    record: Record,
    now: float,
    *,
    started: bool = False,
    due: float | None = None,
) -> list[TaskChange]:
    """The task changes written with ``record``: its wake (``due``, or when the current step's
    attempt should be over / the pause times out) or the wake's cancellation; the deadline task
    when this write ``started`` the workflow, or its cancellation when it ended."""
    service = definition.service
    workflow_id = record.view.workflow_id
    changes: list[TaskChange] = []
    status = record.view.status
    if status == workflow_pb2.RUNNING:
        step = definition.steps.get(record.view.step)
        timeout = step.timeout if step is not None else 30.0
        if due is None:  # the attempt runs now: the wake catches a crash during it
            changes.append(wake_task(service, record, now + timeout + WAKE_GRACE))
        else:  # a back-off: the wake starts the next attempt
            changes.append(wake_task(service, record, due, kind=RETRY_KIND))
    elif status == workflow_pb2.WAITING and record.pause_until > 0:
        changes.append(wake_task(service, record, record.pause_until))
    else:
        changes.append(wake_cancel(service, workflow_id))
    if status in ENDED:
        changes.append(deadline_cancel(service, workflow_id))
    elif started and record.deadline > 0:
        changes.append(deadline_task(service, record))
    return changes


def _refused(record: Record, verb: str, rule: str, service: str) -> TransitionRefused:
    return TransitionRefused(
        f"cannot {verb} {describe(service, record.view.workflow_id)}: it is "
        f"{status_name(record.view.status)}, {rule}"
    )


def suspend(record: Record, reason: str, service: str = "") -> None:
    """An operator suspends a RUNNING or WAITING workflow (TransitionRefused otherwise)."""
    status = record.view.status
    if status not in (workflow_pb2.RUNNING, workflow_pb2.WAITING):
        raise _refused(
            record, "suspend", "only RUNNING or WAITING ones can be (nothing changed)", service
        )
    record.suspended_from = status
    record.view.status = workflow_pb2.SUSPENDED
    record.view.reason = reason


def resume(record: Record, service: str = "") -> None:
    """An operator resumes a SUSPENDED workflow in the status it had."""
    if record.view.status != workflow_pb2.SUSPENDED:
        raise _refused(record, "resume", "only SUSPENDED ones can be (nothing changed)", service)
    record.view.status = record.suspended_from or workflow_pb2.RUNNING
    record.suspended_from = workflow_pb2.NOT_STARTED
    record.view.reason = ""


def cancel(definition: Definition, record: Record, reason: str, now: float) -> None:
    """An operator cancels a workflow that has not ended (CANCELLED)."""
    if record.view.status in ENDED:
        raise _refused(
            record, "cancel", "it has already ended (nothing changed)", definition.service
        )
    end(definition, record, workflow_pb2.CANCELLED, reason or "cancelled by an operator", now)
