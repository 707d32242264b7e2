"""The user-function server: registers entities and serves the Cloudstate protocol over gRPC.

Blocking, for a service's main module::

    CloudState().register_event_sourced_entity(entity).start()

Async, for tests and embedding::

    server = await CloudState(port=0).register_event_sourced_entity(entity).serve_async()
    print(server.port)
    await server.stop()

Address: the ``host``/``port`` arguments, else the ``HOST``/``PORT`` environment variables, else
``127.0.0.1:8080``. ``service_name``/``service_version`` (reported to the proxy) default to the
``CLOUDSTATE_SERVICE_NAME``/``CLOUDSTATE_SERVICE_VERSION`` variables, else the first entity's
service name and an empty version.

Tracing (OpenTelemetry, :mod:`cloudstate.tracing`): ``tracer_provider=`` or ``tracing=True`` (env
``CLOUDSTATE_TRACING=1``, OTLP export configured by ``OTEL_*``) starts a span per handler call,
child of the proxy's span.

TLS (``tls=ServerTls(cert, key, client_ca)``, or the ``CLOUDSTATE_SERVER_TLS_CERT`` /
``_KEY`` / ``_CLIENT_CA`` variables): the port speaks TLS; with a client CA, only proxies
presenting a certificate signed by it are served (mTLS; the proxy's ``--uf-tls-*`` flags).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from cloudstate import tracing
from cloudstate.action import Action
from cloudstate.crdt import CrdtEntity
from cloudstate.discovery import EntityDiscoveryServicer
from cloudstate.event_sourced import EventSourcedEntity
from cloudstate.protocol import entity_pb2_grpc
from cloudstate.registry import EntityDefinition, EntityKind
from cloudstate.server_workers import WORKERS_ENV, serve_processes
from cloudstate.value_entity import ValueEntity
from cloudstate.view import View
from cloudstate.workflow import Workflow

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class ServerTls:
    """TLS of the user function's port: PEM file paths of its certificate chain and key, and
    optionally of the CA that signs the proxy's client certificates (then required: mTLS)."""

    cert: str
    key: str
    client_ca: str = ""

    @classmethod
    def from_env(cls) -> ServerTls | None:
        """From ``CLOUDSTATE_SERVER_TLS_CERT`` / ``_KEY`` / ``_CLIENT_CA``; None if unset."""
        cert = os.environ.get("CLOUDSTATE_SERVER_TLS_CERT", "")
        key = os.environ.get("CLOUDSTATE_SERVER_TLS_KEY", "")
        if not cert and not key:
            return None
        return cls(cert, key, os.environ.get("CLOUDSTATE_SERVER_TLS_CLIENT_CA", ""))

    def credentials(self) -> grpc.ServerCredentials:
        if not self.cert or not self.key:
            raise ValueError("TLS needs both a certificate and its key (cert=, key=)")
        pem = {}
        for what, path in (("cert", self.cert), ("key", self.key), ("client_ca", self.client_ca)):
            if path:
                try:
                    pem[what] = Path(path).read_bytes()
                except OSError as e:
                    raise ValueError(f"TLS {what} {path}: cannot read it ({e.strerror})") from None
        return grpc.ssl_server_credentials(
            [(pem["key"], pem["cert"])],
            root_certificates=pem.get("client_ca"),
            require_client_auth="client_ca" in pem,
        )


