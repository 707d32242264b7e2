"""The action test kit on the actions example: all four call shapes, forwards, side effects,
failures, metadata, and handler bugs raised in the test."""

from __future__ import annotations

import sys

import grpc
import pytest

from tests.processes import ROOT

EXAMPLE = ROOT / "examples" / "actions"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from cartactions.actions import action  # noqa: E402
from cartactions.cart_actions_pb2 import (  # noqa: E402
    AddRequest,
    AddSummary,
    CatalogRequest,
    PriceQuote,
    Product,
)
from shoppingcart.shoppingcart_pb2 import AddLineItem  # noqa: E402

from cloudstate import Action, ActionContext  # noqa: E402
from cloudstate.testkit import ActionTestKit, Forwarded, SideEffect, kit_for  # noqa: E402

CART = "com.example.shoppingcart.ShoppingCart"


def test_unary_forward_and_failure() -> None:
    kit = ActionTestKit(action)
    result = kit.add_item(user_id="alice", product_id="apple", quantity=2)
    assert result.reply is None
    assert result.forward == Forwarded(
        CART,
        "AddItem",
        AddLineItem(user_id="alice", product_id="apple", name="Red apple", quantity=2),
    )
    failed = kit.add_item(AddRequest(user_id="alice", product_id="plum", quantity=1))
    assert failed.failure is not None
    assert failed.failure.description == "'plum' is not in the catalog"
    assert failed.failure.code == grpc.StatusCode.INVALID_ARGUMENT


def test_streamed_in_side_effects() -> None:
    kit = kit_for(action)
    assert isinstance(kit, ActionTestKit)
    result = kit.add_items(
        [
            AddRequest(user_id="bob", product_id="bread", quantity=1),
            AddRequest(user_id="bob", product_id="plum", quantity=1),
            AddRequest(user_id="bob", product_id="coffee", quantity=3),
        ]
    )
    assert result.reply == AddSummary(added=2, rejected=["'plum' is not in the catalog"])
    assert [(e.service, e.method, e.message.product_id, e.synchronous) for e in result.effects] == [
        (CART, "AddItem", "bread", True),
        (CART, "AddItem", "coffee", True),
    ]
    assert all(isinstance(e, SideEffect) for e in result.effects)


def test_streamed_out_and_duplex() -> None:
    kit = ActionTestKit(action)
    products = kit.catalog(CatalogRequest(prefix="ap"))
    assert [r.reply for r in products] == [
        Product(product_id="apple", name="Red apple", price_cents=45),
        Product(product_id="apricot", name="Apricot", price_cents=60),
    ]
    quotes = kit.quote(
        [
            AddRequest(product_id="apple", quantity=2),
            AddRequest(product_id="bread", quantity=1),
            AddRequest(product_id="plum", quantity=1),
        ]
    )
    assert [q.reply for q in quotes[:2]] == [
        PriceQuote(product_id="apple", quantity=2, line_cents=90, total_cents=90),
        PriceQuote(product_id="bread", quantity=1, line_cents=420, total_cents=510),
    ]
    assert quotes[2].failure is not None and quotes[2].failure.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(TypeError, match="takes a stream: pass a list"):
        kit.quote(product_id="apple")


async def test_async_calls_metadata_and_bugs() -> None:
    from cartactions.cart_actions_pb2 import _SHOPPINGCARTACTIONS

    probe = Action(_SHOPPINGCARTACTIONS, [])

    @probe.unary("AddItem")
    def add_item(request: AddRequest, ctx: ActionContext) -> None:
        if request.product_id == "bug":
            raise ZeroDivisionError("a bug")
        ctx.fail(f"user {ctx.metadata.get('x-user')}")

    kit = ActionTestKit(probe)
    result = await kit.call_async("AddItem", product_id="x", metadata={"x-user": "alice"})
    assert result.failure is not None and result.failure.description == "user alice"
    with pytest.raises(ZeroDivisionError, match="a bug") as raised:
        kit.add_item(product_id="bug")
    assert "(raised by the handler of action" in raised.value.__notes__[0]
