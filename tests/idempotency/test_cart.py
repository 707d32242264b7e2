"""Idempotency keys on an event-sourced entity: the shopping-cart example (SDK user function)
behind a real proxy, over gRPC and HTTP, on SQLite and PostgreSQL.

A keyed AddItem changes the cart once however often it is retried (one after the other or at
once), every retry gets the first answer, another request under a used key is refused, a failure
is answered again, and the key outlives a proxy killed with SIGKILL but not its retention."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.e2e.test_shoppingcart import added_products, read_store
from tests.observability.scrape import scrape, value
from tests.processes import Process, free_port, proxy, wait_serving

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 10


def add_line(user: str, product: str, quantity: int = 1) -> shoppingcart_pb2.AddLineItem:
    return shoppingcart_pb2.AddLineItem(
        user_id=user, product_id=product, name=product.title(), quantity=quantity
    )


def keyed(key: str) -> list[tuple[str, str]]:
    return [("idempotency-key", key)]


class Cart:
    """The example's stub over one channel, returning what a client sees of each call."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = shoppingcart_pb2_grpc.ShoppingCartStub(self.channel)

    def add(self, request: shoppingcart_pb2.AddLineItem, key: str) -> tuple[bytes, tuple[object]]:
        """The reply's bytes and its initial metadata (without transport headers)."""
        reply, call = self.stub.AddItem.with_call(request, metadata=keyed(key), timeout=TIMEOUT)
        headers = tuple(m for m in call.initial_metadata() if m[0] not in ("date", "server"))
        return reply.SerializeToString(), headers  # type: ignore[return-value]

    def items(self, user: str) -> list[tuple[str, int]]:
        cart = self.stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=TIMEOUT)
        return [(item.product_id, item.quantity) for item in cart.items]

    def close(self) -> None:
        self.channel.close()


def test_the_same_keyed_add_item_five_times_in_a_row_changes_the_cart_once(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_proxy(cart_uf.port).port)
    replies = [cart.add(add_line("seq", "apple", 3), "add-apple-1") for _ in range(5)]
    assert replies == [replies[0]] * 5
    assert cart.items("seq") == [("apple", 3)]
    cart.add(add_line("seq", "apple", 3), "add-apple-2")  # a new key is a new request
    assert cart.items("seq") == [("apple", 6)]
    cart.close()
    events, _ = read_store(store_url, "seq")
    assert added_products(events) == ["apple", "apple"]


async def test_five_concurrent_retries_change_the_cart_once(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    port = start_proxy(cart_uf.port).port
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        for round_ in range(4):
            request = add_line("conc", f"p{round_}", 2)
            calls = [
                stub.AddItem(request, metadata=keyed(f"conc-{round_}"), timeout=TIMEOUT)
                for _ in range(5)
            ]
            replies = await asyncio.gather(*calls)
            assert {reply.SerializeToString() for reply in replies} == {b""}
        cart = await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="conc"), timeout=10)
    assert [(i.product_id, i.quantity) for i in cart.items] == [(f"p{n}", 2) for n in range(4)]
    events, _ = await asyncio.to_thread(read_store, store_url, "conc")
    assert added_products(events) == ["p0", "p1", "p2", "p3"]


