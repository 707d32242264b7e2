"""ViewTestKit: update handlers in-process (new row, DELETE, rows as they are)."""

from __future__ import annotations

import pytest

from cloudstate.testkit import ViewTestKit
from cloudstate.view import View
from tests.views.model import FILE, pb, popularity


def test_rows_follow_the_update_handler() -> None:
    kit = ViewTestKit(popularity())
    kit.apply(pb.ItemAdded(product_id="apple", name="Apple", quantity=3), subject="c1")
    row = kit.apply(pb.ItemAdded(product_id="apple", name="Apple", quantity=4), subject="c2")
    assert (row.name, row.quantity) == ("Apple", 7)
    kit.apply(pb.ItemAdded(product_id="pear", name="Pear", quantity=1), subject="c1")
    assert kit.apply(pb.ProductRemoved(product_id="apple"), subject="c1") is None  # DELETE
    assert list(kit.rows("products")) == ["pear"]
    with pytest.raises(ValueError, match=r"no update method taking viewtest\.Product"):
        kit.apply(pb.Product(product_id="x"))


def test_rows_as_they_are() -> None:
    kit = ViewTestKit(View(FILE.services_by_name["CatalogView"], [FILE]))
    product = pb.Product(product_id="p1", name="Pear", details=pb.Details(category="fruit"))
    kit.apply(product)
    assert kit.row("catalog", "p1") == product
