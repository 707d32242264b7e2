"""The shopping-cart example, driven through the protocol exactly as a proxy would."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.empty_pb2 import Empty
from shoppingcart.domain_pb2 import Cart as DomainCart
from shoppingcart.domain_pb2 import ItemAdded, ItemRemoved
from shoppingcart.domain_pb2 import LineItem as DomainLineItem
from shoppingcart.shoppingcart_pb2 import (
    AddLineItem,
    Cart,
    GetShoppingCart,
    LineItem,
    RemoveLineItem,
)

from tests.sdk.protocol import EntityStream, failure_reply, reply

INVALID_ARGUMENT = 3

Streams = Callable[[str], EntityStream]


def add(user: str, product: str, quantity: int, name: str = "") -> AddLineItem:
    return AddLineItem(
        user_id=user, product_id=product, name=name or product.title(), quantity=quantity
    )


def added(product: str, quantity: int, name: str = "") -> ItemAdded:
    return ItemAdded(
        item=DomainLineItem(productId=product, name=name or product.title(), quantity=quantity)
    )


async def test_new_cart_is_empty(cart_stream: Streams) -> None:
    stream = await cart_stream("empty").init()
    assert await stream.command("GetCart", GetShoppingCart(user_id="empty")) == reply(1, Cart())
    await stream.close()


async def test_add_item_emits_item_added(cart_stream: Streams) -> None:
    stream = await cart_stream("adder").init()
    assert await stream.command("AddItem", add("adder", "apple", 2)) == reply(
        1, Empty(), events=[added("apple", 2)]
    )
    assert await stream.command("AddItem", add("adder", "apple", 3)) == reply(
        2, Empty(), events=[added("apple", 3)]
    )
    assert await stream.command("AddItem", add("adder", "pear", 1)) == reply(
        3, Empty(), events=[added("pear", 1)]
    )
    expected = Cart(
        items=[
            LineItem(product_id="apple", name="Apple", quantity=5),
            LineItem(product_id="pear", name="Pear", quantity=1),
        ]
    )
    assert await stream.command("GetCart", GetShoppingCart(user_id="adder")) == reply(4, expected)
    await stream.close()


async def test_non_positive_quantity_fails_without_events(cart_stream: Streams) -> None:
    stream = await cart_stream("negative").init()
    for command_id, quantity in ((1, -1), (2, 0)):
        assert await stream.command("AddItem", add("negative", "tea", quantity)) == failure_reply(
            command_id,
            "Quantity for item tea must be greater than zero.",
            code=INVALID_ARGUMENT,
        )
    assert await stream.command("GetCart", GetShoppingCart(user_id="negative")) == reply(3, Cart())
    await stream.close()


async def test_remove_item(cart_stream: Streams) -> None:
    stream = await cart_stream("remover").init()
    await stream.command("AddItem", add("remover", "milk", 1))
    assert await stream.command(
        "RemoveItem", RemoveLineItem(user_id="remover", product_id="milk")
    ) == reply(2, Empty(), events=[ItemRemoved(productId="milk")])
    assert await stream.command("GetCart", GetShoppingCart(user_id="remover")) == reply(3, Cart())
    await stream.close()


async def test_removing_a_missing_item_fails(cart_stream: Streams) -> None:
    stream = await cart_stream("missing").init()
    assert await stream.command(
        "RemoveItem", RemoveLineItem(user_id="missing", product_id="coffee")
    ) == failure_reply(1, "Item coffee is not in the cart.")
    await stream.close()


async def test_snapshot_on_every_fifth_event(cart_stream: Streams) -> None:
    stream = await cart_stream("snappy").init()
    for i in range(1, 5):
        out = await stream.command("AddItem", add("snappy", f"p{i}", i))
        assert not out.HasField("snapshot")
    fifth = await stream.command("AddItem", add("snappy", "p5", 5))
    snapshot = DomainCart(
        items=[DomainLineItem(productId=f"p{i}", name=f"P{i}", quantity=i) for i in range(1, 6)]
    )
    assert fifth == reply(5, Empty(), events=[added("p5", 5)], snapshot=snapshot)
    for i in range(6, 10):
        out = await stream.command("AddItem", add("snappy", f"p{i}", i))
        assert not out.HasField("snapshot")
    tenth = await stream.command("RemoveItem", RemoveLineItem(user_id="snappy", product_id="p1"))
    assert tenth.HasField("snapshot")
    restored = DomainCart.FromString(tenth.snapshot.value)
    assert [item.productId for item in restored.items] == [f"p{i}" for i in range(2, 10)]
    await stream.close()


async def test_rehydration_from_snapshot_and_events(cart_stream: Streams) -> None:
    snapshot = DomainCart(
        items=[
            DomainLineItem(productId="a", name="A", quantity=1),
            DomainLineItem(productId="b", name="B", quantity=2),
        ]
    )
    stream = await cart_stream("rehydrated").init(
        snapshot=(5, snapshot),
        events=[(6, added("a", 10, "A")), (7, ItemRemoved(productId="b")), (8, added("c", 3))],
    )
    expected = Cart(
        items=[
            LineItem(product_id="a", name="A", quantity=11),
            LineItem(product_id="c", name="C", quantity=3),
        ]
    )
    assert await stream.command("GetCart", GetShoppingCart(user_id="rehydrated")) == reply(
        1, expected
    )
    # Sequence continues from the last replayed event: events 9 and 10, snapshot at 10.
    assert not (await stream.command("AddItem", add("rehydrated", "d", 1))).HasField("snapshot")
    assert (await stream.command("AddItem", add("rehydrated", "e", 1))).HasField("snapshot")
    await stream.close()


async def test_commands_on_several_streams_are_independent(cart_stream: Streams) -> None:
    one = await cart_stream("one").init()
    other = await cart_stream("other").init()
    await one.command("AddItem", add("one", "x", 1))
    await other.command("AddItem", add("other", "y", 2))
    assert (await one.command("GetCart", GetShoppingCart(user_id="one"))) == reply(
        2, Cart(items=[LineItem(product_id="x", name="X", quantity=1)])
    )
    assert (await other.command("GetCart", GetShoppingCart(user_id="other"))) == reply(
        2, Cart(items=[LineItem(product_id="y", name="Y", quantity=2)])
    )
    await one.close()
    await other.close()
