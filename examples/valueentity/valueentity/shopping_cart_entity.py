"""The shopping cart as a value entity.

Each user's cart is one entity (keyed by ``user_id``) whose whole state is one stored ``Cart``
message. A command handler receives the current cart (an empty one for a new or removed cart),
checks the request, and replaces the stored cart with ``ctx.update_state`` — or removes it with
``ctx.delete_state``. The proxy stores the new value before the client gets the reply.
"""

from __future__ import annotations

import grpc
from google.protobuf.empty_pb2 import Empty

from cloudstate import ValueEntity, ValueEntityCommandContext
from valueentity.domain_pb2 import DESCRIPTOR as DOMAIN_FILE_DESCRIPTOR
from valueentity.domain_pb2 import Cart as DomainCart
from valueentity.shoppingcart_pb2 import (
    _SHOPPINGCART,
    AddLineItem,
    Cart,
    LineItem,
    RemoveLineItem,
)
from valueentity.shoppingcart_pb2 import DESCRIPTOR as FILE_DESCRIPTOR


def init(user_id: str) -> DomainCart:
    return DomainCart()


entity = ValueEntity(
    _SHOPPINGCART,
    [FILE_DESCRIPTOR, DOMAIN_FILE_DESCRIPTOR],
    init,
    persistence_id="value-entity-shopping-cart",
)


@entity.command_handler("AddItem")
def add_item(cart: DomainCart, item: AddLineItem, ctx: ValueEntityCommandContext) -> Empty:
    if item.quantity <= 0:
        ctx.fail(
            f"Quantity for item {item.product_id} must be greater than zero.",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    for line in cart.items:
        if line.product_id == item.product_id:
            line.quantity += item.quantity
            break
    else:
        cart.items.add(product_id=item.product_id, name=item.name, quantity=item.quantity)
    ctx.update_state(cart)
    return Empty()


@entity.command_handler("RemoveItem")
def remove_item(cart: DomainCart, item: RemoveLineItem, ctx: ValueEntityCommandContext) -> Empty:
    remaining = [line for line in cart.items if line.product_id != item.product_id]
    if len(remaining) == len(cart.items):
        ctx.fail(f"Item {item.product_id} is not in the cart.", code=grpc.StatusCode.NOT_FOUND)
    ctx.update_state(DomainCart(items=remaining))
    return Empty()


@entity.command_handler("GetCart")
def get_cart(cart: DomainCart) -> Cart:
    return Cart(
        items=[
            LineItem(product_id=line.product_id, name=line.name, quantity=line.quantity)
            for line in cart.items
        ]
    )


@entity.command_handler("RemoveCart")
def remove_cart(ctx: ValueEntityCommandContext) -> Empty:
    ctx.delete_state()
    return Empty()
