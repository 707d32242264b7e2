"""Version 2 of the shopping cart (``python tests/lifecycle/cart_v2.py``, on ``$PORT``): the same
service, with its events changed (tests/lifecycle/proto/cartv2/domain_v2.proto) and migrations
from version 1's type URLs. It never imports version 1's ``domain_pb2``: the old types are known
only through the migrations.

``MIGRATIONS=partial`` leaves out the migration of ``ItemRemoved`` (a missing migration).
"""

# ruff: noqa: E402 - the example and the generated code are found through sys.path
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent / "examples" / "shoppingcart"))

from cartv2.domain_v2_pb2 import DESCRIPTOR as DOMAIN_V2
from cartv2.domain_v2_pb2 import (
    CartV2,
    ItemAddedV2,
    ItemRemovedV2,
    LegacyCart,
    LegacyItemAdded,
)
from google.protobuf.empty_pb2 import Empty
from shoppingcart.shoppingcart_pb2 import DESCRIPTOR as CART_FILE
from shoppingcart.shoppingcart_pb2 import AddLineItem, Cart, LineItem, RemoveLineItem

from cloudstate import CloudState, EventSourcedCommandContext, EventSourcedEntity

V1 = "type.googleapis.com/com.example.shoppingcart.persistence."


@dataclass
class State:
    items: dict[str, ItemAddedV2] = field(default_factory=dict)


def init(entity_id: str) -> State:
    return State()


entity = EventSourcedEntity(
    CART_FILE.services_by_name["ShoppingCart"],
    [CART_FILE, DOMAIN_V2],
    init,
    persistence_id="shopping-cart",
    snapshot_every=5,
)


def upgrade_item_added(old: bytes) -> ItemAddedV2:
    item = LegacyItemAdded.FromString(old).item
    return ItemAddedV2(product_id=item.productId, name=item.name, quantity=item.quantity)


def upgrade_cart(old: bytes) -> CartV2:
    return CartV2(
        items=[
            ItemAddedV2(product_id=i.productId, name=i.name, quantity=i.quantity)
            for i in LegacyCart.FromString(old).items
        ]
    )


entity.migrate(V1 + "ItemAdded", to=ItemAddedV2, transform=upgrade_item_added)
entity.migrate(V1 + "Cart", to=CartV2, transform=upgrade_cart)
if os.environ.get("MIGRATIONS") != "partial":
    entity.migrate(V1 + "ItemRemoved", to=ItemRemovedV2)  # a rename: same bytes


@entity.snapshot()
def snapshot(state: State) -> CartV2:
    return CartV2(items=state.items.values())


@entity.snapshot_handler()
def restore(state: State, cart: CartV2) -> None:
    state.items = {item.product_id: item for item in cart.items}


@entity.event_handler(ItemAddedV2)
def item_added(state: State, event: ItemAddedV2) -> None:
    current = state.items.get(event.product_id)
    if current is None:
        state.items[event.product_id] = ItemAddedV2()
        state.items[event.product_id].CopyFrom(event)
    else:
        current.quantity += event.quantity


@entity.event_handler(ItemRemovedV2)
def item_removed(state: State, event: ItemRemovedV2) -> None:
    del state.items[event.product_id]


@entity.command_handler("AddItem")
def add_item(item: AddLineItem, ctx: EventSourcedCommandContext) -> Empty:
    ctx.emit(ItemAddedV2(product_id=item.product_id, name=item.name, quantity=item.quantity))
    return Empty()


@entity.command_handler("RemoveItem")
def remove_item(item: RemoveLineItem, ctx: EventSourcedCommandContext) -> Empty:
    ctx.emit(ItemRemovedV2(product_id=item.product_id))
    return Empty()


@entity.command_handler("GetCart")
def get_cart(state: State) -> Cart:
    return Cart(
        items=[
            LineItem(product_id=i.product_id, name=i.name, quantity=i.quantity)
            for i in state.items.values()
        ]
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    CloudState().register_event_sourced_entity(entity).start()
