"""The value-entity shopping cart end to end: SDK user function + proxy + store, real processes.

The stored value is checked directly in the proxy's store (through ``open_store``), not only
through the service. Every test runs on each store backend (``store_url``: SQLite, PostgreSQL).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from cloudstate.proxy.stores.base import StoredValue
from cloudstate.proxy.stores.registry import open_store
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

VALUE_ENTITY_DIR = ROOT / "examples" / "valueentity"
if str(VALUE_ENTITY_DIR) not in sys.path:
    sys.path.insert(0, str(VALUE_ENTITY_DIR))

from valueentity import domain_pb2, shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402

PID = "value-entity-shopping-cart"
CART_TYPE_URL = "type.googleapis.com/com.example.valueentity.shoppingcart.domain.Cart"

pytestmark = pytest.mark.xdist_group("value-entity-e2e")


def value_cart_user_function(tmp: Path) -> Process:
    port = free_port()
    return Process(
        "value-entity cart user function",
        [sys.executable, "-m", "valueentity.shopping_cart"],
        port,
        tmp / f"valueentity-uf-{port}.log",
        cwd=VALUE_ENTITY_DIR,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


@pytest.fixture(scope="module")
def cart_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One value-entity cart user function shared by this module's proxies."""
    uf = value_cart_user_function(tmp_path_factory.mktemp("ve-cart-uf")).start()
    yield uf
    assert uf.terminate() == 0, uf.log()


@pytest.fixture
def db(store_url: str) -> str:
    """This test's store URL (a SQLite file or a PostgreSQL schema)."""
    return store_url


@pytest.fixture
def start_sqlite_proxy(tmp_path: Path, db: str) -> Iterator[Callable[..., Process]]:
    """``start_sqlite_proxy(uf_port, *flags)``: a proxy on this test's store (``db``)."""
    started: list[Process] = []

    def start(uf_port: int, *flags: str) -> Process:
        process = proxy(tmp_path, uf_port, db, *flags).start()
        started.append(process)
        try:
            wait_serving(process.port)
        except TimeoutError as e:
            raise RuntimeError(f"{e}\n--- proxy log ---\n{process.log()}") from e
        return process

    yield start
    for process in started:
        process.terminate()


def stored(db: str, user: str) -> StoredValue | None:
    """The cart of ``user`` as the proxy's store holds it."""

    async def read() -> StoredValue | None:
        store = await open_store(db)
        try:
            return await store.load_value(PID, user)
        finally:
            await store.close()

    return asyncio.run(read())


def stored_items(db: str, user: str) -> list[tuple[str, int]] | None:
    value = stored(db, user)
    if value is None:
        return None
    assert value.payload.type_url == CART_TYPE_URL
    cart = domain_pb2.Cart.FromString(value.payload.value)
    return [(item.product_id, item.quantity) for item in cart.items]


