"""HTTP/2 without TLS (prior knowledge) for :class:`~.api.HttpApi`: gRPC-web and HTTP/JSON
from HTTP/2 clients (an ingress such as Envoy speaking h2c to the proxy,
``curl --http2-prior-knowledge``).

Native gRPC never comes here: the client port relays it to grpc.aio (see :mod:`.listener`).
Built on the ``h2`` state machine; each request runs as a task, responses respect flow control.
Example::

    protocol = H2Protocol(api)
    transport.set_protocol(protocol); protocol.connection_made(transport)
    protocol.data_received(already_read_bytes)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.settings import SettingCodes

from cloudstate.proxy.http.api import HttpApi, HttpRequest, HttpResponse, error

log = logging.getLogger(__name__)


class _Stream:
    __slots__ = ("body", "headers", "task", "too_large", "window")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.window = asyncio.Event()
        self.too_large = False


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection; see the module docstring."""

    def __init__(self, api: HttpApi) -> None:
        self.api = api
        # Headers as bytes, decoded here: h2's own decoding raises on a non-UTF-8 value and
        # would abort the whole connection (HttpApi refuses such a header with a 400).
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self._resume = asyncio.Event()
        self._resume.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)
        self.conn.local_settings.update({SettingCodes.MAX_CONCURRENT_STREAMS: 256})
        self.conn.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            log.debug("HTTP/2 protocol error from client: %s", e)
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = [(_text(k).lower(), _text(v)) for k, v in event.headers or ()]
                self.streams[event.stream_id] = _Stream(headers)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None and event.data:
                    if len(stream.body) + len(event.data) > self.api.options.max_body:
                        stream.too_large = True
                    else:
                        stream.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None and stream.task is None:
                    stream.task = asyncio.get_running_loop().create_task(
                        self._serve(event.stream_id, stream)
                    )
            elif isinstance(event, h2.events.StreamReset):
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None and stream.task is not None:
                    stream.task.cancel()
            elif isinstance(event, h2.events.WindowUpdated):
                targets = (
                    self.streams.values()
                    if event.stream_id == 0
                    else [s for i, s in self.streams.items() if i == event.stream_id]
                )
                for stream in targets:
                    stream.window.set()
            elif isinstance(event, h2.events.ConnectionTerminated):
                if self.transport is not None:
                    self.transport.close()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self.streams.clear()

    def pause_writing(self) -> None:
        self._resume.clear()

    def resume_writing(self) -> None:
        self._resume.set()

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
            if stream.too_large:
                response = error(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"request body larger than {self.api.options.max_body} bytes",
                )
                response.status = 413
            else:
                request = HttpRequest(
                    pseudo.get(":method", "GET"), path, query, headers, bytes(stream.body), True
                )
                response = await self.api.handle(request)
            await self._respond(stream_id, stream, response)
        except (h2.exceptions.StreamClosedError, ConnectionError):
            pass
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.conn.reset_stream(stream_id)
                self._flush()
            raise
        finally:
            self.streams.pop(stream_id, None)

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

    async def _send(self, stream_id: int, stream: _Stream, data: bytes, end: bool) -> None:
        view = memoryview(data)
        while True:
            await self._resume.wait()
            window = self.conn.local_flow_control_window(stream_id)
            size = min(window, self.conn.max_outbound_frame_size, len(view))
            if size <= 0 and len(view):
                stream.window.clear()
                await stream.window.wait()
                continue
            last = size == len(view)
            self.conn.send_data(stream_id, bytes(view[:size]), end_stream=end and last)
            self._flush()
            view = view[size:]
            if last:
                return


def _text(data: bytes | str) -> str:
    """A header name or value as text; bytes that are not UTF-8 become surrogates."""
    return data if isinstance(data, str) else data.decode("utf-8", "surrogateescape")
