"""Tracing with real processes: a proxy started with ``--tracing`` and an SDK user function with
``CLOUDSTATE_TRACING=1`` both export over OTLP/gRPC (``OTEL_EXPORTER_OTLP_ENDPOINT``) to a
collector this test runs; the spans they export form one trace, continued from the client's."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.actions.conftest import action_user_function
from tests.actions.model import pb
from tests.processes import SHOPPINGCART_DIR, Process, free_port, proxy, wait_serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
RUN_TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4737"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    """Keeps every exported span as (service.name, span)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for scope in resource_spans.scope_spans:
                    self.spans.extend((service, span) for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def named(self, service: str, name: str) -> list[Any]:
        with self.lock:
            return [span for s, span in self.spans if s == service and span.name == name]


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, int]]:
    servicer = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(0)


def test_proxy_and_user_function_export_one_trace(
    tmp_path: Any, collector: tuple[Collector, int]
) -> None:
    spans, port = collector
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    uf = action_user_function(tmp_path)
    assert uf.env is not None
    uf.env.update(otel, CLOUDSTATE_TRACING="1", OTEL_SERVICE_NAME="acttest-uf")
    uf.start()
    px = proxy(tmp_path, uf.port, "memory:", "--tracing")
    px.env = dict(otel)
    px.start()
    try:
        wait_serving(px.port)
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            add = channel.unary_unary(
                "/acttest.Counter/Add",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.Response.FromString,
            )
            request = pb.AddRequest(
                id="otlp",
                amount=1,
                effects=[pb.NoteEffect(note=pb.Note(key="otlp", text="n"), synchronous=True)],
            )
            traceparent = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
            add(request, metadata=(("traceparent", traceparent),), timeout=10)
        deadline = time.monotonic() + 30
        while not (
            spans.named("cloudstate-proxy", "acttest.Recorder/Record")
            and spans.named("acttest-uf", "acttest.Recorder/Record")
        ):
            assert time.monotonic() < deadline, (spans.spans, px.log(), uf.log())
            time.sleep(0.05)
    finally:
        px.terminate()
        uf.terminate()
    [request_span] = spans.named("cloudstate-proxy", "acttest.Counter/Add")
    [handler_span] = spans.named("acttest-uf", "acttest.Counter/Add")
    [effect_span] = spans.named("cloudstate-proxy", "acttest.Recorder/Record")
    [effect_handler] = spans.named("acttest-uf", "acttest.Recorder/Record")
    for span in (request_span, handler_span, effect_span, effect_handler):
        assert span.trace_id.hex() == TRACE_ID
    assert request_span.parent_span_id.hex() == CLIENT_SPAN
    assert handler_span.parent_span_id == request_span.span_id
    assert effect_span.parent_span_id == request_span.span_id
    assert effect_handler.parent_span_id == effect_span.span_id


def test_cloudstate_run_tracing_traces_the_user_function_too(
    tmp_path: Any, collector: tuple[Collector, int]
) -> None:
    spans, port = collector
    proxy_port = free_port()
    run = Process(
        "cloudstate run --tracing",
        [
            sys.executable, "-m", "cloudstate.cli", "run", "shoppingcart.shopping_cart",
            "--path", str(SHOPPINGCART_DIR), "--port", str(proxy_port), "--store", "memory:",
            "--tracing",
        ],
        proxy_port,
        tmp_path / "run.log",
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    ).start()  # fmt: skip
    name = "com.example.shoppingcart.ShoppingCart/GetCart"
    try:
        wait_serving(proxy_port)
        with httpx.Client(timeout=10) as client:
            reply = client.get(
                f"http://127.0.0.1:{proxy_port}/carts/traced",
                headers={"traceparent": f"00-{RUN_TRACE_ID}-{CLIENT_SPAN}-01"},
            )
            assert reply.status_code == 200, reply.text
        deadline = time.monotonic() + 30
        while not (
            spans.named("cloudstate-proxy", name)
            and spans.named("com.example.shoppingcart.ShoppingCart", name)
        ):
            assert time.monotonic() < deadline, (spans.spans, run.log())
            time.sleep(0.05)
    finally:
        run.terminate()
    [request_span] = spans.named("cloudstate-proxy", name)
    [handler_span] = spans.named("com.example.shoppingcart.ShoppingCart", name)
    assert request_span.trace_id.hex() == handler_span.trace_id.hex() == RUN_TRACE_ID
    assert handler_span.parent_span_id == request_span.span_id
