"""An order as a workflow (a saga): reserve the stock, charge the customer, wait for the payment
provider's confirmation, ship.

    PlaceOrder ──► reserve ──► charge ──► (waiting for ConfirmPayment) ──► ship ──► SHIPPED
                     │           │                  │ no confirmation in time
                     │           │ keeps failing    ▼
                     │           └──────────────► refund? ──► release ──► CANCELLED
                     │ keeps failing                          ▲
                     └──► cancel ──► CANCELLED     (a failed charge took no money: release only)

Each step makes one call; the proxy adds an idempotency key that is the same for every attempt of
the step and survives crashes, so the stock is reserved, the customer charged and the parcel
shipped once per order, however often a step is retried or the processes crash.
"""

from __future__ import annotations

from datetime import timedelta

import grpc

from cloudstate import Recovery, StepContext, Workflow, WorkflowCommandContext, WorkflowStatus
from orders.orders_pb2 import (
    _ORDERWORKFLOW,
    ConfirmPaymentRequest,
    GetOrderRequest,
    Order,
    PaymentRequest,
    PlaceOrderRequest,
    ShipRequest,
    StockRequest,
)
from orders.orders_pb2 import DESCRIPTOR as ORDERS_FILE

#: How long an order waits for its payment's confirmation when the request does not say.
DEFAULT_CONFIRM_WITHIN = timedelta(seconds=30)

order = Workflow(
    _ORDERWORKFLOW,
    [ORDERS_FILE],
    persistence_id="orders",
    state_type=Order,
    default_recovery=Recovery(
        max_attempts=3, min_backoff=timedelta(milliseconds=200), max_backoff=timedelta(seconds=2)
    ),
)

#: Time one attempt of a step (its call included) may take. Short: after a crash, the proxy
#: resumes a step once its attempt's time is up.
STEP_TIMEOUT = timedelta(seconds=5)

#: Compensations and the shipment must land in the end: they retry for long.
PERSISTENT = Recovery(
    max_attempts=20, min_backoff=timedelta(milliseconds=200), max_backoff=timedelta(seconds=5)
)


def answer(state: Order, ctx: WorkflowCommandContext) -> Order:
    reply = Order()
    reply.CopyFrom(state)
    reply.workflow_status = ctx.status.name
    reply.current_step = ctx.current_step
    return reply


# -- commands -------------------------------------------------------------------------------------


@order.command_handler("PlaceOrder")
def place_order(
    state: Order | None, request: PlaceOrderRequest, ctx: WorkflowCommandContext
) -> Order:
    if state is not None:
        if state.item_id == request.item_id and state.quantity == request.quantity:
            return answer(state, ctx)  # the same order placed again: nothing to do
        ctx.fail(
            f"order {request.order_id} was already placed with other items",
            code=grpc.StatusCode.ALREADY_EXISTS,
        )
    if request.quantity <= 0 or request.amount <= 0:
        ctx.fail(
            f"order {request.order_id}: quantity and amount must be positive",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    placed = Order(
        order_id=request.order_id,
        item_id=request.item_id,
        quantity=request.quantity,
        customer_id=request.customer_id,
        amount=request.amount,
        confirm_within_ms=request.confirm_within_ms
        or int(DEFAULT_CONFIRM_WITHIN.total_seconds() * 1000),
        stage="PLACED",
    )
    ctx.update_state(placed)
    ctx.go_to("reserve")
    return placed


@order.command_handler("ConfirmPayment")
def confirm_payment(
    state: Order | None, request: ConfirmPaymentRequest, ctx: WorkflowCommandContext
) -> Order:
    if state is None:
        ctx.fail(f"order {request.order_id} was never placed", code=grpc.StatusCode.NOT_FOUND)
    if state.stage in ("CONFIRMED", "SHIPPED"):
        return answer(state, ctx)  # a repeated confirmation
    if state.stage != "CHARGED" or ctx.status != WorkflowStatus.WAITING:
        ctx.fail(
            f"order {request.order_id} is {state.stage}, not waiting for its payment's "
            "confirmation",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    state.stage = "CONFIRMED"
    ctx.update_state(state)
    ctx.go_to("ship")
    return state


@order.command_handler("GetOrder")
def get_order(state: Order | None, request: GetOrderRequest, ctx: WorkflowCommandContext) -> Order:
    if state is None:
        ctx.fail(f"order {request.order_id} was never placed", code=grpc.StatusCode.NOT_FOUND)
    return answer(state, ctx)


# -- the happy path -------------------------------------------------------------------------------


@order.step(
    "reserve",
    timeout=STEP_TIMEOUT,
    recovery=Recovery(
        max_attempts=3, recover_step="cancel", min_backoff=timedelta(milliseconds=200)
    ),
)
def reserve(state: Order, ctx: StepContext) -> object:
    return ctx.call(
        "com.example.orders.Inventory.Reserve",
        StockRequest(item_id=state.item_id, order_id=state.order_id, quantity=state.quantity),
    )


@reserve.then
def reserved(state: Order, ctx: StepContext) -> None:
    state.stage = "RESERVED"
    ctx.update_state(state)
    ctx.go_to("charge")


@order.step(
    "charge",
    timeout=STEP_TIMEOUT,
    recovery=Recovery(
        max_attempts=3, recover_step="release", min_backoff=timedelta(milliseconds=200)
    ),
)
def charge(state: Order, ctx: StepContext) -> object:
    return ctx.call(
        "com.example.orders.Payments.Charge",
        PaymentRequest(customer_id=state.customer_id, order_id=state.order_id, amount=state.amount),
    )


@charge.then
def charged(state: Order, ctx: StepContext) -> None:
    state.stage = "CHARGED"
    ctx.update_state(state)
    ctx.pause(timeout=timedelta(milliseconds=state.confirm_within_ms), timeout_step="refund")


@order.step("ship", timeout=STEP_TIMEOUT, recovery=PERSISTENT)
def ship(state: Order, ctx: StepContext) -> object:
    return ctx.call(
        "com.example.orders.Shipping.Ship",
        ShipRequest(order_id=state.order_id, item_id=state.item_id, quantity=state.quantity),
    )


@ship.then
def shipped(state: Order, ctx: StepContext) -> None:
    state.stage = "SHIPPED"
    ctx.update_state(state)
    ctx.end()


# -- compensation ---------------------------------------------------------------------------------


@order.step("refund", timeout=STEP_TIMEOUT, recovery=PERSISTENT)
def refund(state: Order, ctx: StepContext) -> object:
    return ctx.call(
        "com.example.orders.Payments.Refund",
        PaymentRequest(customer_id=state.customer_id, order_id=state.order_id, amount=state.amount),
    )


@refund.then
def refunded(state: Order, ctx: StepContext) -> None:
    state.reason = f"payment not confirmed within {state.confirm_within_ms} ms; refunded"
    ctx.update_state(state)
    ctx.go_to("release")


@order.step("release", timeout=STEP_TIMEOUT, recovery=PERSISTENT)
def release(state: Order, ctx: StepContext) -> object:
    return ctx.call(
        "com.example.orders.Inventory.Release",
        StockRequest(item_id=state.item_id, order_id=state.order_id, quantity=state.quantity),
    )


@release.then
def released(state: Order, ctx: StepContext) -> None:
    state.stage = "CANCELLED"
    state.reason = state.reason or "the payment failed; stock released"
    ctx.update_state(state)
    ctx.end()


@order.step("cancel")
def cancel(state: Order, ctx: StepContext) -> None:
    state.stage = "CANCELLED"
    state.reason = "the stock could not be reserved"
    ctx.update_state(state)
    ctx.end()
