"""Store backends by URL scheme: adding a backend is one module and one line here.

Each entry names, by import path, a :class:`~cloudstate.proxy.stores.base.Store` subclass with a
``from_url(url)`` class method; the module is imported only when a URL of its scheme is opened,
so a backend's optional dependency (asyncpg for PostgreSQL) is needed only by those who use it.
A backend living outside this package registers itself the same way::

    register_backend("mystore", "my_package.store:MyStore")
    store = await open_store("mystore://host/db")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudstate.proxy.stores.base import Store

#: URL scheme -> "module:Class" of the backend serving it.
BACKENDS: dict[str, str] = {
    "memory": "cloudstate.proxy.stores.memory:MemoryStore",
    "sqlite": "cloudstate.proxy.stores.sqlite:SqliteStore",
    "postgresql": "cloudstate.proxy.stores.postgres:PostgresStore",
    "postgres": "cloudstate.proxy.stores.postgres:PostgresStore",
}


def register_backend(scheme: str, backend: str) -> None:
    """Serve store URLs ``SCHEME:...`` with ``backend`` (``"module:Class"``)."""
    module, _, name = backend.partition(":")
    if not module or not name:
        raise ValueError(f"backend {backend!r}: write it as 'module:Class'")
    BACKENDS[scheme] = backend


def scheme_of(url: str) -> str:
    """The URL's scheme (``sqlite`` of ``sqlite:///data/cs.db``), or ``""``."""
    scheme, sep, _ = url.partition(":")
    return scheme.lower() if sep else ""


def known_url(url: str) -> bool:
    """True if some backend serves ``url``'s scheme (checked before the proxy starts)."""
    return scheme_of(url) in BACKENDS


def describe_schemes() -> str:
    """``memory:, sqlite:///PATH, postgresql://...`` plus any registered scheme."""
    shown = {"memory": "memory:", "sqlite": "sqlite:///PATH", "postgresql": "postgresql://..."}
    extra = [f"{s}:..." for s in BACKENDS if s not in shown and s != "postgres"]
    return ", ".join([*shown.values(), *extra])


def backend_for(url: str) -> type[Store]:
    """The store class serving ``url`` (its module imported now)."""
    backend = BACKENDS.get(scheme_of(url))
    if backend is None:
        raise ValueError(f"unsupported store URL {url!r}: use {describe_schemes()}")
    module, _, name = backend.partition(":")
    store_class: type[Store] = getattr(importlib.import_module(module), name)
    return store_class


async def open_store(url: str) -> Store:
    """Create and start the store named by ``url``.

    * ``memory:`` — in-process, lost on exit (tests);
    * ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` — embedded, durable;
    * ``postgresql://user:pass@host/db?schema=NAME`` — shared by many proxy nodes (needs
      asyncpg, the ``postgresql`` extra); anything missing from the URL comes from the ``PG*``
      environment variables, so ``postgresql://`` alone uses them entirely.
    """
    store = backend_for(url).from_url(url)
    await store.start()
    return store
