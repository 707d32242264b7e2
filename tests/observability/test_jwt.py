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
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
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


def _list_services(port: int, metadata: list[tuple[str, str]]) -> list[str]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10)
        return [s.name for r in responses for s in r.list_services_response.service]


def test_reflection_and_openapi_need_a_token_like_the_services(guarded: Process) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        _list_services(guarded.port, [])
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "server reflection needs authentication" in (refused.value.details() or "")
    bearer = [("authorization", f"Bearer {token()}")]
    assert SERVICE in _list_services(guarded.port, bearer)

    url = f"http://127.0.0.1:{guarded.port}/openapi.json"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and "/openapi.json" in anonymous.json()["message"]
    assert httpx.get(url, headers=dict(bearer)).json()["paths"]


def test_public_api_docs_opens_reflection_and_openapi_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp: Path = tmp_path_factory.mktemp("jwt-public-docs")
    key = tmp / "jwt.secret"
    key.write_text(SECRET)
    uf = shoppingcart_user_function(tmp).start()
    px = proxy(tmp, uf.port, "memory:", "--jwt-key", str(key), "--public-api-docs").start()
    try:
        wait_serving(px.port)
        assert SERVICE in _list_services(px.port, [])
        assert httpx.get(f"http://127.0.0.1:{px.port}/openapi.json").status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            with pytest.raises(grpc.RpcError) as refused:
                add(shoppingcart_pb2_grpc.ShoppingCartStub(channel), [])
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        px.terminate()
        uf.terminate()
