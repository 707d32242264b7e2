"""HTTP/1.1 for :class:`~.api.HttpApi`, on aiohttp's low-level server (C parser, same loop).

Example::

    server = http1_server(api)                  # a protocol factory
    protocol = server()                         # adopts a transport: set_protocol + connection_made
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from multidict import CIMultiDict

from cloudstate.proxy.http.api import HttpApi, HttpRequest, HttpResponse, error

log = logging.getLogger(__name__)


async def read_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """The whole request body, or None if it is larger than ``limit``."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    chunks = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def http1_server(api: HttpApi) -> web.Server:
    """An aiohttp low-level server (a protocol factory) serving ``api``."""

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        body = await read_body(request, api.options.max_body)
        if body is None:
            response = error(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request body larger than {api.options.max_body} bytes "
                "(raise it with --http-max-body)",
            )
            response.status = 413
        else:
            path, _, query = request.raw_path.partition("?")
            headers = [(k.lower(), v) for k, v in request.headers.items()]
            response = await api.handle(HttpRequest(request.method, path, query, headers, body))
        return await _send(request, response)

    return web.Server(
        handler, access_log=None, handler_cancellation=True, logger=MalformedRequestLog()
    )


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
