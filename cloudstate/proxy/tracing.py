"""OpenTelemetry tracing in the proxy (optional: the ``otel`` extra, ``--tracing``).

One span per client request (gRPC, HTTP/JSON, gRPC-web alike: they all enter the router), named
``package.Service/Method``, kind SERVER. Its parent is the client's W3C ``traceparent`` /
``tracestate`` when the request carries them, so the proxy continues the caller's trace. The
span's own ``traceparent`` replaces the client's in the metadata sent to the user function, so
the SDK's handler span becomes its child (the headers: :mod:`cloudstate.protocol.tracing`).

Forwards and side effects are calls of the router at depth > 0 whose metadata is the caller's
(with that ``traceparent``): each gets a child span (kind INTERNAL, attributes naming the hop), and
passes its own ``traceparent`` on. Eventing deliveries (``internal``) get a CONSUMER span, child of
a ``traceparent`` in the event's metadata if it has one.

Parents are always taken from the metadata, never from the task's current context, so the
propagation is exactly what crosses the wire. When tracing is off the router pays one
``is None`` check per call.

Example::

    router.tracing = Tracing(provider)   # or Tracing.otlp() for --tracing (OTLP)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from cloudstate.protocol import entity_pb2
from cloudstate.protocol.tracing import MetadataCarrier, otlp_provider
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.model import MethodModel

#: The router's reply type (``RouterReply``), passed through unchanged.
R = TypeVar("R")

#: Trace headers the proxy replaces in the metadata it passes on.
TRACE_HEADERS = ("traceparent", "tracestate")

# gRPC status codes (rpc.grpc.status_code is numeric by the semantic conventions).
_OK, _CANCELLED, _UNKNOWN = 0, 1, 2


class Tracing:
    """Starts the proxy's spans; see the module docstring."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer("cloudstate.proxy")
        self._propagator = TraceContextTextMapPropagator()
        self._carrier: Any = MetadataCarrier()  # duck-typed as an OpenTelemetry Getter
        self._kinds = (SpanKind.SERVER, SpanKind.INTERNAL, SpanKind.CONSUMER)
        self._error = StatusCode.ERROR
        self._status = Status

    @classmethod
    def otlp(cls) -> Tracing:
        """Export over OTLP/gRPC, configured by the standard ``OTEL_*`` environment variables
        (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME`` default ``cloudstate-proxy``)."""
        return cls(otlp_provider("cloudstate-proxy"))

    def shutdown(self) -> None:
        """Flush and stop the exporter (at proxy stop)."""
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()

    def _start(
        self,
        method: MethodModel,
        payload: bytes | None,
        metadata: entity_pb2.Metadata | None,
        depth: int,
        trace: tuple[str, ...],
        internal: bool,
        hop: str = "",
    ) -> Any:
        parent = self._propagator.extract(metadata, getter=self._carrier)
        service = method.service
        attributes: dict[str, Any] = {
            "rpc.system": "grpc",
            "rpc.service": service.name,
            "rpc.method": method.name,
            "cloudstate.entity_type": service.entity_type.rsplit(".", 1)[-1],
        }
        if payload is not None and method.key_fields:
            with contextlib.suppress(Exception):  # a bad key is reported by the call itself
                attributes["cloudstate.entity_id"] = method.entity_id(payload)
        if depth:
            kind = self._kinds[1]
            attributes["cloudstate.hop"] = depth
            attributes["cloudstate.caller"] = trace[-1] if trace else ""
            if hop:
                attributes["cloudstate.hop_kind"] = hop
        else:
            kind = self._kinds[2] if internal else self._kinds[0]
        return self._tracer.start_span(
            f"{service.name}/{method.name}", context=parent, kind=kind, attributes=attributes
        )

    def _inject(self, span: Any, metadata: entity_pb2.Metadata | None) -> entity_pb2.Metadata:
        from opentelemetry.trace import set_span_in_context

        headers: dict[str, str] = {}
        self._propagator.inject(headers, context=set_span_in_context(span))
        kept = []
        if metadata is not None:
            kept = [e for e in metadata.entries if e.key.lower() not in TRACE_HEADERS]
        merged = entity_pb2.Metadata(entries=kept)
        for key, value in headers.items():
            merged.entries.add(key=key, string_value=value)
        return merged

    def _finish(self, span: Any, error: BaseException | None) -> None:
        if error is None:
            span.set_attribute("rpc.grpc.status_code", _OK)
        elif isinstance(error, ProxyError):
            span.set_attribute("rpc.grpc.status_code", error.status.value[0])
            span.set_status(self._status(self._error, f"{error.status.name}: {error.message}"))
        elif isinstance(error, asyncio.CancelledError | GeneratorExit):
            span.set_attribute("rpc.grpc.status_code", _CANCELLED)
        else:
            span.set_attribute("rpc.grpc.status_code", _UNKNOWN)
            span.record_exception(error)
            span.set_status(self._status(self._error, f"{type(error).__name__}: {error}"))
        span.end()

    async def call(
        self,
        call: Callable[..., Awaitable[R]],
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        depth: int,
        trace: tuple[str, ...],
        internal: bool,
        hop: str = "",
    ) -> R:
        """``call`` (the router's ``call``) inside a span (``hop``: forward, effect or async
        effect), with the span's ``traceparent`` in the metadata it passes on."""
        span = self._start(method, payload, metadata, depth, trace, internal, hop)
        error: BaseException | None = None
        try:
            return await call(
                method,
                payload,
                self._inject(span, metadata),
                depth,
                trace,
                internal=internal,
                traced=True,
                hop=hop,
            )
        except BaseException as raised:
            error = raised
            raise
        finally:
            self._finish(span, error)

    async def stream(
        self,
        stream: Callable[..., AsyncGenerator[R, None]],
        method: MethodModel,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
        internal: bool,
    ) -> AsyncGenerator[R, None]:
        """``stream`` (the router's ``stream``) inside a span that lasts until the stream
        ends."""
        payload = requests if isinstance(requests, bytes) else None
        span = self._start(method, payload, metadata, 0, (), internal)
        error: BaseException | None = None
        try:
            replies = stream(
                method, requests, self._inject(span, metadata), internal=internal, traced=True
            )
            async with contextlib.aclosing(replies):
                async for reply in replies:
                    yield reply
        except BaseException as raised:
            error = raised
            raise
        finally:
            self._finish(span, error)
