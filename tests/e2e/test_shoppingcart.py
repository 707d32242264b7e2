"""The shopping-cart example end to end: SDK user function + proxy + store, real processes.

Each test runs against every store backend (``store_url``: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from shoppingcart import domain_pb2, shoppingcart_pb2, shoppingcart_pb2_grpc

from cloudstate.proxy.stores.base import StoredEvent, StoredSnapshot
from cloudstate.proxy.stores.registry import open_store
from tests.processes import Process, shoppingcart_user_function

PID = "shopping-cart"
SERVICE = "com.example.shoppingcart.ShoppingCart"


@pytest.fixture(scope="module")
def cart_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One shopping-cart user function shared by this module's proxies."""
    uf = shoppingcart_user_function(tmp_path_factory.mktemp("cart-uf")).start()
    yield uf
    assert uf.terminate() == 0, uf.log()


class Cart:
    """A synchronous client of the example service through the proxy."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = shoppingcart_pb2_grpc.ShoppingCartStub(self.channel)

    def add(self, user: str, product: str, quantity: int, name: str = "") -> None:
        self.stub.AddItem(
            shoppingcart_pb2.AddLineItem(
                user_id=user, product_id=product, name=name or product.title(), quantity=quantity
            ),
            timeout=10,
        )

    def remove(self, user: str, product: str) -> None:
        self.stub.RemoveItem(
            shoppingcart_pb2.RemoveLineItem(user_id=user, product_id=product), timeout=10
        )

    def items(self, user: str) -> list[tuple[str, int]]:
        cart = self.stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10)
        return [(item.product_id, item.quantity) for item in cart.items]

    def close(self) -> None:
        self.channel.close()


def read_store(url: str, entity_id: str) -> tuple[list[StoredEvent], StoredSnapshot | None]:
    async def read() -> tuple[list[StoredEvent], StoredSnapshot | None]:
        store = await open_store(url)
        try:
            events = [e async for e in store.read_events(PID, entity_id)]
            return events, await store.load_snapshot(PID, entity_id)
        finally:
            await store.close()

    return asyncio.run(read())


def added_products(events: list[StoredEvent]) -> list[str]:
    products = []
    for event in events:
        assert event.payload.type_url.endswith("com.example.shoppingcart.persistence.ItemAdded")
        products.append(domain_pb2.ItemAdded.FromString(event.payload.value).item.productId)
    return products


def test_add_remove_get(cart_uf: Process, start_proxy: Callable[..., Process]) -> None:
    cart = Cart(start_proxy(cart_uf.port).port)
    assert cart.items("alice") == []
    cart.add("alice", "apple", 2)
    cart.add("alice", "pear", 1)
    cart.add("alice", "apple", 3)
    assert cart.items("alice") == [("apple", 5), ("pear", 1)]
    cart.remove("alice", "apple")
    assert cart.items("alice") == [("pear", 1)]
    assert cart.items("bob") == []
    cart.close()


def test_reflection_describes_the_served_services(
    cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(cart_uf.port)
    with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert set(database.get_services()) >= {SERVICE, "grpc.reflection.v1alpha.ServerReflection"}
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName(SERVICE)
        assert [m.name for m in service.methods] == ["AddItem", "RemoveItem", "GetCart"]
        assert service.methods_by_name["AddItem"].input_type.full_name == (
            "com.example.shoppingcart.AddLineItem"
        )


def test_invalid_commands_fail_clearly_and_persist_nothing(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_proxy(cart_uf.port).port)
    cart.add("carol", "tea", 1)
    with pytest.raises(grpc.RpcError) as error:
        cart.add("carol", "tea", -2)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tea" in error.value.details() and "greater than zero" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        cart.remove("carol", "coffee")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "coffee" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        cart.add("", "tea", 1)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "user_id" in error.value.details()
    assert cart.items("carol") == [("tea", 1)]
    cart.close()
    events, _ = read_store(store_url, "carol")
    assert added_products(events) == ["tea"]


def test_state_survives_restart_and_sigkill(
    cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(cart_uf.port)
    cart = Cart(proxy.port)
    cart.add("dave", "milk", 1)
    cart.close()
    assert proxy.terminate() == 0, proxy.log()

    proxy = start_proxy(cart_uf.port)
    cart = Cart(proxy.port)
    assert cart.items("dave") == [("milk", 1)]
    cart.add("dave", "bread", 2)
    cart.close()
    proxy.kill()

    cart = Cart(start_proxy(cart_uf.port).port)
    assert cart.items("dave") == [("milk", 1), ("bread", 2)]
    cart.close()


def test_snapshots_are_written_every_five_events_and_used(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(cart_uf.port)
    cart = Cart(proxy.port)
    for i in range(7):
        cart.add("erin", f"p{i}", i + 1)
    cart.close()
    events, snapshot = read_store(store_url, "erin")
    assert [e.sequence for e in events] == list(range(1, 8))
    assert snapshot is not None and snapshot.sequence == 5
    snapshot_cart = domain_pb2.Cart.FromString(snapshot.payload.value)
    assert [item.productId for item in snapshot_cart.items] == [f"p{i}" for i in range(5)]
    proxy.terminate()
    cart = Cart(start_proxy(cart_uf.port).port)
    assert cart.items("erin") == [(f"p{i}", i + 1) for i in range(7)]
    cart.close()


def test_every_acknowledged_command_survives_a_sigkill_under_load(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(cart_uf.port)
    acknowledged: list[tuple[str, str]] = []
    stop = threading.Event()

    async def load() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)

            async def client(n: int) -> None:
                user, i = f"load-{n % 20}", 0
                while not stop.is_set():
                    product = f"c{n}-{i}"
                    try:
                        await stub.AddItem(
                            shoppingcart_pb2.AddLineItem(
                                user_id=user, product_id=product, name="x", quantity=1
                            ),
                            timeout=5,
                        )
                    except grpc.aio.AioRpcError:
                        return  # the proxy is gone
                    acknowledged.append((user, product))
                    i += 1

            await asyncio.gather(*(client(n) for n in range(32)))

    loader = threading.Thread(target=lambda: asyncio.run(load()))
    loader.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    proxy.kill()
    stop.set()
    loader.join(30)
    assert len(acknowledged) >= 300, proxy.log()[-3000:]

    journaled: set[tuple[str, str]] = set()
    for n in range(20):
        events, _ = read_store(store_url, f"load-{n}")
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        journaled.update((f"load-{n}", p) for p in added_products(events))
    missing = set(acknowledged) - journaled
    assert not missing, f"{len(missing)} acknowledged commands lost, e.g. {sorted(missing)[:5]}"


def test_200_entities_hammered_concurrently_keep_order(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    proxy = start_proxy(cart_uf.port)
    per_entity = 10

    async def hammer() -> list[list[tuple[str, int]]]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)

            async def one_entity(n: int) -> list[tuple[str, int]]:
                user = f"ham-{n}"

                # Two concurrent writers per entity: order within each writer must hold.
                async def writer(prefix: str) -> None:
                    for i in range(per_entity // 2):
                        await stub.AddItem(
                            shoppingcart_pb2.AddLineItem(
                                user_id=user, product_id=f"{prefix}{i}", name="n", quantity=i + 1
                            ),
                            timeout=30,
                        )

                await asyncio.gather(writer("a"), writer("b"))
                cart = await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user))
                return [(item.product_id, item.quantity) for item in cart.items]

            return await asyncio.gather(*(one_entity(n) for n in range(200)))

    carts = asyncio.run(hammer())
    for n, items in enumerate(carts):
        assert len(items) == per_entity, (n, items)
        for prefix in "ab":
            mine = [p for p, _ in items if p.startswith(prefix)]
            assert mine == [f"{prefix}{i}" for i in range(per_entity // 2)], (n, items)
    for n in (0, 99, 199):
        events, _ = read_store(store_url, f"ham-{n}")
        assert [e.sequence for e in events] == list(range(1, per_entity + 1))
        assert sorted(added_products(events)) == sorted(p for p, _ in carts[n])
