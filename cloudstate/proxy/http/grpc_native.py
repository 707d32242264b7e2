"""Native gRPC on the h2c server (:mod:`.h2c`): the wire format of gRPC over HTTP/2 (the
``PROTOCOL-HTTP2`` spec) and the serving of unary and server-streaming user methods.

A request body is 5-byte framed messages (flag byte: 1 = compressed with ``grpc-encoding``;
4-byte big-endian length); the response is HEADERS (``:status 200``, ``content-type``, the
reply's metadata), DATA (framed messages), then trailers (``grpc-status``, ``grpc-message``
percent-encoded, trailing metadata). An error before any message is one HEADERS frame
(trailers-only). Client-streaming and bidi methods, reflection, health and unknown paths are
relayed per stream to grpc.aio (:mod:`.grpc_relay`). Example::

    front = GrpcFront("unix-abstract:cloudstate-proxy-1", ready, max_message_size=4 << 20)
    messages = decode_messages(body, "gzip", front.max_message_size)    # [b"<request>"]
    trailers(grpc.StatusCode.NOT_FOUND, "no cart")  # [("grpc-status", "5"), ("grpc-message", ..)]
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import struct
import zlib
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import headers_from_metadata, metadata_from_grpc
from cloudstate.proxy.errors import Overloaded, ProxyError
from cloudstate.proxy.http.status import DROPPED_RESPONSE_HEADERS, code_number
from cloudstate.proxy.model import MethodModel

if TYPE_CHECKING:
    import h2.connection

    from cloudstate.proxy.http.api import HttpApi

log = logging.getLogger(__name__)

GRPC = "application/grpc"
_HEADER = struct.Struct(">BI")
#: Largest reply message, as grpc.aio's ``grpc.max_send_message_length`` was (server.py).
MAX_SEND = 64 * 1024 * 1024
#: Request headers grpc.aio keeps out of ``invocation_metadata()`` (transport, not metadata).
_NOT_METADATA = frozenset(
    {
        "te",
        "content-type",
        "content-length",
        "content-encoding",
        "grpc-encoding",
        "grpc-accept-encoding",
        "accept-encoding",
        "grpc-timeout",
        "grpc-status",
        "grpc-message",
        "grpc-previous-rpc-attempts",
        "grpc-retry-pushback-ms",
        "grpc-internal-encoding-request",
        "host",
    }
)
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class GrpcStream(Protocol):
    """What serving a gRPC stream needs of h2c's stream (h2c.py's ``_Stream``)."""

    headers: list[tuple[str, str]]
    body: bytearray
    started: float
    ended: bool
    grpc_refusal: GrpcError | None
    inbox: deque[tuple[bytes, int]] | None
    arrived: asyncio.Event


class GrpcConnection(Protocol):
    """What serving a gRPC stream needs of h2c's connection (h2c.py's ``H2Protocol``)."""

    api: HttpApi
    grpc: GrpcFront | None
    conn: h2.connection.H2Connection

    def flush(self) -> None: ...

    async def respond(
        self,
        stream_id: int,
        stream: Any,
        head: list[tuple[str, str]] | None,
        data: bytes,
        trailers: list[tuple[str, str]] | None,
        end: bool = False,
    ) -> None: ...


def is_native_grpc(content_type: str) -> bool:
    """``application/grpc`` or ``application/grpc+proto`` (not gRPC-web)."""
    return content_type.startswith(GRPC) and not content_type.startswith(GRPC + "-web")


class GrpcFront:
    """What a port's h2c connections need to serve native gRPC: the internal grpc.aio server's
    address (one client channel per port, for the streams relayed to it), its readiness, and
    the largest request message (``--max-message-size``)."""

    def __init__(self, address: str, ready: asyncio.Event, max_message_size: int) -> None:
        self.address = address
        self.ready = ready
        self.max_message_size = max_message_size
        self._channel: grpc.aio.Channel | None = None

    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            # Sizes are enforced by the grpc.aio server itself; the channel passes what it gets.
            options = [
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
            ]
            self._channel = grpc.aio.insecure_channel(self.address, options=options)
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            with contextlib.suppress(Exception):
                await channel.close(None)


class GrpcError(Exception):
    """A call's end with a status: ``code``, ``message`` and trailing ``extra`` headers."""

    def __init__(
        self, code: grpc.StatusCode, message: str, extra: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = tuple(extra)


def percent_encode(message: str) -> str:
    """``grpc-message``'s encoding: UTF-8, bytes outside printable ASCII and ``%`` as ``%XX``."""
    data = message.encode("utf-8", "replace")
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in data):
        return message
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in data)


