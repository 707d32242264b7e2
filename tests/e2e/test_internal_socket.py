"""The client port and the admin port relay native gRPC to their grpc.aio servers over internal
unix sockets. On Linux they are abstract sockets, so a proxy killed with SIGKILL leaves nothing in
the temp directory (a socket file's directory used to stay behind, one per crash and port)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import Process, shoppingcart_user_function

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="abstract sockets are Linux's")


def leftovers() -> set[Path]:
    """Socket directories of proxies (client and admin ports); other tests' files may come and
    go meanwhile (a workers' lock file), so only directories count."""
    temp = Path(tempfile.gettempdir())
    found = [*temp.glob("cloudstate-proxy-*"), *temp.glob("cloudstate-admin-*")]
    return {path for path in found if path.is_dir()}


def test_a_killed_proxy_leaves_no_socket_directory(
    tmp_path: Path, start_proxy: Callable[..., Process]
) -> None:
    uf = shoppingcart_user_function(tmp_path).start()
    try:
        before = leftovers()
        px = start_proxy(uf.port, "--admin-port", "0")
        with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            item = shoppingcart_pb2.AddLineItem(user_id="u", product_id="p", name="P", quantity=2)
            stub.AddItem(item, timeout=10)  # native gRPC: through the internal socket
            cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="u"), timeout=10)
            assert [line.quantity for line in cart.items] == [2]
        px.kill()
        assert leftovers() - before == set()
    finally:
        uf.terminate()
