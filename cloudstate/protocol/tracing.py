"""What the proxy and the SDK share to carry one trace through the protocol (OpenTelemetry,
optional: the ``otel`` extra).

The proxy puts the W3C ``traceparent`` (and ``tracestate``) of its span into the metadata of
the command it sends; the SDK starts its handler span as a child of it. :class:`MetadataCarrier`
reads those headers from a protocol ``Metadata`` for OpenTelemetry's propagator, and
:func:`otlp_provider` builds the OTLP exporter either side uses when asked to trace::

    parent = TraceContextTextMapPropagator().extract(command.metadata, getter=MetadataCarrier())
"""

from __future__ import annotations

import os
from typing import Any

from cloudstate.protocol import entity_pb2


class MetadataCarrier:
    """Reads W3C trace headers from protocol Metadata (keys case-insensitive)."""

    @staticmethod
    def get(carrier: entity_pb2.Metadata | None, key: str) -> list[str] | None:
        if carrier is None:
            return None
        wanted = key.lower()
        values = [
            e.string_value
            for e in carrier.entries
            if e.key.lower() == wanted and e.HasField("string_value")
        ]
        return values or None

    @staticmethod
    def keys(carrier: entity_pb2.Metadata | None) -> list[str]:
        return [] if carrier is None else [e.key for e in carrier.entries]


def otlp_provider(default_service_name: str) -> Any:
    """A ``TracerProvider`` exporting in batches over OTLP/gRPC; the exporter reads
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` etc., the resource ``OTEL_SERVICE_NAME`` (default
    ``default_service_name``). Raises RuntimeError naming the extra when it is not installed."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise RuntimeError(
            "tracing needs OpenTelemetry and its OTLP exporter: pip install opentelemetry-sdk "
            "opentelemetry-exporter-otlp-proto-grpc (the otel extra)"
        ) from error
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: default_service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


__all__ = ["MetadataCarrier", "otlp_provider"]
