"""The popular-products update handler, in-process with the view test kit (no proxy)."""

from __future__ import annotations

from cartviews.cartviews_pb2 import ItemAdded, LineItem
from cartviews.views import popular_products

from cloudstate.testkit import ViewTestKit


def added(product_id: str, quantity: int) -> ItemAdded:
    return ItemAdded(
        item=LineItem(product_id=product_id, name=product_id.title(), quantity=quantity)
    )


def test_quantities_add_up_per_product_over_carts() -> None:
    kit = ViewTestKit(popular_products)
    kit.apply(added("apple", 3), subject="alice")
    kit.apply(added("bread", 1), subject="alice")
    row = kit.apply(added("apple", 2), subject="bob")
    assert (row.product_id, row.name, row.quantity, row.carts) == ("apple", "Apple", 5, 2)
    assert sorted(kit.rows("products")) == ["apple", "bread"]
    assert kit.row("products", "bread").quantity == 1