def trailers(
    code: grpc.StatusCode, message: str, extra: Iterable[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The trailing headers of a call that ended with ``code``."""
    block = [("grpc-status", str(code_number(code)))]
    if message:
        block.append(("grpc-message", percent_encode(message)))
    block.extend(extra)
    return block


def pushback(error: ProxyError) -> tuple[tuple[str, str], ...]:
    """``grpc-retry-pushback-ms`` of a refusal (:class:`Overloaded`), as grpc_ingress sends."""
    if isinstance(error, Overloaded):
        return (("grpc-retry-pushback-ms", str(round(error.retry_after * 1000))),)
    return ()


def parse_timeout(value: str) -> float | None:
    """``grpc-timeout`` (``100m``, ``5S``: up to 8 digits and a unit) in seconds; None if absent
    or malformed (grpc.aio ignored a malformed one too)."""
    if len(value) < 2 or not value[:-1].isdigit() or value[-1] not in _TIMEOUT_UNITS:
        return None
    return int(value[:-1]) * _TIMEOUT_UNITS[value[-1]]


def request_metadata(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str | bytes]]:
    """The request headers as grpc.aio's ``invocation_metadata()`` gave them: pseudo-headers
    and transport headers left out, ``-bin`` values base64-decoded."""
    pairs: list[tuple[str, str | bytes]] = []
    for key, value in headers:
        if key.startswith(":") or key in _NOT_METADATA:
            continue
        if key.endswith("-bin"):
            try:
                pairs.append((key, base64.b64decode(value + "=" * (-len(value) % 4))))
            except (binascii.Error, ValueError):
                pairs.append((key, value.encode("utf-8", "surrogateescape")))
        else:
            pairs.append((key, value))
    return pairs


def wire_headers(pairs: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, str]]:
    """Metadata as HTTP/2 headers: bytes values base64 (``-bin``), transport names and
    values HTTP/2 cannot carry dropped."""
    headers = []
    for key, value in pairs:
        if key in DROPPED_RESPONSE_HEADERS or key.startswith(":") or not key:
            continue
        if isinstance(value, bytes):
            headers.append((key, base64.b64encode(value).decode("ascii").rstrip("=")))
        elif "\r" not in value and "\n" not in value:
            headers.append((key, value))
    return headers


def reply_headers(metadata: entity_pb2.Metadata | None) -> list[tuple[str, str]]:
    """A reply's metadata as response headers (what ``send_initial_metadata`` sent)."""
    return wire_headers(headers_from_metadata(metadata)) if metadata is not None else []


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(0, len(payload)) + payload


def announced_size(body: bytes | bytearray) -> int:
    """The length the first frame header of ``body`` announces (0 before 5 bytes arrived)."""
    return _HEADER.unpack_from(body)[1] if len(body) >= 5 else 0


def too_large(size: int, limit: int) -> GrpcError:
    """grpc.aio's refusal of a request message over ``--max-message-size``."""
    return GrpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"Received message larger than max ({size} vs. {limit})",
    )


def decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """One message compressed with ``encoding`` (``gzip``, ``deflate``), at most ``limit``
    bytes once decompressed."""
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise GrpcError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"Compression algorithm '{encoding or 'identity'}' is not supported by the proxy "
            "(send identity, gzip or deflate)",
        )
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise GrpcError(grpc.StatusCode.INTERNAL, f"cannot decompress a message: {e}") from None
    if len(out) > limit:
        raise too_large(len(out) + len(inflater.unconsumed_tail), limit)
    return out


