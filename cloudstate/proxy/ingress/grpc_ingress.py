"""Serves the user's services to clients over gRPC, without generated code.

Requests arrive as raw bytes (no deserializer): the router parses only what it needs (the entity
key) and the user function's reply bytes are returned verbatim. The same server carries gRPC
server reflection (built from the discovered descriptors, so ``grpcurl`` works) and the standard
health service.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from cloudstate.proxy.entities.base import headers_from_metadata, metadata_from_grpc
from cloudstate.proxy.errors import Overloaded, ProxyError
from cloudstate.proxy.model import MethodModel, UserFunctionModel
from cloudstate.proxy.router import Router

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    _Handler = grpc.RpcMethodHandler[Any, Any]


class UserServicesHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Maps ``/package.Service/Method`` paths to the router; unknown paths get UNIMPLEMENTED."""

    def __init__(self, model: UserFunctionModel, router: Router) -> None:
        self._handlers: dict[str, _Handler] = {}
        for path, method in model.methods_by_path.items():
            self._handlers[path] = self._method_handler(method, router)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> _Handler | None:
        return self._handlers.get(handler_call_details.method)

    @staticmethod
    def _method_handler(method: MethodModel, router: Router) -> _Handler:
        if method.client_streaming or method.server_streaming:
            return _streamed_method_handler(method, router)

        async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            try:
                metadata = metadata_from_grpc(context.invocation_metadata())
                reply = await router.call(method, request, metadata)
                if reply.metadata is not None:
                    await context.send_initial_metadata(headers_from_metadata(reply.metadata))
                return reply.payload
            except ProxyError as e:
                await context.abort(e.status, e.message, pushback(e))
                raise  # unreachable: abort raises

        return grpc.unary_unary_rpc_method_handler(unary)


def _streamed_method_handler(method: MethodModel, router: Router) -> _Handler:
    """Server-, client-streaming and duplex methods through :meth:`Router.stream`.

    Replies are written as they come (the first one's metadata becomes the response headers). When
    the client cancels, the handler's task is cancelled and the reply stream is closed, which
    cancels the user function's stream.
    """

    async def relay(
        requests: bytes | AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes | None:
        metadata = metadata_from_grpc(context.invocation_metadata())
        first = True
        single: bytes | None = None
        try:
            async with contextlib.aclosing(router.stream(method, requests, metadata)) as replies:
                async for reply in replies:
                    if first and reply.metadata is not None:
                        await context.send_initial_metadata(headers_from_metadata(reply.metadata))
                    first = False
                    if method.server_streaming:
                        await context.write(reply.payload)
                    else:
                        single = reply.payload
        except ProxyError as e:
            await context.abort(e.status, e.message, pushback(e))
        return single

    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(relay)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(relay)
    return grpc.unary_stream_rpc_method_handler(relay)


class _GuardedReflection(ReflectionServicer):  # type: ignore[misc]
    """Server reflection that asks for the services' bearer token (``--jwt-key``) unless
    ``--public-api-docs``: what a service offers is not public by accident."""

    def __init__(self, names: list[str], pool: Any, router: Router) -> None:
        super().__init__(names, pool=pool)
        self._router = router

    async def ServerReflectionInfo(
        self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        metadata = metadata_from_grpc(context.invocation_metadata())
        try:
            self._router.check_docs_access(metadata, "server reflection")
        except ProxyError as refused:
            await context.abort(refused.status, refused.message)
        async for response in super().ServerReflectionInfo(request_iterator, context):
            yield response


def pushback(error: ProxyError) -> tuple[tuple[str, str], ...]:
    """Trailing metadata of a refusal (:class:`Overloaded`): ``grpc-retry-pushback-ms``, which
    gRPC clients with a retry policy wait before retrying; nothing for other errors."""
    if isinstance(error, Overloaded):
        return (("grpc-retry-pushback-ms", str(round(error.retry_after * 1000))),)
    return ()


async def add_user_services(
    server: grpc.aio.Server, model: UserFunctionModel, router: Router
) -> HealthServicer:
    """Register the user's services, reflection and health on ``server``."""
    server.add_generic_rpc_handlers((UserServicesHandler(model, router),))
    names = sorted(model.services)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        _GuardedReflection([reflection.SERVICE_NAME, *names], model.pool, router), server
    )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", *names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return health
