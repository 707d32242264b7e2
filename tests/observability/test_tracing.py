"""OpenTelemetry tracing: one trace spans the client, the proxy and the user function.

The proxy and the SDK user function run in this process, each with its own tracer provider and
in-memory exporter. Both take their parent span from the metadata (never from the task's current
context), so a parent link between the two exporters' spans can only come from the
``traceparent`` that crossed the wire. ``test_tracing_otlp.py`` does the same with real processes
exporting over OTLP. Every ingress is covered: native gRPC, HTTP/JSON and gRPC-web.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cloudstate import tracing as sdk_tracing
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from tests.actions.model import pb

CLIENT_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
CLIENT_SPAN = 0xB7AD6B7169203331
TRACEPARENT = f"00-{CLIENT_TRACE:032x}-{CLIENT_SPAN:016x}-01"


def _recorder() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


class Stack:
    def __init__(self, proxy: Proxy, proxy_spans: InMemorySpanExporter, uf_spans: Any) -> None:
        self.proxy = proxy
        self.proxy_spans = proxy_spans
        self.uf_spans = uf_spans

    def clear(self) -> None:
        self.proxy_spans.clear()
        self.uf_spans.clear()

    async def wait(self, proxy_count: int, uf_count: int) -> None:
        """Until the exporters hold this many spans (asynchronous side effects end later)."""
        for _ in range(500):
            if (
                len(self.proxy_spans.get_finished_spans()) >= proxy_count
                and len(self.uf_spans.get_finished_spans()) >= uf_count
            ):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(
            f"spans: proxy {names(self.proxy_spans)}, user function {names(self.uf_spans)}"
        )


def names(exporter: InMemorySpanExporter) -> list[str]:
    return [span.name for span in exporter.get_finished_spans()]


def one(exporter: InMemorySpanExporter, name: str, **attributes: Any) -> ReadableSpan:
    found = [
        span
        for span in exporter.get_finished_spans()
        if span.name == name
        and all((span.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, names(exporter))
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    from tests.actions.uf import build

    uf_provider, uf_spans = _recorder()
    proxy_provider, proxy_spans = _recorder()
    cloudstate = build()
    cloudstate.tracer_provider = uf_provider
    server = await cloudstate.serve_async(host="127.0.0.1", port=0)
    proxy = Proxy(
        ProxyConfig(user_function=server.address, port=0, store="memory:"),
        tracer_provider=proxy_provider,
    )
    await proxy.start()
    try:
        yield Stack(proxy, proxy_spans, uf_spans)
    finally:
        await proxy.stop(0)
        await server.stop(0)
        sdk_tracing.disable()


def add_request(entity_id: str) -> Any:
    """Counter.Add with a synchronous and an asynchronous side effect, forwarding through two
    relays (Relay.Call -> Relay2.Call)."""
    return pb.AddRequest(
        id=entity_id,
        amount=2,
        effects=[
            pb.NoteEffect(note=pb.Note(key="trace", text="sync"), synchronous=True),
            pb.NoteEffect(note=pb.Note(key="trace", text="async"), synchronous=False),
        ],
        forward=pb.Hops(services=["Relay2"], message="hello"),
    )


def check_one_trace(stack: Stack, entity_id: str, continued: bool) -> None:
    """Proxy span -> handler span, forwards and effects as child spans, one trace id."""
    request = one(stack.proxy_spans, "acttest.Counter/Add")
    assert request.kind == SpanKind.SERVER
    assert request.attributes is not None
    assert request.attributes["rpc.service"] == "acttest.Counter"
    assert request.attributes["rpc.method"] == "Add"
    assert request.attributes["cloudstate.entity_type"] == "EventSourced"
    assert request.attributes["cloudstate.entity_id"] == entity_id
    assert request.attributes["rpc.grpc.status_code"] == 0
    trace_id = request.context.trace_id
    if continued:  # the client's trace goes on: same trace id, the client's span as parent
        assert trace_id == CLIENT_TRACE
        assert parent_of(request) == CLIENT_SPAN
    else:
        assert request.parent is None
    proxy_span = request.context.span_id

    handler = one(stack.uf_spans, "acttest.Counter/Add")
    assert handler.context.trace_id == trace_id
    assert parent_of(handler) == proxy_span  # the user function's span is the proxy's child

    # Side effects and forwards: a proxy child span each, and the handler span under it.
    records = [s for s in stack.proxy_spans.get_finished_spans() if s.name.endswith("/Record")]
    assert len(records) == 2, names(stack.proxy_spans)
    for hop in records:
        assert hop.kind == SpanKind.INTERNAL
        assert hop.context.trace_id == trace_id and parent_of(hop) == proxy_span
        assert hop.attributes is not None and hop.attributes["cloudstate.hop"] == 1
        assert hop.attributes["cloudstate.caller"] == "acttest.Counter.Add"
    # One synchronous and one asynchronous side effect, told apart on their spans.
    assert sorted(str((hop.attributes or {})["cloudstate.hop_kind"]) for hop in records) == [
        "async effect",
        "effect",
    ]
    forward = one(stack.proxy_spans, "acttest.Relay/Call")
    assert forward.context.trace_id == trace_id and parent_of(forward) == proxy_span
    second = one(stack.proxy_spans, "acttest.Relay2/Call")  # a forward of the forward
    assert parent_of(second) == forward.context.span_id
    assert second.attributes is not None and second.attributes["cloudstate.hop"] == 2
    assert forward.attributes is not None
    assert forward.attributes["cloudstate.hop_kind"] == second.attributes["cloudstate.hop_kind"]
    assert second.attributes["cloudstate.hop_kind"] == "forward"
    relay_handler = one(stack.uf_spans, "acttest.Relay2/Call")
    assert parent_of(relay_handler) == second.context.span_id
    record_parents = {parent_of(s) for s in stack.uf_spans.get_finished_spans()}
    assert {hop.context.span_id for hop in records} <= record_parents
    every = [*stack.proxy_spans.get_finished_spans(), *stack.uf_spans.get_finished_spans()]
    assert {span.context.trace_id for span in every} == {trace_id}


async def test_grpc_request_continues_the_client_trace(stack: Stack) -> None:
    stack.clear()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.proxy.port}") as channel:
        add = channel.unary_unary(
            "/acttest.Counter/Add",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.Response.FromString,
        )
        reply = await add(add_request("grpc"), metadata=(("traceparent", TRACEPARENT),), timeout=10)
    assert reply.message == "hello at acttest.Relay2"
    await stack.wait(proxy_count=5, uf_count=5)
    check_one_trace(stack, "grpc", continued=True)


async def test_http_request_continues_the_client_trace(stack: Stack) -> None:
    stack.clear()
    body = {
        "id": "http",
        "amount": 2,
        "effects": [
            {"note": {"key": "trace", "text": "sync"}, "synchronous": True},
            {"note": {"key": "trace", "text": "async"}},
        ],
        "forward": {"services": ["Relay2"], "message": "hello"},
    }
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.post(
            f"http://127.0.0.1:{stack.proxy.port}/acttest.Counter/Add",
            json=body,
            headers={"traceparent": TRACEPARENT, "tracestate": "vendor=1"},
        )
    assert reply.status_code == 200, reply.text
    await stack.wait(proxy_count=5, uf_count=5)
    check_one_trace(stack, "http", continued=True)
    # tracestate travels too: client -> proxy span -> handler span.
    assert one(stack.proxy_spans, "acttest.Counter/Add").context.trace_state.to_header() == (
        "vendor=1"
    )
    assert one(stack.uf_spans, "acttest.Counter/Add").context.trace_state.to_header() == (
        "vendor=1"
    )


async def test_request_without_traceparent_starts_a_trace(stack: Stack) -> None:
    stack.clear()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.proxy.port}") as channel:
        add = channel.unary_unary(
            "/acttest.Counter/Add",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.Response.FromString,
        )
        await add(add_request("fresh"), timeout=10)
    await stack.wait(proxy_count=5, uf_count=5)
    check_one_trace(stack, "fresh", continued=False)


async def test_failed_request_and_streamed_call(stack: Stack) -> None:
    stack.clear()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.proxy.port}") as channel:
        record = channel.unary_unary(
            "/acttest.Recorder/Record",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.Response.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await record(pb.Note(key="trace", text="fail me"), timeout=10)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        out = channel.unary_stream(
            "/acttest.Streams/Out",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.Item.FromString,
        )
        items = [
            item.text
            async for item in out(
                pb.StreamRequest(prefix="s", count=3),
                metadata=(("traceparent", TRACEPARENT),),
                timeout=10,
            )
        ]
    assert items == ["s0", "s1", "s2"]
    await stack.wait(proxy_count=2, uf_count=2)
    refused = one(stack.proxy_spans, "acttest.Recorder/Record")
    assert refused.attributes is not None
    assert refused.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not refused.status.is_ok and "fail me" in (refused.status.description or "")
    streamed = one(stack.proxy_spans, "acttest.Streams/Out")
    assert parent_of(streamed) == CLIENT_SPAN
    assert streamed.attributes is not None and streamed.attributes["rpc.grpc.status_code"] == 0
    handler = one(stack.uf_spans, "acttest.Streams/Out")
    assert parent_of(handler) == streamed.context.span_id


async def test_grpc_web_request_continues_the_client_trace(stack: Stack) -> None:
    stack.clear()
    message = add_request("grpc-web").SerializeToString()
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.post(
            f"http://127.0.0.1:{stack.proxy.port}/acttest.Counter/Add",
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={
                "content-type": "application/grpc-web+proto",
                "x-grpc-web": "1",
                "traceparent": TRACEPARENT,
            },
        )
    assert reply.status_code == 200, reply.text
    assert b"grpc-status: 0" in reply.content, reply.content
    await stack.wait(proxy_count=5, uf_count=5)
    check_one_trace(stack, "grpc-web", continued=True)
