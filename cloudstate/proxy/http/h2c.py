"""HTTP/2 without TLS (prior knowledge) for :class:`~.api.HttpApi`: gRPC-web and HTTP/JSON
from HTTP/2 clients (an ingress such as Envoy speaking h2c to the proxy,
``curl --http2-prior-knowledge``), and native gRPC (``--grpc-front h2``, the default): unary and
server-streaming user methods are served here (:mod:`.grpc_native`), every other gRPC stream is
relayed to grpc.aio as it comes (:mod:`.grpc_relay`). With ``--grpc-front relay`` native gRPC
never comes here: the client port relays whole connections to grpc.aio (see :mod:`.listener`).
Built on the ``h2`` state machine; each request runs as a task, responses respect flow control.
Example::

    protocol = H2Protocol(api)
    transport.set_protocol(protocol); protocol.connection_made(transport)
    protocol.data_received(already_read_bytes)

One concern: the HTTP/2 wire of the client port (streams, flow control, the request budgets);
what a request means is api.py's, grpc_native.py's and grpc_relay.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import cast

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from cloudstate.proxy.http import grpc_native, grpc_relay
from cloudstate.proxy.http.api import HttpApi, HttpRequest, HttpResponse, error
from cloudstate.proxy.http.grpc_native import GrpcError, GrpcFront
from cloudstate.proxy.http.limits import BODY_TIMEOUT, ConnectionLimits, ResetRate, cut
from cloudstate.proxy.model import MethodModel

log = logging.getLogger(__name__)

#: SETTINGS_MAX_HEADER_LIST_SIZE we announce (hpack's decoder refuses more anyway).
_MAX_HEADER_LIST = 64 * 1024


class _Stream:
    __slots__ = (
        "arrived",
        "body",
        "ended",
        "grpc_refusal",
        "headers",
        "held",
        "inbox",
        "method",
        "refusal",
        "started",
        "task",
        "timer",
        "window",
    )

    def __init__(self, headers: list[tuple[str, str]], started: float) -> None:
        self.headers = headers
        #: Loop time of the request's HEADERS (a ``grpc-timeout`` counts from here).
        self.started = started
        #: Native gRPC served here (grpc_native.py): the user method; None otherwise.
        self.method: MethodModel | None = None
        #: The gRPC status of a refused native gRPC request (the HTTP one is ``refusal``).
        self.grpc_refusal: GrpcError | None = None
        #: A native gRPC stream relayed to grpc.aio (grpc_relay.py): its DATA not yet taken
        #: (bytes, flow-controlled length), and the signal that more came (or the end).
        self.inbox: deque[tuple[bytes, int]] | None = None
        self.arrived = asyncio.Event()
        self.body = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.window = asyncio.Event()
        #: Request bytes (headers and body) this stream holds of the connection's and the
        #: port's budgets (limits.py).
        self.held = 0
        #: The error response once the request is refused (413, 503), its body dropped.
        self.refusal: HttpResponse | None = None
        #: Fires if the request has not fully arrived within the body timeout.
        self.timer: asyncio.TimerHandle | None = None
        self.ended = False  # the client sent END_STREAM


#: Bytes fed to the h2 state machine at once: between two slices a connection that broke a
#: limit (rapid reset) is cut off, whatever the size of the read.
_SLICE = 16 * 1024


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection; see the module docstring."""

    def __init__(
        self, api: HttpApi, limits: ConnectionLimits | None = None, grpc: GrpcFront | None = None
    ) -> None:
        self.api = api
        self.limits = limits or ConnectionLimits()
        #: Native gRPC is served (and relayed per stream) here; None: it is not expected.
        self.grpc = grpc
        # Headers as bytes, decoded here: h2's own decoding raises on a non-UTF-8 value and
        # would abort the whole connection (HttpApi refuses such a header with a 400).
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        #: Request bytes held by this connection's streams (``max_buffered_per_connection``).
        self.held = 0
        self.resets = ResetRate(self.limits.settings.http2_max_reset_rate)
        self.closed = False
        #: Called once when the connection is gone (the port's connection count).
        self.on_close: Callable[[], None] | None = None
        self._resume = asyncio.Event()
        self._resume.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)
        values: dict[SettingCodes, int] = {
            SettingCodes.MAX_CONCURRENT_STREAMS: self._max_streams() or 2**31 - 1,
            SettingCodes.MAX_HEADER_LIST_SIZE: _MAX_HEADER_LIST,
        }
        if self.grpc is not None:
            # In force at once, not from the client's ACK: a gRPC client that saw the
            # listener's empty SETTINGS may already open more streams than h2's default 100.
            self.conn.local_settings = h2.settings.Settings(client=False, initial_values=values)
        else:  # from the ACK: until then, streams past the limit get REFUSED_STREAM (_request)
            self.conn.local_settings.update(cast("dict[SettingCodes | int, int]", values))
        self.conn.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), _SLICE):
            if self.closed:
                return
            try:
                events = self.conn.receive_data(view[start : start + _SLICE])
            except h2.exceptions.ProtocolError as e:
                log.debug("HTTP/2 protocol error from client: %s", e)
                self._flush()
                self._close()
                return
            for event in events:
                self._event(event)
            self._flush()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.inbox is not None:
                # Relayed: the window goes back as grpc.aio takes the messages.
                stream.inbox.append((event.data, event.flow_controlled_length))
                stream.arrived.set()
                return
            if stream is not None and event.data:
                self._buffer(event.stream_id, stream, event.data)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.RequestReceived):
            self._request(event)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.ended = True
                if stream.inbox is not None:
                    stream.arrived.set()
                else:
                    self._start(event.stream_id, stream)
        elif isinstance(event, h2.events.StreamReset):
            self._drop(event.stream_id)
            if event.remote_reset and not self.resets.allow(time.monotonic()):
                self._calm_down()
        elif isinstance(event, h2.events.WindowUpdated):
            targets = (
                self.streams.values()
                if event.stream_id == 0
                else [s for i, s in self.streams.items() if i == event.stream_id]
            )
            for stream in targets:
                stream.window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._close()

    def _max_streams(self) -> int:
        """Streams at once (0: any). Native gRPC connections have no such cap, as grpc.aio had
        none: a client holds hundreds of subscriptions on one channel; the byte budgets still
        bound what their requests hold."""
        return 0 if self.grpc is not None else self.limits.settings.http2_max_streams

    def _request(self, event: h2.events.RequestReceived) -> None:
        settings = self.limits.settings
        stream_id = event.stream_id
        max_streams = self._max_streams()
        if max_streams and len(self.streams) >= max_streams:
            # The client ignored SETTINGS_MAX_CONCURRENT_STREAMS (or has not acknowledged it).
            self.conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        headers = [(_text(k).lower(), _text(v)) for k, v in event.headers or ()]
        stream = _Stream(headers, asyncio.get_running_loop().time())
        self.streams[stream_id] = stream
        if self.grpc is not None and self._native_grpc(stream_id, stream):
            return
        size = sum(len(k) + len(v) + 32 for k, v in headers)  # RFC 9113 §6.5.2's measure
        if not self._hold(stream, size):
            self._refuse(stream_id, stream, _over_budget(), _OVER_BUDGET)
        elif settings.body_timeout and event.stream_ended is None:
            stream.timer = asyncio.get_running_loop().call_later(
                settings.body_timeout, self._too_slow, stream_id
            )

    def _native_grpc(self, stream_id: int, stream: _Stream) -> bool:
        """A native gRPC request: a unary or server-streaming user method is served here
        (False: buffered like any request); anything else is relayed to grpc.aio as its DATA
        comes (True)."""
        content_type = next((v for k, v in stream.headers if k == "content-type"), "")
        if not grpc_native.is_native_grpc(content_type):
            return False
        path = next((v for k, v in stream.headers if k == ":path"), "")
        model = self.api.model
        method = model.methods_by_path.get(path) if model is not None else None
        if method is not None and not method.client_streaming:
            stream.method = method
            return False
        stream.inbox = deque()
        stream.task = asyncio.get_running_loop().create_task(self._relay(stream_id, stream))
        return True

    def _start(self, stream_id: int, stream: _Stream) -> None:
        """The request has arrived (or is refused): serve it."""
        if stream.task is None:
            if stream.timer is not None:
                stream.timer.cancel()
                stream.timer = None
            stream.task = asyncio.get_running_loop().create_task(self._serve(stream_id, stream))

    def _refuse(
        self,
        stream_id: int,
        stream: _Stream,
        response: HttpResponse,
        status: GrpcError | None = None,
    ) -> None:
        """Answer ``response`` (native gRPC: ``status``) now and drop the request's bytes; once
        answered, the client is asked to stop sending the body (RST_STREAM NO_ERROR, RFC 9113
        §8.1)."""
        stream.refusal = response
        stream.grpc_refusal = status
        self._release(stream)
        self._start(stream_id, stream)

    def _hold(self, stream: _Stream, size: int) -> bool:
        """Count ``size`` more request bytes for ``stream``; False if a budget is spent."""
        per_connection = self.limits.settings.max_buffered_per_connection
        if per_connection and self.held + size > per_connection:
            return False
        if not self.limits.budget.take(size):
            return False
        self.held += size
        stream.held += size
        return True

    def _release(self, stream: _Stream) -> None:
        if stream.held:
            self.limits.budget.give(stream.held)
            self.held -= stream.held
            stream.held = 0
        stream.body = bytearray()

    def _buffer(self, stream_id: int, stream: _Stream, data: bytes) -> None:
        if stream.refusal is not None:
            return  # refused: what still comes of its body is dropped
        if stream.method is not None and self.grpc is not None:
            # Native gRPC: grpc.aio's bound (one message, --max-message-size), not the body's.
            limit = self.grpc.max_message_size
            if len(stream.body) + len(data) > limit + 5:
                size = grpc_native.announced_size(stream.body + data) or len(stream.body)
                too_large = grpc_native.too_large(size, limit)
                self._refuse(stream_id, stream, error(too_large.code, too_large.message), too_large)
            elif self._hold(stream, len(data)):
                stream.body += data
            else:
                self._refuse(stream_id, stream, _over_budget(), _OVER_BUDGET)
            return
        if len(stream.body) + len(data) > self.api.options.max_body:
            response = error(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request body larger than {self.api.options.max_body} bytes "
                "(raise it with --http-max-body)",
            )
            response.status = 413
            self._refuse(stream_id, stream, response)
        elif self._hold(stream, len(data)):
            stream.body += data
        else:
            self._refuse(stream_id, stream, _over_budget(), _OVER_BUDGET)

    def _drop(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        if stream.timer is not None:
            stream.timer.cancel()
        if stream.task is not None:
            stream.task.cancel()
        self._release(stream)

    def _too_slow(self, stream_id: int) -> None:
        """The body timeout passed before the request fully arrived: 408."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.task is not None or self.closed:
            return
        stream.timer = None
        cut(BODY_TIMEOUT)
        timeout = self.limits.settings.body_timeout
        message = f"the request did not arrive within {timeout:g}s (--http-body-timeout)"
        response = error(grpc.StatusCode.DEADLINE_EXCEEDED, message)
        response.status = 408
        status = GrpcError(grpc.StatusCode.DEADLINE_EXCEEDED, message)
        self._refuse(stream_id, stream, response, status)

    def _calm_down(self) -> None:
        """Rapid reset: GOAWAY (ENHANCE_YOUR_CALM), then close."""
        peer = self.transport.get_extra_info("peername") if self.transport is not None else "?"
        self.limits.reset_too_fast(peer)
        self.conn.close_connection(
            ErrorCodes.ENHANCE_YOUR_CALM, b"too many stream resets (--http2-max-reset-rate)"
        )
        self._flush()
        self._close()

    def close(self) -> None:
        """Close the connection (the port is closing); its streams' tasks are cancelled."""
        self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for stream_id in list(self.streams):
            self._drop(stream_id)
        if self.on_close is not None:
            self.on_close()
            self.on_close = None

    def pause_writing(self) -> None:
        self._resume.clear()

    def resume_writing(self) -> None:
        self._resume.set()

    def flush(self) -> None:
        self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def _serve(self, stream_id: int, stream: _Stream) -> None:
        pseudo = dict(h for h in stream.headers if h[0].startswith(":"))
        path, _, query = pseudo.get(":path", "/").partition("?")
        headers = [h for h in stream.headers if not h[0].startswith(":")]
        if pseudo.get(":authority"):
            headers.append(("host", pseudo[":authority"]))
        try:
            if stream.method is not None and self.grpc is not None:
                await grpc_native.serve(self, stream_id, stream, stream.method)
                if stream.refusal is not None and not stream.ended:
                    self.conn.reset_stream(stream_id, ErrorCodes.NO_ERROR)
                    self._flush()
                return
            if stream.refusal is not None:
                response = stream.refusal
            else:
                body = bytes(stream.body)
                stream.body = bytearray()  # held (counted) until the response is done
                method = pseudo.get(":method", "GET")
                request = HttpRequest(method, path, query, headers, body, True)
                response = await self.api.handle(request)
            await self._respond(stream_id, stream, response)
            if stream.refusal is not None and not stream.ended:
                self.conn.reset_stream(stream_id, ErrorCodes.NO_ERROR)
                self._flush()
        except (h2.exceptions.StreamClosedError, ConnectionError):
            pass
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.conn.reset_stream(stream_id)
                self._flush()
            raise
        finally:
            if self.streams.get(stream_id) is stream:
                del self.streams[stream_id]
            self._release(stream)

    async def _relay(self, stream_id: int, stream: _Stream) -> None:
        try:
            await grpc_relay.relay(self, stream_id, stream)
        except (h2.exceptions.StreamClosedError, ConnectionError):
            pass
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
                self._flush()
            raise
        except Exception:
            log.exception("relaying a gRPC stream to grpc.aio failed")
            with contextlib.suppress(Exception):
                self.conn.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)
                self._flush()
        finally:
            if self.streams.get(stream_id) is stream:
                del self.streams[stream_id]

    async def respond(
        self,
        stream_id: int,
        stream: _Stream,
        head: list[tuple[str, str]] | None,
        data: bytes,
        trailers: list[tuple[str, str]] | None,
        end: bool = False,
    ) -> None:
        """Send ``head`` (HEADERS), ``data`` (flow-controlled DATA), then ``trailers`` (HEADERS
        with END_STREAM), as far as given, in one write when the window allows; ``end``: the
        stream ends with ``head`` (a trailers-only gRPC response). ConnectionError once the
        client is gone (the connection closed, the stream reset)."""
        try:
            if head is not None:
                self.conn.send_headers(stream_id, head, end_stream=end)
            if data:
                await self._send(stream_id, stream, data, end=False, flush=False)
            if trailers is not None:
                self.conn.send_headers(stream_id, trailers, end_stream=True)
        except h2.exceptions.ProtocolError as e:  # StreamClosedError included
            raise ConnectionError(f"the client is gone: {e}") from None
        self._flush()

    async def _respond(self, stream_id: int, stream: _Stream, response: HttpResponse) -> None:
        head = [(":status", str(response.status))]
        head += [(k.lower(), v) for k, v in response.headers]
        if response.stream is None:
            head.append(("content-length", str(len(response.body))))
        self.conn.send_headers(
            stream_id, head, end_stream=not response.body and not response.stream
        )
        self._flush()
        if response.stream is None:
            if response.body:
                await self._send(stream_id, stream, response.body, end=True)
            return
        try:
            async for chunk in response.stream:
                await self._send(stream_id, stream, chunk, end=False)
        finally:
            aclose = getattr(response.stream, "aclose", None)
            if aclose is not None:
                await aclose()
        self.conn.end_stream(stream_id)
        self._flush()

    async def _send(
        self, stream_id: int, stream: _Stream, data: bytes, end: bool, flush: bool = True
    ) -> None:
        """Send ``data`` as the flow-control windows allow; ``flush=False``: the last frame is
        left for the caller's write."""
        view = memoryview(data)
        while True:
            if not self._resume.is_set():
                self._flush()
                await self._resume.wait()
            window = self.conn.local_flow_control_window(stream_id)
            size = min(window, self.conn.max_outbound_frame_size, len(view))
            if size <= 0 and len(view):
                self._flush()
                stream.window.clear()
                await stream.window.wait()
                continue
            last = size == len(view)
            self.conn.send_data(stream_id, bytes(view[:size]), end_stream=end and last)
            view = view[size:]
            if last:
                if flush:
                    self._flush()
                return
            self._flush()


def _over_budget() -> HttpResponse:
    response = error(
        grpc.StatusCode.UNAVAILABLE,
        "the proxy holds as many request bytes as it may (--http-max-buffered, "
        "--http-max-buffered-per-connection); retry later",
        ("retry-after", "1"),
    )
    return response


_OVER_BUDGET = GrpcError(
    grpc.StatusCode.UNAVAILABLE,
    "the proxy holds as many request bytes as it may (--http-max-buffered, "
    "--http-max-buffered-per-connection); retry later",
    (("grpc-retry-pushback-ms", "1000"),),
)


def _text(data: bytes | str) -> str:
    """A header name or value as text; bytes that are not UTF-8 become surrogates."""
    return data if isinstance(data, str) else data.decode("utf-8", "surrogateescape")
