"""HTTP/1.1 for :class:`~.api.HttpApi`, on aiohttp's low-level server (C parser, same loop).

Example::

    server = http1_server(api)                  # a protocol factory
    protocol = server()                         # adopts a transport: set_protocol + connection_made
"""

from __future__ import annotations

import logging

import grpc
from aiohttp import web
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

    return web.Server(handler, access_log=None, handler_cancellation=True)


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