class Cart:
    """A synchronous client of the example service through the proxy."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = shoppingcart_pb2_grpc.ShoppingCartStub(self.channel)

    def add(self, user: str, product: str, quantity: int) -> None:
        self.stub.AddItem(
            shoppingcart_pb2.AddLineItem(
                user_id=user, product_id=product, name=product.title(), quantity=quantity
            ),
            timeout=10,
        )

    def remove(self, user: str, product: str) -> None:
        self.stub.RemoveItem(
            shoppingcart_pb2.RemoveLineItem(user_id=user, product_id=product), timeout=10
        )

    def remove_cart(self, user: str) -> None:
        self.stub.RemoveCart(shoppingcart_pb2.RemoveShoppingCart(user_id=user), timeout=10)

    def items(self, user: str) -> list[tuple[str, int]]:
        cart = self.stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10)
        return [(item.product_id, item.quantity) for item in cart.items]

    def close(self) -> None:
        self.channel.close()


def test_create_update_delete_and_read_after_delete(
    db: str, cart_uf: Process, start_sqlite_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_sqlite_proxy(cart_uf.port).port)
    assert cart.items("alice") == []
    assert stored(db, "alice") is None  # reading creates nothing

    cart.add("alice", "apple", 3)
    assert stored_items(db, "alice") == [("apple", 3)]
    cart.add("alice", "apple", 2)
    cart.add("alice", "pear", 1)
    assert cart.items("alice") == [("apple", 5), ("pear", 1)]
    assert stored_items(db, "alice") == [("apple", 5), ("pear", 1)]
    value = stored(db, "alice")
    assert value is not None and value.version == 3

    cart.remove("alice", "pear")
    assert stored_items(db, "alice") == [("apple", 5)]

    cart.remove_cart("alice")
    assert stored(db, "alice") is None
    assert cart.items("alice") == []  # the initial state again

    cart.add("alice", "plum", 1)
    assert cart.items("alice") == [("plum", 1)]
    assert stored_items(db, "alice") == [("plum", 1)]
    assert cart.items("bob") == []
    cart.close()


def test_a_failed_command_leaves_the_stored_value_untouched(
    db: str, cart_uf: Process, start_sqlite_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_sqlite_proxy(cart_uf.port).port)
    cart.add("carol", "tea", 2)
    before = stored(db, "carol")
    assert before is not None

    with pytest.raises(grpc.RpcError) as error:
        cart.add("carol", "tea", 0)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "Quantity for item tea must be greater than zero."
    with pytest.raises(grpc.RpcError) as error:
        cart.remove("carol", "coffee")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert error.value.details() == "Item coffee is not in the cart."

    assert stored(db, "carol") == before  # same bytes, same version
    assert cart.items("carol") == [("tea", 2)]
    cart.close()


def test_state_survives_a_proxy_sigkill_under_load(
    db: str, cart_uf: Process, start_sqlite_proxy: Callable[..., Process]
) -> None:
    """Every acknowledged update is in the SQLite file after the proxy is SIGKILLed mid-load;
    at most the one update per client that was in flight may be there without an ack."""
    first = start_sqlite_proxy(cart_uf.port)
    clients = 16
    acknowledged = [0] * clients

    def client(n: int) -> None:
        cart = Cart(first.port)
        try:
            while True:
                cart.add(f"kill-{n}", "coin", 1)
                acknowledged[n] += 1
        except grpc.RpcError:
            pass  # the proxy is gone
        finally:
            cart.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.kill()
    for thread in threads:
        thread.join(15)
    assert sum(acknowledged) >= 300, first.log()

    for n in range(clients):
        items = stored_items(db, f"kill-{n}") or [("coin", 0)]
        assert items[0][0] == "coin"
        assert acknowledged[n] <= items[0][1] <= acknowledged[n] + 1, (n, acknowledged[n], items)

    cart = Cart(start_sqlite_proxy(cart_uf.port).port)
    for n in range(clients):
        quantity = stored_items(db, f"kill-{n}")
        assert cart.items(f"kill-{n}") == quantity
    cart.add("kill-0", "coin", 1)
    assert stored_items(db, "kill-0") == [("coin", cart.items("kill-0")[0][1])]
    cart.close()


def test_100_clients_updating_10_entities_sum_up(
    db: str, cart_uf: Process, start_sqlite_proxy: Callable[..., Process]
) -> None:
    """100 concurrent clients (one channel each) add random quantities to 10 carts; every final
    quantity is the sum of that cart's acknowledged additions — no update lost or doubled."""
    port = start_sqlite_proxy(cart_uf.port).port
    entities = [f"sum-{k}" for k in range(10)]
    expected = dict.fromkeys(entities, 0)
    rng = random.Random(4)
    plans = [[(rng.choice(entities), rng.randint(1, 9)) for _ in range(10)] for _ in range(100)]

    async def client(plan: list[tuple[str, int]]) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            for user, quantity in plan:
                await stub.AddItem(
                    shoppingcart_pb2.AddLineItem(
                        user_id=user, product_id="coin", name="Coin", quantity=quantity
                    ),
                    timeout=30,
                )
                expected[user] += quantity  # acknowledged

    async def run_all() -> None:
        await asyncio.gather(*(client(plan) for plan in plans))

    asyncio.run(run_all())
    assert sum(expected.values()) == sum(q for plan in plans for _, q in plan)
    cart = Cart(port)
    for user in entities:
        assert cart.items(user) == [("coin", expected[user])]
        assert stored_items(db, user) == [("coin", expected[user])]
    cart.close()


def test_create_update_delete_and_read_after_delete_over_http(
    db: str, cart_uf: Process, start_sqlite_proxy: Callable[..., Process]
) -> None:
    """The same life cycle through the HTTP/JSON API of the example's ``/ve/...`` annotations."""
    port = start_sqlite_proxy(cart_uf.port).port
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

        def add(product: str, quantity: int) -> httpx.Response:
            return http.post(
                "/ve/cart/hugo/items/add",
                json={"productId": product, "name": product.title(), "quantity": quantity},
            )

        assert http.get("/ve/carts/hugo").json() == {}
        assert stored(db, "hugo") is None
        assert add("apple", 3).status_code == 200
        assert add("pear", 1).status_code == 200
        assert http.get("/ve/carts/hugo").json() == {
            "items": [
                {"productId": "apple", "name": "Apple", "quantity": 3},
                {"productId": "pear", "name": "Pear", "quantity": 1},
            ]
        }
        assert stored_items(db, "hugo") == [("apple", 3), ("pear", 1)]
        assert http.post("/ve/cart/hugo/items/pear/remove").status_code == 200
        assert http.get("/ve/carts/hugo/items").json() == [
            {"productId": "apple", "name": "Apple", "quantity": 3}
        ]

        before = stored(db, "hugo")
        refused = add("apple", -1)
        assert refused.status_code == 400
        assert refused.json()["message"] == "Quantity for item apple must be greater than zero."
        missing = http.post("/ve/cart/hugo/items/kiwi/remove")
        assert missing.status_code == 404
        assert missing.json()["message"] == "Item kiwi is not in the cart."
        assert stored(db, "hugo") == before

        assert http.post("/ve/carts/hugo/remove").status_code == 200
        assert stored(db, "hugo") is None
        assert http.get("/ve/carts/hugo").json() == {}
        assert add("plum", 2).status_code == 200
        assert http.get("/ve/carts/hugo/items").json() == [
            {"productId": "plum", "name": "Plum", "quantity": 2}
        ]
        assert stored_items(db, "hugo") == [("plum", 2)]
