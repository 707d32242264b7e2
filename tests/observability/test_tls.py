"""TLS on the client port with a certificate this test generates (openssl): gRPC and HTTP/JSON
work over TLS; a plaintext client gets nowhere."""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import Process, proxy, shoppingcart_user_function


def make_certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(tmp)
    uf = shoppingcart_user_function(tmp).start()
    px = proxy(tmp, uf.port, "memory:", "--tls-cert", str(cert), "--tls-key", str(key)).start()
    try:
        yield px, cert
    finally:
        px.terminate()
        uf.terminate()


def secure_stub(
    port: int, cert: Path
) -> tuple[grpc.Channel, shoppingcart_pb2_grpc.ShoppingCartStub]:
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    channel = grpc.secure_channel(
        f"127.0.0.1:{port}",
        credentials,
        options=[("grpc.ssl_target_name_override", "localhost")],
    )
    return channel, shoppingcart_pb2_grpc.ShoppingCartStub(channel)


def test_grpc_and_http_over_tls(tls_proxy: tuple[Process, Path]) -> None:
    px, cert = tls_proxy
    channel, stub = secure_stub(px.port, cert)
    with channel:
        deadline = time.monotonic() + 30
        while True:  # discovery may still be running
            try:
                stub.AddItem(
                    shoppingcart_pb2.AddLineItem(
                        user_id="tls", product_id="p", name="P", quantity=2
                    ),
                    timeout=5,
                )
                break
            except grpc.RpcError as error:
                assert time.monotonic() < deadline, error
                time.sleep(0.2)
        cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="tls"), timeout=5)
        assert [(i.product_id, i.quantity) for i in cart.items] == [("p", 2)]
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as client:
        reply = client.get(f"https://localhost:{px.port}/carts/tls")
        assert reply.status_code == 200, reply.text
        assert reply.json()["items"][0]["quantity"] == 2
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(cert)), timeout=10, http2=True
    ) as client:
        reply = client.get(f"https://localhost:{px.port}/carts/tls")
        assert reply.status_code == 200 and reply.http_version == "HTTP/2", reply
        assert reply.json()["items"][0]["quantity"] == 2


def test_plaintext_client_is_not_served(tls_proxy: tuple[Process, Path]) -> None:
    px, _ = tls_proxy
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="tls"), timeout=5)
        assert refused.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.HTTPError):
        client.get(f"http://127.0.0.1:{px.port}/carts/tls")