def test_over_http_the_idempotency_key_header_deduplicates_too(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    port = start_proxy(cart_uf.port).port
    body = {"productId": "pear", "name": "Pear", "quantity": 2}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as http:
        answers = []
        for header in ("Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY") * 2:
            reply = http.post("/cart/hal/items/add", json=body, headers={header: "http-pear"})
            answers.append((reply.status_code, reply.content))
        assert answers == [(200, b"{}")] * 6
        assert http.get("/carts/hal").json()["items"] == [
            {"productId": "pear", "name": "Pear", "quantity": 2}
        ]
        # The gRPC request with the same fields is the same request: answered, not run again.
        cart = Cart(port)
        cart.add(add_line("hal", "pear", 2), "http-pear")
        cart.close()
        # Another body under the key: 422, naming the key, the method and what to do.
        refused = http.post(
            "/cart/hal/items/add",
            json={**body, "quantity": 5},
            headers={"Idempotency-Key": "http-pear"},
        )
        assert refused.status_code == 422, refused.text
        message = refused.json()["message"]
        assert "'http-pear'" in message and "ShoppingCart.AddItem" in message
        assert "use a new key" in message
        assert refused.json()["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    events, _ = read_store(store_url, "hal")
    assert added_products(events) == ["pear"]


def test_another_request_under_a_used_key_is_refused_with_failed_precondition(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_proxy(cart_uf.port).port)
    cart.add(add_line("ivy", "fig", 1), "ivy-1")
    for request in (add_line("ivy", "fig", 2), add_line("ivy", "kiwi", 1), add_line("jo", "fig")):
        with pytest.raises(grpc.RpcError) as refused:
            cart.add(request, "ivy-1")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        details = refused.value.details()
        assert "idempotency key 'ivy-1' was first used for " in details
        assert "com.example.shoppingcart.ShoppingCart.AddItem" in details
        assert "a different body" in details and "use a new key for a new request" in details
    with pytest.raises(grpc.RpcError) as refused:  # another method
        cart.stub.GetCart(
            shoppingcart_pb2.GetShoppingCart(user_id="ivy"), metadata=keyed("ivy-1"), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "first used for com.example.shoppingcart.ShoppingCart.AddItem, not for " in (
        refused.value.details()
    )
    assert "ShoppingCart.GetCart" in refused.value.details()
    assert cart.items("ivy") == [("fig", 1)]
    assert cart.items("jo") == []
    cart.close()


def test_a_failed_keyed_command_gets_its_failure_again_on_retry(
    cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_proxy(cart_uf.port).port)
    remove = shoppingcart_pb2.RemoveLineItem(user_id="kim", product_id="plum")
    failures = []
    for attempt in range(3):
        with pytest.raises(grpc.RpcError) as failed:
            cart.stub.RemoveItem(remove, metadata=keyed("kim-remove"), timeout=TIMEOUT)
        failures.append((failed.value.code(), failed.value.details()))
        if attempt == 0:
            # The retry would now succeed if it ran: it is answered from the record instead.
            cart.add(add_line("kim", "plum"), "kim-add")
    assert failures == [failures[0]] * 3
    assert failures[0][0] == grpc.StatusCode.INVALID_ARGUMENT and "plum" in failures[0][1]
    assert cart.items("kim") == [("plum", 1)]
    cart.stub.RemoveItem(remove, metadata=keyed("kim-remove-2"), timeout=TIMEOUT)
    assert cart.items("kim") == []
    cart.close()


def test_a_keyed_read_is_answered_from_its_record(
    cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    """A command that writes nothing (GetCart) stores its answer alone: a retry gets the cart as
    it was at the first call, not as it is now."""
    cart = Cart(start_proxy(cart_uf.port).port)
    get = shoppingcart_pb2.GetShoppingCart(user_id="una")
    cart.add(add_line("una", "yam"), "una-add")
    first = cart.stub.GetCart(get, metadata=keyed("una-get"), timeout=TIMEOUT)
    cart.add(add_line("una", "zucchini"), "una-add-2")
    again = cart.stub.GetCart(get, metadata=keyed("una-get"), timeout=TIMEOUT)
    assert again == first and [item.product_id for item in again.items] == ["yam"]
    assert cart.items("una") == [("yam", 1), ("zucchini", 1)]
    cart.close()


def test_a_key_older_than_the_retention_is_ignored(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_proxy(cart_uf.port, "--idempotency-retention", "1s").port)
    cart.add(add_line("liz", "lime"), "liz-1")
    cart.add(add_line("liz", "lime"), "liz-1")
    assert cart.items("liz") == [("lime", 1)]
    time.sleep(1.5)
    cart.add(add_line("liz", "lime"), "liz-1")  # the key expired: a new request
    cart.add(add_line("liz", "lime"), "liz-1")  # ... whose key is fresh
    assert cart.items("liz") == [("lime", 2)]
    cart.close()
    events, _ = read_store(store_url, "liz")
    assert added_products(events) == ["lime", "lime"]


def test_a_key_survives_a_proxy_killed_with_sigkill(
    tmp_path: Path, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    store = f"sqlite:///{tmp_path}/kept.db"
    first = start_proxy(cart_uf.port, store=store)
    cart = Cart(first.port)
    answer = cart.add(add_line("max", "mango", 4), "max-1")
    cart.close()
    first.kill()
    second = start_proxy(cart_uf.port, store=store)
    cart = Cart(second.port)
    assert cart.add(add_line("max", "mango", 4), "max-1") == answer
    assert cart.items("max") == [("mango", 4)]
    with pytest.raises(grpc.RpcError) as refused:
        cart.add(add_line("max", "mango", 5), "max-1")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    cart.close()
    with sqlite3.connect(f"{tmp_path}/kept.db") as db:
        assert db.execute("SELECT count(*) FROM idempotency WHERE key = 'max-1'").fetchone() == (1,)


@pytest.mark.parametrize(
    ("key", "problem"),
    [("", "is empty"), ("k" * 256, "256 characters long: at most 255")],
)
def test_a_bad_key_is_refused_with_invalid_argument(
    key: str, problem: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    cart = Cart(start_proxy(cart_uf.port).port)
    with pytest.raises(grpc.RpcError) as refused:
        cart.add(add_line("ned", "nut"), key)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency-key" in refused.value.details() and problem in refused.value.details()
    assert cart.items("ned") == []
    cart.close()


def test_metrics_count_first_replayed_and_mismatched_calls(
    cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    admin = free_port()
    cart = Cart(start_proxy(cart_uf.port, "--admin-port", str(admin)).port)

    def counts() -> list[float]:
        samples = scrape(admin)
        return [
            value(samples, "cloudstate_idempotent_calls_total", outcome=outcome)
            for outcome in ("first", "replayed", "mismatch")
        ]

    assert counts() == [0, 0, 0]
    for _ in range(3):
        cart.add(add_line("oz", "olive"), "oz-1")
    with pytest.raises(grpc.RpcError):
        cart.add(add_line("oz", "olive", 2), "oz-1")
    cart.items("oz")  # no key: not counted
    assert counts() == [1, 2, 1]
    cart.close()


async def test_one_key_sent_at_once_for_two_carts_applies_to_one_of_them(
    store_url: str, cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    """Two entities, one key: both may look it up before either writes; the write that comes
    second finds the key taken, writes nothing and re-runs into the mismatch."""
    port = start_proxy(cart_uf.port).port
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        for round_ in range(5):
            users = [f"pat-{round_}", f"quin-{round_}"]
            calls = [
                stub.AddItem(add_line(user, "pea"), metadata=keyed(f"pq-{round_}"), timeout=10)
                for user in users
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
            refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
            assert len(refused) == 1, results
            assert refused[0].code() == grpc.StatusCode.FAILED_PRECONDITION
            changed = []
            for user in users:
                events, _ = await asyncio.to_thread(read_store, store_url, user)
                changed += [user] * len(events)
            assert len(changed) == 1, (round_, changed)


def test_the_record_is_written_in_the_transaction_of_the_events(
    tmp_path: Path, cart_uf: Process
) -> None:
    """A record that cannot be written (a trigger refuses it) takes the events down with it:
    the command fails with UNAVAILABLE and journals nothing; its retry then runs, once."""
    db = tmp_path / "refusing.db"
    px = proxy(tmp_path, cart_uf.port, f"sqlite:///{db}").start()
    try:
        wait_serving(px.port)
        with sqlite3.connect(db) as connection:
            connection.execute(
                "CREATE TRIGGER refuse_keys BEFORE INSERT ON idempotency "
                "BEGIN SELECT RAISE(ABORT, 'idempotency insert refused by the test'); END"
            )
        connection.close()
        cart = Cart(px.port)
        with pytest.raises(grpc.RpcError) as failed:
            cart.add(add_line("rex", "rice", 2), "rex-1")
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value.details()
        assert "the command was not applied" in failed.value.details()
        assert cart.items("rex") == []
        with sqlite3.connect(db) as connection:
            connection.execute("DROP TRIGGER refuse_keys")
        connection.close()
        for _ in range(2):
            cart.add(add_line("rex", "rice", 2), "rex-1")
        assert cart.items("rex") == [("rice", 2)]
        cart.close()
    finally:
        px.terminate()
    events, _ = read_store(f"sqlite:///{db}", "rex")
    assert added_products(events) == ["rice"]
