"""The test kit's proxy rules on the order saga (tests/workflow_sdk/order_workflow.py): pause,
signal and pause timeout; refused transitions; retries then recovery; failures naming steps."""

from __future__ import annotations

import grpc
import pytest

from cloudstate import WorkflowStatus
from cloudstate.testkit import WorkflowTestKit
from tests.workflow_sdk.order_workflow import (
    Order,
    OrderSignal,
    Reservation,
    Reserved,
    Stock,
    order,
)


def reserved_order(item: str = "apple", quantity: int = 2) -> WorkflowTestKit:
    kit = WorkflowTestKit(order, "o1")
    kit.mock(Stock.Reserve, lambda r: Reserved(item=r.item, left=10 - r.quantity))
    kit.mock(Stock.Release, lambda r: Reserved(item=r.item, left=10))
    kit.command("Start", Order(order_id="o1", item=item, quantity=quantity))
    assert kit.run_to_end() == WorkflowStatus.WAITING
    return kit


def signal(kit: WorkflowTestKit, action: str) -> object:
    return kit.command("Signal", OrderSignal(order_id="o1", action=action))


def test_a_paused_order_ships_when_the_payment_signal_comes() -> None:
    kit = reserved_order()
    assert kit.current_step == "reserve" and kit.history == [("reserve", 1, "ok")]
    with pytest.raises(RuntimeError, match="WAITING in step 'reserve'"):
        kit.run_step()
    result = signal(kit, "pay")
    assert result.transition.kind == "go_to" and result.transition.step == "ship"
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert kit.state.log[-1] == "shipped 2 apple"
    assert [(e.method, e.message) for e in kit.effects] == [
        ("Release", Reservation(item="apple", quantity=0))
    ]
    with pytest.raises(RuntimeError, match="no pause timeout to fire: it is COMPLETED"):
        kit.fire_pause_timeout()


def test_a_pause_that_times_out_releases_the_stock() -> None:
    kit = reserved_order()
    transition = kit.fire_pause_timeout()
    assert (transition.kind, transition.step) == ("go_to", "release")
    assert kit.run_to_end() == WorkflowStatus.FAILED
    assert kit.reason == "order o1 not paid: stock released"
    assert kit.state.log[-1] == "released apple"


def test_a_pause_without_a_timeout_step_fails_the_workflow_when_it_passes() -> None:
    kit = reserved_order()
    kit.command("Signal", OrderSignal(order_id="o1", action="pause-forever"))
    with pytest.raises(RuntimeError, match="paused without a timeout"):
        kit.fire_pause_timeout()
    signal(kit, "pause")  # a command may pause again, with a timeout this time
    kit.fire_pause_timeout()
    assert kit.current_step == "release"


def test_an_ended_workflow_refuses_transitions_but_takes_state_updates() -> None:
    kit = reserved_order()
    signal(kit, "cancel")
    assert kit.status == WorkflowStatus.FAILED and kit.reason == "cancelled by the customer"
    transitions = len(kit.transitions)
    refused = signal(kit, "pay")
    assert refused.failure is not None
    assert refused.failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "is FAILED" in refused.failure.description
    assert len(kit.transitions) == transitions
    noted = signal(kit, "note")
    assert noted.failure is None and kit.state.log[-1] == "noted"


def test_a_failed_command_changes_nothing() -> None:
    kit = reserved_order()
    refused = signal(kit, "refuse")
    assert refused.failure is not None and refused.failure.code == grpc.StatusCode.NOT_FOUND
    assert kit.state.order_id == "o1"


def test_a_step_failing_every_attempt_runs_the_recovery_with_its_input() -> None:
    kit = WorkflowTestKit(order, "o1")
    kit.mock(Stock.Reserve, error="warehouse offline")
    kit.mock(Stock.Release, Reserved(item="apple", left=10))
    kit.command("Start", Order(order_id="o1", item="apple", quantity=2))
    kit.run_step()
    assert (kit.current_step, kit.attempt) == ("reserve", 2)
    kit.run_step()
    # default_recovery: 2 attempts, then "release" with the failed step's input.
    assert (kit.current_step, kit.attempt) == ("release", 1)
    assert kit.transitions[-1].input == Reservation(item="apple", quantity=2)
    assert kit.run_to_end() == WorkflowStatus.FAILED
    assert kit.history[:2] == [
        ("reserve", 1, "failed: warehouse offline"),
        ("reserve", 2, "failed: warehouse offline"),
    ]


def test_a_step_without_recovery_fails_the_workflow_with_the_last_error() -> None:
    kit = reserved_order(item="lost")
    signal(kit, "pay")
    assert kit.run_to_end() == WorkflowStatus.FAILED
    assert [h[:2] for h in kit.history[1:]] == [("ship", 1), ("ship", 2), ("ship", 3)]
    assert "has no step 'nowhere'" in kit.reason
    assert "'release'" in kit.reason and "its steps" in kit.reason


def test_an_exception_in_a_step_fails_the_attempt_with_its_text() -> None:
    kit = WorkflowTestKit(order, "o1")
    kit.command("Start", Order(order_id="o1", item="apple", quantity=0))
    assert kit.run_step() == ("reserve", 1, "failed: cannot reserve 0 of apple")


def test_a_call_without_a_mock_is_a_test_error_naming_it() -> None:
    kit = WorkflowTestKit(order, "o1")
    kit.command("Start", Order(order_id="o1", item="apple", quantity=1))
    with pytest.raises(LookupError, match=r"wftest.Stock.Reserve, which has no mock"):
        kit.run_step()


def test_run_to_end_stops_a_workflow_that_never_ends() -> None:
    kit = WorkflowTestKit(order, "o1")
    kit.mock(Stock.Reserve, error="down")
    kit.mock(Stock.Release, error="down")
    kit.command("Start", Order(order_id="o1", item="apple", quantity=1))
    with pytest.raises(RuntimeError, match="still runs after 5 attempts"):
        kit.run_to_end(max_steps=5)


def test_a_suspended_workflow_refuses_transitions_until_it_is_resumed() -> None:
    kit = WorkflowTestKit(order, "o1")
    kit.mock(Stock.Reserve, Reserved(item="apple", left=1))
    kit.command("Start", Order(order_id="o1", item="apple", quantity=1))
    kit.suspend()
    with pytest.raises(RuntimeError, match="it is SUSPENDED"):
        kit.run_step()
    refused = signal(kit, "pay")
    assert refused.failure is not None and "resume it first" in refused.failure.description
    assert kit.current_step == "reserve"
    kit.resume()
    assert kit.run_step() == ("reserve", 1, "ok")
    kit.cancel()
    assert (kit.status, kit.reason) == (WorkflowStatus.CANCELLED, "cancelled by an operator")
    with pytest.raises(RuntimeError, match=r"cannot resume workflow wftest\.OrderWorkflow"):
        kit.resume()
