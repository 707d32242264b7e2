"""Builders for the workflow cases (:mod:`cloudstate.tck.cases.workflow_model` and
:mod:`cloudstate.tck.cases.workflow_proxy`): the model's requests and step inputs
(``cloudstate/tck/model/workflow.proto``) and the protocol messages of ``cloudstate.workflows/1``
(``cloudstate/workflow.proto``) a conforming user function or proxy exchanges for them::

    >>> go_to("run", plan(effect=end())).WhichOneof("transition")
    'go_to'
    >>> step_key(MODEL, "w1", 1)
    'wf:cloudstate.tck.model.workflow.WorkflowTckModel/w1/1'
"""

from __future__ import annotations

import hashlib

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from cloudstate.protocol import entity_pb2, workflow_pb2
from cloudstate.tck.messages import VE_MODEL, any_message
from cloudstate.tck.model import valueentity_pb2 as ve
from cloudstate.tck.model import workflow_pb2 as wm
from cloudstate.tck.relay import WORKFLOWS_EXTENSION, WORKFLOWS_TYPE

#: The extension a proxy lists in ``ProxyInfo.extensions`` when it runs workflows.
WORKFLOWS = WORKFLOWS_EXTENSION
#: ``Entity.entity_type`` of workflows.
WORKFLOW_ENTITY_TYPE = WORKFLOWS_TYPE
MODEL = "cloudstate.tck.model.workflow.WorkflowTckModel"
PERSISTENCE_ID = "workflow-tck-model"
#: What a model step's call calls.
CALL_SERVICE, CALL_METHOD = VE_MODEL, "Process"

Status = workflow_pb2.Status


def millis(value: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=value // 1000, nanos=(value % 1000) * 1_000_000)


# -- the model's requests ---------------------------------------------------------------------


def state(value: str, then: wm.Effect | None = None, call_again: bool = False) -> wm.State:
    result = wm.State(value=value, call_again=call_again)
    if then is not None:
        result.then.CopyFrom(then)
    return result


def effect(
    set_state: wm.State | str | None = None,
    *,
    go_to: wm.GoTo | None = None,
    pause: wm.Pause | None = None,
    end: bool = False,
    fail: str | None = None,
) -> wm.Effect:
    """A model ``Effect``: the state (a ``State`` or its value) and at most one transition."""
    result = wm.Effect()
    if set_state is not None:
        result.set_state.CopyFrom(
            wm.State(value=set_state) if isinstance(set_state, str) else set_state
        )
    if go_to is not None:
        result.go_to.CopyFrom(go_to)
    elif pause is not None:
        result.pause.CopyFrom(pause)
    elif end:
        result.end.SetInParent()
    elif fail is not None:
        result.fail.reason = fail
    return result


def end(set_state: str | None = None) -> wm.Effect:
    return effect(set_state, end=True)


def go_to(step: str, input: wm.StepInput | None = None) -> wm.GoTo:
    result = wm.GoTo(step=step)
    if input is not None:
        result.input.CopyFrom(input)
    return result


def plan(
    effect: wm.Effect | None = None,
    *,
    fail_attempts: int = 0,
    call: wm.ValueCall | None = None,
    recovered: wm.Effect | None = None,
) -> wm.StepInput:
    """A step input: what steps ``run``, ``again``, ``slow`` and ``recover`` do."""
    result = wm.StepInput(fail_attempts=fail_attempts)
    if effect is not None:
        result.effect.CopyFrom(effect)
    if call is not None:
        result.call.CopyFrom(call)
    if recovered is not None:
        result.recovered.CopyFrom(recovered)
    return result


def request(workflow_id: str, effect: wm.Effect | None = None, fail: str = "") -> wm.Request:
    result = wm.Request(id=workflow_id, fail=fail)
    if effect is not None:
        result.effect.CopyFrom(effect)
    return result


def seen(
    workflow_id: str, status: int, state: str = "", step: str = "", transitions: int = 0
) -> wm.Response:
    """The model's reply: what its command saw."""
    return wm.Response(
        state=state,
        status=Status.Name(status),
        step=step,
        transitions=transitions,
        workflow_id=workflow_id,
    )


def value_request(call: wm.ValueCall) -> ve.Request:
    """The value-entity request a step's ``call`` makes (as the model proto says)."""
    action = (
        ve.RequestAction(fail=ve.Fail(message="call refused"))
        if call.fail
        else ve.RequestAction(update=ve.Update(value=call.value))
    )
    return ve.Request(id=call.entity_id, actions=[action])


# -- protocol messages ------------------------------------------------------------------------


def view(
    workflow_id: str,
    status: int,
    state: Message | None = None,
    step: str = "",
    transitions: int = 0,
    reason: str = "",
) -> workflow_pb2.WorkflowView:
    result = workflow_pb2.WorkflowView(
        workflow_id=workflow_id,
        status=status,  # type: ignore[arg-type]
        step=step,
        transitions=transitions,
        reason=reason,
    )
    if state is not None:
        result.state.CopyFrom(any_message(state))
    return result


def command(
    workflow_id: str, view: workflow_pb2.WorkflowView, payload: Message, command_id: int = 1
) -> workflow_pb2.WorkflowCommand:
    """``handleCommand``'s request for the model's ``Process``."""
    return workflow_pb2.WorkflowCommand(
        service_name=MODEL,
        command=entity_pb2.Command(
            entity_id=workflow_id, id=command_id, name="Process", payload=any_message(payload)
        ),
        workflow=view,
    )


def protocol_effect(
    state: Message | None = None,
    *,
    go_to: tuple[str, Message | None] | None = None,
    pause: workflow_pb2.Pause | None = None,
    end: bool = False,
    fail: str | None = None,
) -> workflow_pb2.Effect:
    """A protocol ``Effect``; ``go_to`` is ``(step, input or None)``."""
    result = workflow_pb2.Effect()
    if state is not None:
        result.state.CopyFrom(any_message(state))
    if go_to is not None:
        step, input = go_to
        result.go_to.step = step
        if input is not None:
            result.go_to.input.CopyFrom(any_message(input))
    elif pause is not None:
        result.pause.CopyFrom(pause)
    elif end:
        result.end.SetInParent()
    elif fail is not None:
        result.fail.reason = fail
    return result


def command_reply(
    reply: Message, effect: workflow_pb2.Effect | None = None
) -> workflow_pb2.WorkflowCommandReply:
    result = workflow_pb2.WorkflowCommandReply(
        client_action=entity_pb2.ClientAction(reply=entity_pb2.Reply(payload=any_message(reply)))
    )
    if effect is not None:
        result.effect.CopyFrom(effect)
    return result


def step_key(service: str, workflow_id: str, transitions: int) -> str:
    """``wf:<service>/<workflow id>/<transitions>``, or ``wf:<sha256 hex>`` of that when longer
    than 255 characters (docs/protocol-workflows.md, Steps)."""
    key = f"wf:{service}/{workflow_id}/{transitions}"
    if len(key) > 255:
        return "wf:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def step_run(
    view: workflow_pb2.WorkflowView,
    step: str,
    input: Message | None = None,
    attempt: int = 1,
    key: str | None = None,
    call_reply: Message | None = None,
) -> workflow_pb2.StepRun:
    """``runStep``'s request; ``key`` defaults to the spec's ``step_key`` of the view."""
    result = workflow_pb2.StepRun(
        service_name=MODEL,
        workflow=view,
        step=step,
        attempt=attempt,
        step_key=key if key is not None else step_key(MODEL, view.workflow_id, view.transitions),
    )
    if input is not None:
        result.input.CopyFrom(any_message(input))
    if call_reply is not None:
        result.call_result.reply.CopyFrom(any_message(call_reply))
    return result


