"""Shared fixtures: real user-function and proxy processes on loopback ports, store backends.

Every test that starts proxies through ``start_proxy`` (or asks for ``store_url``) runs once per
store backend: ``[sqlite]`` and ``[postgresql]``. ``CLOUDSTATE_TEST_BACKENDS=sqlite`` (comma
separated) narrows that for a quick local run. The PostgreSQL server is the one named by
``CLOUDSTATE_TEST_POSTGRES`` (``.ci/run`` starts one), else one this session starts itself; the
PostgreSQL variants skip only when no server binaries exist at all, and never when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import postgres_server
from tests.backends import BACKENDS, new_store_url, schema_url
from tests.processes import SHOPPINGCART_DIR, Process, proxy, wait_serving

# The example's generated code and entity are imported as `shoppingcart.*`, as users do.
if str(SHOPPINGCART_DIR) not in sys.path:
    sys.path.insert(0, str(SHOPPINGCART_DIR))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a running PostgreSQL server's test database (see the module docs)."""
    configured = os.environ.get("CLOUDSTATE_TEST_POSTGRES")
    if configured:
        yield configured
        return
    if postgres_server.find_bin_dir() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must provide PostgreSQL: .ci/run sets CLOUDSTATE_TEST_POSTGRES")
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    directory = Path(tempfile.mkdtemp(prefix="cloudstate-pg-"))
    try:
        yield postgres_server.start(directory)
    finally:
        postgres_server.stop(directory, mode="immediate")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """A PostgreSQL store URL of a new, empty schema for this test."""
    return schema_url(postgres_url, f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The store backend of this test run: "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture
def store_url(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The store URL proxies of this test use by default: a fresh store of ``store_backend``."""
    return new_store_url(store_backend, tmp_path, request)


@pytest.fixture
def start_proxy(tmp_path: Path, store_url: str) -> Iterator[Callable[..., Process]]:
    """Start proxies for this test; each is stopped (SIGTERM) afterwards.

    ``start_proxy(uf_port, store=..., *flags)``; the store defaults to ``store_url`` (a fresh
    store of the backend this test run is parametrised with), shared by the test's proxies.
    """
    started: list[Process] = []

    def start(
        uf_port: int, *flags: str, store: str | None = None, port: int | None = None
    ) -> Process:
        store = store or store_url
        process = proxy(tmp_path, uf_port, store, *flags, port=port).start()
        started.append(process)
        try:
            wait_serving(process.port)
        except TimeoutError as e:
            raise RuntimeError(f"{e}\n--- proxy log ---\n{process.log()}") from e
        return process

    yield start
    for process in started:
        process.terminate()
