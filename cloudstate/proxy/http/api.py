"""The HTTP side of the client port, independent of the HTTP server library: one
:class:`HttpRequest` in, one :class:`HttpResponse` out (body bytes or an async stream of chunks).

In order: CORS preflight; gRPC-web (``content-type: application/grpc-web*``); ``/health/live``,
``/health/ready`` and ``/openapi.json``; then the transcoding routes (a trie, see
:mod:`.template`): unknown path → 404, known path with another verb → 405.

Example::

    api = HttpApi(HttpOptions(cors_origins=("*",)))
    api.activate(model, router)                      # after discovery: ready
    response = await api.handle(HttpRequest("GET", "/carts/alice", "", [], b""))

One concern: what an HTTP request means to the proxy (which route, which call, which response);
the wire (HTTP/1.1, h2c) is the listener's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf import descriptor_pool

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import BadRequest, Overloaded, ProxyError, UnknownMethod
from cloudstate.proxy.http import grpcweb
from cloudstate.proxy.http.openapi import openapi_document
from cloudstate.proxy.http.rules import Binding, all_bindings, build_routes
from cloudstate.proxy.http.status import (
    HTTP_STATUS,
    code_number,
    error_body,
    metadata_from_http,
    response_headers,
)
from cloudstate.proxy.http.template import Match, RouteTrie
from cloudstate.proxy.http.transcode import (
    JsonOptions,
    build_request,
    dumps,
    http_body_reply,
    reply_value,
)
from cloudstate.proxy.model import MethodModel, UserFunctionModel

log = logging.getLogger(__name__)

JSON = "application/json"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
_RESERVED = ("/health/live", "/health/ready", "/openapi.json")


class Reply(Protocol):
    payload: bytes
    metadata: entity_pb2.Metadata | None


class RouterLike(Protocol):
    """What the HTTP API needs from :class:`cloudstate.proxy.router.Router`."""

    async def call(
        self, method: MethodModel, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> Any: ...

    def check_docs_access(self, metadata: entity_pb2.Metadata | None, what: str) -> None: ...


StreamFn = Callable[
    [MethodModel, "bytes | AsyncIterator[bytes]", "entity_pb2.Metadata | None"],
    AsyncIterator[Any],
]


@dataclass(slots=True)
class HttpRequest:
    """One HTTP request, whatever the server library: headers with lower-case names."""

    method: str
    path: str  # raw (percent-encoded), without the query string
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    http2: bool = False

    def header(self, name: str, default: str = "") -> str:
        for key, value in self.headers:
            if key == name:
                return value
        return default


@dataclass(slots=True)
class HttpResponse:
    """Status, headers, and either ``body`` or ``stream`` (chunks written as they come)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """HTTP settings (flags in docs/proxy-configuration.md)."""

    json: JsonOptions = field(default_factory=JsonOptions)
    #: Origins allowed by CORS; ``"*"`` allows any; empty disables CORS headers.
    cors_origins: tuple[str, ...] = ()
    #: Largest request body accepted, in bytes.
    max_body: int = 4 * 1024 * 1024
    #: Unannotated methods are served at ``POST /package.Service/Method``.
    default_routes: bool = True


def error(
    status: grpc.StatusCode, message: str, *extra: tuple[str, str], http_status: int = 0
) -> HttpResponse:
    """The JSON error response; ``http_status`` overrides the standard mapping of ``status``."""
    return HttpResponse(
        http_status or HTTP_STATUS.get(status, 500),
        [("content-type", JSON), *extra],
        error_body(status, message),
    )


