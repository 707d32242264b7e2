"""The workflow the SDK tests drive: an order saga that reserves stock (a call), pauses until the
payment signal (with a timeout), then ships; released stock is the compensation.

Its ``Signal`` command does what the signal's ``action`` names, so that the tests reach every
operation of a command's context over the wire.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wftest.wftest_pb2 import (
    _ORDERWORKFLOW,
    DESCRIPTOR,
    Order,
    OrderId,
    OrderSignal,
    OrderState,
    Progress,
    Reservation,
    Reserved,
)

from cloudstate import (
    Recovery,
    StepContext,
    Workflow,
    WorkflowCommandContext,
    WorkflowStatus,
    service,
)

Stock = service("wftest.Stock")
Orders = service("wftest.OrderWorkflow")

order = Workflow(
    _ORDERWORKFLOW,
    [DESCRIPTOR],
    persistence_id="orders",
    state_type=OrderState,
    timeout=timedelta(hours=1),
    timeout_step="release",
    default_recovery=Recovery(max_attempts=2, recover_step="release"),
)


def progress(state: OrderState | None, ctx: WorkflowCommandContext) -> Progress:
    return Progress(
        status=ctx.status.name,
        step=ctx.current_step,
        transitions=ctx.transitions,
        log=list(state.log) if state is not None else [],
    )


@order.command_handler("Start")
def start(state: OrderState | None, request: Order, ctx: WorkflowCommandContext) -> Progress:
    if ctx.status != WorkflowStatus.NOT_STARTED:
        ctx.fail(f"order {request.order_id} was already started")
    new_state = OrderState(order_id=request.order_id, item=request.item, quantity=request.quantity)
    ctx.update_state(new_state)
    ctx.go_to("reserve", Reservation(item=request.item, quantity=request.quantity))
    return progress(new_state, ctx)


@order.command_handler("Signal")
def signal(state: OrderState | None, request: OrderSignal, ctx: WorkflowCommandContext) -> Progress:
    action = request.action
    if action == "pay":
        ctx.go_to("ship")
    elif action == "pause":
        ctx.pause(timeout=timedelta(minutes=5), timeout_step="release")
    elif action == "pause-forever":
        ctx.pause()
    elif action == "end":
        ctx.end()
    elif action == "cancel":
        ctx.fail_workflow("cancelled by the customer")
    elif action == "note":
        assert state is not None
        state.log.append("noted")
        ctx.update_state(state)
    elif action == "nowhere":
        ctx.go_to("nowhere")
    elif action == "twice":
        ctx.end()
        ctx.go_to("ship")
    elif action == "refuse":
        ctx.update_state(OrderState(order_id="dropped"))
        ctx.fail("refused", code=5)
    elif action == "crash":
        raise RuntimeError("the signal handler crashed")
    elif action == "effects":
        ctx.effect(Stock.Release, Reservation(item="apple", quantity=1), durable=True)
        ctx.timers.start(f"remind-{ctx.workflow_id}", Orders.Get, OrderId(), delay=60)
    elif action == "forward":
        ctx.forward(Orders.Get, OrderId(order_id=request.order_id))
        return Progress()
    return progress(ctx.state, ctx)


@order.command_handler("Get")
def get(state: OrderState | None, ctx: WorkflowCommandContext) -> Progress:
    return progress(state, ctx)


@order.step("reserve", timeout=timedelta(seconds=5))
def reserve(state: OrderState, request: Reservation, ctx: StepContext) -> object:
    if request.quantity <= 0:
        raise ValueError(f"cannot reserve {request.quantity} of {request.item}")
    if request.item == "two-calls":
        ctx.call(Stock.Reserve, request)
    if request.item == "call-and-end":
        ctx.end()
    return ctx.call(Stock.Reserve, request, metadata={"x-order": state.order_id})


@reserve.then
def reserved(state: OrderState, reply: Reserved, ctx: StepContext) -> None:
    if reply.item == "call-again":
        ctx.call(Stock.Reserve, Reservation(item="more", quantity=1))
    state.log.append(f"reserved {reply.item} (attempt {ctx.attempt}, key {ctx.step_key})")
    ctx.update_state(state)
    ctx.pause(timeout=timedelta(minutes=30), timeout_step="release")


@order.step("ship", recovery=Recovery(max_attempts=3))
def ship(state: OrderState, ctx: StepContext) -> None:
    if state.item == "lost":
        ctx.go_to("nowhere")
    if state.item == "idle":
        return
    if state.item == "note-only":
        ctx.update_state(state)  # a state update alone is no transition
        return
    state.log.append(f"shipped {state.quantity} {state.item}")
    ctx.update_state(state)
    ctx.effect(Stock.Release, Reservation(item=state.item, quantity=0))
    ctx.end()


@order.step("release", recovery=Recovery(max_attempts=10))
def release(state: OrderState, ctx: StepContext) -> object:
    return ctx.call(Stock.Release, Reservation(item=state.item, quantity=state.quantity))


@release.then
def released(state: OrderState, reply: Reserved, ctx: StepContext) -> None:
    state.log.append(f"released {reply.item}")
    ctx.update_state(state)
    ctx.fail_workflow(f"order {state.order_id} not paid: stock released")
