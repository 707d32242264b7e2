"""The workflow TCK model (``cloudstate/protos/cloudstate/tck/model/workflow.proto``),
implemented with the Python SDK: a workflow whose command and steps do what their requests and
inputs say, so the TCK can drive every operation of the protocol extension
``cloudstate.workflows/1``::

    server = CloudState()
    server.register_workflow(model_workflow())
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cloudstate.tck.model import valueentity_pb2 as ve
from cloudstate.tck.model import workflow_pb2 as pb
from cloudstate.workflow import (
    Recovery,
    StepContext,
    Workflow,
    WorkflowCommandContext,
    WorkflowContext,
    WorkflowStatus,
)

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["WorkflowTckModel"]
#: What every step's call calls (the value-entity model).
CALL_TARGET = ve.DESCRIPTOR.services_by_name["ValueEntityTckModel"].methods_by_name["Process"]

_FAST = Recovery(
    max_attempts=3,
    min_backoff=timedelta(milliseconds=10),
    max_backoff=timedelta(milliseconds=50),
    recover_step="recover",
)
_SLOW = Recovery(
    max_attempts=3,
    min_backoff=timedelta(seconds=2),
    max_backoff=timedelta(seconds=2),
    recover_step="recover",
)
_DEFAULT = Recovery(
    max_attempts=2, min_backoff=timedelta(milliseconds=10), max_backoff=timedelta(milliseconds=50)
)


def make(effect: pb.Effect, ctx: WorkflowContext, *, with_state: bool = True) -> None:
    """Make ``effect``: its state update (unless ``with_state`` is false), then its transition."""
    if with_state and effect.HasField("set_state"):
        ctx.update_state(effect.set_state)
    kind = effect.WhichOneof("transition")
    if kind == "go_to":
        go_to = effect.go_to
        ctx.go_to(go_to.step, go_to.input if go_to.HasField("input") else None)
    elif kind == "pause":
        pause = effect.pause
        if pause.timeout_millis:
            ctx.pause(timedelta(milliseconds=pause.timeout_millis), pause.timeout_step)
        else:
            ctx.pause()
    elif kind == "end":
        ctx.end()
    elif kind == "fail":
        ctx.fail_workflow(effect.fail.reason)


def value_request(call: pb.ValueCall) -> ve.Request:
    """The value-entity request a step's ``call`` asks for."""
    action = (
        ve.RequestAction(fail=ve.Fail(message="call refused"))
        if call.fail
        else ve.RequestAction(update=ve.Update(value=call.value))
    )
    return ve.Request(id=call.entity_id, actions=[action])


def model_workflow() -> Workflow:
    """``WorkflowTckModel`` (persistence id ``workflow-tck-model``)."""
    workflow = Workflow(
        MODEL,
        [FILE, ve.DESCRIPTOR],
        persistence_id="workflow-tck-model",
        state_type=pb.State,
        timeout=timedelta(hours=1),
        timeout_step="expired",
        default_recovery=_DEFAULT,
    )

    @workflow.command_handler("Process")
    def process(
        state: pb.State | None, request: pb.Request, ctx: WorkflowCommandContext
    ) -> pb.Response:
        if request.fail:
            ctx.fail(request.fail)
        seen = pb.Response(
            state=state.value if state is not None else "",
            status=WorkflowStatus(ctx.status).name,
            step=ctx.current_step,
            transitions=ctx.transitions,
            workflow_id=ctx.workflow_id,
        )
        make(request.effect, ctx)
        return seen

    def run(state: pb.State | None, request: pb.StepInput, ctx: StepContext) -> Any:
        plan = request if request is not None else pb.StepInput()  # no input: an empty plan
        if ctx.attempt <= plan.fail_attempts:
            raise RuntimeError(f"attempt {ctx.attempt} of {ctx.step} failed")
        if plan.HasField("call"):
            return ctx.call(CALL_TARGET, value_request(plan.call))
        make(plan.effect, ctx)
        return None

    def called(state: pb.State | None, reply: ve.Response, ctx: StepContext) -> Any:
        seen = state if state is not None else pb.State()
        if seen.call_again:
            return ctx.call(CALL_TARGET, ve.Request(id=ctx.workflow_id))
        ctx.update_state(pb.State(value=reply.message))
        if seen.then.WhichOneof("transition") is None:
            ctx.end()
        else:
            make(seen.then, ctx, with_state=False)
        return None

    for name, timeout, recovery in (
        ("run", timedelta(seconds=2), _FAST),
        ("again", None, None),
        ("slow", timedelta(seconds=2), _SLOW),
    ):
        step = workflow.step(name, timeout=timeout, recovery=recovery)(run)
        step.then(called)

    @workflow.step("recover")
    def recover(state: pb.State | None, request: pb.StepInput, ctx: StepContext) -> None:
        make((request or pb.StepInput()).recovered, ctx)

    @workflow.step("expired")
    def expired(state: pb.State | None, ctx: StepContext) -> None:
        ctx.update_state(pb.State(value="expired"))
        ctx.end()

    return workflow


def entities() -> list[Workflow]:
    """A fresh definition of the workflow model."""
    return [model_workflow()]