class HttpApi:
    """See the module docstring."""

    def __init__(self, options: HttpOptions | None = None) -> None:
        self.options = options or HttpOptions()
        self.model: UserFunctionModel | None = None
        self.router: RouterLike | None = None
        self.routes: RouteTrie[Binding] = RouteTrie()
        self.bindings: list[Binding] = []
        self.ready = False
        self.draining = False
        self._openapi = b""
        self._pool: descriptor_pool.DescriptorPool | None = None
        #: Serves ``/cloudstate/workflows/...`` (the workflow progress feed), when the proxy
        #: serves workflows (cloudstate/proxy/workflows/events.py).
        self.workflow_events: Callable[[HttpRequest], Awaitable[HttpResponse]] | None = None

    def activate(self, model: UserFunctionModel, router: RouterLike, ready: bool = True) -> None:
        """Compile the routes of the discovered services; from now on requests are served
        (``/health/ready`` says 200 once ``ready`` is true, or :attr:`ready` is set).
        Raises :class:`~.rules.HttpRuleError` if an annotation cannot be served."""
        bindings = all_bindings(model, default_routes=self.options.default_routes)
        self.routes = build_routes(bindings)
        self.bindings = bindings
        self._openapi = dumps(openapi_document(model, bindings, self.options.json))
        self._pool = model.pool
        self.model, self.router = model, router
        for binding in bindings:
            if binding.template.text in _RESERVED:
                log.warning("%s is reserved by the proxy and not routed", binding.describe())
        self.ready = ready

    def set_draining(self) -> None:
        """Shutdown has begun: readiness turns 503, calls in flight finish."""
        self.draining = True

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Serve one request; never raises (unexpected errors become 500 and are logged)."""
        bad = _non_utf8_header(request.headers)
        if bad is not None:
            return error(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"header {bad!r}: the value is not UTF-8; send binary values base64-encoded "
                "under a name ending in -bin",
            )
        try:
            response = await self._dispatch(request)
        except ProxyError as e:
            response = error(e.status, e.message, *retry_headers(e), http_status=e.http_status)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            response = error(grpc.StatusCode.INTERNAL, "internal error in the proxy (logged)")
        origin = request.header("origin")
        if (
            origin
            and self._origin_allowed(origin)
            and not any(name == "access-control-allow-origin" for name, _ in response.headers)
        ):
            names = {name for name, _ in response.headers if name != "content-type"}
            response.headers += [
                ("access-control-allow-origin", origin),
                ("vary", "Origin"),
                (
                    "access-control-expose-headers",
                    ", ".join(sorted(names | {"grpc-status", "grpc-message"})),
                ),
            ]
        return response

    def _origin_allowed(self, origin: str) -> bool:
        allowed = self.options.cors_origins
        return "*" in allowed or origin in allowed

    async def _dispatch(self, request: HttpRequest) -> HttpResponse:
        method = request.method
        if method == "OPTIONS" and request.header("access-control-request-method"):
            return self._preflight(request)
        content_type = request.header("content-type")
        if grpcweb.is_grpc_web(content_type):
            return await self._grpc_web(request, content_type)
        path = request.path
        if path in _RESERVED and method in ("GET", "HEAD"):
            return self._reserved(path, request)
        if self.router is None:
            return error(
                grpc.StatusCode.UNAVAILABLE,
                "the proxy is starting: the user function has not been discovered yet; retry",
            )
        if self.workflow_events is not None and path.startswith("/cloudstate/workflows/"):
            return await self.workflow_events(request)
        found = self.routes.match(method, path)
        if not isinstance(found, Match):
            if found.allowed:
                response = error(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"{method} is not allowed on {path}; use {', '.join(found.allowed)}",
                    ("allow", ", ".join(found.allowed)),
                )
                response.status = 405
                return response
            return HttpResponse(
                404,
                [("content-type", JSON)],
                error_body(
                    grpc.StatusCode.NOT_FOUND,
                    f"no route for {method} {path}; see /openapi.json for the routes",
                ),
            )
        return await self._transcode(request, found.value, found.variables)

    def _reserved(self, path: str, request: HttpRequest) -> HttpResponse:
        if path == "/health/live":
            return HttpResponse(200, [("content-type", JSON)], b'{"status":"live"}')
        if path == "/health/ready":
            if self.ready and not self.draining:
                return HttpResponse(200, [("content-type", JSON)], b'{"status":"ready"}')
            state = b"stopping" if self.draining else b"starting"
            return HttpResponse(503, [("content-type", JSON)], b'{"status":"' + state + b'"}')
        if self.router is None:
            return error(grpc.StatusCode.UNAVAILABLE, "the proxy is starting; retry")
        try:
            self.router.check_docs_access(metadata_from_http(request.headers), "/openapi.json")
        except ProxyError as refused:
            return error(refused.status, refused.message)
        return HttpResponse(200, [("content-type", JSON)], self._openapi)

    def _preflight(self, request: HttpRequest) -> HttpResponse:
        origin = request.header("origin")
        if not origin or not self._origin_allowed(origin):
            return error(
                grpc.StatusCode.PERMISSION_DENIED,
                f"CORS: origin {origin or '(none)'} is not allowed; start the proxy with "
                "--cors-origin to allow it",
            )
        requested = request.header("access-control-request-headers")
        return HttpResponse(
            204,
            [
                ("access-control-allow-origin", origin),
                ("vary", "Origin"),
                ("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                ("access-control-allow-headers", requested or "content-type"),
                ("access-control-max-age", "600"),
            ],
        )

    # -- HTTP/JSON -------------------------------------------------------------------------

    async def _transcode(
        self, request: HttpRequest, binding: Binding, variables: dict[str, str]
    ) -> HttpResponse:
        assert self.router is not None and self._pool is not None
        method = binding.method
        metadata = metadata_from_http(request.headers)
        # JSON bodies are parsed as JSON whatever their content-type says (curl -d sends
        # application/x-www-form-urlencoded); a body that is not JSON is a 400 naming the method.
        content_type = request.header("content-type")
        if method.client_streaming:
            return await self._streamed(request, binding, variables, metadata)
        payload = build_request(
            binding, variables, request.query, request.body, content_type, self._pool
        )
        if method.server_streaming:
            return await self._streamed(request, binding, variables, metadata, payload)
        reply = await self.router.call(method, payload, metadata)
        headers = response_headers(reply.metadata)
        if binding.http_body_out:
            body_type, data = http_body_reply(binding, reply.payload)
            return HttpResponse(200, [("content-type", body_type), *headers], data)
        value = reply_value(binding, reply.payload, self.options.json, self._pool)
        return HttpResponse(200, [("content-type", JSON), *headers], dumps(value))

    def _stream_fn(self, method: MethodModel) -> StreamFn:
        stream: StreamFn | None = getattr(self.router, "stream", None)
        if stream is None:
            raise UnknownMethod(
                f"streamed method {method.service.name}.{method.name} needs a proxy whose "
                "router streams (not available in this build)"
            )
        return stream

    async def _streamed(
        self,
        request: HttpRequest,
        binding: Binding,
        variables: dict[str, str],
        metadata: entity_pb2.Metadata | None,
        payload: bytes | None = None,
    ) -> HttpResponse:
        assert self._pool is not None
        method = binding.method
        stream = self._stream_fn(method)
        requests: bytes | AsyncIterator[bytes]
        if payload is not None:
            requests = payload
        else:
            requests = _iterate(self._client_messages(request, binding, variables))
        replies = stream(method, requests, metadata).__aiter__()
        # The first reply decides the status: an early failure is a normal HTTP error.
        try:
            first = await replies.__anext__()
        except StopAsyncIteration:
            first = None
        headers = response_headers(first.metadata) if first is not None else []
        if not method.server_streaming:
            if first is None:
                raise UnknownMethod(f"{method.service.name}.{method.name} sent no reply")
            value = reply_value(binding, first.payload, self.options.json, self._pool)
            return HttpResponse(200, [("content-type", JSON), *headers], dumps(value))
        accept = request.header("accept")
        if binding.http_body_out:
            kind, content_type = "raw", "application/octet-stream"
            if first is not None:
                content_type = http_body_reply(binding, first.payload)[0]
        elif SSE in accept:
            kind, content_type = "sse", SSE
        else:
            kind, content_type = "ndjson", NDJSON
        chunks = self._stream_chunks(binding, first, replies, kind)
        return HttpResponse(
            200,
            [("content-type", content_type), ("cache-control", "no-cache"), *headers],
            stream=chunks,
        )

    def _client_messages(
        self, request: HttpRequest, binding: Binding, variables: dict[str, str]
    ) -> list[bytes]:
        """Client-streaming over HTTP: NDJSON bodies carry one message per line; any other body
        is one message."""
        assert self._pool is not None
        content_type = request.header("content-type")
        if content_type.startswith(NDJSON):
            lines = [line for line in request.body.split(b"\n") if line.strip()]
        else:
            lines = [request.body]
        return [
            build_request(binding, variables, request.query, line, JSON, self._pool)
            for line in lines
        ]

    async def _stream_chunks(
        self, binding: Binding, first: Reply | None, replies: AsyncIterator[Any], kind: str
    ) -> AsyncIterator[bytes]:
        assert self._pool is not None
        options = self.options.json
        reply = first
        try:
            while reply is not None:
                if kind == "raw":
                    yield http_body_reply(binding, reply.payload)[1]
                else:
                    text = dumps(reply_value(binding, reply.payload, options, self._pool))
                    yield b"data: " + text + b"\n\n" if kind == "sse" else text + b"\n"
                try:
                    reply = await replies.__anext__()
                except StopAsyncIteration:
                    reply = None
        except ProxyError as e:
            body = error_body(e.status, e.message)
            if kind == "sse":
                yield b"event: error\ndata: " + body + b"\n\n"
            elif kind == "ndjson":
                yield b'{"error":' + body + b"}\n"
            else:
                raise
        finally:
            await _close(replies)  # the client went away or the stream ended: free the call

    # -- gRPC-web ------------------------------------------------------------------------

    async def _grpc_web(self, request: HttpRequest, content_type: str) -> HttpResponse:
        text = grpcweb.is_text(content_type)
        reply_type = grpcweb.GRPC_WEB_TEXT + "+proto" if text else grpcweb.GRPC_WEB + "+proto"
        headers = [("content-type", reply_type)]

        def finish(frames: bytes) -> bytes:
            return grpcweb.encode_text(frames) if text else frames

        def failed(
            status: grpc.StatusCode, message: str, retry: list[tuple[str, str]] | None = None
        ) -> HttpResponse:
            trailer = grpcweb.trailer_frame(code_number(status), message, retry)
            return HttpResponse(200, list(headers) + (retry or []), finish(trailer))

        if request.method != "POST":
            return failed(grpc.StatusCode.UNIMPLEMENTED, "gRPC-web calls use POST")
        if self.model is None or self.router is None:
            return failed(grpc.StatusCode.UNAVAILABLE, "the proxy is starting; retry")
        method = self.model.methods_by_path.get(request.path)
        if method is None:
            return failed(grpc.StatusCode.UNIMPLEMENTED, f"unknown method {request.path}")
        try:
            body = grpcweb.decode_text(request.body) if text else request.body
            frames = grpcweb.decode_frames(body)
        except grpcweb.FramingError as e:
            return failed(grpc.StatusCode.INVALID_ARGUMENT, f"{method.path}: {e}")
        metadata = metadata_from_http(request.headers)
        try:
            if not method.client_streaming and len(frames) != 1:
                raise BadRequest(
                    f"{method.path} takes exactly one request message, got {len(frames)}"
                )
            if method.client_streaming or method.server_streaming:
                stream = self._stream_fn(method)
                requests: bytes | AsyncIterator[bytes] = (
                    _iterate(frames) if method.client_streaming else frames[0]
                )
                replies = stream(method, requests, metadata).__aiter__()
                try:
                    first = await replies.__anext__()
                except StopAsyncIteration:
                    first = None
                if first is not None:
                    headers += response_headers(first.metadata)
                return HttpResponse(
                    200, headers, stream=self._grpc_web_stream(first, replies, finish)
                )
            reply = await self.router.call(method, frames[0], metadata)
        except ProxyError as e:
            return failed(e.status, e.message, retry_headers(e))
        headers += response_headers(reply.metadata)
        frames_out = grpcweb.data_frame(reply.payload) + grpcweb.trailer_frame(0, "")
        return HttpResponse(200, headers, finish(frames_out))

    async def _grpc_web_stream(
        self,
        first: Reply | None,
        replies: AsyncIterator[Any],
        finish: Callable[[bytes], bytes],
    ) -> AsyncIterator[bytes]:
        reply = first
        try:
            while reply is not None:
                yield finish(grpcweb.data_frame(reply.payload))
                try:
                    reply = await replies.__anext__()
                except StopAsyncIteration:
                    reply = None
        except ProxyError as e:
            yield finish(grpcweb.trailer_frame(code_number(e.status), e.message))
            return
        finally:
            await _close(replies)
        yield finish(grpcweb.trailer_frame(0, ""))


def retry_headers(error: ProxyError) -> list[tuple[str, str]]:
    """The retry hint of a refusal (:class:`Overloaded`): ``retry-after`` in whole seconds
    (HTTP) and ``grpc-retry-pushback-ms`` (gRPC-web trailers); none for other errors."""
    if not isinstance(error, Overloaded):
        return []
    return [
        ("retry-after", str(max(1, math.ceil(error.retry_after)))),
        ("grpc-retry-pushback-ms", str(round(error.retry_after * 1000))),
    ]


def _non_utf8_header(headers: list[tuple[str, str]]) -> str | None:
    """The name (printable) of the first header whose name or value is not UTF-8 (servers decode
    such bytes as surrogates); ``-bin`` values are binary metadata and may hold any bytes."""
    for name, value in headers:
        if name.isascii() and (value.isascii() or name.endswith("-bin")):
            continue
        try:
            name.encode("utf-8")
            if not name.endswith("-bin"):
                value.encode("utf-8")
        except UnicodeEncodeError:
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return None


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _iterate(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item
