"""Wires the client port together: the public listener (HTTP/1.1, h2c, native gRPC),
the HTTP API, and the internal unix socket of the grpc.aio server.

Lifecycle (driven by :class:`cloudstate.proxy.server.Proxy`)::

    ingress = ClientIngress(config)
    port = await ingress.bind()                   # listening: /health/live answers
    ...discovery, router...
    await ingress.activate(model, router, report) # routes compiled (HttpRuleError → reported)
    ingress.add_grpc_ports(grpc_server)           # unix socket (+ --grpc-port if set)
    await grpc_server.start(); ingress.grpc_started()   # /health/ready turns 200
    ...
    ingress.set_draining(); await ingress.close(grace)
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
from collections.abc import Awaitable, Callable

import grpc

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.http.api import HttpApi, HttpOptions, RouterLike
from cloudstate.proxy.http.grpc_native import GrpcFront
from cloudstate.proxy.http.limits import ConnectionLimits, ConnectionSettings
from cloudstate.proxy.http.listener import ClientPort, internal_socket
from cloudstate.proxy.http.rules import HttpRuleError
from cloudstate.proxy.http.transcode import JsonOptions
from cloudstate.proxy.model import UserFunctionModel
from cloudstate.proxy.ports import ListenError, bind_error

log = logging.getLogger(__name__)


def http_options(config: ProxyConfig) -> HttpOptions:
    origins = tuple(o.strip() for o in config.cors_origins.split(",") if o.strip())
    return HttpOptions(
        json=JsonOptions(
            proto_names=config.http_proto_names, emit_defaults=config.http_emit_defaults
        ),
        cors_origins=origins,
        max_body=config.http_max_body,
        default_routes=config.http_default_routes,
    )


def connection_settings(config: ProxyConfig) -> ConnectionSettings:
    return ConnectionSettings(
        max_connections=config.http_max_connections,
        header_timeout=config.http_header_timeout,
        body_timeout=config.http_body_timeout,
        idle_timeout=config.http_idle_timeout,
        http2_max_streams=config.http2_max_streams,
        max_buffered=config.http_max_buffered,
        max_buffered_per_connection=config.http_max_buffered_per_connection,
        http2_max_reset_rate=config.http2_max_reset_rate,
    )


def server_tls(config: ProxyConfig) -> ssl.SSLContext | None:
    """The client port's TLS context from ``--tls-cert`` / ``--tls-key`` (None: plaintext)."""
    if not config.tls_cert and not config.tls_key:
        return None
    if not (config.tls_cert and config.tls_key):
        raise ValueError("TLS needs both --tls-cert and --tls-key (PEM files)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


class ClientIngress:
    """See the module docstring."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.api = HttpApi(http_options(config))
        self._dir, self._grpc_address, self.grpc_socket = internal_socket("cloudstate-proxy-")
        front = None
        if config.grpc_front == "h2":
            front = GrpcFront(self._grpc_address, asyncio.Event(), config.max_message_size)
        elif config.grpc_front != "relay":
            raise ValueError(f"--grpc-front {config.grpc_front!r}: use h2 or relay")
        self.port = ClientPort(
            self.api,
            config.host,
            config.port,
            self.grpc_socket,
            tls=server_tls(config),
            limits=ConnectionLimits(connection_settings(config)),
            reuse_port=config.workers > 1,
            grpc_front=front,
        )
        self.grpc_port: int | None = None

    async def bind(self) -> int:
        """Listen on the client port; returns the bound port."""
        try:
            return await self.port.start()
        except OSError as e:
            raise ListenError("port", self.config.host, self.config.port, e) from e

    async def activate(
        self,
        model: UserFunctionModel,
        router: RouterLike,
        report: Callable[[str], Awaitable[None]],
    ) -> None:
        """Compile the HTTP routes; a bad ``google.api.http`` rule is reported to the user
        function and stops the start (DiscoveryError)."""
        try:
            self.api.activate(model, router, ready=False)
        except HttpRuleError as e:
            message = f"HTTP rule cannot be served: {e}"
            await report(message)
            raise DiscoveryError(message) from e
        for binding in self.api.bindings:
            if binding.default_rule:
                log.debug("default HTTP rule %s", binding.describe())

    def add_grpc_ports(self, server: grpc.aio.Server) -> None:
        """Bind the grpc.aio server to the internal socket (and ``--grpc-port`` if set)."""
        if not server.add_insecure_port(self._grpc_address):
            raise OSError(f"cannot bind the internal gRPC socket {self.grpc_socket}")
        if self.config.grpc_port >= 0:
            host, port = self.config.host, self.config.grpc_port
            try:  # grpc returns 0 or raises RuntimeError, depending on its version
                self.grpc_port = server.add_insecure_port(f"{host}:{port}")
            except RuntimeError:
                self.grpc_port = 0
            if not self.grpc_port:
                raise ListenError("grpc_port", host, port, bind_error(host, port))

    def grpc_started(self) -> None:
        """grpc.aio is serving: relayed gRPC connections may proceed."""
        self.port.grpc_ready.set()
        self.api.ready = True

    def set_draining(self) -> None:
        self.api.set_draining()

    async def stop_accepting(self) -> None:
        await self.port.stop_accepting()

    async def close(self, grace: float) -> None:
        await self.port.close(grace)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
