"""A whole Cloudstate service in-process for end-to-end tests: your user function and a real
proxy, on free loopback ports, with an in-memory or temporary SQLite store.

Both run on an event loop of their own, in a background thread, so the service works the same
from sync code, from any test's event loop and across tests::

    from cloudstate.testkit import LocalService

    with LocalService(shopping_cart_entity) as service:       # or `async with`
        cart = service.client()                               # a typed ServiceClient
        ...                                                   # `await cart.add_item(...)`

In pytest, the ``cloudstate_service`` and ``cloudstate_client`` fixtures do this for you (see
:mod:`cloudstate.testkit.pytest_plugin`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.descriptor import ServiceDescriptor

from cloudstate.client import ServiceClient
from cloudstate.registry import EntityDefinition
from cloudstate.server import CloudState, CloudStateServer

T = TypeVar("T")
log = logging.getLogger(__name__)


class LocalService:
    """User function + proxy in this process (see the module documentation).

    :param entities: the entities to serve, or a configured :class:`~cloudstate.CloudState`.
    :param store: ``"memory"`` (default), ``"sqlite"`` (a temporary database, deleted on
        stop) or any store URL (``sqlite:///path.db``, ``postgresql://...``).
    :param proxy_options: further :class:`~cloudstate.proxy.config.ProxyConfig` settings,
        e.g. ``passivation_timeout=0.5``.
    """

    def __init__(
        self,
        *entities: EntityDefinition | CloudState,
        store: str = "memory",
        start_timeout: float = 30.0,
        **proxy_options: Any,
    ) -> None:
        if len(entities) == 1 and isinstance(entities[0], CloudState):
            self.user_function = entities[0]
        else:
            self.user_function = CloudState()
            for entity in entities:
                if isinstance(entity, CloudState):
                    raise TypeError("pass either one CloudState or entities, not both")
                self.user_function.register_entity(entity)
        self._store_option = store
        self._proxy_options = proxy_options
        self._start_timeout = start_timeout
        self._temp_dir: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: CloudStateServer | None = None
        self._proxy: Any = None
        #: The store URL in use (after :meth:`start`).
        self.store_url = ""
        #: The proxy's client port, where the services are served (after :meth:`start`).
        self.port = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` of the proxy: the target for any gRPC client."""
        return f"127.0.0.1:{self.port}"

    @property
    def user_function_address(self) -> str:
        """Where the user function listens (what the proxy talks to)."""
        assert self._server is not None, "the service is not started"
        return self._server.address

    def client(
        self, service: ServiceDescriptor | EntityDefinition | None = None, **options: Any
    ) -> ServiceClient:
        """A typed client of one served service, through the proxy.

        ``service`` is a service descriptor or an entity; it may be left out when only one
        entity is served. ``options`` go to :class:`~cloudstate.client.ServiceClient`.
        """
        if self.port == 0:
            raise RuntimeError("start the service first (with LocalService(...) as service:)")
        served = [e.service_descriptor for e in self.user_function.entities]
        if service is None:
            if len(served) != 1:
                names = ", ".join(s.full_name for s in served)
                raise ValueError(f"several services are served ({names}): name one")
            descriptor = served[0]
        elif isinstance(service, ServiceDescriptor):
            descriptor = service
        else:
            descriptor = service.service_descriptor
        return ServiceClient(self.address, descriptor, **options)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> LocalService:
        """Start the user function, then the proxy; returns once the proxy serves."""
        if self._thread is not None:
            raise RuntimeError("the service is already started")
        self.store_url = self._store_url()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="cloudstate-local-service", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._start(), self._start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the proxy and the user function, and delete a temporary store."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            try:
                self._run(self._stop(), 30.0)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(10)
                loop.close()
        self._loop = self._thread = None
        self.port = 0
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalService:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- on the service's own loop --------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start(self) -> None:
        from cloudstate.proxy.config import ProxyConfig
        from cloudstate.proxy.server import Proxy

        self._server = await self.user_function.serve_async(host="127.0.0.1", port=0)
        config = ProxyConfig(
            user_function=self._server.address,
            host="127.0.0.1",
            port=0,
            store=self.store_url,
            shutdown_grace=1.0,
            **self._proxy_options,
        )
        self._proxy = Proxy(config)
        try:
            await self._proxy.start()
        except BaseException:
            await self._proxy.stop(0)
            raise
        self.port = self._proxy.port
        log.info("local service on %s (store %s)", self.address, self.store_url)

    async def _stop(self) -> None:
        try:
            if self._proxy is not None:
                await self._proxy.stop(0)
        finally:
            self._proxy = None
            if self._server is not None:
                await self._server.stop(0)
                self._server = None

    def _store_url(self) -> str:
        option = self._store_option
        if option in ("memory", "memory:", "memory://"):
            return "memory:"
        if option == "sqlite":
            self._temp_dir = tempfile.mkdtemp(prefix="cloudstate-test-store-")
            return f"sqlite:///{Path(self._temp_dir, 'cloudstate.db')}"
        return option
