"""The seed's ``shoppingcart/shopping_cart_entity.py``, line by line.

Its bugs fixed: the ``product_id`` field name, repeated fields filled with ``extend`` /
``CopyFrom``, ``dict`` instead of ``map``. No return annotations, only the service's file
descriptor, the domain types found through the default descriptor pool. A persistence id and
``snapshot_every=2`` are given so that snapshots are exercised too.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from google.protobuf.empty_pb2 import Empty
from shoppingcart.domain_pb2 import Cart as DomainCart
from shoppingcart.domain_pb2 import ItemAdded, ItemRemoved
from shoppingcart.domain_pb2 import LineItem as DomainLineItem
from shoppingcart.shoppingcart_pb2 import (
    _SHOPPINGCART,
    AddLineItem,
    Cart,
    LineItem,
    RemoveLineItem,
)
from shoppingcart.shoppingcart_pb2 import DESCRIPTOR as FILE_DESCRIPTOR

from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity


@dataclass
class ShoppingCartState:
    entity_id: str
    cart: MutableMapping[str, LineItem] = field(default_factory=dict)


def init(entity_id: str) -> ShoppingCartState:
    return ShoppingCartState(entity_id)


entity = EventSourcedEntity(_SHOPPINGCART, [FILE_DESCRIPTOR], init, "seed-cart", 2)


def to_domain_line_item(item):  # type: ignore[no-untyped-def]
    domain_item = DomainLineItem()
    domain_item.productId = item.product_id
    domain_item.name = item.name
    domain_item.quantity = item.quantity
    return domain_item


@entity.snapshot()
def snapshot(state: ShoppingCartState):  # type: ignore[no-untyped-def]
    cart = DomainCart()
    cart.items.extend([to_domain_line_item(item) for item in state.cart.values()])
    return cart


def to_line_item(domain_item):  # type: ignore[no-untyped-def]
    item = LineItem()
    item.product_id = domain_item.productId
    item.name = domain_item.name
    item.quantity = domain_item.quantity
    return item


@entity.snapshot_handler()
def handle_snapshot(state: ShoppingCartState, domain_cart: DomainCart):  # type: ignore[no-untyped-def]
    state.cart = {item.productId: to_line_item(item) for item in domain_cart.items}


@entity.event_handler(ItemAdded)
def item_added(state: ShoppingCartState, event: ItemAdded):  # type: ignore[no-untyped-def]
    cart = state.cart
    if event.item.productId in cart:
        item = cart[event.item.productId]
        item.quantity = item.quantity + event.item.quantity
    else:
        item = to_line_item(event.item)
        cart[item.product_id] = item


@entity.event_handler(ItemRemoved)
def item_removed(state: ShoppingCartState, event: ItemRemoved):  # type: ignore[no-untyped-def]
    del state.cart[event.productId]


@entity.command_handler("GetCart")
def get_cart(state: ShoppingCartState):  # type: ignore[no-untyped-def]
    cart = Cart()
    cart.items.extend(state.cart.values())
    return cart


@entity.command_handler("AddItem")
def add_item(item: AddLineItem, ctx: EventSourcedCommandContext):  # type: ignore[no-untyped-def]
    if item.quantity <= 0:
        ctx.fail(f"Cannot add negative quantity of to item {item.product_id}")
    else:
        item_added_event = ItemAdded()
        item_added_event.item.CopyFrom(to_domain_line_item(item))
        ctx.emit(item_added_event)
    return Empty()


@entity.command_handler("RemoveItem")
def remove_item(state: ShoppingCartState, item: RemoveLineItem, ctx: EventSourcedCommandContext):  # type: ignore[no-untyped-def]
    cart = state.cart
    if item.product_id not in cart:
        ctx.fail(f"Cannot remove item {item.product_id} because it is not in the cart.")
    else:
        item_removed_event = ItemRemoved()
        item_removed_event.productId = item.product_id
        ctx.emit(item_removed_event)
    return Empty()
