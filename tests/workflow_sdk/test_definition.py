"""Mistakes in a workflow's definition are errors when it is defined (or, for names of steps
defined later, when the server or the test kit starts), naming the workflow and the step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cloudstate import (
    CloudState,
    Recovery,
    StepContext,
    Workflow,
    WorkflowCommandContext,
    WorkflowStatus,
)
from cloudstate.testkit import WorkflowTestKit
from tests.workflow_sdk.order_workflow import _ORDERWORKFLOW, DESCRIPTOR, Order, OrderState, Stock

NAME = "wftest.OrderWorkflow"


def workflow(**options: Any) -> Workflow:
    return Workflow(_ORDERWORKFLOW, [DESCRIPTOR], state_type=OrderState, **options)


def noop(ctx: StepContext) -> None:
    ctx.end()


def test_a_step_defined_twice_is_refused() -> None:
    wf = workflow()
    wf.step("ship")(noop)
    with pytest.raises(ValueError, match=f"step 'ship' of workflow {NAME} is defined twice"):
        wf.step("ship")(noop)


@pytest.mark.parametrize("name", ["", "two words", "ship/now"])
def test_a_step_name_outside_the_allowed_characters_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        workflow().step(name)


def test_an_unknown_recover_step_is_refused_when_the_server_starts() -> None:
    wf = workflow()
    wf.step("ship", recovery=Recovery(recover_step="refund"))(noop)
    message = f"step 'ship' of workflow {NAME}: recover_step names the step 'refund'"
    with pytest.raises(ValueError, match=message):
        wf.describe()
    with pytest.raises(ValueError, match=message):
        WorkflowTestKit(wf)


async def test_an_unknown_timeout_step_is_refused_when_the_server_starts() -> None:
    wf = workflow(timeout=timedelta(minutes=1), timeout_step="expire")
    wf.step("ship")(noop)
    with pytest.raises(ValueError, match=f"workflow {NAME}: timeout_step names the step 'expire'"):
        await CloudState(port=0).register_workflow(wf).serve_async()


def test_an_unknown_default_recover_step_is_refused() -> None:
    wf = workflow(default_recovery=Recovery(recover_step="undo"))
    wf.step("ship")(noop)
    with pytest.raises(ValueError, match=r"default_recovery\.recover_step names the step 'undo'"):
        wf.validate()


def test_a_workflow_without_steps_is_refused() -> None:
    with pytest.raises(ValueError, match=f"workflow {NAME} has no step"):
        workflow().validate()


def test_then_on_a_step_that_never_calls_is_refused() -> None:
    wf = workflow()
    ship = wf.step("ship")(noop)
    with pytest.raises(ValueError, match=r"step 'ship' of workflow .* never calls ctx.call"):

        @ship.then
        def shipped(ctx: StepContext) -> None:
            ctx.end()


def test_then_on_a_step_that_calls_is_accepted_once() -> None:
    wf = workflow()

    @wf.step("reserve")
    def reserve(state: OrderState, ctx: StepContext) -> object:
        return ctx.call(Stock.Reserve, None)

    reserve.then(noop)
    with pytest.raises(ValueError, match="continuation is registered twice"):
        reserve.then(noop)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timeout": 0}, "timeout must be longer than 0"),
        ({"timeout": timedelta(seconds=-1)}, "is negative"),
        ({"recovery": Recovery(max_attempts=-1)}, "max_attempts must be 0"),
        ({"recovery": Recovery(min_backoff=-2)}, "is negative"),
    ],
)
def test_negative_durations_and_attempts_are_refused(options: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as raised:
        workflow().step("ship", **options)
    assert f"step 'ship' of workflow {NAME}" in str(raised.value)


def test_the_state_type_must_be_a_message_class() -> None:
    with pytest.raises(TypeError, match=f"workflow {NAME}: state_type must be a protobuf"):
        workflow_of_dict = Workflow(_ORDERWORKFLOW, state_type=dict)  # type: ignore[arg-type]
        del workflow_of_dict


def test_register_workflow_takes_only_workflows() -> None:
    with pytest.raises(TypeError, match="expected a Workflow"):
        CloudState().register_workflow(object())  # type: ignore[arg-type]


def test_without_a_state_type_the_state_is_decoded_by_its_type_url() -> None:
    wf = Workflow(_ORDERWORKFLOW, [DESCRIPTOR])

    @wf.command_handler("Start")
    def begin(request: Order, ctx: WorkflowCommandContext) -> None:
        ctx.update_state(OrderState(order_id=request.order_id))
        ctx.end()

    wf.step("ship")(noop)
    kit = WorkflowTestKit(wf, "o9")
    assert kit.state is None
    result = kit.command("Start", Order(order_id="o9"))
    assert result.failure is None and kit.state == OrderState(order_id="o9")
    assert kit.status == WorkflowStatus.COMPLETED