def step_done(effect: workflow_pb2.Effect) -> workflow_pb2.StepReply:
    return workflow_pb2.StepReply(effect=effect)


def step_failed(description: str) -> workflow_pb2.StepReply:
    return workflow_pb2.StepReply(failure=workflow_pb2.StepFailure(description=description))


def step_call(call: wm.ValueCall) -> workflow_pb2.StepReply:
    """The ``StepReply`` asking for the model's call (no metadata)."""
    return workflow_pb2.StepReply(
        call=workflow_pb2.StepCall(
            service_name=CALL_SERVICE,
            command_name=CALL_METHOD,
            payload=any_message(value_request(call)),
        )
    )


def model_definition() -> workflow_pb2.WorkflowDefinition:
    """The definition the model must ``describe`` (the table in the model proto)."""

    def recovery(attempts: int, low: int, high: int, recover: str = "") -> workflow_pb2.Recovery:
        return workflow_pb2.Recovery(
            max_attempts=attempts,
            min_backoff=millis(low),
            max_backoff=millis(high),
            recover_step=recover,
        )

    return workflow_pb2.WorkflowDefinition(
        service_name=MODEL,
        steps=[
            workflow_pb2.StepDefinition(
                name="run", timeout=millis(2000), recovery=recovery(3, 10, 50, "recover")
            ),
            workflow_pb2.StepDefinition(name="again"),
            workflow_pb2.StepDefinition(
                name="slow", timeout=millis(2000), recovery=recovery(3, 2000, 2000, "recover")
            ),
            workflow_pb2.StepDefinition(name="recover"),
            workflow_pb2.StepDefinition(name="expired"),
        ],
        timeout=millis(3_600_000),
        timeout_step="expired",
        default_recovery=recovery(2, 10, 50),
    )


def steps_sorted(message: Message) -> Message:
    """A copy of a ``WorkflowDefinition`` with its steps sorted by name (their order carries no
    meaning)."""
    if not isinstance(message, workflow_pb2.WorkflowDefinition):
        return message
    copy = workflow_pb2.WorkflowDefinition()
    copy.CopyFrom(message)
    ordered = sorted(copy.steps, key=lambda s: s.name)
    ordered_copies = [
        workflow_pb2.StepDefinition.FromString(s.SerializeToString()) for s in ordered
    ]
    del copy.steps[:]
    copy.steps.extend(ordered_copies)
    return copy
