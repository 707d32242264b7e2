"""The order saga (examples/orders) as real processes, for the crash tests: its user function and
a proxy on a SQLite file, a client that retries every call until it gets a definite answer, and
the audit of what each order's steps did to their targets.

Crash points: the proxy SIGKILLs a process at an exact place when ``CLOUDSTATE_CRASH_AT`` names it
(cloudstate/proxy/crashpoints.py): itself by default, or the process ``CLOUDSTATE_CRASH_PID``
(here: the user function). A restarted process runs without them.

Example::

    stack = OrdersStack.start(tmp, crash_at="workflow.before-write:WAITING:charge")
    outcome = asyncio.run(run_order(stack, "o1"))
    stack.stop()
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from tests.processes import ROOT, Process, free_port, proxy, wait_serving

ORDERS_DIR = ROOT / "examples" / "orders"
if str(ORDERS_DIR) not in sys.path:
    sys.path.insert(0, str(ORDERS_DIR))

from orders import orders_pb2, orders_pb2_grpc  # noqa: E402

#: Quick re-deliveries, so that what a crash interrupted resumes within a second or two.
PROXY_FLAGS = ("--durable-retry-min", "100ms", "--durable-retry-max", "500ms")
#: The transitions of one order's happy path, as the proxy labels their writes
#: (``<status>:<step>``): placed → reserve → charge → waiting for confirmation → ship → done.
TRANSITIONS = (
    "RUNNING:reserve",
    "RUNNING:charge",
    "WAITING:charge",
    "RUNNING:ship",
    "COMPLETED:ship",
)


def orders_user_function(tmp: Path) -> Process:
    """``python -m orders.main`` in examples/orders, as its README runs it."""
    port = free_port()
    return Process(
        "orders user function",
        [sys.executable, "-m", "orders.main"],
        port,
        tmp / f"orders-uf-{port}.log",
        cwd=ORDERS_DIR,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


@dataclass
class OrdersStack:
    tmp: Path
    store: str
    uf: Process
    node: Process
    #: What died, in order ("proxy" or "user function").
    deaths: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, tmp: Path, crash_at: str = "", crash: str = "proxy") -> OrdersStack:
        """``crash``: which process the crash point kills, "proxy" or "uf"."""
        store = f"sqlite:///{tmp / 'orders.db'}"
        uf = orders_user_function(tmp).start()
        node = proxy(tmp, uf.port, store, *PROXY_FLAGS)
        if crash_at:
            node.env = {"CLOUDSTATE_CRASH_AT": crash_at}
            if crash == "uf":
                assert uf.process is not None
                node.env["CLOUDSTATE_CRASH_PID"] = str(uf.process.pid)
        stack = cls(tmp, store, uf, node)
        try:
            node.start()
            wait_serving(node.port)
        except BaseException:
            stack.stop()
            raise
        return stack

    def revive(self) -> None:
        """Restart whatever died, without its crash point."""
        if not self.uf.alive:
            self.deaths.append("user function")
            self.uf.start()
        if not self.node.alive:
            self.deaths.append("proxy")
            self.node.env = {}
            self.node.start()
            wait_serving(self.node.port)

    def stop(self) -> None:
        for process in (self.node, self.uf):
            process.terminate()


RETRY = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
}


async def call(stack: OrdersStack, method: str, request: object, deadline: float) -> object:
    """Call ``method`` until it answers definitely; revives dead processes in between."""
    while True:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{stack.node.port}")
        try:
            stubs = {
                "PlaceOrder": orders_pb2_grpc.OrderWorkflowStub(channel).PlaceOrder,
                "ConfirmPayment": orders_pb2_grpc.OrderWorkflowStub(channel).ConfirmPayment,
                "GetOrder": orders_pb2_grpc.OrderWorkflowStub(channel).GetOrder,
                "Restock": orders_pb2_grpc.InventoryStub(channel).Restock,
                "GetStock": orders_pb2_grpc.InventoryStub(channel).GetStock,
                "GetAccount": orders_pb2_grpc.PaymentsStub(channel).GetAccount,
                "Block": orders_pb2_grpc.PaymentsStub(channel).Block,
                "GetShipment": orders_pb2_grpc.ShippingStub(channel).GetShipment,
            }
            return await stubs[method](request, timeout=5)
        except grpc.aio.AioRpcError as error:
            if error.code() not in RETRY or time.monotonic() > deadline:
                raise
        finally:
            await channel.close()
        await asyncio.sleep(0.1)
        await asyncio.to_thread(stack.revive)


@dataclass(frozen=True)
class OrderOutcome:
    """What the order and its targets ended with."""

    stage: str
    workflow_status: str
    available: int
    reserved: dict[str, int]
    released: dict[str, int]
    charged: int
    charges: dict[str, int]
    refunds: dict[str, int]
    shipped: int


async def run_order(
    stack: OrdersStack,
    order_id: str,
    within: float = 60.0,
    *,
    confirm: bool = True,
    confirm_within_ms: int = 60_000,
    blocked: bool = False,
) -> OrderOutcome:
    """Place an order, confirm its payment once it waits for it (unless ``confirm`` is False),
    wait for its end. ``blocked``: the customer's charges are refused."""
    deadline = time.monotonic() + within
    item, customer = f"item-{order_id}", f"customer-{order_id}"
    await call(stack, "Restock", orders_pb2.StockRequest(item_id=item, quantity=10), deadline)
    if blocked:
        await call(
            stack, "Block", orders_pb2.BlockRequest(customer_id=customer, blocked=True), deadline
        )
    await call(
        stack,
        "PlaceOrder",
        orders_pb2.PlaceOrderRequest(
            order_id=order_id,
            item_id=item,
            quantity=3,
            customer_id=customer,
            amount=1500,
            confirm_within_ms=confirm_within_ms,
        ),
        deadline,
    )
    confirmed = False
    while True:
        order = await call(
            stack, "GetOrder", orders_pb2.GetOrderRequest(order_id=order_id), deadline
        )
        assert isinstance(order, orders_pb2.Order)
        if order.workflow_status in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        if order.workflow_status == "WAITING" and confirm and not confirmed:
            await call(
                stack,
                "ConfirmPayment",
                orders_pb2.ConfirmPaymentRequest(order_id=order_id),
                deadline,
            )
            confirmed = True
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"order {order_id} still {order.workflow_status} at "
                f"{order.current_step} after {within}s; deaths {stack.deaths}"
            )
        await asyncio.sleep(0.05)
    stock = await call(stack, "GetStock", orders_pb2.GetStockRequest(item_id=item), deadline)
    account = await call(
        stack, "GetAccount", orders_pb2.GetAccountRequest(customer_id=customer), deadline
    )
    shipment = await call(
        stack, "GetShipment", orders_pb2.GetShipmentRequest(order_id=order_id), deadline
    )
    assert isinstance(stock, orders_pb2.Stock)
    assert isinstance(account, orders_pb2.CustomerAccount)
    assert isinstance(shipment, orders_pb2.Shipment)
    return OrderOutcome(
        order.stage,
        order.workflow_status,
        stock.available,
        dict(stock.reserved_by_order),
        dict(stock.released_by_order),
        account.charged,
        dict(account.charges_by_order),
        dict(account.refunds_by_order),
        shipment.shipped,
    )
