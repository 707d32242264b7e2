"""The client port: native gRPC, HTTP/1.1 (JSON, gRPC-web) and h2c on ONE listening socket.

grpc.aio's server only speaks gRPC over HTTP/2 and cannot adopt a socket, so it listens on a
private unix socket and this asyncio server owns the public port. Each new connection is
classified once, by its first bytes:

* not the HTTP/2 preface → HTTP/1.x: the connection is handed to aiohttp's protocol
  (``transport.set_protocol``; nothing is copied);
* the HTTP/2 preface → we answer with an empty SETTINGS frame (gRPC clients wait for the server's
  SETTINGS before their first request) and read up to the first HEADERS block: gRPC-web and
  JSON go to the h2 server of :mod:`.h2c`. A ``content-type`` of ``application/grpc`` (or
  ``application/grpc+proto``...) means native gRPC: with ``--grpc-front h2`` (the default) it
  goes to :mod:`.h2c` too, which serves unary and server-streaming user methods itself
  (:mod:`.grpc_native`) and relays every other stream to grpc.aio (:mod:`.grpc_relay`); with
  ``--grpc-front relay`` (and on the admin port) the whole connection is relayed byte for
  byte to grpc.aio (the client's ACK of our SETTINGS is the only frame dropped).

The whole-connection relay does no per-message work: large reads, one write per read, flow
control through pause/resume of the other side. Example::

    port = ClientPort(api, "127.0.0.1", 9000, "/tmp/cs/grpc.sock")
    bound = await port.start()                 # listening; HTTP health answers from now on
    port.grpc_ready.set()                      # once grpc.aio listens on the unix socket
    await port.close()

One concern: the public listener's connections, classified and handed over or relayed whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import cast

import hpack

from cloudstate.proxy.http.api import HttpApi
from cloudstate.proxy.http.grpc_native import GrpcFront
from cloudstate.proxy.http.h1 import Http1Connection, Http1Server, http1_server
from cloudstate.proxy.http.h2c import H2Protocol
from cloudstate.proxy.http.limits import ConnectionLimits, ResetRate

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags
_FRAME = struct.Struct(">I")
_HEADERS, _CONTINUATION, _SETTINGS = 0x1, 0x9, 0x4
_SNIFF_LIMIT = 256 * 1024  # bytes read while looking for the first HEADERS block
_RELAY_BUFFER = 256 * 1024  # bytes per read of a relayed connection


def _frames(data: bytes, start: int) -> list[tuple[int, int, int, int, int]]:
    """Complete frames from ``start``: (type, flags, stream, payload start, payload end)."""
    found = []
    pos = start
    while pos + 9 <= len(data):
        length = _FRAME.unpack_from(data, pos)[0] >> 8
        kind, flags = data[pos + 3], data[pos + 4]
        stream = _FRAME.unpack_from(data, pos + 5)[0] & 0x7FFFFFFF
        if pos + 9 + length > len(data):
            break
        found.append((kind, flags, stream, pos + 9, pos + 9 + length))
        pos += 9 + length
    return found


def first_request_is_grpc(data: bytes) -> bool | None:
    """From the bytes of an HTTP/2 connection: is its first request native gRPC? None while the
    first HEADERS block is incomplete."""
    block = b""
    collecting = False
    for kind, flags, _, start, end in _frames(data, len(PREFACE)):
        payload = data[start:end]
        if kind == _HEADERS and not collecting:
            pad = 0
            if flags & 0x8:  # PADDED
                pad = payload[0]
                payload = payload[1:]
            if flags & 0x20:  # PRIORITY
                payload = payload[5:]
            block = payload[: len(payload) - pad] if pad else payload
            collecting = True
        elif kind == _CONTINUATION and collecting:
            block += payload
        else:
            continue
        if flags & 0x4:  # END_HEADERS
            decoder = hpack.Decoder()
            decoder.max_allowed_table_size = 1 << 20
            try:
                headers = decoder.decode(block, raw=True)
            except Exception:
                return True  # let grpc.aio answer whatever this is
            for name, value in headers:
                if name == b"content-type":
                    text = bytes(value)
                    return text.startswith(b"application/grpc") and not text.startswith(
                        b"application/grpc-web"
                    )
            return False
    return None


_RST_STREAM, _GOAWAY = 0x3, 0x7
_ENHANCE_YOUR_CALM = 0xB


class FrameWatch:
    """Follows the HTTP/2 frames of one direction of a relayed connection by their headers
    alone (no copy, no decoding): where the next frame starts, and how fast the client resets
    streams. grpc.aio alone lets a client send 20,000 HEADERS + RST_STREAM pairs (a second of
    the proxy's CPU, no GOAWAY); the relay cuts such a client off at ``rate`` resets per second
    (0: counts nothing)."""

    __slots__ = ("head", "last_stream", "rate", "skip")

    def __init__(self, rate: int = 0) -> None:
        self.rate = ResetRate(rate) if rate else None
        self.skip = 0  # bytes of the current frame's payload still to come
        self.head = b""  # the start of a frame header cut off by the end of a read
        self.last_stream = 0  # the highest stream a HEADERS frame opened

    @property
    def aligned(self) -> bool:
        """At a frame boundary: a frame written now would not cut another one."""
        return not self.skip and not self.head

    def feed(self, data: bytes) -> bool:
        """Follow ``data``; False once the client resets streams faster than the rate."""
        size = len(data)
        pos = self.skip
        if self.head:
            need = 9 - len(self.head)
            if size < need:
                self.head += data
                return True
            header, self.head = self.head + data[:need], b""
            if not self._frame(header, 0):
                return False
            pos = need + int.from_bytes(header[:3], "big")
        while pos + 9 <= size:
            if not self._frame(data, pos):
                return False
            pos += 9 + int.from_bytes(data[pos : pos + 3], "big")
        if pos < size:
            self.head, self.skip = data[pos:], 0
        else:
            self.skip = pos - size
        return True

    def _frame(self, data: bytes, pos: int) -> bool:
        kind = data[pos + 3]
        if kind == _RST_STREAM:
            return self.rate is None or self.rate.allow(time.monotonic())
        if kind == _HEADERS:
            stream = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            self.last_stream = max(self.last_stream, stream)
        return True


def goaway(last_stream: int, code: int, reason: bytes) -> bytes:
    payload = _FRAME.pack(last_stream) + _FRAME.pack(code) + reason
    return _FRAME.pack(len(payload))[1:] + bytes((_GOAWAY, 0)) + b"\0\0\0\0" + payload


class _Pipe(asyncio.BufferedProtocol):
    """One side of a relayed connection: reads into its own buffer (no allocation per read) and
    writes what it read to the other side; flow control pauses the other side's reading."""

    def __init__(self, owner: _Sniffer) -> None:
        self.owner = owner
        self.view = memoryview(bytearray(_RELAY_BUFFER))
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self.filtering = False  # client side, until our SETTINGS' ACK has been dropped
        #: The frames read (client side: resets counted; upstream side: where frames end).
        self.watch: FrameWatch | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self.view[:nbytes])  # a copy: the transport may keep it queued
        if self.watch is not None and not self.watch.feed(data):
            self.owner.calm_down()
            return
        if self.filtering:
            self.owner.buffer += data
            self.owner.forward_buffer()
        elif self.peer is not None:
            self.peer.write(data)

    def eof_received(self) -> bool | None:
        if self.peer is not None and self.peer.can_write_eof() and not self.peer.is_closing():
            self.peer.write_eof()
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.close()

    def pause_writing(self) -> None:
        if self.peer is not None and not self.peer.is_closing():
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.is_closing():
            self.peer.resume_reading()


