"""Code written against the original python-support API keeps working.

The shopping cart of ``tests/sdk/seedcart`` follows the original example line by line (its module
paths, decorators and annotation-injected parameters; see that package): here it is driven
through the protocol in process, and its main module —
``CloudState().register_event_sourced_entity(entity).start()`` from ``cloudstate.cloudstate`` —
runs as a user function behind our proxy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.empty_pb2 import Empty
from shoppingcart import shoppingcart_pb2_grpc
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

from tests.processes import ROOT, SHOPPINGCART_DIR, Process, free_port, proxy, wait_serving
from tests.sdk.protocol import EntityStream, failure_reply, reply
from tests.sdk.seedcart.shopping_cart_entity import entity


async def test_seed_style_entity(serve: Callable[..., Awaitable[grpc.aio.Channel]]) -> None:
    assert entity.entity_type() == "cloudstate.eventsourced.EventSourced"
    channel = await serve(entity)
    stream = await EntityStream(channel, _SHOPPINGCART.full_name, "seed").init()
    line = DomainLineItem(productId="a", name="A", quantity=2)
    assert await stream.command(
        "AddItem", AddLineItem(user_id="seed", product_id="a", name="A", quantity=2)
    ) == reply(1, Empty(), events=[ItemAdded(item=line)])
    assert await stream.command(
        "AddItem", AddLineItem(user_id="seed", product_id="a", name="A", quantity=-2)
    ) == failure_reply(2, "Cannot add negative quantity of to item a")
    out = await stream.command("RemoveItem", RemoveLineItem(user_id="seed", product_id="a"))
    assert out == reply(3, Empty(), events=[ItemRemoved(productId="a")], snapshot=DomainCart())
    assert await stream.command("GetCart", GetShoppingCart(user_id="seed")) == reply(4, Cart())
    await stream.close()
    restored = await EntityStream(channel, _SHOPPINGCART.full_name, "seed").init(
        snapshot=(2, DomainCart(items=[line])), events=[(3, ItemAdded(item=line))]
    )
    assert await restored.command("GetCart", GetShoppingCart(user_id="seed")) == reply(
        1, Cart(items=[LineItem(product_id="a", name="A", quantity=4)])
    )
    await restored.close()


@pytest.fixture
def seed_user_function(tmp_path: Path) -> Iterator[Process]:
    """``python -m tests.sdk.seedcart.shopping_cart``, as the seed's README runs its cart."""
    port = free_port()
    uf = Process(
        "seed shopping-cart user function",
        [sys.executable, "-m", "tests.sdk.seedcart.shopping_cart"],
        port,
        tmp_path / "seed-uf.log",
        cwd=ROOT,
        env={
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PYTHONPATH": os.pathsep.join([str(SHOPPINGCART_DIR), str(ROOT)]),
        },
    ).start()
    yield uf
    uf.terminate()


def test_the_seed_main_module_serves_the_cart_through_a_proxy(
    seed_user_function: Process, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path}/seed.db"
    px = proxy(tmp_path, seed_user_function.port, store).start()
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            cart = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            cart.AddItem(
                AddLineItem(user_id="ann", product_id="a", name="A", quantity=2), timeout=10
            )
            cart.AddItem(
                AddLineItem(user_id="ann", product_id="b", name="B", quantity=1), timeout=10
            )
            with pytest.raises(grpc.RpcError) as refused:
                cart.AddItem(
                    AddLineItem(user_id="ann", product_id="a", name="A", quantity=-1), timeout=10
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == "Cannot add negative quantity of to item a"
            cart.RemoveItem(RemoveLineItem(user_id="ann", product_id="b"), timeout=10)
            assert cart.GetCart(GetShoppingCart(user_id="ann"), timeout=10) == Cart(
                items=[LineItem(product_id="a", name="A", quantity=2)]
            )
    finally:
        px.terminate()
    # The cart survives a restart of the proxy: replayed from the snapshot and events it stored.
    px = proxy(tmp_path, seed_user_function.port, store).start()
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            cart = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            assert cart.GetCart(GetShoppingCart(user_id="ann"), timeout=10) == Cart(
                items=[LineItem(product_id="a", name="A", quantity=2)]
            )
    finally:
        px.terminate()
    # start() serves until SIGTERM, then shuts down gracefully: exit status 0.
    assert seed_user_function.terminate() == 0, seed_user_function.log()
