"""Streamed methods over HTTP end to end: the ``httptest.Ticker`` action of the echo user function
(SDK actions) through the real proxy, its router's streams and the client port."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import grpc
import httpx
import pytest

from tests.http.conftest import Running

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httptest import echo_pb2, echo_pb2_grpc

pytestmark = pytest.mark.timeout(120)


def test_server_stream_as_ndjson_and_sse(echo: Running) -> None:
    ndjson = httpx.get(echo.url("/v1/ticks?count=3"))
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in ndjson.text.splitlines()] == [{}, {"n": 1}, {"n": 2}]
    sse = httpx.get(echo.url("/v1/ticks?count=2"), headers={"accept": "text/event-stream"})
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.text == 'data: {}\n\ndata: {"n":1}\n\n'
    empty = httpx.get(echo.url("/v1/ticks?count=0"))
    assert empty.status_code == 200 and empty.text == ""


def test_client_and_bidirectional_streams_from_ndjson(echo: Running) -> None:
    ndjson = {"content-type": "application/x-ndjson"}
    total = httpx.post(echo.url("/v1/sum"), content=b'{"n":1}\n{"n":41}\n', headers=ndjson)
    assert total.json() == {"n": 42}
    chat = httpx.post(echo.url("/v1/chat"), content=b'{"n":1}\n{"n":4}\n', headers=ndjson)
    assert [json.loads(line) for line in chat.text.splitlines()] == [{"n": 10}, {"n": 40}]


def test_http_body_stream(echo: Running) -> None:
    response = httpx.get(echo.url("/v1/files-stream?count=3"))
    assert response.headers["content-type"] == "text/plain"
    assert response.content == b"chunk0;chunk1;chunk2;"


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_grpc_web_server_stream(echo: Running, http2: bool) -> None:
    request = echo_pb2.TickRequest(count=3).SerializeToString()
    with httpx.Client(http1=not http2, http2=http2) as client:
        response = client.post(
            echo.url("/httptest.Ticker/Ticks"),
            content=struct.pack(">BI", 0, len(request)) + request,
            headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
        )
    body, frames, pos = response.content, [], 0
    while pos < len(body):
        flag, length = struct.unpack_from(">BI", body, pos)
        frames.append((flag, body[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    assert [echo_pb2.Tick.FromString(data).n for flag, data in frames[:-1]] == [0, 1, 2]
    assert frames[-1] == (0x80, b"grpc-status: 0\r\n")


def test_native_grpc_streams_through_the_relay(echo: Running) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{echo.default.port}") as channel:
        stub = echo_pb2_grpc.TickerStub(channel)
        assert [t.n for t in stub.Ticks(echo_pb2.TickRequest(count=4))] == [0, 1, 2, 3]
        assert stub.Sum(iter([echo_pb2.Tick(n=2), echo_pb2.Tick(n=3)])).n == 5
