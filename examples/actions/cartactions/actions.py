"""The actions of ``com.example.actions.ShoppingCartActions``.

* ``AddItem`` (unary) validates an item against the catalog and *forwards* it to the cart's
  ``AddItem``: the cart's reply becomes the client's.
* ``AddItems`` (client streaming) adds every valid item as a *synchronous side effect* on the
  cart, then replies with a summary — all items are in the carts when the summary arrives.
* ``Catalog`` (server streaming) streams the products.
* ``Quote`` (duplex) prices items as they arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from shoppingcart import shoppingcart_pb2
from shoppingcart.shoppingcart_pb2 import AddLineItem

from cartactions.cart_actions_pb2 import (
    _SHOPPINGCARTACTIONS,
    AddRequest,
    AddSummary,
    CatalogRequest,
    PriceQuote,
    Product,
)
from cartactions.cart_actions_pb2 import DESCRIPTOR as FILE_DESCRIPTOR
from cloudstate import Action, ActionContext, Forward, service

#: The cart, with its methods as attributes: ``ShoppingCart.AddItem``.
ShoppingCart = service(shoppingcart_pb2.DESCRIPTOR.services_by_name["ShoppingCart"])

action = Action(_SHOPPINGCARTACTIONS, [FILE_DESCRIPTOR, shoppingcart_pb2.DESCRIPTOR])

MAX_QUANTITY = 99


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    price_cents: int


CATALOG = {
    "apple": CatalogEntry("Red apple", 45),
    "apricot": CatalogEntry("Apricot", 60),
    "banana": CatalogEntry("Banana", 25),
    "bread": CatalogEntry("Sourdough bread", 420),
    "cheese": CatalogEntry("Comté, 200 g", 690),
    "coffee": CatalogEntry("Coffee beans, 500 g", 1150),
}


def check(request: AddRequest) -> str | None:
    """Why ``request`` cannot be added, or None."""
    if not request.user_id:
        return "user_id is required"
    if request.product_id not in CATALOG:
        return f"{request.product_id!r} is not in the catalog"
    if not 0 < request.quantity <= MAX_QUANTITY:
        return f"quantity for {request.product_id} must be between 1 and {MAX_QUANTITY}"
    return None


def line_item(request: AddRequest) -> AddLineItem:
    return AddLineItem(
        user_id=request.user_id,
        product_id=request.product_id,
        name=CATALOG[request.product_id].name,
        quantity=request.quantity,
    )


@action.unary("AddItem")
def add_item(request: AddRequest, ctx: ActionContext) -> Forward:
    problem = check(request)
    if problem is not None:
        ctx.fail(problem, code=grpc.StatusCode.INVALID_ARGUMENT)
    return ctx.forward(ShoppingCart.AddItem, line_item(request))


@action.streamed_in("AddItems")
async def add_items(requests: AsyncIterator[AddRequest], ctx: ActionContext) -> AddSummary:
    summary = AddSummary()
    async for request in requests:
        problem = check(request)
        if problem is None:
            ctx.effect(ShoppingCart.AddItem, line_item(request), synchronous=True)
            summary.added += 1
        else:
            summary.rejected.append(problem)
    return summary


@action.streamed_out("Catalog")
async def catalog(request: CatalogRequest) -> AsyncIterator[Product]:
    for product_id, entry in CATALOG.items():
        if product_id.startswith(request.prefix):
            yield Product(product_id=product_id, name=entry.name, price_cents=entry.price_cents)
            if request.delay_ms:
                await asyncio.sleep(request.delay_ms / 1000)


@action.streamed("Quote")
async def quote(
    requests: AsyncIterator[AddRequest], ctx: ActionContext
) -> AsyncIterator[PriceQuote]:
    total = 0
    async for request in requests:
        entry = CATALOG.get(request.product_id)
        if entry is None:
            ctx.fail(
                f"{request.product_id!r} is not in the catalog", code=grpc.StatusCode.NOT_FOUND
            )
        line = entry.price_cents * request.quantity
        total += line
        yield PriceQuote(
            product_id=request.product_id,
            quantity=request.quantity,
            line_cents=line,
            total_cents=total,
        )
