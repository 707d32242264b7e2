"""Unit tests of the shopping-cart entity with the Cloudstate test kit: no proxy, no network.

Run them from the repository root with ``pytest examples/shoppingcart`` (they take a few
milliseconds in total).
"""

from __future__ import annotations

import grpc
from google.protobuf.empty_pb2 import Empty
from shoppingcart.domain_pb2 import Cart as DomainCart
from shoppingcart.domain_pb2 import ItemAdded, ItemRemoved
from shoppingcart.domain_pb2 import LineItem as DomainLineItem
from shoppingcart.shopping_cart_entity import entity
from shoppingcart.shoppingcart_pb2 import AddLineItem, Cart, LineItem

from cloudstate.testkit import EventSourcedTestKit


def test_adding_an_item_emits_item_added() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    result = cart.add_item(
        AddLineItem(user_id="alice", product_id="apple", name="Apple", quantity=3)
    )
    assert result.reply == Empty()
    assert result.events == [
        ItemAdded(item=DomainLineItem(productId="apple", name="Apple", quantity=3))
    ]
    assert cart.get_cart(user_id="alice").reply == Cart(
        items=[LineItem(product_id="apple", name="Apple", quantity=3)]
    )


def test_adding_the_same_product_again_adds_to_its_quantity() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=3)
    cart.add_item(user_id="alice", product_id="pear", name="Pear", quantity=1)
    cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=2)
    assert cart.get_cart(user_id="alice").reply == Cart(
        items=[
            LineItem(product_id="apple", name="Apple", quantity=5),
            LineItem(product_id="pear", name="Pear", quantity=1),
        ]
    )
    assert len(cart.events) == 3


def test_a_quantity_of_zero_is_refused_and_nothing_is_persisted() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    result = cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=0)
    assert result.failure is not None
    assert result.failure.description == "Quantity for item apple must be greater than zero."
    assert result.failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert result.events == []
    assert cart.events == []
    assert cart.state.cart == {}


def test_removing_an_item() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=3)
    result = cart.remove_item(user_id="alice", product_id="apple")
    assert result.events == [ItemRemoved(productId="apple")]
    assert cart.get_cart(user_id="alice").reply == Cart()


def test_removing_a_product_not_in_the_cart_fails_with_the_default_status() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    result = cart.remove_item(user_id="alice", product_id="apple")
    assert result.failure is not None
    assert result.failure.description == "Item apple is not in the cart."
    assert result.failure.code is None  # the proxy chooses (INVALID_ARGUMENT)
    assert cart.sequence == 0


def test_every_fifth_event_takes_a_snapshot_of_the_whole_cart() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    for n in range(1, 5):
        assert (
            cart.add_item(user_id="alice", product_id=f"p{n}", name="P", quantity=n).snapshot
            is None
        )
    result = cart.add_item(user_id="alice", product_id="p1", name="P", quantity=10)
    assert result.snapshot == DomainCart(
        items=[
            DomainLineItem(productId="p1", name="P", quantity=11),
            DomainLineItem(productId="p2", name="P", quantity=2),
            DomainLineItem(productId="p3", name="P", quantity=3),
            DomainLineItem(productId="p4", name="P", quantity=4),
        ]
    )
    assert cart.snapshot_sequence == 5


def test_replaying_the_journal_gives_the_same_cart() -> None:
    cart = EventSourcedTestKit(entity, "alice")
    for n in range(7):  # past the snapshot at 5
        cart.add_item(user_id="alice", product_id=f"p{n % 3}", name="P", quantity=1)
    cart.remove_item(user_id="alice", product_id="p0")
    before = cart.get_cart(user_id="alice").reply
    cart.restart()  # snapshot at 5, then events 6..8
    assert cart.get_cart(user_id="alice").reply == before


def test_starting_from_past_events() -> None:
    cart = EventSourcedTestKit(
        entity,
        "alice",
        events=[
            ItemAdded(item=DomainLineItem(productId="apple", name="Apple", quantity=1)),
            ItemAdded(item=DomainLineItem(productId="pear", name="Pear", quantity=2)),
            ItemRemoved(productId="apple"),
        ],
    )
    assert cart.sequence == 3
    assert list(cart.state.cart) == ["pear"]
    assert cart.remove_item(user_id="alice", product_id="apple").failure is not None


def test_starting_from_a_snapshot() -> None:
    cart = EventSourcedTestKit(
        entity,
        "alice",
        snapshot=DomainCart(items=[DomainLineItem(productId="pear", name="Pear", quantity=2)]),
        snapshot_sequence=5,
        events=[ItemAdded(item=DomainLineItem(productId="pear", name="Pear", quantity=1))],
    )
    assert cart.sequence == 6
    assert cart.get_cart(user_id="alice").reply == Cart(
        items=[LineItem(product_id="pear", name="Pear", quantity=3)]
    )
