"""End-to-end tests of the shopping cart: the user function and a real proxy run in-process
(the ``cloudstate_client`` fixture, or a ``LocalService``), and the tests call the cart over gRPC
as a client would."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from shoppingcart.shopping_cart_entity import entity
from shoppingcart.shoppingcart_pb2 import _SHOPPINGCART, AddLineItem, Cart, LineItem

from cloudstate import ServiceClient
from cloudstate.testkit import LocalService


async def test_add_and_get_items_through_the_proxy(cloudstate_client: ServiceClient) -> None:
    cart = cloudstate_client
    await cart.add_item(AddLineItem(user_id="alice", product_id="apple", name="Apple", quantity=2))
    await cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=1)
    await cart.add_item(user_id="bob", product_id="pear", name="Pear", quantity=7)
    assert await cart.get_cart(user_id="alice") == Cart(
        items=[LineItem(product_id="apple", name="Apple", quantity=3)]
    )


async def test_errors_reach_the_client_with_their_status(cloudstate_client: ServiceClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await cloudstate_client.add_item(user_id="alice", product_id="apple", quantity=0)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failed.value.details() == "Quantity for item apple must be greater than zero."


async def test_a_cart_survives_a_restart_of_the_service(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/carts.db"
    async with LocalService(entity, store=store) as service:
        cart = ServiceClient(service.address, _SHOPPINGCART)
        await cart.add_item(user_id="alice", product_id="apple", name="Apple", quantity=1)
        await cart.close()
    async with LocalService(entity, store=store) as service, service.client() as cart:
        assert await cart.get_cart(user_id="alice") == Cart(
            items=[LineItem(product_id="apple", name="Apple", quantity=1)]
        )
