"""The components the order saga calls: the inventory, the payments and the shipments, each a
value entity.

They apply every request they get — none of them deduplicates by order — and count how many times
each order's request was applied (``reserved_by_order``, ``charges_by_order``, ``shipped``...), so
that the example's tests can check that every step of every order landed once.
"""

from __future__ import annotations

import grpc

from cloudstate import ValueEntity, ValueEntityCommandContext
from orders.orders_pb2 import (
    _INVENTORY,
    _PAYMENTS,
    _SHIPPING,
    BlockRequest,
    CustomerAccount,
    PaymentRequest,
    Shipment,
    ShipRequest,
    Stock,
    StockRequest,
)
from orders.orders_pb2 import DESCRIPTOR as ORDERS_FILE

inventory = ValueEntity(
    _INVENTORY, [ORDERS_FILE], lambda item_id: Stock(item_id=item_id), persistence_id="inventory"
)
payments = ValueEntity(
    _PAYMENTS,
    [ORDERS_FILE],
    lambda customer_id: CustomerAccount(customer_id=customer_id),
    persistence_id="payments",
)
shipping = ValueEntity(
    _SHIPPING,
    [ORDERS_FILE],
    lambda order_id: Shipment(order_id=order_id),
    persistence_id="shipments",
)


# -- inventory ------------------------------------------------------------------------------------


@inventory.command_handler("Restock")
def restock(stock: Stock, request: StockRequest, ctx: ValueEntityCommandContext) -> Stock:
    stock.item_id = request.item_id
    stock.available = request.quantity
    ctx.update_state(stock)
    return stock


@inventory.command_handler("Reserve")
def reserve(stock: Stock, request: StockRequest, ctx: ValueEntityCommandContext) -> Stock:
    if request.quantity <= 0:
        ctx.fail(
            f"order {request.order_id}: quantity must be positive",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    if stock.available < request.quantity:
        ctx.fail(
            f"item {request.item_id}: {stock.available} left, order {request.order_id} "
            f"wants {request.quantity}",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    stock.available -= request.quantity
    stock.reserved_by_order[request.order_id] += 1
    ctx.update_state(stock)
    return stock


@inventory.command_handler("Release")
def release(stock: Stock, request: StockRequest, ctx: ValueEntityCommandContext) -> Stock:
    stock.available += request.quantity
    stock.released_by_order[request.order_id] += 1
    ctx.update_state(stock)
    return stock


@inventory.command_handler("GetStock")
def get_stock(stock: Stock) -> Stock:
    return stock


# -- payments -------------------------------------------------------------------------------------


@payments.command_handler("Charge")
def charge(
    account: CustomerAccount, request: PaymentRequest, ctx: ValueEntityCommandContext
) -> CustomerAccount:
    if account.blocked:
        ctx.fail(
            f"customer {request.customer_id}: payments are blocked, order "
            f"{request.order_id} cannot be charged",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    account.customer_id = request.customer_id
    account.charged += request.amount
    account.charges_by_order[request.order_id] += 1
    ctx.update_state(account)
    return account


@payments.command_handler("Refund")
def refund(
    account: CustomerAccount, request: PaymentRequest, ctx: ValueEntityCommandContext
) -> CustomerAccount:
    account.charged -= request.amount
    account.refunds_by_order[request.order_id] += 1
    ctx.update_state(account)
    return account


@payments.command_handler("Block")
def block(
    account: CustomerAccount, request: BlockRequest, ctx: ValueEntityCommandContext
) -> CustomerAccount:
    account.customer_id = request.customer_id
    account.blocked = request.blocked
    ctx.update_state(account)
    return account


@payments.command_handler("GetAccount")
def get_account(account: CustomerAccount) -> CustomerAccount:
    return account


# -- shipping -------------------------------------------------------------------------------------


@shipping.command_handler("Ship")
def ship(shipment: Shipment, request: ShipRequest, ctx: ValueEntityCommandContext) -> Shipment:
    shipment.order_id = request.order_id
    shipment.item_id = request.item_id
    shipment.quantity = request.quantity
    shipment.shipped += 1
    ctx.update_state(shipment)
    return shipment


@shipping.command_handler("GetShipment")
def get_shipment(shipment: Shipment) -> Shipment:
    return shipment
