"""``cloudstate run --reload``: edits to the user function's code take effect without restarting
the command; the client port and the stored state stay; a broken edit is survived."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import SHOPPINGCART_DIR, Process, free_port, wait_serving


def wait_until(condition: Callable[[], bool], what: str, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n--- log ---\n{log()}")
        time.sleep(0.1)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example's package: the test edits it."""
    shutil.copytree(SHOPPINGCART_DIR / "shoppingcart", tmp_path / "shoppingcart")
    return tmp_path


@pytest.fixture
def dev_server(project: Path) -> Iterator[tuple[Process, shoppingcart_pb2_grpc.ShoppingCartStub]]:
    port = free_port()
    process = Process(
        "cloudstate run --reload",
        [
            sys.executable,
            "-m",
            "cloudstate.cli",
            "run",
            "shoppingcart.shopping_cart",
            "--path",
            str(project),
            "--port",
            str(port),
            "--reload",
            "--store",
            f"sqlite:///{project}/data.db",
        ],
        port,
        project / "run.log",
        cwd=project,
    ).start()
    wait_serving(port)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield process, shoppingcart_pb2_grpc.ShoppingCartStub(channel)
    finally:
        channel.close()
        if process.alive:
            process.terminate()


def add(cart: shoppingcart_pb2_grpc.ShoppingCartStub, quantity: int) -> str:
    """Add apples to alice's cart; the error description, or "" on success."""
    try:
        cart.AddItem(
            shoppingcart_pb2.AddLineItem(user_id="alice", product_id="apple", quantity=quantity),
            timeout=5,
        )
        return ""
    except grpc.RpcError as e:
        return str(e.details())  # type: ignore[attr-defined]


def quantities(cart: shoppingcart_pb2_grpc.ShoppingCartStub) -> list[int]:
    reply = cart.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="alice"), timeout=5)
    return [item.quantity for item in reply.items]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    os.utime(path, (time.time() + 1, time.time() + 1))  # a visibly newer mtime


def test_edits_reload_the_user_function_and_keep_port_and_state(
    project: Path, dev_server: tuple[Process, shoppingcart_pb2_grpc.ShoppingCartStub]
) -> None:
    process, cart = dev_server
    entity = project / "shoppingcart" / "shopping_cart_entity.py"
    assert add(cart, 0) == "Quantity for item apple must be greater than zero."
    assert add(cart, 2) == ""

    edit(entity, "must be greater than zero.", "must be positive!")
    wait_until(lambda: "proxy reconnected" in process.log(), "the reload", process.log)
    # The entity was active before the reload: its first command works at once, on new code.
    assert quantities(cart) == [2]
    assert add(cart, 0) == "Quantity for item apple must be positive!"
    # The developer console (on by default, on a free admin port) is where it was.
    consoles = re.findall(r"Developer console: (\S+)", process.log())
    assert len(consoles) == 1, process.log()  # printed once: the services did not change
    with urllib.request.urlopen(consoles[0], timeout=10) as page:
        assert page.status == 200 and b"Cloudstate console" in page.read()

    edit(entity, "def init(", "def init(:")  # a syntax error
    wait_until(lambda: "did not start" in process.log(), "the broken start", process.log)
    assert "SyntaxError" in process.log()
    edit(entity, "def init(:", "def init(")
    wait_until(
        lambda: process.log().count("proxy reconnected") == 2, "the fixed start", process.log
    )
    assert quantities(cart) == [2]

    edit(entity, 'persistence_id="shopping-cart"', 'persistence_id="cart-v2"')
    wait_until(lambda: "the services changed" in process.log(), "the new services", process.log)
    assert quantities(cart) == []  # another persistence id: another (empty) journal

    pids = [int(p) for p in re.findall(r"started user function \S+ \(pid (\d+)\)", process.log())]
    assert len(pids) == 5  # the first start and one per edit (the broken one too)
    assert process.terminate() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
