"""Native gRPC served by the proxy's own HTTP/2 server (``--grpc-front h2``) against the
whole-connection relay to grpc.aio (``--grpc-front relay``): real grpc.aio clients, the real
client port and internal grpc.aio server, over the fake router of support.py. Every test runs
against both fronts: a client must not see which one answered."""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httptest import echo_pb2, echo_pb2_grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import Overloaded, ProxyError
from cloudstate.proxy.http.api import HttpApi
from cloudstate.proxy.http.grpc_native import GrpcFront
from cloudstate.proxy.http.limits import ConnectionLimits, ConnectionSettings
from cloudstate.proxy.http.listener import ClientPort, internal_socket
from cloudstate.proxy.ingress.grpc_ingress import add_user_services
from cloudstate.proxy.router import RouterReply
from tests.http.conftest import Running
from tests.http.support import FakeRouter, echo_model
from tests.processes import proxy, wait_serving

pytestmark = pytest.mark.timeout(60)

MAX_MESSAGE = 64 * 1024


class SlowRouter(FakeRouter):
    """The fake router; a call with ``x-sleep: S`` metadata takes S seconds (cancelled: noted)."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = 0

    async def call(
        self, method: object, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> RouterReply:
        for entry in metadata.entries if metadata else ():
            if entry.key == "x-sleep":
                try:
                    await asyncio.sleep(float(entry.string_value))
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
        return await super().call(method, payload, metadata)


class Served:
    def __init__(self, port: ClientPort, server: grpc.aio.Server, router: SlowRouter) -> None:
        self.port, self.server, self.router = port, server, router
        self.address = f"127.0.0.1:{port.port}"


async def start(front: str, settings: ConnectionSettings | None = None) -> Served:
    """A client port with the given front, its grpc.aio server on the internal socket."""
    api = HttpApi()
    router = SlowRouter()
    model = echo_model()
    api.activate(model, router)
    _directory, address, connect = internal_socket("cloudstate-test-")
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE)])
    await add_user_services(server, model, router)  # type: ignore[arg-type]
    assert server.add_insecure_port(address)
    await server.start()
    grpc_front = GrpcFront(address, asyncio.Event(), MAX_MESSAGE) if front == "h2" else None
    limits = ConnectionLimits(settings or ConnectionSettings())
    port = ClientPort(api, "127.0.0.1", 0, connect, limits=limits, grpc_front=grpc_front)
    await port.start()
    port.grpc_ready.set()
    return Served(port, server, router)


async def stop(served: Served) -> None:
    await served.port.close(1.0)
    await served.server.stop(None)


@pytest_asyncio.fixture(loop_scope="session", scope="module", params=["h2", "relay"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    running = await start(request.param)
    try:
        yield running
    finally:
        await stop(running)


@pytest_asyncio.fixture(loop_scope="session")
async def stub(served: Served) -> AsyncIterator[echo_pb2_grpc.EchoStub]:
    served.router.fail_with = None
    async with grpc.aio.insecure_channel(served.address) as channel:
        yield echo_pb2_grpc.EchoStub(channel)
    served.router.fail_with = None


async def test_unary_call_with_metadata_both_ways(
    served: Served, stub: echo_pb2_grpc.EchoStub
) -> None:
    metadata = (("x-n", "1"), ("blob-bin", b"\x00\xff\x01"), ("authorization", "Bearer t"))
    call = stub.Get(echo_pb2.EchoRequest(id="a", count=4), metadata=metadata)
    reply = await call
    assert reply.request.count == 4 and reply.method == "Get"
    assert dict(reply.metadata) == {
        "x-n": "1",
        "blob-bin": "bytes:00ff01",
        "authorization": "Bearer t",
    }
    initial = dict(await call.initial_metadata())
    assert initial["x-reply"] == "yes" and initial["trace-bin"] == b"\x01\x02"
    assert await call.code() == grpc.StatusCode.OK


async def test_the_router_gets_the_same_metadata_from_both_fronts() -> None:
    seen = []
    for front in ("h2", "relay"):
        running = await start(front)
        try:
            async with grpc.aio.insecure_channel(running.address) as channel:
                metadata = (("x-a", "1"), ("k-bin", b"\x00\x01"), ("x-a", "2"))
                await echo_pb2_grpc.EchoStub(channel).Get(
                    echo_pb2.EchoRequest(id="m"), metadata=metadata, timeout=10
                )
            seen.append(running.router.calls[-1][2])
        finally:
            await stop(running)
    assert seen[0] == seen[1]
    assert seen[0] is not None and sorted(e.key for e in seen[0].entries) == ["k-bin", "x-a", "x-a"]


async def test_a_failure_gives_its_status_and_message(
    served: Served, stub: echo_pb2_grpc.EchoStub
) -> None:
    served.router.fail_with = ProxyError("no cart for 'ä' (100% sure)", grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Get(echo_pb2.EchoRequest(id="f"))
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert failure.value.details() == "no cart for 'ä' (100% sure)"


async def test_an_overloaded_refusal_carries_the_pushback(
    served: Served, stub: echo_pb2_grpc.EchoStub
) -> None:
    served.router.fail_with = Overloaded("too busy", retry_after=2.5)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Get(echo_pb2.EchoRequest(id="o"))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(failure.value.trailing_metadata())["grpc-retry-pushback-ms"] == "2500"


async def test_server_streaming(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.address) as channel:
        call = echo_pb2_grpc.TickerStub(channel).Ticks(echo_pb2.TickRequest(count=3))
        assert [tick.n async for tick in call] == [0, 1, 2]
        assert dict(await call.initial_metadata())["x-stream"] == "1"
        failing = echo_pb2_grpc.TickerStub(channel).Ticks(
            echo_pb2.TickRequest(count=3, fail_at="1")
        )
        got = []
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            async for tick in failing:
                got.append(tick.n)
        assert got == [0] and failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert failure.value.details() == "tick 1 failed"


async def test_a_cancelled_server_stream_closes_the_router_stream(served: Served) -> None:
    closed = served.router.closed_streams
    async with grpc.aio.insecure_channel(served.address) as channel:
        call = echo_pb2_grpc.TickerStub(channel).Ticks(
            echo_pb2.TickRequest(count=1000, fail_at="slow")
        )
        assert (await call.read()).n == 0
        call.cancel()
        for _ in range(100):
            if served.router.closed_streams > closed:
                break
            await asyncio.sleep(0.02)
    assert served.router.closed_streams == closed + 1


async def test_client_streaming_and_bidi_are_relayed(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.address) as channel:
        ticker = echo_pb2_grpc.TickerStub(channel)
        total = await ticker.Sum(iter([echo_pb2.Tick(n=n) for n in (1, 2, 3)]))
        assert total.n == 6
        chat = ticker.Chat()
        for n in (1, 2):  # each answer comes before the next request is sent
            await chat.write(echo_pb2.Tick(n=n))
            assert (await asyncio.wait_for(chat.read(), 10)).n == n * 10
        await chat.done_writing()
        assert await chat.read() == grpc.aio.EOF
        assert await chat.code() == grpc.StatusCode.OK


async def test_reflection_lists_the_services(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        answer = await call.read()
        names = {s.name for s in answer.list_services_response.service}
        assert {"httptest.Echo", "httptest.Ticker"} <= names
        await call.write(
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="httptest.Echo")
        )
        assert (await call.read()).file_descriptor_response.file_descriptor_proto
        await call.done_writing()


async def test_health_check_and_unknown_paths(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service="httptest.Echo"))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        unknown = channel.unary_unary("/no.Such/Method")
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await unknown(b"")
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_deadline_cancels_the_call(served: Served, stub: echo_pb2_grpc.EchoStub) -> None:
    cancelled = served.router.cancelled
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Get(echo_pb2.EchoRequest(id="d"), metadata=(("x-sleep", "30"),), timeout=0.3)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(100):
        if served.router.cancelled > cancelled:
            break
        await asyncio.sleep(0.02)
    assert served.router.cancelled == cancelled + 1  # the proxy stopped the call


async def raw_grpc(
    address: str,
    path: str,
    message: bytes,
    headers: list[tuple[str, str]],
    flag: int = 0,
    end: bool = True,
) -> tuple[list[tuple[str, str]], bytes, list[tuple[str, str]]]:
    """One gRPC call by hand (the h2 library as client, which never resets the stream on its
    own): the response headers, the DATA bytes, and the trailers (empty if trailers-only)."""
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(header_encoding="utf-8"))
    conn.initiate_connection()
    request = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", address),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        *headers,
    ]
    conn.send_headers(1, request)
    conn.send_data(1, struct.pack(">BI", flag, len(message)) + message, end_stream=end)
    writer.write(conn.data_to_send())
    blocks: list[list[tuple[str, str]]] = []
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, "the proxy closed the connection"
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.StreamReset) and blocks and not end:
                    return blocks[0], data, blocks[1] if len(blocks) > 1 else []
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    blocks.append([(str(k), str(v)) for k, v in event.headers])
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    return blocks[0], data, blocks[1] if len(blocks) > 1 else []
                elif isinstance(event, h2.events.StreamReset):
                    raise AssertionError(f"stream reset: {event.error_code}")
            writer.write(conn.data_to_send())
    finally:
        writer.close()


async def test_grpc_timeout_is_applied_by_the_proxy(served: Served) -> None:
    """The client never gives up here: only the proxy's deadline can end the call."""
    cancelled = served.router.cancelled
    request = echo_pb2.EchoRequest(id="t").SerializeToString()
    head, data, trailers = await raw_grpc(
        served.address,
        "/httptest.Echo/Get",
        request,
        [("grpc-timeout", "200m"), ("x-sleep", "30")],
    )
    ending = dict(head + trailers)
    assert ending[":status"] == "200" and ending["grpc-status"] == "4", ending
    assert data == b""
    for _ in range(100):
        if served.router.cancelled > cancelled:
            break
        await asyncio.sleep(0.02)
    assert served.router.cancelled == cancelled + 1


