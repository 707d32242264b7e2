"""Shared fixtures: real user-function and proxy processes on loopback ports."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import SHOPPINGCART_DIR, Process, proxy, wait_serving

# The example's generated code and entity are imported as `shoppingcart.*`, as users do.
if str(SHOPPINGCART_DIR) not in sys.path:
    sys.path.insert(0, str(SHOPPINGCART_DIR))


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start proxies for this test; each is stopped (SIGTERM) afterwards.

    ``start_proxy(uf_port, store=..., *flags)``; the store defaults to a fresh SQLite file.
    """
    started: list[Process] = []

    def start(
        uf_port: int, *flags: str, store: str | None = None, port: int | None = None
    ) -> Process:
        store = store or f"sqlite:///{tmp_path}/proxy.db"
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
