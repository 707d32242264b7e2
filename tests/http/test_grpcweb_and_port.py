"""gRPC-web as browser libraries send it (binary and text framing, HTTP/1.1 and HTTP/2), native
gRPC on the same port, the direct ``--grpc-port``, and health before discovery."""

from __future__ import annotations

import base64
import struct
import sys
from pathlib import Path

import grpc
import httpx
import pytest

from tests.http.conftest import Running
from tests.processes import free_port, proxy, wait_serving

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httptest import echo_pb2, echo_pb2_grpc

pytestmark = pytest.mark.timeout(120)

# What grpc-web (the JS library) sends: these headers and a length-prefixed frame.
BROWSER_HEADERS = {
    "x-grpc-web": "1",
    "x-user-agent": "grpc-web-javascript/0.1",
    "accept": "application/grpc-web-text",
}


def frame(message: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(message)) + message


def parse_frames(body: bytes) -> list[tuple[int, bytes]]:
    frames = []
    pos = 0
    while pos < len(body):
        flag, length = struct.unpack_from(">BI", body, pos)
        frames.append((flag, body[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    assert pos == len(body), "trailing bytes after the last frame"
    return frames


def trailers(block: bytes) -> dict[str, str]:
    lines = block.decode().split("\r\n")
    assert lines[-1] == ""
    return dict(line.split(": ", 1) for line in lines[:-1])


def call(
    client: httpx.Client,
    url: str,
    body: bytes,
    text: bool,
    extra: dict[str, str] | None = None,
) -> tuple[httpx.Response, list[tuple[int, bytes]]]:
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    payload = base64.b64encode(body) if text else body
    response = client.post(
        url,
        content=payload,
        headers={"content-type": content_type, **BROWSER_HEADERS, **(extra or {})},
    )
    raw = base64.b64decode(response.content) if text else response.content
    return response, parse_frames(raw)


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
def test_grpc_web_unary_frames_and_trailers(echo: Running, text: bool, http2: bool) -> None:
    request = echo_pb2.EchoRequest(id="web", name="browser").SerializeToString()
    with httpx.Client(http1=not http2, http2=http2) as client:
        url = echo.url("/httptest.Echo/Get")
        response, frames = call(client, url, frame(request), text, {"x-app": "a"})
        assert response.status_code == 200
        assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        expected_type = "application/grpc-web-text+proto" if text else "application/grpc-web+proto"
        assert response.headers["content-type"] == expected_type
        assert [flag for flag, _ in frames] == [0x00, 0x80]
        reply = echo_pb2.EchoReply.FromString(frames[0][1])
        assert reply.request.name == "browser" and reply.method == "Get"
        assert dict(reply.metadata) == {"x-app": "a"}  # x-grpc-web etc. are not metadata
        assert trailers(frames[1][1]) == {"grpc-status": "0"}

        failing = echo_pb2.FailRequest(id="web", code=5, message="no such thing: 100%")
        response, frames = call(
            client, echo.url("/httptest.Echo/Fail"), frame(failing.SerializeToString()), text
        )
        assert response.status_code == 200
        assert [flag for flag, _ in frames] == [0x80]
        assert trailers(frames[0][1]) == {
            "grpc-status": "5",
            "grpc-message": "no such thing: 100%25",
        }


def test_grpc_web_text_in_several_base64_chunks(echo: Running) -> None:
    request = frame(echo_pb2.EchoRequest(id="chunks", name="c").SerializeToString())
    # Browsers may send the body as separately padded base64 chunks.
    body = base64.b64encode(request[:7]) + base64.b64encode(request[7:])
    response = httpx.post(
        echo.url("/httptest.Echo/Get"),
        content=body,
        headers={"content-type": "application/grpc-web-text", **BROWSER_HEADERS},
    )
    frames = parse_frames(base64.b64decode(response.content))
    assert echo_pb2.EchoReply.FromString(frames[0][1]).request.name == "c"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/httptest.Echo/Nope", frame(b""), "12", "unknown method"),
        ("/httptest.Echo/Get", b"\x00\x00\x00\x00\x09ab", "3", "only 2 follow"),
        ("/httptest.Echo/Get", frame(b"") + frame(b""), "3", "exactly one request message"),
        ("/httptest.Echo/Get", frame(b"\x01", flag=1), "3", "compressed"),
        ("/httptest.Echo/Get", frame(b""), "3", "entity key"),
    ],
    ids=["unknown-method", "truncated", "two-messages", "compressed", "no-key"],
)
def test_grpc_web_errors_are_trailers(
    echo: Running, path: str, body: bytes, status: str, message: str
) -> None:
    with httpx.Client() as client:
        response, frames = call(client, echo.url(path), body, text=False)
    assert response.status_code == 200
    assert len(frames) == 1 and frames[0][0] == 0x80
    got = trailers(frames[0][1])
    assert got["grpc-status"] == status
    assert message in got["grpc-message"]


def test_grpc_web_cors_preflight_and_exposed_headers(echo: Running) -> None:
    origin = "https://app.example"
    preflight = httpx.options(
        echo.url("/httptest.Echo/Get", custom=True),
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web,x-user-agent",
        },
    )
    assert preflight.status_code == 204
    assert (
        preflight.headers["access-control-allow-headers"] == "content-type,x-grpc-web,x-user-agent"
    )
    with httpx.Client() as client:
        response, _ = call(
            client,
            echo.url("/httptest.Echo/Get", custom=True),
            frame(echo_pb2.EchoRequest(id="cors").SerializeToString()),
            text=False,
            extra={"origin": origin},
        )
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"]
    assert "grpc-status" in exposed and "grpc-message" in exposed


def test_native_grpc_on_the_same_port(echo: Running) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{echo.default.port}") as channel:
        stub = echo_pb2_grpc.EchoStub(channel)
        reply = stub.Get(echo_pb2.EchoRequest(id="native", count=4), metadata=[("x-n", "1")])
        assert reply.request.count == 4 and dict(reply.metadata) == {"x-n": "1"}
        with pytest.raises(grpc.RpcError) as failure:
            stub.Fail(echo_pb2.FailRequest(id="native", code=7, message="denied"))
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # HTTP on the same port still works alongside.
    assert httpx.get(echo.url("/v1/echo/native")).status_code == 200


def test_direct_grpc_port_and_health_before_discovery(tmp_path: Path) -> None:
    # No user function is listening: the proxy keeps retrying discovery.
    direct = free_port()
    px = proxy(tmp_path, free_port(), "memory:", "--grpc-port", str(direct)).start()
    try:
        base = f"http://127.0.0.1:{px.port}"
        assert httpx.get(base + "/health/live").status_code == 200
        ready = httpx.get(base + "/health/ready")
        assert ready.status_code == 503 and ready.json() == {"status": "starting"}
        early = httpx.get(base + "/v1/echo/x")
        assert early.status_code == 503 and early.json()["code"] == 14
        assert httpx.get(base + "/openapi.json").status_code == 503
    finally:
        code = px.terminate()
    assert code == 0  # SIGTERM during discovery stops the proxy cleanly


def test_direct_grpc_port_serves_native_grpc(echo: Running, tmp_path: Path) -> None:
    direct = free_port()
    px = proxy(tmp_path, echo.uf.port, "memory:", "--grpc-port", str(direct)).start()
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{direct}") as channel:
            reply = echo_pb2_grpc.EchoStub(channel).Get(echo_pb2.EchoRequest(id="d"))
            assert reply.method == "Get"
    finally:
        assert px.terminate() == 0
