"""JWT edge cases (issue 22): every bad token is UNAUTHENTICATED / 401 with a short message and no
traceback in the proxy's log, never a 500; an unusable ``--jwt-key`` file stops the proxy at
start (exit 2) with one line naming the flag."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import Process, proxy, shoppingcart_user_function, wait_serving


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(header: object, signature: bytes = b"not-a-signature") -> str:
    claims = {"sub": "ann", "exp": int(time.time() + 300)}
    header_part = _b64(json.dumps(header).encode()) if header is not None else "%%%"
    return f"{header_part}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


def _hs256_with(secret: bytes) -> str:
    """A token signed HS256 with ``secret`` (the public key: the classic confusion attack)."""
    import hashlib
    import hmac

    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": "ann", "exp": int(time.time() + 300)}).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


@pytest.fixture(scope="module")
def rsa_public_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("rsa")
    private, public = tmp / "rsa.pem", tmp / "rsa.pub"
    subprocess.run(
        [
            *("openssl", "genpkey", "-algorithm", "RSA"),
            *("-pkeyopt", "rsa_keygen_bits:2048", "-out", str(private)),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)],
        check=True,
        capture_output=True,
    )
    return public


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, rsa_public_key: Path) -> Iterator[Process]:
    pytest.importorskip("cryptography")  # PyJWT reads PEM keys with it (locked in the dev group)
    tmp: Path = tmp_path_factory.mktemp("jwt-edges")
    uf = shoppingcart_user_function(tmp).start()
    px = proxy(tmp, uf.port, "memory:", "--jwt-key", str(rsa_public_key)).start()
    try:
        wait_serving(px.port)
        yield px
    finally:
        px.terminate()
        uf.terminate()


def _bad_tokens(public_key: Path) -> dict[str, str]:
    return {
        "es256-unsigned": _token({"alg": "ES256", "typ": "JWT"}, b""),
        "es256-signed": _token({"alg": "ES256", "typ": "JWT"}),
        "none": _token({"alg": "none", "typ": "JWT"}, b""),
        "hs256-public-key-secret": _hs256_with(public_key.read_bytes()),
        "header-not-json": _token(None),
        "header-a-list": _token(["ES256"]),
        "alg-an-object": _token({"alg": {"x": 1}}),
        "garbage": "a.b.c",
    }


CASES = list(_bad_tokens(Path(__file__)).keys())


@pytest.mark.parametrize("case", CASES)
def test_grpc_bad_tokens_are_unauthenticated_without_a_traceback(
    guarded: Process, rsa_public_key: Path, case: str
) -> None:
    token = _bad_tokens(rsa_public_key)[case]
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(user_id="edge", product_id="p", name="P", quantity=1),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=10,
            )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, refused.value.details()
    details = refused.value.details() or ""
    assert "AddItem" in details and len(details) < 300, details
    assert "Traceback" not in guarded.log()


@pytest.mark.parametrize("case", CASES)
def test_http_bad_tokens_get_401_without_a_traceback(
    guarded: Process, rsa_public_key: Path, case: str
) -> None:
    token = _bad_tokens(rsa_public_key)[case]
    url = f"http://127.0.0.1:{guarded.port}/cart/edge-http/items/add"
    body = {"productId": "p", "name": "P", "quantity": 1}
    with httpx.Client(timeout=10) as client:
        reply = client.post(url, json=body, headers={"authorization": f"Bearer {token}"})
    assert reply.status_code == 401, reply.text
    assert len(reply.text) < 400, reply.text
    assert "Traceback" not in guarded.log()


def _start(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudstate.cli", "proxy", "--discovery-timeout", "1", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\n", "empty"),
        (b"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ ann@host\n", "not a key of HS256"),
        (
            b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n",
            "not a key of RS256 / ES256",
        ),
    ],
    ids=["empty", "newline", "ssh-key", "garbage-pem"],
)
def test_an_unusable_key_file_stops_the_proxy_naming_the_flag(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    key = tmp_path / "jwt.key"
    key.write_bytes(content)
    result = _start("--jwt-key", str(key))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cloudstate proxy: error: --jwt-key '{key}': {expected}"), lines
    assert "Traceback" not in result.stderr
