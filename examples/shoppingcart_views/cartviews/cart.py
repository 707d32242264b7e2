"""The shopping cart of the views example: an event-sourced entity journaling ``ItemAdded`` and
``CheckedOut`` under the persistence id ``carts-with-views``. ``Checkout`` replies with an
``OrderConfirmation``, which the proxy publishes to the topic ``order-confirmations``."""

from __future__ import annotations

from google.protobuf.empty_pb2 import Empty

from cartviews.cartviews_pb2 import (
    DESCRIPTOR,
    AddLineItem,
    Cart,
    CheckedOut,
    CheckoutRequest,
    GetCartRequest,
    ItemAdded,
    LineItem,
    OrderConfirmation,
)
from cloudstate import EventSourcedCommandContext, EventSourcedEntity

entity = EventSourcedEntity(
    DESCRIPTOR.services_by_name["ShoppingCart"],
    [DESCRIPTOR],
    lambda: Cart(),
    persistence_id="carts-with-views",
)


@entity.command_handler("AddItem")
def add_item(cart: Cart, item: AddLineItem, ctx: EventSourcedCommandContext) -> Empty:
    if cart.checked_out:
        ctx.fail("this cart is checked out")
    if item.quantity <= 0:
        ctx.fail(f"cannot add {item.quantity} items of {item.product_id}")
    line = LineItem(product_id=item.product_id, name=item.name, quantity=item.quantity)
    ctx.emit(ItemAdded(item=line))
    return Empty()


@entity.command_handler("Checkout")
def checkout(
    cart: Cart, request: CheckoutRequest, ctx: EventSourcedCommandContext
) -> OrderConfirmation:
    if cart.checked_out:
        ctx.fail("this cart is already checked out")
    if not cart.items:
        ctx.fail("an empty cart cannot be checked out")
    total = sum(line.quantity for line in cart.items)
    ctx.emit(CheckedOut(total_quantity=total))
    return OrderConfirmation(cart_id=ctx.entity_id, lines=len(cart.items), total_quantity=total)


@entity.command_handler("GetCart")
def get_cart(cart: Cart, request: GetCartRequest) -> Cart:
    return cart


@entity.event_handler(ItemAdded)
def item_added(cart: Cart, event: ItemAdded) -> Cart:
    for line in cart.items:
        if line.product_id == event.item.product_id:
            line.quantity += event.item.quantity
            return cart
    cart.items.append(event.item)
    return cart


@entity.event_handler(CheckedOut)
def checked_out(cart: Cart, event: CheckedOut) -> Cart:
    cart.checked_out = True
    return cart
