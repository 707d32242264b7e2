"""mTLS between the proxy and the user function, with a CA and certificates this test generates
(openssl): the user function serves TLS and requires client certificates signed by the CA
(``CLOUDSTATE_SERVER_TLS_*``); a proxy with the CA and a client certificate
(``--uf-tls-ca/--uf-tls-cert/--uf-tls-key``) serves the cart, a proxy without a client
certificate or with one from another CA is refused: its requests get UNAVAILABLE and its log says
what to check."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import Process, proxy, shoppingcart_user_function, wait_serving


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(tmp: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def make_signed(
    tmp: Path, name: str, ca: tuple[Path, Path], server: bool, usage: str = ""
) -> tuple[Path, Path]:
    """A certificate for ``name`` signed by ``ca`` (a server one names localhost / 127.0.0.1);
    ``usage`` overrides the extended key usage (e.g. ``"serverAuth,clientAuth"``)."""
    cert, key, csr, ext = (tmp / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    usage = usage or ("serverAuth" if server else "clientAuth")
    lines = [f"extendedKeyUsage={usage}"]
    if server:
        lines.append("subjectAltName=DNS:localhost,IP:127.0.0.1")
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("mtls")
    ca = make_ca(tmp, "test-ca")
    other_ca = make_ca(tmp, "other-ca")
    server = make_signed(tmp, "user-function", ca, server=True)
    client = make_signed(tmp, "proxy", ca, server=False)
    stranger = make_signed(tmp, "stranger", other_ca, server=False)
    return {
        "tmp": tmp,
        "ca": ca[0],
        "server_cert": server[0],
        "server_key": server[1],
        "client_cert": client[0],
        "client_key": client[1],
        "stranger_cert": stranger[0],
        "stranger_key": stranger[1],
    }


@pytest.fixture(scope="module")
def tls_user_function(certs: dict[str, Path]) -> Iterator[Process]:
    uf = shoppingcart_user_function(certs["tmp"])
    assert uf.env is not None
    uf.env.update(
        CLOUDSTATE_SERVER_TLS_CERT=str(certs["server_cert"]),
        CLOUDSTATE_SERVER_TLS_KEY=str(certs["server_key"]),
        CLOUDSTATE_SERVER_TLS_CLIENT_CA=str(certs["ca"]),
    )
    uf.start()
    try:
        yield uf
    finally:
        uf.terminate()


def test_proxy_with_the_right_client_certificate(
    certs: dict[str, Path], tls_user_function: Process
) -> None:
    px = proxy(
        certs["tmp"], tls_user_function.port, "memory:",
        "--uf-tls-ca", str(certs["ca"]),
        "--uf-tls-cert", str(certs["client_cert"]),
        "--uf-tls-key", str(certs["client_key"]),
    ).start()  # fmt: skip
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(user_id="mtls", product_id="p", name="P", quantity=3),
                timeout=10,
            )
            cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="mtls"), timeout=10)
        assert [(i.product_id, i.quantity) for i in cart.items] == [("p", 3)]
    finally:
        px.terminate()


@pytest.mark.parametrize("client", ["none", "stranger"])
def test_proxy_without_an_accepted_client_certificate_is_refused(
    certs: dict[str, Path], tls_user_function: Process, client: str
) -> None:
    flags = ["--uf-tls-ca", str(certs["ca"]), "--discovery-timeout", "3"]
    if client == "stranger":
        flags += ["--uf-tls-cert", str(certs["stranger_cert"])]
        flags += ["--uf-tls-key", str(certs["stranger_key"])]
    px = proxy(certs["tmp"], tls_user_function.port, "memory:", *flags).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="mtls"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
        assert px.process is not None
        px.process.wait(timeout=30)  # gives up after --discovery-timeout
        assert px.process.returncode != 0
        log = px.log()
        assert "did not answer discovery within 3s: UNAVAILABLE" in log, log
        assert "check that --uf-tls-ca signed its certificate" in log, log
    finally:
        px.terminate()
    assert tls_user_function.alive


def test_plaintext_proxy_is_refused(certs: dict[str, Path], tls_user_function: Process) -> None:
    px = proxy(certs["tmp"], tls_user_function.port, "memory:", "--discovery-timeout", "2").start()
    try:
        assert px.process is not None
        started = time.monotonic()
        px.process.wait(timeout=30)
        assert px.process.returncode != 0 and time.monotonic() - started < 30
        assert "did not answer discovery within 2s" in px.log()
    finally:
        px.terminate()
