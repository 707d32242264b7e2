"""The local channel between proxy workers: each worker listens on one unix socket and keeps one
connection to each other worker, carrying :mod:`~cloudstate.proxy.workers.wire` frames.

Many commands share a connection at once (each frame carries its request id), so a worker
needs one socket per peer, not per command. On Linux the sockets are abstract (no file to
clean up after a SIGKILL); elsewhere they are files in a temporary directory. Nodes of a cluster
(:mod:`~cloudstate.proxy.workers.cluster`) use the same frames over TCP: an address
``tcp:HOST:PORT`` (:func:`tcp_address`), optionally over mutual TLS (``ssl=``; see
:mod:`~cloudstate.proxy.workers.cluster_tls`). Over TLS the owner's first frame is an empty
*hello*, and a client sends no command before it has it: with TLS 1.3 the server checks the
client's certificate after the client's handshake has ended, so without it a refused node would
learn so only after writing a command, not knowing whether it ran.

Example::

    server = OwnerServer(socket_address("g1", 1), serve)   # serve(service, method, key, md, p)
    await server.start()
    client = PeerClient("w1", socket_address("g1", 1), timeout=30.0)
    outcome = await client.call("shop.Cart", "Add", "alice", None, payload)
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
from collections.abc import Awaitable, Callable
from typing import cast

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.workers import wire

log = logging.getLogger(__name__)

_LEN = struct.Struct("!I")
#: Pause between attempts to reach a worker that is not listening (restarting).
_RECONNECT_PAUSE = 0.05
#: A TLS handshake (and the owner's hello) may take this long once TCP is connected: longer
#: than the connect timeout, which is short to give up on a dead node, not on a slow handshake.
_TLS_HANDSHAKE_TIMEOUT = 10.0

Serve = Callable[[str, str, str, entity_pb2.Metadata | None, bytes], Awaitable[Outcome]]
#: Called with (store id, entity id) for each change notice a peer sends (``CHANGE`` frames).
OnChange = Callable[[str, str], None]


def tcp_address(host: str, port: int) -> str:
    """The channel address of a node's cluster port (``tcp_address("10.0.0.7", 9100)``)."""
    return f"tcp:{host}:{port}"


def _tcp_host_port(address: str) -> tuple[str, int] | None:
    if not address.startswith("tcp:"):
        return None
    host, _, port = address[4:].rpartition(":")
    return host.strip("[]"), int(port)


class PeerUnreachable(ProxyError):
    """The command was never sent: the owner did not accept a connection in time (so it is safe
    to send it elsewhere)."""


class PeerRefused(ProxyError):
    """The command was never sent: the TLS handshake with the owner failed (a certificate not
    signed by the cluster's CA on either side). Retrying does not help; the operator must."""


def socket_address(group: str, index: int) -> str:
    """The address worker ``index`` of the worker group ``group`` listens on."""
    name = f"cloudstate-proxy-{group}-w{index}"
    if sys.platform.startswith("linux"):
        return "\0" + name
    return os.path.join(tempfile.gettempdir(), name + ".sock")