async def test_an_error_before_any_message_is_trailers_only(served: Served) -> None:
    served.router.fail_with = ProxyError("100% gone: ä", grpc.StatusCode.NOT_FOUND)
    try:
        request = echo_pb2.EchoRequest(id="t").SerializeToString()
        head, data, trailers = await raw_grpc(served.address, "/httptest.Echo/Get", request, [])
    finally:
        served.router.fail_with = None
    assert trailers == [] and data == b""
    fields = dict(head)
    assert fields[":status"] == "200" and fields["content-type"] == "application/grpc"
    assert fields["grpc-status"] == "5"
    assert fields["grpc-message"] == "100%25 gone: %C3%A4"  # percent-encoded (PROTOCOL-HTTP2)


async def test_an_unknown_compression_is_unimplemented(served: Served) -> None:
    request = echo_pb2.EchoRequest(id="c").SerializeToString()
    head, _, trailers = await raw_grpc(
        served.address, "/httptest.Echo/Get", request, [("grpc-encoding", "snappy")], flag=1
    )
    ending = dict(head + trailers)
    if served.port.grpc is None:  # the relay: grpc.aio's own answer, less precise
        assert ending["grpc-status"] == "13", ending  # INTERNAL
        assert "grpc-encoding" in ending.get("grpc-message", ""), ending
        return
    assert ending["grpc-status"] == "12", ending  # UNIMPLEMENTED
    assert "snappy" in ending["grpc-message"]


