"""Streamed methods over HTTP (SSE, NDJSON, raw HttpBody chunks, gRPC-web) and reply metadata as
response headers, through the real client port and HTTP API over a fake router implementing
``router.stream`` (tests/http/support.py): the entities that stream are actions and CRDTs, which
these tests do not depend on."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from cloudstate.proxy.http.listener import ClientPort
from tests.http.support import FakeRouter, echo_pb2, serve

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture(loop_scope="session")
async def served() -> AsyncIterator[tuple[str, FakeRouter]]:
    port, router, _ = await serve()
    try:
        yield f"http://127.0.0.1:{port.port}", router
    finally:
        await port.close(1.0)


async def _get(base: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(kwargs.pop("method", "GET"), base + path, **kwargs)  # type: ignore[arg-type]


async def test_server_stream_as_ndjson_by_default(served: tuple[str, FakeRouter]) -> None:
    base, _ = served
    response = await _get(base, "/v1/ticks?count=3")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["x-stream"] == "1"  # the first reply's metadata
    assert [json.loads(line) for line in response.text.splitlines()] == [{}, {"n": 1}, {"n": 2}]


async def test_server_stream_as_server_sent_events(served: tuple[str, FakeRouter]) -> None:
    base, _ = served
    response = await _get(base, "/v1/ticks?count=2", headers={"accept": "text/event-stream"})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text == 'data: {}\n\ndata: {"n":1}\n\n'


async def test_stream_failure_before_first_reply_is_an_http_error(
    served: tuple[str, FakeRouter],
) -> None:
    base, _ = served
    response = await _get(base, "/v1/ticks?count=2&fail_at=start")
    assert response.status_code == 404
    assert response.json() == {"code": 5, "message": "ticker refused to start", "details": []}


async def test_stream_failure_midway_ends_the_stream_with_an_error(
    served: tuple[str, FakeRouter],
) -> None:
    base, _ = served
    ndjson = await _get(base, "/v1/ticks?count=5&fail_at=2")
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert lines == [
        {},
        {"n": 1},
        {"error": {"code": 14, "message": "tick 2 failed", "details": []}},
    ]
    sse = await _get(base, "/v1/ticks?count=5&fail_at=1", headers={"accept": "text/event-stream"})
    assert sse.text.endswith(
        'event: error\ndata: {"code":14,"message":"tick 1 failed","details":[]}\n\n'
    )


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
async def test_client_going_away_closes_the_router_stream(
    served: tuple[str, FakeRouter], http2: bool
) -> None:
    base, router = served
    before = router.closed_streams
    async with httpx.AsyncClient(http1=not http2, http2=http2) as client:
        async with client.stream("GET", base + "/v1/ticks?count=1000&fail_at=slow") as response:
            async for line in response.aiter_lines():
                assert line == "{}"
                break  # leave after the first tick: the connection/stream is closed
    for _ in range(200):
        if router.closed_streams > before:
            break
        await asyncio.sleep(0.02)
    assert router.closed_streams == before + 1


async def test_http_body_stream_is_raw_chunks(served: tuple[str, FakeRouter]) -> None:
    base, _ = served
    response = await _get(base, "/v1/files-stream?count=3")
    assert response.headers["content-type"] == "text/plain"
    assert response.content == b"chunk0;chunk1;chunk2;"


async def test_client_streaming_from_ndjson_body(served: tuple[str, FakeRouter]) -> None:
    base, _ = served
    body = b'{"n": 1}\n{"n": 2}\n\n{"n": 39}\n'
    response = await _get(
        base,
        "/v1/sum",
        method="POST",
        content=body,
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200
    assert response.json() == {"n": 42}
    one = await _get(base, "/v1/sum", method="POST", json={"n": 5})
    assert one.json() == {"n": 5}


async def test_bidirectional_stream_over_http(served: tuple[str, FakeRouter]) -> None:
    base, _ = served
    response = await _get(
        base,
        "/v1/chat",
        method="POST",
        content=b'{"n": 1}\n{"n": 2}\n',
        headers={"content-type": "application/x-ndjson", "accept": "text/event-stream"},
    )
    assert response.text == 'data: {"n":10}\n\ndata: {"n":20}\n\n'


async def test_grpc_web_server_stream(served: tuple[str, FakeRouter]) -> None:
    base, _ = served
    request = echo_pb2.TickRequest(count=2).SerializeToString()
    body = struct.pack(">BI", 0, len(request)) + request
    response = await _get(
        base,
        "/httptest.Ticker/Ticks",
        method="POST",
        content=base64.b64encode(body),
        headers={"content-type": "application/grpc-web-text", "x-grpc-web": "1"},
    )
    # Each chunk of a -text stream is base64 on its own; decode chunk by chunk.
    raw = b"".join(
        base64.b64decode(part + b"=" * (-len(part) % 4)) for part in _b64_chunks(response.content)
    )
    frames = []
    pos = 0
    while pos < len(raw):
        flag, length = struct.unpack_from(">BI", raw, pos)
        frames.append((flag, raw[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    assert [echo_pb2.Tick.FromString(data).n for flag, data in frames if flag == 0] == [0, 1]
    assert frames[-1] == (0x80, b"grpc-status: 0\r\n")


def _b64_chunks(data: bytes) -> list[bytes]:
    """Split concatenated, separately padded base64 chunks."""
    chunks, start = [], 0
    for i in range(len(data)):
        if data[i : i + 1] == b"=" and (i + 1 == len(data) or data[i + 1 : i + 2] != b"="):
            chunks.append(data[start : i + 1])
            start = i + 1
    if start < len(data):
        chunks.append(data[start:])
    return chunks


async def test_reply_metadata_becomes_response_headers(served: tuple[str, FakeRouter]) -> None:
    base, router = served
    response = await _get(base, "/v1/echo/m", headers={"x-in": "1"})
    assert response.headers["x-reply"] == "yes"
    assert base64.b64decode(response.headers["trace-bin"]) == b"\x01\x02"
    assert response.headers["content-length"] == str(len(response.content))  # not overridden
    name, _, metadata = router.calls[-1]
    assert name == "Get" and metadata is not None
    assert [(e.key, e.string_value) for e in metadata.entries] == [("x-in", "1")]


async def test_unimplemented_when_the_router_cannot_stream() -> None:
    class UnaryOnly:
        async def call(self, *args: object) -> object:
            raise AssertionError("not called")

    port, _, api = await serve()
    api.router = UnaryOnly()
    try:
        response = await _get(f"http://127.0.0.1:{port.port}", "/v1/ticks?count=1")
        assert response.status_code == 501
        assert "router streams" in response.json()["message"]
    finally:
        await port.close(1.0)


async def test_close_is_idempotent_for_a_fresh_port() -> None:
    port, _, _ = await serve()
    assert isinstance(port, ClientPort)
    await port.close(0.5)
    await port.close(0.5)
