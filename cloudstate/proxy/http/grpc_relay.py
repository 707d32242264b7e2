"""Native gRPC streams the h2c server does not serve itself, relayed one stream at a time to the
internal grpc.aio server: client-streaming and bidi user methods, server reflection, health and
unknown paths (grpc.aio answers UNIMPLEMENTED).

One grpc.aio client channel per port (:class:`~.grpc_native.GrpcFront`) carries every relayed
stream as ``stream_stream`` with bytes in and out. Request messages go on as their DATA arrives
(a reflection client waits for each answer before it asks again); the request's flow-control
window is given back only as messages are taken, so a slow call slows its client. Example::

    stream.task = loop.create_task(relay(h2, stream_id, stream))   # at the request's HEADERS
    stream.inbox.append((data, flow_controlled_length)); stream.arrived.set()   # per DATA
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any

import grpc

from cloudstate.proxy.http.grpc_native import (
    GRPC,
    GrpcConnection,
    GrpcError,
    GrpcStream,
    decompress,
    frame,
    parse_timeout,
    request_metadata,
    too_large,
    trailers,
    wire_headers,
)

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">BI")
#: Request headers grpc.aio's client sets itself (or refuses as metadata).
_OWN = frozenset({"user-agent"})


async def relay(h2: GrpcConnection, stream_id: int, stream: GrpcStream) -> None:
    """Relay one stream to grpc.aio and its answer back; see the module docstring."""
    front = h2.grpc
    assert front is not None
    headers = dict(stream.headers)
    path = headers.get(":path", "/")
    timeout = parse_timeout(headers.get("grpc-timeout", ""))
    if timeout is not None:
        timeout = max(0.0, stream.started + timeout - asyncio.get_running_loop().time())
    metadata = [(k, v) for k, v in request_metadata(stream.headers) if k not in _OWN]
    sent = False
    call: Any = None
    calls: list[Any] = []  # the call, for the request iterator to cancel
    problems: list[GrpcError] = []  # a request message the proxy could not pass on
    try:
        await front.ready.wait()
        multi = front.channel().stream_stream(
            path, request_serializer=None, response_deserializer=None
        )
        encoding = headers.get("grpc-encoding", "identity")
        requests = _requests(h2, stream_id, stream, encoding, problems, calls)
        call = multi(requests, metadata=tuple(metadata), timeout=timeout)
        calls.append(call)
        initial = await call.initial_metadata()
        answer = [(":status", "200"), ("content-type", GRPC), *wire_headers(initial or ())]
        if not call.done():  # else: maybe trailers-only, decided at the end
            await h2.respond(stream_id, stream, answer, b"", None)
            sent = True
        async for message in call:
            await h2.respond(stream_id, stream, None if sent else answer, frame(message), None)
            sent = True
        code, details, trailing = (
            await call.code(),
            await call.details(),
            await call.trailing_metadata(),
        )
    except grpc.aio.AioRpcError as e:
        code, details, trailing = e.code(), e.details() or "", e.trailing_metadata()
        initial = e.initial_metadata()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not problems or (task is not None and task.cancelling()):
            if call is not None:
                call.cancel()
            raise
        problem = problems[0]  # the request iterator cancelled the call
        code, details, trailing, initial = problem.code, problem.message, (), ()
    except ConnectionError:  # the client is gone
        if call is not None:
            call.cancel()
        raise
    ending = trailers(code, details or "", wire_headers(trailing or ()))
    if sent:
        await h2.respond(stream_id, stream, None, b"", ending)
    else:
        head = [(":status", "200"), ("content-type", GRPC), *wire_headers(initial or ())]
        await h2.respond(stream_id, stream, head + ending, b"", None, end=True)


async def _requests(
    h2: GrpcConnection,
    stream_id: int,
    stream: GrpcStream,
    encoding: str,
    problems: list[GrpcError],
    calls: list[Any],
) -> AsyncIterator[bytes]:
    """The request messages as their DATA arrives; the flow-control window goes back to the
    client as they are taken. A message the proxy cannot pass on (too large, unknown
    compression) is put in ``problems`` and the call cancelled."""
    try:
        async for message in _messages(h2, stream_id, stream, encoding):
            yield message
    except GrpcError as e:
        problems.append(e)
        for call in calls:
            call.cancel()


async def _messages(
    h2: GrpcConnection, stream_id: int, stream: GrpcStream, encoding: str
) -> AsyncIterator[bytes]:
    assert h2.grpc is not None
    limit = h2.grpc.max_message_size
    buffer = bytearray()
    while True:
        while stream.inbox:
            data, flow = stream.inbox.popleft()
            buffer += data
            with contextlib.suppress(Exception):
                h2.conn.acknowledge_received_data(flow, stream_id)
            h2.flush()
        while len(buffer) >= 5:
            flag, length = _HEADER.unpack_from(buffer)
            if length > limit:
                raise too_large(length, limit)
            if len(buffer) < 5 + length:
                break
            message = bytes(buffer[5 : 5 + length])
            del buffer[: 5 + length]
            yield decompress(message, encoding, limit) if flag & 1 else message
        if stream.inbox:
            continue  # more came while a message was on its way
        if stream.ended:
            return
        stream.arrived.clear()
        await stream.arrived.wait()
