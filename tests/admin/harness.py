"""A shopping cart served by ``cloudstate run`` with its admin port open, and the two ways the
tests talk to that port: the ``cloudstate admin`` command (a subprocess, as a user runs it) and
plain HTTP/JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import SHOPPINGCART_DIR, Process, free_port, wait_serving


@dataclass
class Cart:
    """The running ``cloudstate run``: its client and admin ports and its SQLite store."""

    process: Process
    port: int
    admin_port: int
    store: str

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def add_item(self, user: str, product: str, quantity: int = 1) -> None:
        """AddItem through the client port's HTTP/JSON route."""
        body = {"product_id": product, "name": product.title(), "quantity": quantity}
        self.post(f"/cart/{urllib.parse.quote(user, safe='')}/items/add", body)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """A client call through the client port's HTTP/JSON routes; its reply."""
        status, reply = http("POST", f"http://127.0.0.1:{self.port}{path}", body)
        assert status == 200, reply
        return reply


def start_cart(tmp: Path, *flags: str, store: str = "") -> Cart:
    return start_example(tmp, "shoppingcart.shopping_cart", SHOPPINGCART_DIR, *flags, store=store)


def start_example(tmp: Path, module: str, directory: Path, *flags: str, store: str = "") -> Cart:
    """``cloudstate run MODULE --path DIRECTORY`` with an admin port, on ``store`` (default: a
    SQLite file in ``tmp``)."""
    port, admin_port = free_port(), free_port()
    store = store or f"sqlite:///{tmp}/carts.db"
    process = Process(
        "cloudstate run",
        [
            sys.executable,
            "-m",
            "cloudstate.cli",
            "run",
            module,
            "--path",
            str(directory),
            "--port",
            str(port),
            "--admin-port",
            str(admin_port),
            "--store",
            store,
            *flags,
        ],
        port,
        tmp / "run.log",
    ).start(ready=60)  # the machine is shared: a slow start is no failure here
    try:
        wait_serving(port, timeout=60)
    except BaseException:
        process.kill()
        raise
    return Cart(process, port, admin_port, store)


def admin_cli(cart: Cart, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    """``cloudstate admin ARGS --admin URL [--token T]``, as a user runs it."""
    command = [sys.executable, "-m", "cloudstate.cli", "admin", *args, "--admin", cart.admin]
    if token:
        command += ["--token", token]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def admin_json(cart: Cart, *args: str, token: str = "") -> Any:
    """The ``--json`` output of a successful ``cloudstate admin`` command."""
    done = admin_cli(cart, *args, "--json", token=token)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str = ""
) -> tuple[int, Any]:
    """(status, parsed JSON body) of one HTTP request."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        text, status = error.read(), error.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode()
