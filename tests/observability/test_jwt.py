"""JWT bearer authentication (``--jwt-key``): requests without a valid token are refused on gRPC
(UNAUTHENTICATED) and HTTP (401); a valid token passes; allowed-anonymous methods need none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import jwt
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import Process, proxy, shoppingcart_user_function, wait_serving

SECRET = "a-test-secret-of-at-least-32-bytes!!"
SERVICE = "com.example.shoppingcart.ShoppingCart"


def token(secret: str = SECRET, expires_in: float = 300, audience: str = "carts") -> str:
    claims = {"sub": "ann", "aud": audience, "exp": int(time.time() + expires_in)}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    tmp: Path = tmp_path_factory.mktemp("jwt")
    key = tmp / "jwt.secret"
    key.write_text(SECRET + "\n")
    uf = shoppingcart_user_function(tmp).start()
    px = proxy(
        tmp,
        uf.port,
        "memory:",
        "--jwt-key",
        str(key),
        "--jwt-audience",
        "carts",
        "--jwt-allow-anonymous",
        f"{SERVICE}/GetCart",
    ).start()
    try:
        wait_serving(px.port)
        yield px
    finally:
        px.terminate()
        uf.terminate()


def add(stub: shoppingcart_pb2_grpc.ShoppingCartStub, metadata: list[tuple[str, str]]) -> None:
    stub.AddItem(
        shoppingcart_pb2.AddLineItem(user_id="jwt", product_id="p", name="P", quantity=1),
        metadata=metadata,
        timeout=10,
    )


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Bearer not-a-jwt")],
        [("authorization", f"Bearer {token(secret='another-secret-of-at-least-32-bytes')}")],
        [("authorization", f"Bearer {token(expires_in=-60)}")],
        [("authorization", f"Bearer {token(audience='someone-else')}")],
    ],
    ids=["none", "garbage", "wrong-key", "expired", "wrong-audience"],
)
def test_grpc_without_a_valid_token_is_refused(
    guarded: Process, metadata: list[tuple[str, str]]
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            add(stub, metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "AddItem" in (refused.value.details() or "")


def test_valid_token_and_anonymous_method(guarded: Process) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        add(stub, [("authorization", f"Bearer {token()}")])
        cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="jwt"), timeout=10)
        assert [(i.product_id, i.quantity) for i in cart.items] == [("p", 1)]


def test_http_without_a_valid_token_gets_401(guarded: Process) -> None:
    url = f"http://127.0.0.1:{guarded.port}/cart/jwt-http/items/add"
    body = {"productId": "p", "name": "P", "quantity": 1}
    with httpx.Client(timeout=10) as client:
        assert client.post(url, json=body).status_code == 401
        bad = {"authorization": f"Bearer {token(expires_in=-60)}"}
        assert client.post(url, json=body, headers=bad).status_code == 401
        good = {"authorization": f"Bearer {token()}"}
        assert client.post(url, json=body, headers=good).status_code == 200
        reply = client.get(f"http://127.0.0.1:{guarded.port}/carts/jwt-http")
        assert reply.status_code == 200 and reply.json()["items"][0]["quantity"] == 1