async def test_a_body_that_does_not_arrive_in_time_is_deadline_exceeded() -> None:
    running = await start("h2", ConnectionSettings(body_timeout=0.3))
    try:
        request = echo_pb2.EchoRequest(id="s").SerializeToString()
        head, _, trailers = await raw_grpc(
            running.address, "/httptest.Echo/Get", request, [], end=False
        )
        ending = dict(head + trailers)
        assert ending["grpc-status"] == "4", ending  # DEADLINE_EXCEEDED
        assert "--http-body-timeout" in ending["grpc-message"]
    finally:
        await stop(running)


async def test_a_gzip_compressed_request(served: Served, stub: echo_pb2_grpc.EchoStub) -> None:
    request = echo_pb2.EchoRequest(id="z", name="x" * 5000)
    reply = await stub.Get(request, compression=grpc.Compression.Gzip)
    assert reply.request.name == "x" * 5000
    async with grpc.aio.insecure_channel(
        served.address, compression=grpc.Compression.Deflate
    ) as channel:
        total = await echo_pb2_grpc.TickerStub(channel).Sum(iter([echo_pb2.Tick(n=4)] * 3))
        assert total.n == 12


async def test_a_message_over_the_max_size_is_refused(
    served: Served, stub: echo_pb2_grpc.EchoStub
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Get(echo_pb2.EchoRequest(id="big", name="x" * (MAX_MESSAGE + 10)))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (failure.value.details() or "")
    # Compressed small, large once decompressed: refused too.
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Get(
            echo_pb2.EchoRequest(id="zip", name="x" * (MAX_MESSAGE + 10)),
            compression=grpc.Compression.Gzip,
        )
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reply = await stub.Get(echo_pb2.EchoRequest(id="fits", name="x" * (MAX_MESSAGE - 100)))
    assert len(reply.request.name) == MAX_MESSAGE - 100


async def test_over_the_memory_budget_is_unavailable_with_pushback() -> None:
    running = await start("h2", ConnectionSettings(max_buffered=4096))
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await echo_pb2_grpc.EchoStub(channel).Get(
                    echo_pb2.EchoRequest(id="b", name="x" * 8000), timeout=10
                )
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(failure.value.trailing_metadata())["grpc-retry-pushback-ms"] == "1000"
    finally:
        await stop(running)


@pytest.mark.parametrize("front", ["h2", "relay"])
def test_a_real_proxy_serves_native_grpc_with_either_front(
    echo: Running, tmp_path: Path, front: str
) -> None:
    px = proxy(tmp_path, echo.uf.port, "memory:", "--grpc-front", front).start()
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = echo_pb2_grpc.EchoStub(channel)
            metadata = [("x-n", "1"), ("k-bin", b"\x07")]
            reply = stub.Plain(echo_pb2.EchoRequest(id=front), metadata=metadata, timeout=10)
            assert dict(reply.metadata) == {"x-n": "1", "k-bin": "bytes:07"}
            with pytest.raises(grpc.RpcError) as failure:
                stub.Fail(echo_pb2.FailRequest(id=front, code=7, message="denied"), timeout=10)
            assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert failure.value.details() == "denied"
            ticker = echo_pb2_grpc.TickerStub(channel)
            ticks = ticker.Ticks(echo_pb2.TickRequest(count=3), timeout=10)
            assert [t.n for t in ticks] == [0, 1, 2]
            assert ticker.Sum(iter([echo_pb2.Tick(n=2)] * 2), timeout=10).n == 4
            assert [t.n for t in ticker.Chat(iter([echo_pb2.Tick(n=1)]), timeout=10)] == [10]
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            answers = reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
            )
            names = {s.name for a in answers for s in a.list_services_response.service}
            assert "httptest.Echo" in names
    finally:
        assert px.terminate() == 0