class _Frames(asyncio.Protocol):
    """Splits the byte stream into frame bodies (``frame_received``); :meth:`send` coalesces the
    frames of one event-loop turn into one write (one syscall, one wakeup of the peer, instead of
    one per command: under load many commands cross in the same turn)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._outbox: list[bytes] = []

    def send(self, frame: bytes) -> None:
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(frame)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        if not buffer and len(data) >= 4:  # the common case: whole frames, no copying
            (size,) = _LEN.unpack_from(data)
            if len(data) == 4 + size:
                self.frame_received(data[4:])
                return
        buffer += data
        while len(buffer) >= 4:
            (size,) = _LEN.unpack_from(buffer)
            if len(buffer) < 4 + size:
                return
            body = bytes(buffer[4 : 4 + size])
            del buffer[: 4 + size]
            self.frame_received(body)

    def frame_received(self, body: bytes) -> None:
        raise NotImplementedError


_HELLO = _LEN.pack(0)  # an empty frame: the owner accepted this TLS connection


class _OwnerConnection(_Frames):
    """One peer's connection to this worker: runs each command it sends, answers on it."""

    def __init__(self, serve: Serve, on_change: OnChange | None = None) -> None:
        super().__init__()
        self._serve = serve
        self._on_change = on_change
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self.transport.write(_HELLO)  # type: ignore[union-attr]

    def frame_received(self, body: bytes) -> None:
        if not body:
            return  # a hello: only owners send them
        request_id, kind, rest = wire.split(body)
        if kind == wire.CHANGE:
            if self._on_change is not None:
                self._on_change(*wire.decode_change(rest))
            return
        if kind != wire.REQUEST:
            log.error("worker channel: unexpected frame kind %d; closing the connection", kind)
            if self.transport is not None:
                self.transport.close()
            return
        task = asyncio.get_running_loop().create_task(self._run(request_id, rest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request_id: int, body: memoryview) -> None:
        try:
            service, method, entity_id, metadata, payload = wire.decode_request(body)
            outcome = await self._serve(service, method, entity_id, metadata, payload)
            frame = wire.encode_outcome(request_id, outcome)
        except ProxyError as error:
            frame = wire.encode_error(request_id, error)
        except Exception as error:  # answered, not lost: the caller's client gets INTERNAL
            log.exception("worker channel: command %d failed", request_id)
            frame = wire.encode_error(
                request_id, ProxyError(f"internal error in the owning proxy worker: {error!r}")
            )
        self.send(frame)


class OwnerServer:
    """Listens for the other workers' commands for entities this worker owns."""

    def __init__(
        self,
        address: str,
        serve: Serve,
        tls: ssl.SSLContext | None = None,
        on_change: OnChange | None = None,
    ) -> None:
        self.address = address
        self._serve = serve
        self._on_change = on_change
        #: Server context of a TCP address (mutual TLS between cluster nodes); None: plain.
        self.tls = tls
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        """Listen; returns the TCP port bound (0 for a unix socket)."""
        loop = asyncio.get_running_loop()
        tcp = _tcp_host_port(self.address)
        if tcp is not None:
            self._server = await loop.create_server(
                lambda: _OwnerConnection(self._serve, self._on_change),
                tcp[0],
                tcp[1],
                backlog=1024,
                ssl=self.tls,
            )
            return int(self._server.sockets[0].getsockname()[1])
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)  # left by a killed predecessor
        # Our own socket: uvloop refuses abstract addresses given as a path.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        listener.listen(1024)
        listener.setblocking(False)
        self._server = await loop.create_unix_server(
            lambda: _OwnerConnection(self._serve, self._on_change), sock=listener
        )
        return 0

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


class _PeerConnection(_Frames):
    """This worker's connection to one owner: the commands waiting for its answers."""

    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.pending: dict[int, tuple[asyncio.Future[Outcome], str]] = {}
        self.closed = False
        #: Resolved by the owner's hello (TLS), failed if the connection ends before it.
        self.accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def frame_received(self, body: bytes) -> None:
        if not body:
            if not self.accepted.done():
                self.accepted.set_result(None)
            return
        request_id, kind, rest = wire.split(body)
        entry = self.pending.pop(request_id, None)
        if entry is None or entry[0].done():
            return  # timed out meanwhile
        future = entry[0]
        if kind == wire.OUTCOME:
            future.set_result(wire.decode_outcome(rest))
        else:
            future.set_exception(wire.decode_error(rest))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.accepted.done():
            self.accepted.set_exception(ConnectionResetError("closed before the owner's hello"))
        pending, self.pending = self.pending, {}
        for future, what in pending.values():
            if not future.done():
                future.set_exception(
                    ProxyError(
                        f"{what}: proxy worker {self.peer}, which owns the entity, went away "
                        "while handling it; the command may or may not have been applied (retry "
                        "with an idempotency key to be sure it applies once)",
                        grpc.StatusCode.UNAVAILABLE,
                    )
                )