class _Sniffer(asyncio.Protocol):
    """Reads a new connection until it can be classified, then hands it over or relays it."""

    def __init__(self, port: ClientPort) -> None:
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.state = "sniff"  # sniff → connecting → relay | closed
        self.upstream: asyncio.Transport | None = None
        self.drop_ack = False  # the client's ACK of our SETTINGS is still to come
        self.idle: asyncio.TimerHandle | None = None
        self.client_pipe: _Pipe | None = None
        self.upstream_pipe: _Pipe | None = None
        self.counted = False  # in the port's open connections (until this connection ends)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)
        if not self.port.limits.connection_opened():
            self.state = "closed"
            self.transport.abort()  # over --http-max-connections (logged by the limits)
            return
        self.counted = True
        self.port.connections.add(self)
        # Silent until classified: the idle timeout (gRPC clients may connect long before
        # their first call).
        idle = self.port.limits.settings.idle_timeout
        if idle:
            self.idle = asyncio.get_running_loop().call_later(idle, self.close)

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.port.limits.connection_closed()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.state != "sniff":
            return
        if not PREFACE.startswith(bytes(self.buffer[: len(PREFACE)])):
            self._hand_over(self.port.http1())
            return
        if len(self.buffer) < len(PREFACE):
            return
        if not self.drop_ack:
            assert self.transport is not None
            self.transport.write(EMPTY_SETTINGS)
            self.drop_ack = True
        verdict = first_request_is_grpc(bytes(self.buffer))
        if verdict is None and len(self.buffer) < _SNIFF_LIMIT:
            return
        if verdict is False:
            self._hand_over(H2Protocol(self.port.api, self.port.limits))
            return
        if self.port.grpc is not None:  # --grpc-front h2 (verdict True, or undecidable)
            protocol = H2Protocol(self.port.api, self.port.limits, self.port.grpc)
            self._hand_over(protocol)
            self.port.track(protocol)
            return
        self.state = "connecting"
        asyncio.get_running_loop().create_task(self._connect())

    def _hand_over(self, protocol: H2Protocol | Http1Connection) -> None:
        assert self.transport is not None
        self._stop_idle()
        self.port.connections.discard(self)
        self.state = "handed-over"
        if self.counted:  # the protocol now owns the connection's place in the count
            self.counted = False
            protocol.on_close = self.port.limits.connection_closed
        data = bytes(self.buffer)
        self.buffer.clear()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if data:
            protocol.data_received(data)

    async def _connect(self) -> None:
        assert self.transport is not None
        self._stop_idle()
        self.transport.pause_reading()
        upstream_pipe = _Pipe(self)
        try:
            await self.port.grpc_ready.wait()
            loop = asyncio.get_running_loop()
            # A socket of our own: uvloop cannot connect to an abstract socket by its path.
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, self.port.grpc_socket)
            except BaseException:
                sock.close()
                raise
            upstream, _ = await loop.create_unix_connection(lambda: upstream_pipe, sock=sock)
        except (OSError, asyncio.CancelledError) as e:
            log.warning("cannot relay a gRPC connection to the internal server: %s", e)
            self.close()
            return
        if self.state == "closed":
            upstream.close()
            return
        self.upstream = upstream
        self._set_nodelay(self.transport)
        self.state = "relay"
        client_pipe = _Pipe(self)
        client_pipe.peer, upstream_pipe.peer = upstream, self.transport
        client_pipe.filtering = self.drop_ack
        client_pipe.watch = FrameWatch(self.port.limits.settings.http2_max_reset_rate)
        upstream_pipe.watch = FrameWatch()
        self.client_pipe, self.upstream_pipe = client_pipe, upstream_pipe
        if not client_pipe.watch.feed(bytes(self.buffer[len(PREFACE) :])):
            self.calm_down()
            return
        self.transport.set_protocol(client_pipe)
        client_pipe.connection_made(self.transport)
        self.forward_buffer()
        self.transport.resume_reading()

    @staticmethod
    def _set_nodelay(transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def forward_buffer(self) -> None:
        """Forward buffered bytes, dropping the client's first SETTINGS ACK (it acknowledges
        our empty SETTINGS, which grpc.aio never sent)."""
        assert self.upstream is not None
        data = bytes(self.buffer)
        self.buffer.clear()
        if not self.drop_ack:
            if data:
                self.upstream.write(data)
            return
        start = len(PREFACE) if data.startswith(PREFACE) else 0
        if start:
            self.upstream.write(data[:start])
        pos = start
        for kind, flags, _, _, end in _frames(data, start):
            if kind == _SETTINGS and flags & 0x1:
                self.upstream.write(data[start : end - 9])
                self.drop_ack = False
                if self.client_pipe is not None:
                    self.client_pipe.filtering = False
                self.upstream.write(data[end:])
                return
            pos = end
        self.upstream.write(data[start:pos])
        self.buffer += data[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def calm_down(self) -> None:
        """A relayed client resets streams too fast: GOAWAY (ENHANCE_YOUR_CALM), then close
        both sides. The GOAWAY is written only where it cannot cut a frame of grpc.aio's."""
        if self.state == "closed" or self.transport is None:
            return
        self.port.limits.reset_too_fast(self.transport.get_extra_info("peername"))
        upstream = self.upstream_pipe
        if upstream is not None:
            upstream.peer = None  # nothing more from grpc.aio to the client
        client = self.client_pipe
        if (upstream is None or upstream.watch is None or upstream.watch.aligned) and client:
            last = client.watch.last_stream if client.watch is not None else 0
            reason = b"too many stream resets (--http2-max-reset-rate)"
            self.transport.write(goaway(last, _ENHANCE_YOUR_CALM, reason))
        self.close()

    def _stop_idle(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def close(self) -> None:
        self._uncount()
        if self.state == "closed":
            return
        self.state = "closed"
        self._stop_idle()
        self.port.connections.discard(self)
        if self.transport is not None:
            self.transport.close()
        if self.upstream is not None:
            self.upstream.close()


def internal_socket(prefix: str) -> tuple[str, str, str]:
    """``(directory, grpc address, connect path)`` of the socket between a port (client or admin)
    and its grpc.aio server, named with ``prefix``. On Linux an abstract socket: it lives in no
    directory, so a proxy killed with SIGKILL leaves nothing behind (a path socket left one temp
    directory per crash). Elsewhere a socket file in a temp directory, removed on close."""
    if sys.platform == "linux":
        name = f"{prefix}{os.getpid()}-{uuid.uuid4().hex}"
        return "", f"unix-abstract:{name}", "\0" + name
    directory = tempfile.mkdtemp(prefix=prefix)
    path = os.path.join(directory, "grpc.sock")
    return directory, f"unix:{path}", path


class ClientPort:
    """The public listener; see the module docstring."""

    def __init__(
        self,
        api: HttpApi,
        host: str,
        port: int,
        grpc_socket: str,
        tls: ssl.SSLContext | None = None,
        limits: ConnectionLimits | None = None,
        reuse_port: bool = False,
        grpc_front: GrpcFront | None = None,
    ) -> None:
        self.api = api
        #: Bounds of the port's connections (count, timeouts, bytes held; limits.py).
        self.limits = limits or ConnectionLimits()
        #: Server TLS context: connections are decrypted by asyncio before they are classified
        #: (ALPN offers h2 and http/1.1), so every protocol of the port works over TLS.
        self.tls = tls
        #: SO_REUSEPORT: proxy workers (--workers) listen on the same port.
        self.reuse_port = reuse_port
        self.host = host
        self.port = port
        self.grpc_socket = grpc_socket
        self.grpc_ready = grpc_front.ready if grpc_front is not None else asyncio.Event()
        #: Native gRPC connections go to h2c (``--grpc-front h2``); None: relayed whole.
        self.grpc = grpc_front
        self.connections: set[_Sniffer] = set()
        self.grpc_connections: set[H2Protocol] = set()
        self._server: asyncio.Server | None = None
        self._http1: Http1Server = http1_server(api, self.limits)
        self.http1: Callable[[], Http1Connection] = self._http1

    def track(self, protocol: H2Protocol) -> None:
        """A native gRPC connection served by h2c: closed by :meth:`close` like relayed ones."""
        self.grpc_connections.add(protocol)
        counted = protocol.on_close

        def closed() -> None:
            self.grpc_connections.discard(protocol)
            if counted is not None:
                counted()

        protocol.on_close = closed

    async def start(self) -> int:
        """Bind and listen; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Sniffer(self),
            self.host,
            self.port,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
            backlog=1024,
            ssl=self.tls,
        )
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self, grace: float = 5.0) -> None:
        """Stop listening, let HTTP/1.1 requests in flight finish, close relays."""
        await self.stop_accepting()
        with contextlib.suppress(Exception):
            self._http1.pre_shutdown()  # idle keep-alive connections close now
            await self._http1.shutdown(grace)
        for connection in list(self.connections):
            connection.close()
        for protocol in list(self.grpc_connections):
            protocol.close()
        if self.grpc is not None:
            await self.grpc.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
