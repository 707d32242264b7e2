"""OpenTelemetry spans for user-function handlers (optional: the ``otel`` extra, docs/install.md).

The proxy sends the W3C ``traceparent`` (and ``tracestate``) of its span for a request in the
command's metadata. When tracing is on, the SDK starts one span per handler invocation whose
parent is that span, so one trace covers the client, the proxy and the user function.

Tracing is on when, at :meth:`cloudstate.CloudState.serve_async`:

* a ``tracer_provider`` is passed to :class:`~cloudstate.CloudState`, or
* ``tracing=True`` / the environment variable ``CLOUDSTATE_TRACING=1``: the SDK sets up an OTLP
  exporter configured by the standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
  ``OTEL_SERVICE_NAME``, ...), or
* the application has installed a global tracer provider itself
  (``opentelemetry.trace.set_tracer_provider``).

Otherwise each handler call costs one ``is None`` check. Without OpenTelemetry installed the SDK
works as before.

Example::

    with handler_span("com.example.ShoppingCart", command, "ann"):  # command: a protocol Command
        result = await handler.call(state, message, ctx)
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from cloudstate.protocol.tracing import MetadataCarrier, otlp_provider

log = logging.getLogger(__name__)

#: The tracer of handler spans; None: tracing is off.
_tracer: Any = None
_propagator: Any = None

_TRUE = ("1", "true", "yes", "on")


def configure(provider: Any = None, *, otlp: bool | None = None, service_name: str = "") -> bool:
    """Turn handler spans on or off for this process; returns whether they are on.

    ``provider``: an OpenTelemetry ``TracerProvider`` to use. ``otlp`` (default: the environment
    variable ``CLOUDSTATE_TRACING``): build a provider exporting over OTLP (``OTEL_*`` variables).
    With neither, a global provider the application installed is used if there is one.
    """
    global _tracer, _propagator
    if otlp is None:
        otlp = os.environ.get("CLOUDSTATE_TRACING", "").lower() in _TRUE
    if provider is None and otlp:
        provider = otlp_provider(service_name or "cloudstate-user-function")
    if provider is None:
        provider = _global_provider()
    if provider is None:
        _tracer = _propagator = None
        return False
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _tracer = provider.get_tracer("cloudstate.sdk")
    _propagator = TraceContextTextMapPropagator()
    return True


def disable() -> None:
    """Stop starting handler spans (tests, or an application switching tracing off)."""
    global _tracer, _propagator
    _tracer = _propagator = None


def enabled() -> bool:
    return _tracer is not None


def _global_provider() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    # The API's placeholders (nothing installed yet) record nothing: tracing stays off.
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


_CARRIER = MetadataCarrier()


def handler_span(
    service: str, command: Any, entity_id: str | None = None
) -> contextlib.AbstractContextManager[Any]:
    """A span for one handler invocation of ``command`` (a protocol ``Command`` or
    ``ActionCommand``: its ``name`` and ``metadata`` are read), child of the ``traceparent`` in
    its metadata (a new trace if there is none); a no-op context when tracing is off."""
    if _tracer is None:
        return _NO_SPAN
    return _span(service, command, entity_id)


_NO_SPAN = contextlib.nullcontext()


@contextlib.contextmanager
def _span(service: str, command: Any, entity_id: str | None) -> Iterator[Any]:
    from opentelemetry.trace import SpanKind

    metadata = command.metadata if command.HasField("metadata") else None
    parent = _propagator.extract(metadata, getter=_CARRIER)
    name = command.name
    attributes = {"rpc.system": "cloudstate", "rpc.service": service, "rpc.method": name}
    if entity_id is not None:
        attributes["cloudstate.entity_id"] = entity_id
    with _tracer.start_as_current_span(
        f"{service}/{name}", context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span
