"""Fixtures for the action tests: the test user function in-process (SDK tests) or as a real
subprocess behind a real proxy subprocess (end-to-end tests)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from cloudstate.cloudstate import CloudStateServer
from cloudstate.protocol import action_pb2_grpc
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

SHOPPINGCART_DIR = ROOT / "examples" / "shoppingcart"
if str(SHOPPINGCART_DIR) not in sys.path:
    sys.path.insert(0, str(SHOPPINGCART_DIR))

#: The proxy of the end-to-end tests cuts chains at this depth.
MAX_DEPTH = 5


@pytest.fixture(scope="session")
async def action_server() -> AsyncIterator[CloudStateServer]:
    from tests.actions.uf import build

    server = await build().serve_async(host="127.0.0.1", port=0)
    yield server
    await server.stop(0)


@pytest.fixture(scope="session")
async def protocol(action_server: CloudStateServer) -> AsyncIterator[object]:
    """An ``ActionProtocol`` stub talking to the in-process user function directly."""
    async with grpc.aio.insecure_channel(action_server.address) as channel:
        yield action_pb2_grpc.ActionProtocolStub(channel)


def action_user_function(tmp: Path) -> Process:
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
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    """The test user function and a proxy in front of it (SQLite, --max-forward-depth 5)."""
    tmp = tmp_path_factory.mktemp("actions")
    uf = action_user_function(tmp).start()
    px = proxy(
        tmp, uf.port, f"sqlite:///{tmp}/proxy.db", "--max-forward-depth", str(MAX_DEPTH)
    ).start()
    try:
        wait_serving(px.port)
    except TimeoutError as e:
        px.terminate()
        uf.terminate()
        raise RuntimeError(f"{e}\n--- proxy log ---\n{px.log()}") from e
    yield uf, px
    px.terminate()
    uf.terminate()
