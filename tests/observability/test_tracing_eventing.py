"""Tracing of eventing deliveries: a consumer's delivery is a CONSUMER span of the proxy, and the
consumer's handler span in the user function is its child. Events in the journal carry no
``traceparent``, so a delivery starts its own trace."""

from __future__ import annotations

import asyncio

import grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cloudstate import tracing as sdk_tracing
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from tests.observability.flaky_uf import Consumer, build, flaky_pb2

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _recorder() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_delivery_is_a_consumer_span_with_the_handler_below() -> None:
    Consumer.healthy = True
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
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            poke = channel.unary_unary(
                "/obstest.Flaky/Poke",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=flaky_pb2.Pokes.FromString,
            )
            await poke(
                flaky_pb2.PokeRequest(id="traced", text="t"),
                metadata=(("traceparent", TRACEPARENT),),
                timeout=10,
            )
        for _ in range(1000):
            if any(s.name.endswith("/OnPoked") for s in uf_spans.get_finished_spans()):
                break
            await asyncio.sleep(0.01)
    finally:
        await proxy.stop(0)
        await server.stop(0)
        sdk_tracing.disable()
    [command] = [s for s in proxy_spans.get_finished_spans() if s.name == "obstest.Flaky/Poke"]
    assert command.kind == SpanKind.SERVER
    [delivery] = [
        s for s in proxy_spans.get_finished_spans() if s.name == "obstest.PokeConsumer/OnPoked"
    ]
    assert delivery.kind == SpanKind.CONSUMER
    assert delivery.parent is None  # the journal keeps no traceparent: a trace of its own
    assert delivery.attributes is not None and delivery.attributes["rpc.grpc.status_code"] == 0
    [handler] = [s for s in uf_spans.get_finished_spans() if s.name.endswith("/OnPoked")]
    assert handler.parent is not None and handler.parent.span_id == delivery.context.span_id
    assert handler.context.trace_id == delivery.context.trace_id
