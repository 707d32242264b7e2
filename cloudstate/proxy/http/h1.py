"""HTTP/1.1 for :class:`~.api.HttpApi`, on aiohttp's low-level server (C parser, same loop).

Example::

    server = http1_server(api)                  # a protocol factory
    protocol = server()                         # adopts a transport: set_protocol + connection_made
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from cloudstate.proxy.http.api import HttpApi, HttpRequest, HttpResponse, error
from cloudstate.proxy.http.limits import BODY_TIMEOUT, HEADER_TIMEOUT, ConnectionLimits, cut
from cloudstate.proxy.http.status import error_body

log = logging.getLogger(__name__)


class _Refused(Exception):
    """The request is answered with ``response`` before it is handled (its body is not read
    to the end); ``close``: then close the connection."""

    def __init__(self, response: HttpResponse, close: bool = False) -> None:
        super().__init__(response.status)
        self.response = response
        self.close = close


async def read_body(request: web.BaseRequest, limit: int, limits: ConnectionLimits) -> bytes:
    """The whole request body, its bytes reserved in ``limits.budget`` (the caller gives them
    back). Raises :class:`_Refused`: 413 past ``limit``, 503 when the budget is spent, 408 if the
    body has not arrived within the body timeout."""
    length = request.content_length
    if length is not None and length > limit:
        raise _Refused(_too_large(limit))
    content = request.content
    timeout = limits.settings.body_timeout
    held = 0
    chunks: list[bytes] = []
    try:
        if content.is_eof():  # all there already (small bodies, GET): no timer
            held = _collect(content.read_nowait(), held, limit, limits, chunks)
        elif timeout:
            async with asyncio.timeout(timeout):
                while chunk := await content.readany():
                    held = _collect(chunk, held, limit, limits, chunks)
        else:
            while chunk := await content.readany():
                held = _collect(chunk, held, limit, limits, chunks)
    except TimeoutError:
        limits.budget.give(held)
        cut(BODY_TIMEOUT)
        response = error(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"the request body did not arrive within {timeout:g}s (--http-body-timeout)",
        )
        response.status = 408
        raise _Refused(response, close=True) from None
    except _Refused:
        limits.budget.give(held)
        raise
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _collect(
    chunk: bytes, held: int, limit: int, limits: ConnectionLimits, chunks: list[bytes]
) -> int:
    if not chunk:
        return held
    if held + len(chunk) > limit:
        raise _Refused(_too_large(limit))
    if not limits.budget.take(len(chunk)):
        raise _Refused(
            error(
                grpc.StatusCode.UNAVAILABLE,
                "the proxy holds as many request bytes as it may (--http-max-buffered); "
                "retry later",
                ("retry-after", "1"),
            )
        )
    chunks.append(chunk)
    return held + len(chunk)


def _too_large(limit: int) -> HttpResponse:
    response = error(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request body larger than {limit} bytes (raise it with --http-max-body)",
    )
    response.status = 413
    return response


class Http1Server(web.Server):
    """aiohttp's low-level server whose connections are :class:`Http1Connection`."""

    def __init__(self, limits: ConnectionLimits, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits

    def __call__(self) -> Http1Connection:
        return Http1Connection(self, self.limits, loop=self._loop, **self._kwargs)


class Http1Connection(RequestHandler):
    """aiohttp's connection, plus a header timeout: the request line and headers must arrive
    within ``header_timeout`` of the request's first byte, else 408 and the connection closes.
    (Idle keep-alive connections are aiohttp's ``keepalive_timeout``; bodies: :func:`read_body`.)"""

    __slots__ = ("_head_timer", "_limits", "on_close")

    def __init__(self, manager: web.Server, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        #: Called once when the connection is gone (the port's connection count).
        self.on_close: Callable[[], None] | None = None

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads:  # a request head is complete
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
        elif (
            data
            and self._head_timer is None
            and not self._request_in_progress
            and not self._messages
            and self._limits.settings.header_timeout
        ):  # the first bytes of a request head
            self._head_timer = self._loop.call_later(
                self._limits.settings.header_timeout, self._head_too_slow
            )

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._request_in_progress or self._messages or self.transport is None:
            return
        timeout = self._limits.settings.header_timeout
        cut(HEADER_TIMEOUT)
        body = error_body(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"the request headers did not arrive within {timeout:g}s (--http-header-timeout)",
        )
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.force_close()  # the transport writes what it holds, then closes

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)
        if self.on_close is not None:
            self.on_close()
            self.on_close = None


def http1_server(api: HttpApi, limits: ConnectionLimits | None = None) -> Http1Server:
    """An aiohttp low-level server (a protocol factory) serving ``api`` within ``limits``."""
    limits = limits or ConnectionLimits()

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        try:
            body = await read_body(request, api.options.max_body, limits)
        except _Refused as refused:
            if refused.close:
                return await _send_and_close(request, refused.response)
            return await _send(request, refused.response)
        try:
            path, _, query = request.raw_path.partition("?")
            headers = [(k.lower(), v) for k, v in request.headers.items()]
            response = await api.handle(HttpRequest(request.method, path, query, headers, body))
        finally:
            limits.budget.give(len(body))
        return await _send(request, response)

    return Http1Server(
        limits,
        handler,
        access_log=None,
        handler_cancellation=True,
        logger=MalformedRequestLog(),
        keepalive_timeout=limits.settings.idle_timeout or 1e9,  # 0: never
    )


async def _send_and_close(request: web.BaseRequest, response: HttpResponse) -> web.StreamResponse:
    """Answer, then close the connection at once (no lingering read of the rest of the body)."""
    reply = web.Response(status=response.status, body=response.body, headers=response.headers)
    reply.force_close()
    await reply.prepare(request)
    await reply.write_eof()
    request.protocol.force_close()
    return reply


#: Seconds between two log lines about malformed requests.
MALFORMED_LOG_INTERVAL = 10.0


class MalformedRequestLog:
    """aiohttp's server logger, except for malformed requests (a parse error aiohttp answers with
    400 itself): the first is logged at once at WARNING, the next ones in the following
    :data:`MALFORMED_LOG_INTERVAL` seconds are counted and logged as one line when it ends; never a
    traceback, so a client sending garbage cannot flood the log."""

    def __init__(self, logger: logging.Logger = server_logger) -> None:
        self.logger = logger
        self.pending = 0
        self.latest = ""
        self._timer: asyncio.TimerHandle | None = None

    def debug(self, *args: Any, **kw: Any) -> None:
        self.logger.debug(*args, **kw)

    def exception(self, msg: str, *args: Any, exc_info: Any = True, **kw: Any) -> None:
        if isinstance(exc_info, HttpProcessingError) and exc_info.code < 500:
            remote = args[0] if args else "?"
            self._malformed(f"from {remote}: {_one_line(exc_info.message)}")
        else:
            self.logger.exception(msg, *args, exc_info=exc_info, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)

    def _malformed(self, what: str) -> None:
        if self._timer is None:
            log.warning(
                "malformed HTTP request %s; refused with 400 (more in the next %gs are counted)",
                what,
                MALFORMED_LOG_INTERVAL,
            )
            self._timer = asyncio.get_running_loop().call_later(MALFORMED_LOG_INTERVAL, self._flush)
        else:
            self.pending += 1
            self.latest = what

    def _flush(self) -> None:
        self._timer = None
        if self.pending:
            log.warning(
                "%d more malformed HTTP requests refused with 400 in the last %gs; latest %s",
                self.pending,
                MALFORMED_LOG_INTERVAL,
                self.latest,
            )
            self.pending = 0
            self._timer = asyncio.get_running_loop().call_later(MALFORMED_LOG_INTERVAL, self._flush)


def _one_line(message: object) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= 160 else text[:157] + "..."


async def _send(request: web.BaseRequest, response: HttpResponse) -> web.StreamResponse:
    headers: CIMultiDict[str] = CIMultiDict(response.headers)
    if response.stream is None:
        return web.Response(status=response.status, body=response.body, headers=headers)
    stream = web.StreamResponse(status=response.status, headers=headers)
    try:
        await stream.prepare(request)
        async for chunk in response.stream:
            await stream.write(chunk)
        await stream.write_eof()
    finally:
        aclose = getattr(response.stream, "aclose", None)
        if aclose is not None:
            await aclose()  # a client that went away ends the call upstream
    return stream