class CloudStateServer:
    """A running server (from :meth:`CloudState.serve_async`)."""

    def __init__(self, server: grpc.aio.Server, host: str, port: int, grace: float) -> None:
        self._server = server
        self._grace = grace
        #: The interface the server listens on.
        self.host = host
        #: The bound port (the real one when 0 was asked for).
        self.port = port

    @property
    def address(self) -> str:
        """``host:port``, usable as a gRPC channel target."""
        return _address(self.host, self.port)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, give running ones ``grace`` seconds, then cancel them."""
        await self._server.stop(self._grace if grace is None else grace)

    async def wait_for_termination(self) -> None:
        """Wait until the server has stopped."""
        await self._server.wait_for_termination()


class CloudState:
    """A user function: a set of entities served on one gRPC port.

    ::

        CloudState().register_event_sourced_entity(entity).start()

    :param host: interface to listen on (default ``$HOST`` or ``127.0.0.1``).
    :param port: port to listen on; 0 picks a free one (default ``$PORT`` or 8080).
    :param service_name: reported to the proxy in discovery.
    :param service_version: reported to the proxy in discovery.
    :param shutdown_grace: seconds in-flight calls get to finish on shutdown.
    :param tracer_provider: an OpenTelemetry ``TracerProvider`` for handler spans.
    :param tls: serve TLS (and require proxy client certificates with ``client_ca``).
    :param tracing: export handler spans over OTLP (``OTEL_*`` variables); default
        ``$CLOUDSTATE_TRACING``. Without either, a global tracer provider is used if installed.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        service_name: str | None = None,
        service_version: str | None = None,
        shutdown_grace: float = 5.0,
        tracer_provider: Any = None,
        tracing: bool | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.service_name = service_name or os.environ.get("CLOUDSTATE_SERVICE_NAME") or None
        self.service_version = (
            service_version or os.environ.get("CLOUDSTATE_SERVICE_VERSION") or None
        )
        self.shutdown_grace = shutdown_grace
        self.tracer_provider = tracer_provider
        self.tracing = tracing
        self.tls = tls if tls is not None else ServerTls.from_env()
        self._entities: list[EntityDefinition] = []

    @property
    def entities(self) -> Sequence[EntityDefinition]:
        """The registered entities, in registration order."""
        return tuple(self._entities)

    def register_event_sourced_entity(self, entity: EventSourcedEntity) -> CloudState:
        """Serve ``entity``; returns ``self`` so calls chain."""
        if not isinstance(entity, EventSourcedEntity):
            raise TypeError(f"expected an EventSourcedEntity, got {type(entity).__name__}")
        return self.register_entity(entity)

    def register_action(self, action: Action) -> CloudState:
        """Serve the stateless ``action``; returns ``self`` so calls chain::

        CloudState().register_action(cart_actions).register_event_sourced_entity(cart).start()
        """
        if not isinstance(action, Action):
            raise TypeError(f"expected an Action, got {type(action).__name__}")
        return self.register_entity(action)

    def register_view(self, view: View) -> CloudState:
        """Serve the update handlers of ``view`` (its queries are answered by the proxy);
        returns ``self`` so calls chain::

        CloudState().register_view(popular_products).register_event_sourced_entity(cart).start()
        """
        if not isinstance(view, View):
            raise TypeError(f"expected a View, got {type(view).__name__}")
        return self.register_entity(view)

    def register_value_entity(self, entity: ValueEntity) -> CloudState:
        """Serve the value entity ``entity``; returns ``self`` so calls chain::

        CloudState().register_value_entity(cart_entity).start()
        """
        if not isinstance(entity, ValueEntity):
            raise TypeError(f"expected a ValueEntity, got {type(entity).__name__}")
        return self.register_entity(entity)

    def register_crdt_entity(self, entity: CrdtEntity) -> CloudState:
        """Serve the CRDT entity ``entity``; returns ``self`` so calls chain::

        CloudState().register_crdt_entity(likes_entity).start()
        """
        if not isinstance(entity, CrdtEntity):
            raise TypeError(f"expected a CrdtEntity, got {type(entity).__name__}")
        return self.register_entity(entity)

    def register_workflow(self, workflow: Workflow) -> CloudState:
        """Serve the workflow ``workflow`` (announced only to a proxy supporting
        ``cloudstate.workflows/1``); returns ``self`` so calls chain::

        CloudState().register_workflow(transfer).start()
        """
        if not isinstance(workflow, Workflow):
            raise TypeError(f"expected a Workflow, got {type(workflow).__name__}")
        return self.register_entity(workflow)

    def register_entity(self, entity: EntityDefinition) -> CloudState:
        """Serve any kind of entity (see :mod:`cloudstate.registry`); returns ``self``."""
        name = entity.service_descriptor.full_name
        if any(e.service_descriptor.full_name == name for e in self._entities):
            raise ValueError(f"an entity for service {name} is already registered")
        self._entities.append(entity)
        return self

    def discovery_servicer(self) -> EntityDiscoveryServicer:
        """The discovery service for the registered entities."""
        return EntityDiscoveryServicer(self._entities, self.service_name, self.service_version)

    async def serve_async(
        self, host: str | None = None, port: int | None = None
    ) -> CloudStateServer:
        """Start serving in the running event loop and return the running server."""
        if not self._entities:
            raise ValueError("no entity registered: call register_event_sourced_entity() first")
        for entity in self._entities:
            entity.validate()
        tracing.configure(
            self.tracer_provider,
            otlp=self.tracing,
            service_name=self.service_name or self._entities[0].service_descriptor.full_name,
        )
        bind_host = host or self.host or os.environ.get("HOST") or DEFAULT_HOST
        if port is None:
            port = self.port
        if port is None:
            port = int(os.environ.get("PORT", DEFAULT_PORT))
        # Whole CRDT values and snapshots travel in one message: allow more than gRPC's 4 MiB.
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ]
        )
        discovery = self.discovery_servicer()
        entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(discovery, server)
        by_kind: dict[EntityKind, list[EntityDefinition]] = {}
        for entity in self._entities:
            by_kind.setdefault(entity.kind, []).append(entity)
        for kind, entities in by_kind.items():
            kind.add_servicer(server, entities)
        try:
            if self.tls is not None:
                bound = server.add_secure_port(_address(bind_host, port), self.tls.credentials())
            else:
                bound = server.add_insecure_port(_address(bind_host, port))
        except RuntimeError as e:
            raise OSError(f"cannot listen on {_address(bind_host, port)}: {e}") from e
        if bound == 0:
            raise OSError(f"cannot listen on {_address(bind_host, port)}")
        await server.start()
        names = ", ".join(e.service_descriptor.full_name for e in self._entities)
        log.info(
            "Cloudstate user function serving %s on %s%s",
            names,
            _address(bind_host, bound),
            ""
            if self.tls is None
            else (" (TLS, client certificates required)" if self.tls.client_ca else " (TLS)"),
        )
        return CloudStateServer(server, bind_host, bound, self.shutdown_grace)

    def start(self, workers: int | None = None) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully (blocks).

        ``workers`` (default ``$CLOUDSTATE_WORKERS``, else 1): serve from that many processes,
        process ``i`` on port ``port + i``, for a proxy started with ``--workers N
        --user-function-workers N`` (its worker ``i`` talks to process ``i``)::

            CloudState(port=8080).register_event_sourced_entity(cart).start(workers=2)
        """
        count = workers if workers is not None else int(os.environ.get(WORKERS_ENV) or 1)
        if count <= 1:
            asyncio.run(self._serve_until_signal())
            return
        base = self.port if self.port is not None else int(os.environ.get("PORT", DEFAULT_PORT))
        if base == 0:
            raise ValueError(
                f"start(workers={count}) needs a fixed port (processes listen on port .. port+"
                f"{count - 1}): pass CloudState(port=...) or set PORT"
            )

        def serve_one(index: int) -> None:
            self.port = base + index
            asyncio.run(self._serve_until_signal())

        serve_processes(serve_one, count)

    async def _serve_until_signal(self) -> None:
        server = await self.serve_async()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, _request_stop, stopping, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread / platform
                pass
        try:
            await stopping.wait()
            log.info("Shutting down (in-flight calls get %ss)", self.shutdown_grace)
            await server.stop()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
        log.info("Stopped")


def _request_stop(event: asyncio.Event, sig: signal.Signals) -> None:
    log.info("Received %s", sig.name)
    event.set()


def _address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


__all__ = ["CloudState", "CloudStateServer", "ServerTls"]