def decode_messages(body: bytes, encoding: str, limit: int) -> list[bytes]:
    """The messages of a request body; GrpcError if it is not whole frames or a message is
    larger than ``limit``."""
    messages: list[bytes] = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise GrpcError(grpc.StatusCode.INTERNAL, "the request ends inside a frame header")
        flag, length = _HEADER.unpack_from(body, pos)
        pos += 5
        if length > limit:
            raise too_large(length, limit)
        if pos + length > len(body):
            raise GrpcError(
                grpc.StatusCode.INTERNAL,
                f"a frame says {length} bytes but only {len(body) - pos} follow",
            )
        data = body[pos : pos + length]
        messages.append(decompress(data, encoding, limit) if flag & 1 else data)
        pos += length
    return messages


def headers_of(stream: GrpcStream) -> dict[str, str]:
    return dict(stream.headers)


async def serve(
    h2: GrpcConnection, stream_id: int, stream: GrpcStream, method: MethodModel
) -> None:
    """Serve one unary or server-streaming call of ``method`` whose body has arrived (or that
    was refused: ``stream.grpc_refusal``)."""
    headers = headers_of(stream)
    sent = False  # response HEADERS sent: an error now goes in the trailers
    timeout = parse_timeout(headers.get("grpc-timeout", ""))
    deadline = asyncio.timeout_at(stream.started + timeout if timeout is not None else None)
    try:
        if stream.grpc_refusal is not None:
            raise stream.grpc_refusal
        async with deadline:
            front = h2.grpc
            assert front is not None
            if not front.ready.is_set():
                await front.ready.wait()  # as the relay made calls wait for grpc.aio
            api = h2.api
            router = api.router
            if router is None:
                raise GrpcError(grpc.StatusCode.UNAVAILABLE, "the proxy is starting; retry")
            body = bytes(stream.body)
            stream.body = bytearray()  # held (counted) until the response is done
            encoding = headers.get("grpc-encoding", "identity")
            messages = decode_messages(body, encoding, front.max_message_size)
            if len(messages) != 1:
                raise GrpcError(
                    grpc.StatusCode.INTERNAL,
                    f"{method.path} takes exactly one request message, got {len(messages)}",
                )
            metadata = metadata_from_grpc(request_metadata(stream.headers))
            if not method.server_streaming:
                reply = await router.call(method, messages[0], metadata)
                payload = _sendable(reply.payload)
                head = [(":status", "200"), ("content-type", GRPC), *reply_headers(reply.metadata)]
                sent = True
                await h2.respond(stream_id, stream, head, frame(payload), trailers(_OK, ""))
                return
            stream_fn: Any = getattr(router, "stream", None)
            if stream_fn is None:
                raise GrpcError(grpc.StatusCode.UNIMPLEMENTED, f"{method.path} cannot stream")
            async with contextlib.aclosing(stream_fn(method, messages[0], metadata)) as replies:
                async for reply in replies:
                    payload = _sendable(reply.payload)
                    first: list[tuple[str, str]] | None = None
                    if not sent:
                        first = [(":status", "200"), ("content-type", GRPC)]
                        first += reply_headers(reply.metadata)
                        sent = True
                    await h2.respond(stream_id, stream, first, frame(payload), None)
        ending = trailers(_OK, "")
    except GrpcError as e:
        ending = trailers(e.code, e.message, e.extra)
    except ProxyError as e:
        ending = trailers(e.status, e.message, pushback(e))
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as e:
        if isinstance(e, TimeoutError) and deadline.expired():
            ending = trailers(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        else:
            log.exception("unexpected error serving gRPC %s", method.path)
            ending = trailers(grpc.StatusCode.UNKNOWN, "internal error in the proxy (logged)")
    if sent:
        await h2.respond(stream_id, stream, None, b"", ending)
    else:
        head = [(":status", "200"), ("content-type", GRPC), *ending]
        await h2.respond(stream_id, stream, head, b"", None, end=True)


_OK = grpc.StatusCode.OK


def _sendable(payload: bytes) -> bytes:
    if len(payload) > MAX_SEND:
        raise GrpcError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Sent message larger than max ({len(payload)} vs. {MAX_SEND})",
        )
    return payload