class PeerClient:
    """Sends commands to one other worker (``peer``: its member id) and returns its outcomes.

    A worker that is not listening (killed, restarting) is retried every 50 ms for up to
    ``connect_timeout`` seconds (default ``timeout``), then the command fails UNAVAILABLE
    (:class:`PeerUnreachable`) naming the worker."""

    def __init__(
        self,
        peer: str,
        address: str,
        timeout: float,
        connect_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.peer = peer
        self.address = address
        self.timeout = timeout
        #: Client context of a TCP address (mutual TLS between cluster nodes); None: plain.
        self.tls = tls
        #: How long to keep trying to connect before :class:`PeerUnreachable` (default: timeout).
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self._connection: _PeerConnection | None = None
        self._connecting: asyncio.Future[_PeerConnection] | None = None
        self._notifying: set[asyncio.Task[None]] = set()
        self._next_id = 0

    async def call(
        self,
        service: str,
        method: str,
        entity_id: str,
        metadata: entity_pb2.Metadata | None,
        payload: bytes,
    ) -> Outcome:
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect(f"{service}.{method} for entity {entity_id!r}")
        self._next_id = request_id = (self._next_id + 1) & 0xFFFFFFFF
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        what = f"{service}.{method} for entity {entity_id!r}"
        connection.pending[request_id] = (future, what)
        connection.send(
            wire.encode_request(request_id, service, method, entity_id, metadata, payload)
        )
        # The owner's actor bounds the command by the command timeout; this bounds a frozen owner.
        timer = loop.call_later(self.timeout + 5.0, self._expire, connection, request_id)
        try:
            return await future
        finally:
            timer.cancel()
            connection.pending.pop(request_id, None)

    def notify(self, store_id: str, entity_id: str) -> None:
        """Send a change notice (fire and forget: best effort, the stored state is the truth;
        a peer not connected yet gets it once the connection is up)."""
        frame = wire.encode_change(store_id, entity_id)
        connection = self._connection
        if connection is not None and not connection.closed:
            connection.send(frame)
            return
        task = asyncio.get_running_loop().create_task(self._notify_later(frame))
        self._notifying.add(task)  # held: the loop keeps only weak references to tasks
        task.add_done_callback(self._notifying.discard)

    async def _notify_later(self, frame: bytes) -> None:
        with contextlib.suppress(ProxyError):
            (await self._connect("a change notice")).send(frame)

    def _expire(self, connection: _PeerConnection, request_id: int) -> None:
        entry = connection.pending.pop(request_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(
                ProxyError(
                    f"{entry[1]}: proxy worker {self.peer}, which owns the entity, did not answer "
                    f"within {self.timeout + 5.0:g}s; the command may or may not have been applied",
                    grpc.StatusCode.UNAVAILABLE,
                )
            )

    async def _connect(self, what: str) -> _PeerConnection:
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._open(what))
        return await asyncio.shield(self._connecting)

    async def _open(self, what: str) -> _PeerConnection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        tcp = _tcp_host_port(self.address)
        kind = "worker" if tcp is None else "node"
        while True:
            family = socket.AF_UNIX if tcp is None else socket.AF_INET
            if tcp is not None and ":" in tcp[0]:
                family = socket.AF_INET6
            connection = socket.socket(family, socket.SOCK_STREAM)
            connection.setblocking(False)
            try:
                if tcp is None:
                    await loop.sock_connect(connection, self.address)
                    _, protocol = await loop.create_unix_connection(
                        lambda: _PeerConnection(self.peer), sock=connection
                    )
                else:
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    await loop.sock_connect(connection, tcp)
                    _, protocol = await loop.create_connection(
                        lambda: _PeerConnection(self.peer),
                        sock=connection,
                        ssl=self.tls,
                        server_hostname=tcp[0] if self.tls is not None else None,
                        ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT if self.tls else None,
                    )
                    if self.tls is not None:
                        await self._hello(protocol, what)
            except ssl.SSLError as error:
                connection.close()
                raise self._refused(what, error.reason or str(error)) from None
            except OSError as error:
                connection.close()
                if loop.time() >= deadline:
                    raise PeerUnreachable(
                        f"{what}: proxy {kind} {self.peer}, which owns the entity, has not been "
                        f"reachable for {self.connect_timeout:g}s ({error.strerror or error}); "
                        "it is down or restarting: retry later",
                        grpc.StatusCode.UNAVAILABLE,
                    ) from None
                await asyncio.sleep(_RECONNECT_PAUSE)
                continue
            self._connection = protocol
            return protocol

    async def _hello(self, protocol: _PeerConnection, what: str) -> None:
        """Wait for the owner's hello: it closes the connection instead if it refused our
        certificate (TLS 1.3 tells the client only now)."""
        try:
            async with asyncio.timeout(_TLS_HANDSHAKE_TIMEOUT):
                await protocol.accepted
        except (ConnectionError, TimeoutError):
            if protocol.transport is not None:
                protocol.transport.close()
            refused = "the owner closed the connection: it refused our certificate"
            raise self._refused(what, refused) from None

    def _refused(self, what: str, reason: str) -> PeerRefused:
        return PeerRefused(
            f"{what}: the TLS handshake with proxy node {self.peer}, which owns the entity, "
            f"failed ({reason}); every node needs a --cluster-tls-cert signed by the same "
            "--cluster-tls-ca (the command was not sent)",
            grpc.StatusCode.UNAVAILABLE,
        )

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.close()
