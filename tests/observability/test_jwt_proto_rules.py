"""JWT allow rules declared in the proto (``cloudstate/auth.proto``), on gRPC and HTTP: a method
option ``allow_anonymous`` opens one method, a service option opens a service (a method's own
option replaces it), ``require`` claims refuse valid tokens without them (PERMISSION_DENIED /
403). They work together with ``--jwt-allow-anonymous``."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authtest import guarded_pb2

from cloudstate.action import Action
from cloudstate.action_context import ActionContext
from cloudstate.cloudstate import CloudState
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy

SECRET = "another-test-secret-of-32-bytes-or-more"
FILE = guarded_pb2.DESCRIPTOR


def token(**claims: Any) -> str:
    return jwt.encode(
        {"sub": "ann", "exp": int(time.time() + 300), **claims}, SECRET, algorithm="HS256"
    )


def _pong(ping: Any, ctx: ActionContext) -> Any:
    return guarded_pb2.Pong(
        text=ping.text, caller="token" if ctx.metadata.get("authorization") else ""
    )


def _actions() -> list[Action]:
    actions = []
    for service, methods in (
        ("Guarded", ("Public", "Private", "Admin")),
        ("Lobby", ("Hello", "Members")),
    ):
        action = Action(FILE.services_by_name[service], [FILE])
        for name in methods:
            action.unary(name)(_pong)
        actions.append(action)
    return actions


@pytest.fixture(scope="module")
async def proxy_port(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    key = tmp_path_factory.mktemp("jwt-rules") / "secret"
    key.write_text(SECRET)
    cloudstate = CloudState(service_name="auth-rules")
    for action in _actions():
        cloudstate.register_action(action)
    server = await cloudstate.serve_async(host="127.0.0.1", port=0)
    proxy = Proxy(
        ProxyConfig(
            user_function=server.address,
            port=0,
            store="memory:",
            jwt_key=str(key),
            jwt_allow_anonymous="authtest.Guarded/Private",  # the flag still opens methods
        )
    )
    await proxy.start()
    try:
        yield proxy.port
    finally:
        await proxy.stop(0)
        await server.stop(0)


CASES = [
    # (method, token claims or None for no token, expected gRPC status)
    ("authtest.Guarded/Public", None, grpc.StatusCode.OK),
    ("authtest.Guarded/Private", None, grpc.StatusCode.OK),  # --jwt-allow-anonymous
    ("authtest.Guarded/Admin", None, grpc.StatusCode.UNAUTHENTICATED),
    ("authtest.Guarded/Admin", {}, grpc.StatusCode.PERMISSION_DENIED),
    ("authtest.Guarded/Admin", {"role": "user"}, grpc.StatusCode.PERMISSION_DENIED),
    ("authtest.Guarded/Admin", {"role": "admin"}, grpc.StatusCode.OK),
    ("authtest.Guarded/Admin", {"role": ["user", "admin"]}, grpc.StatusCode.OK),
    ("authtest.Lobby/Hello", None, grpc.StatusCode.OK),  # service option
    ("authtest.Lobby/Members", None, grpc.StatusCode.UNAUTHENTICATED),  # method replaces it
    ("authtest.Lobby/Members", {}, grpc.StatusCode.OK),
]
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
}


def _headers(claims: dict[str, Any] | None) -> dict[str, str]:
    return {} if claims is None else {"authorization": f"Bearer {token(**claims)}"}


@pytest.mark.parametrize(("path", "claims", "expected"), CASES)
async def test_grpc(
    proxy_port: int, path: str, claims: dict[str, Any] | None, expected: grpc.StatusCode
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy_port}") as channel:
        call = channel.unary_unary(
            f"/{path}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=guarded_pb2.Pong.FromString,
        )
        metadata = tuple(_headers(claims).items())
        if expected == grpc.StatusCode.OK:
            pong = await call(guarded_pb2.Ping(text="hi"), metadata=metadata, timeout=10)
            assert pong.text == "hi"
            assert pong.caller == ("" if claims is None else "token")
            return
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(guarded_pb2.Ping(text="hi"), metadata=metadata, timeout=10)
        assert refused.value.code() == expected
        method = path.rsplit("/", 1)[1]
        assert method in (refused.value.details() or "")
        if expected == grpc.StatusCode.PERMISSION_DENIED:
            assert "role='admin'" in (refused.value.details() or "")


@pytest.mark.parametrize(("path", "claims", "expected"), CASES)
async def test_http(
    proxy_port: int, path: str, claims: dict[str, Any] | None, expected: grpc.StatusCode
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.post(
            f"http://127.0.0.1:{proxy_port}/{path}", json={"text": "hi"}, headers=_headers(claims)
        )
    assert reply.status_code == HTTP_STATUS[expected], reply.text
    if expected == grpc.StatusCode.OK:
        assert reply.json()["text"] == "hi"
