"""An entity key with a NUL character (issue 22) is the client's error on every backend:
INVALID_ARGUMENT over gRPC, 400 over HTTP, naming the key field, nothing stored (PostgreSQL
cannot store NUL in text; it used to answer UNAVAILABLE / 503, which invites retries)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import httpx
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import Process, shoppingcart_user_function


@pytest.fixture(scope="module")
def cart_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    uf = shoppingcart_user_function(tmp_path_factory.mktemp("nul-uf")).start()
    try:
        yield uf
    finally:
        uf.terminate()


def test_nul_in_an_entity_key_is_invalid_argument(
    cart_uf: Process, start_proxy: Callable[..., Process]
) -> None:
    px = start_proxy(cart_uf.port)
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        nul = shoppingcart_pb2.AddLineItem(user_id="a\x00b", product_id="p", name="P", quantity=1)
        with pytest.raises(grpc.RpcError) as refused:
            stub.AddItem(nul, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        details = refused.value.details() or ""
        assert "'user_id'" in details and "NUL" in details, details
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="\x00"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The proxy goes on serving valid keys.
        stub.AddItem(
            shoppingcart_pb2.AddLineItem(user_id="ab", product_id="p", name="P", quantity=1),
            timeout=10,
        )
    with httpx.Client(timeout=10) as client:
        body = {"productId": "p", "name": "P", "quantity": 1}
        reply = client.post(f"http://127.0.0.1:{px.port}/cart/a%00b/items/add", json=body)
        assert reply.status_code == 400, reply.text
        assert "'user_id'" in reply.text and "NUL" in reply.text, reply.text
        reply = client.get(f"http://127.0.0.1:{px.port}/carts/a%00b")
        assert reply.status_code == 400, reply.text
        cart = client.get(f"http://127.0.0.1:{px.port}/carts/ab").json()
        assert [item["quantity"] for item in cart["items"]] == [1]
