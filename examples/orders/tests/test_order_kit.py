"""The order workflow with the test kit: each ending, step by step, calls mocked."""

from __future__ import annotations

from orders.order_workflow import order
from orders.orders_pb2 import (
    ConfirmPaymentRequest,
    CustomerAccount,
    PlaceOrderRequest,
    Shipment,
    Stock,
)

from cloudstate import WorkflowStatus
from cloudstate.testkit import WorkflowTestKit

RESERVE = "com.example.orders.Inventory.Reserve"
RELEASE = "com.example.orders.Inventory.Release"
CHARGE = "com.example.orders.Payments.Charge"
REFUND = "com.example.orders.Payments.Refund"
SHIP = "com.example.orders.Shipping.Ship"

PLACE = PlaceOrderRequest(
    order_id="o1",
    item_id="book",
    quantity=2,
    customer_id="ann",
    amount=900,
    confirm_within_ms=1000,
)


def placed_order() -> WorkflowTestKit:
    kit = WorkflowTestKit(order, "o1")
    kit.mock(RESERVE, Stock(item_id="book", available=8))
    kit.mock(CHARGE, CustomerAccount(customer_id="ann", charged=900))
    kit.mock(SHIP, Shipment(order_id="o1", shipped=1))
    kit.mock(REFUND, CustomerAccount(customer_id="ann"))
    kit.mock(RELEASE, Stock(item_id="book", available=10))
    kit.command("PlaceOrder", PLACE)
    return kit


def test_a_confirmed_order_ships() -> None:
    kit = placed_order()
    assert kit.run_to_end() == WorkflowStatus.WAITING
    assert kit.state.stage == "CHARGED"
    kit.command("ConfirmPayment", ConfirmPaymentRequest(order_id="o1"))
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert kit.state.stage == "SHIPPED"
    assert [f"{call.service}.{call.method}" for call in kit.calls] == [RESERVE, CHARGE, SHIP]


def test_a_failing_charge_is_retried_then_the_stock_released() -> None:
    kit = placed_order()
    kit.mock(CHARGE, error="payments are blocked")
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert (kit.state.stage, kit.state.reason) == (
        "CANCELLED",
        "the payment failed; stock released",
    )
    assert [f"{call.service}.{call.method}" for call in kit.calls] == [
        RESERVE,
        CHARGE,
        CHARGE,
        CHARGE,
        RELEASE,
    ]
    # One step key per step execution: the three charge attempts share theirs.
    charge_keys = {call.step_key for call in kit.calls if f"{call.service}.{call.method}" == CHARGE}
    assert len(charge_keys) == 1


def test_an_unconfirmed_payment_is_refunded() -> None:
    kit = placed_order()
    assert kit.run_to_end() == WorkflowStatus.WAITING
    kit.fire_pause_timeout()
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert kit.state.stage == "CANCELLED"
    assert [f"{call.service}.{call.method}" for call in kit.calls] == [
        RESERVE,
        CHARGE,
        REFUND,
        RELEASE,
    ]


def test_no_stock_cancels_without_compensation() -> None:
    kit = placed_order()
    kit.mock(RESERVE, error="item book: 0 left")
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert (kit.state.stage, kit.state.reason) == ("CANCELLED", "the stock could not be reserved")
    assert [f"{call.service}.{call.method}" for call in kit.calls] == [RESERVE, RESERVE, RESERVE]


def test_confirming_before_the_charge_is_refused() -> None:
    kit = WorkflowTestKit(order, "o2")
    kit.command("PlaceOrder", PLACE)
    result = kit.command("ConfirmPayment", ConfirmPaymentRequest(order_id="o2"))
    assert result.failure is not None and "not waiting" in result.failure.description
