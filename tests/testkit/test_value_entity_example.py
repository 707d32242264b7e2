"""The value-entity shopping cart (``examples/valueentity``) unit-tested with the test kit."""

from __future__ import annotations

import sys

import grpc

from tests.processes import ROOT

EXAMPLE = ROOT / "examples" / "valueentity"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from valueentity.domain_pb2 import Cart as DomainCart  # noqa: E402
from valueentity.domain_pb2 import LineItem as DomainLineItem  # noqa: E402
from valueentity.shopping_cart_entity import entity  # noqa: E402

from cloudstate.testkit import ValueEntityTestKit  # noqa: E402


def test_adding_items_stores_the_new_cart() -> None:
    cart = ValueEntityTestKit(entity, "alice")
    cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=2)
    result = cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=1)
    assert result.updated
    assert result.new_state == DomainCart(
        items=[DomainLineItem(product_id="apple", name="Apple", quantity=3)]
    )
    assert cart.get_cart(user_id="alice").reply.items[0].quantity == 3


def test_removing_a_missing_item_fails_and_stores_nothing() -> None:
    start = DomainCart(items=[DomainLineItem(product_id="pear", name="Pear", quantity=1)])
    cart = ValueEntityTestKit(entity, "alice", state=start)
    result = cart.remove_item(user_id="alice", product_id="apple")
    assert result.failure is not None
    assert result.failure.code == grpc.StatusCode.NOT_FOUND
    assert not result.updated and cart.state == start


def test_removing_the_cart_deletes_the_state() -> None:
    cart = ValueEntityTestKit(entity, "alice")
    cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=2)
    assert cart.remove_cart(user_id="alice").deleted
    assert cart.stored is None and cart.state == DomainCart()
