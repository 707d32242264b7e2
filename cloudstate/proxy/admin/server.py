"""The admin port: the admin API over gRPC and HTTP/JSON, and ``/metrics``, on one socket.

The port is a :class:`~cloudstate.proxy.http.listener.ClientPort` like the client port: HTTP/1.1
and h2c requests go to :class:`AdminHttpApi` (``/metrics``, then the transcoding routes of
``cloudstate.admin.Admin`` compiled from admin.proto's ``google.api.http`` rules), native gRPC is
relayed to a private grpc.aio server on a unix socket. Both transports end in one
:class:`~.router.AdminRouter` (authentication, dispatch). TLS: ``--admin-tls-cert`` /
``--admin-tls-key``; JWT: ``--jwt-key`` and ``--admin-jwt-claim`` (every admin operation, not
``/metrics``). With ``console`` the developer console's static files are served at ``/console/``
(:mod:`cloudstate.proxy.console`).

Example::

    admin = AdminPort(proxy, "127.0.0.1", 9090, refresh=proxy.refresh_metrics)
    port = await admin.start()      # serves at once; operations answer UNAVAILABLE until the
    ...                             # proxy has discovered its user function
    await admin.close()
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from cloudstate.protocol import admin_pb2, entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.admin.operations import ProxyState
from cloudstate.proxy.admin.router import AdminRouter
from cloudstate.proxy.auth import JwtAuthenticator
from cloudstate.proxy.console import console_file
from cloudstate.proxy.entities.base import metadata_from_grpc
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.http.api import HttpApi, HttpOptions, HttpRequest, HttpResponse
from cloudstate.proxy.http.limits import ConnectionLimits
from cloudstate.proxy.http.listener import ClientPort, internal_socket
from cloudstate.proxy.http.status import error_body
from cloudstate.proxy.http.transcode import JsonOptions, dumps
from cloudstate.proxy.model import ACTION, MethodModel, UserFunctionModel, served_model
from cloudstate.proxy.ports import ListenError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    _Handler = grpc.RpcMethodHandler[Any, Any]

SERVICE = "cloudstate.admin.Admin"


def admin_model() -> UserFunctionModel:
    """The admin service as a model the HTTP routes and the router read (from admin.proto)."""
    file_set = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(file_set.file.add())

    add(admin_pb2.DESCRIPTOR)
    entity = entity_pb2.Entity(entity_type=ACTION, service_name=SERVICE)
    return served_model(descriptor_pool.Default(), file_set, [entity])


class AdminHttpApi(HttpApi):
    """The HTTP side of the admin port: ``/metrics`` (Prometheus text), then the admin routes
    (``/openapi.json`` describes them); no ``/health/*`` (the client port's)."""

    def __init__(self, refresh: metrics.Refresher | None, console: bool = False) -> None:
        # Every field, defaults too: JSON clients read "entityIds": [] rather than guess.
        super().__init__(HttpOptions(json=JsonOptions(emit_defaults=True), default_routes=False))
        self.refresh = refresh
        self.console = console

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/metrics" and request.method in ("GET", "HEAD"):
            if self.refresh is not None:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("refreshing metrics failed")
            return HttpResponse(200, [("content-type", CONTENT_TYPE_LATEST)], metrics.render())
        if request.path.startswith("/health/"):
            # Probes belong on the client port, whose readiness they report; here they would
            # say nothing about the proxy serving clients.
            return HttpResponse(
                404,
                [("content-type", "application/json")],
                error_body(
                    grpc.StatusCode.NOT_FOUND,
                    "the admin port has no health endpoints: probe /health/live and "
                    "/health/ready on the client port",
                ),
            )
        if self.console and request.method in ("GET", "HEAD"):
            page = console_file(request.path)
            if page is not None:
                return HttpResponse(page.status, list(page.headers), page.body)
        response = await super().handle(request)
        if response.status == 200 and request.path.startswith("/v1/"):
            if response.stream is not None:
                response.stream = _whole_number_lines(response.stream)
            else:
                response.body = whole_numbers(response.body)
        return response


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def whole_numbers(body: bytes) -> bytes:
    """Decoded payloads travel as ``google.protobuf.Value``, whose numbers are doubles: JSON
    shows an int32 quantity 2 as ``2.0``. Whole numbers are written as integers again (the same
    JSON number), so that what a client reads looks like the message it stored."""
    return dumps(json.loads(body, parse_float=_number))


async def _whole_number_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """:func:`whole_numbers` on each line of a streamed (NDJSON or SSE) reply."""
    try:
        async for chunk in chunks:
            lines = []
            for line in chunk.split(b"\n"):
                head, brace, rest = line.partition(b"{")
                lines.append(head + whole_numbers(brace + rest) if brace else line)
            yield b"\n".join(lines)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class AdminGrpcHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """``/cloudstate.admin.Admin/<Operation>`` over gRPC: bytes in, bytes out, errors as
    statuses."""

    def __init__(self, model: UserFunctionModel, router: AdminRouter) -> None:
        self._handlers = {
            path: self._streamed(method, router)
            if method.server_streaming
            else self._unary(method, router)
            for path, method in model.methods_by_path.items()
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> _Handler | None:
        return self._handlers.get(handler_call_details.method)

    @staticmethod
    def _unary(method: MethodModel, router: AdminRouter) -> _Handler:
        async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            try:
                metadata = metadata_from_grpc(context.invocation_metadata())
                return (await router.call(method, request, metadata)).payload
            except ProxyError as error:
                await context.abort(error.status, error.message)
                raise  # unreachable: abort raises

        return grpc.unary_unary_rpc_method_handler(unary)

    @staticmethod
    def _streamed(method: MethodModel, router: AdminRouter) -> _Handler:
        async def streamed(
            request: bytes, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[bytes]:
            try:
                metadata = metadata_from_grpc(context.invocation_metadata())
                async for reply in router.stream(method, request, metadata):
                    yield reply.payload
            except ProxyError as error:
                await context.abort(error.status, error.message)

        return grpc.unary_stream_rpc_method_handler(streamed)


class AdminPort:
    """See the module docstring."""

    def __init__(
        self,
        proxy: ProxyState,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        auth: JwtAuthenticator | None = None,
        claim: tuple[str, str] | None = None,
        refresh: metrics.Refresher | None = None,
        console: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.model = admin_model()
        self.router = AdminRouter(proxy, auth, claim)
        self.api = AdminHttpApi(refresh, console)
        self._dir, self._grpc_address, self._socket = internal_socket("cloudstate-admin-")
        self._listener = ClientPort(
            self.api, host, port, self._socket, tls=tls, limits=ConnectionLimits(metered=False)
        )
        self._grpc: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (ListenError if it is taken)."""
        self.api.activate(self.model, self.router)
        self._grpc = grpc.aio.server()
        self._grpc.add_generic_rpc_handlers((AdminGrpcHandler(self.model, self.router),))
        if not self._grpc.add_insecure_port(self._grpc_address):
            raise OSError(f"cannot bind the admin port's internal gRPC socket {self._socket}")
        await self._grpc.start()
        try:
            self.port = await self._listener.start()
        except OSError as error:
            await self._grpc.stop(None)
            if self._dir:
                shutil.rmtree(self._dir, ignore_errors=True)
            raise ListenError("admin_port", self.host, self.port, error) from error
        self._listener.grpc_ready.set()
        scheme = "https" if self._listener.tls is not None else "http"
        log.info(
            "admin API (gRPC, HTTP/JSON) and /metrics on %s://%s:%d", scheme, self.host, self.port
        )
        return self.port

    async def close(self) -> None:
        await self._listener.close(1.0)
        if self._grpc is not None:
            with contextlib.suppress(Exception):
                await self._grpc.stop(1.0)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
