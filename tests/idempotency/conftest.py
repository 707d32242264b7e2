"""Fixtures of the idempotency-key tests: real user functions (the shopping-cart example, the
action tests' user function) behind real proxies, on every store backend (``start_proxy``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, Process, free_port, shoppingcart_user_function


@pytest.fixture(scope="module")
def cart_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One shopping-cart user function shared by this module's proxies."""
    uf = shoppingcart_user_function(tmp_path_factory.mktemp("cart-uf")).start()
    yield uf
    uf.terminate()


def action_user_function(tmp: Path) -> Process:
    """tests/actions/uf.py: actions (Recorder, Relay, Streams), the Counter (event sourced), the
    Register (value entity) and the Tally (CRDT)."""
    port = free_port()
    return Process(
        "action test user function",
        [sys.executable, "-m", "tests.actions.uf"],
        port,
        tmp / f"action-uf-{port}.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port), "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def act_uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    uf = action_user_function(tmp_path_factory.mktemp("act-uf")).start()
    yield uf
    uf.terminate()
