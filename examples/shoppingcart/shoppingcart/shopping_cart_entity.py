"""The shopping cart as an event-sourced entity.

Each user's cart is one entity (keyed by ``user_id``). Commands (``AddItem``, ``RemoveItem``,
``GetCart``) check the request against the current state and emit events (``ItemAdded``,
``ItemRemoved``); event handlers are the only code that changes the state. Every fifth event the
whole cart is snapshotted, so that loading a cart does not replay its complete history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.protobuf.empty_pb2 import Empty

from cloudstate import EventSourcedCommandContext, EventSourcedEntity
from shoppingcart.domain_pb2 import DESCRIPTOR as DOMAIN_FILE_DESCRIPTOR
from shoppingcart.domain_pb2 import Cart as DomainCart
from shoppingcart.domain_pb2 import ItemAdded, ItemRemoved
from shoppingcart.domain_pb2 import LineItem as DomainLineItem
from shoppingcart.shoppingcart_pb2 import (
    _SHOPPINGCART,
    AddLineItem,
    Cart,
    GetShoppingCart,
    LineItem,
    RemoveLineItem,
)
from shoppingcart.shoppingcart_pb2 import DESCRIPTOR as FILE_DESCRIPTOR


@dataclass
class ShoppingCartState:
    entity_id: str
    # product id -> line item, in the order products were first added
    cart: dict[str, LineItem] = field(default_factory=dict)


def init(entity_id: str) -> ShoppingCartState:
    return ShoppingCartState(entity_id)


entity = EventSourcedEntity(
    _SHOPPINGCART,
    [FILE_DESCRIPTOR, DOMAIN_FILE_DESCRIPTOR],
    init,
    persistence_id="shopping-cart",
    snapshot_every=5,
)


def to_domain_line_item(item: LineItem | AddLineItem) -> DomainLineItem:
    return DomainLineItem(productId=item.product_id, name=item.name, quantity=item.quantity)


def to_line_item(domain_item: DomainLineItem) -> LineItem:
    return LineItem(
        product_id=domain_item.productId, name=domain_item.name, quantity=domain_item.quantity
    )


@entity.snapshot()
def snapshot(state: ShoppingCartState) -> DomainCart:
    cart = DomainCart()
    cart.items.extend(to_domain_line_item(item) for item in state.cart.values())
    return cart


@entity.snapshot_handler()
def handle_snapshot(state: ShoppingCartState, domain_cart: DomainCart) -> None:
    state.cart = {item.productId: to_line_item(item) for item in domain_cart.items}


@entity.event_handler(ItemAdded)
def item_added(state: ShoppingCartState, event: ItemAdded) -> None:
    item = state.cart.get(event.item.productId)
    if item is None:
        state.cart[event.item.productId] = to_line_item(event.item)
    else:
        item.quantity += event.item.quantity


@entity.event_handler(ItemRemoved)
def item_removed(state: ShoppingCartState, event: ItemRemoved) -> None:
    del state.cart[event.productId]


@entity.command_handler("GetCart")
def get_cart(state: ShoppingCartState, command: GetShoppingCart) -> Cart:
    cart = Cart()
    cart.items.extend(state.cart.values())
    return cart


@entity.command_handler("AddItem")
def add_item(item: AddLineItem, ctx: EventSourcedCommandContext) -> Empty:
    if item.quantity <= 0:
        ctx.fail(
            f"Quantity for item {item.product_id} must be greater than zero.",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    ctx.emit(ItemAdded(item=to_domain_line_item(item)))
    return Empty()


@entity.command_handler("RemoveItem")
def remove_item(
    state: ShoppingCartState, item: RemoveLineItem, ctx: EventSourcedCommandContext
) -> Empty:
    if item.product_id not in state.cart:
        ctx.fail(f"Item {item.product_id} is not in the cart.")
    ctx.emit(ItemRemoved(productId=item.product_id))
    return Empty()
