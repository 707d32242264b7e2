"""The Restate side of the workflow benchmark: a restate-server and the transfer service
(``benchmarks/restate/transfer.py``) as two processes on loopback, registered with each other.

The server is the npm package ``@restatedev/restate-server`` at the version
``benchmarks/restate/package-lock.json`` pins, installed by ``make bench-restate-install``
(``npm ci``) or by :func:`install_restate_server` on first use; the service needs the ``bench``
dependency group (``restate-sdk``, ``hypercorn``), installed by ``make install``.

    with restate_stack(tmp) as stk:
        stk.ingress_url  # http://127.0.0.1:<port>: POST /Transfer/<id>/run ...
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESTATE_DIR = ROOT / "benchmarks" / "restate"
#: The npm package installs the binary of this platform only (an optional dependency per platform).
_PLATFORM = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(
    platform.machine().lower(), platform.machine().lower()
)
RESTATE_SERVER = (
    RESTATE_DIR
    / "node_modules"
    / "@restatedev"
    / f"restate-server-{_PLATFORM}-{_ARCH}"
    / "bin"
    / "restate-server"
)
TRANSFER_SERVICE = RESTATE_DIR / "transfer.py"

sys.path.insert(0, str(ROOT))
from tests.processes import Process, free_port  # noqa: E402


def missing() -> str | None:
    """Why the Restate side cannot run here (``None``: it can)."""
    if importlib.util.find_spec("restate") is None or importlib.util.find_spec("hypercorn") is None:
        return "restate-sdk or hypercorn is not installed (the bench group: make install)"
    if not RESTATE_SERVER.exists():
        return f"no {RESTATE_SERVER.relative_to(ROOT)} (make bench-restate-install)"
    return None


def install_restate_server() -> None:
    """``npm ci`` in benchmarks/restate: exactly the locked version, no install scripts."""
    if RESTATE_SERVER.exists():
        return
    if shutil.which("npm") is None:
        raise RuntimeError("the Restate server comes from npm: install Node.js/npm first")
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=RESTATE_DIR, check=True
    )


@dataclass
class RestateStack:
    server: Process
    service: Process
    admin_port: int

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def server_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    @property
    def service_pid(self) -> int:
        assert self.service.process is not None
        return self.service.process.pid


def _http(method: str, url: str, body: object = None, timeout: float = 10.0) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def _wait(what: str, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Restate: {what} after {timeout}s")
        time.sleep(0.1)


@contextlib.contextmanager
def restate_stack(tmp: Path) -> Iterator[RestateStack]:
    """Start restate-server (data in ``tmp``, fsync on as by default) and the transfer service,
    register the service's deployment, and wait until the ingress routes to it."""
    install_restate_server()
    ingress, admin, fabric, service_port = free_port(), free_port(), free_port(), free_port()
    server = Process(
        "restate-server",
        [str(RESTATE_SERVER), "--no-logo", "--listen-mode", "tcp",
         "--base-dir", str(tmp / "restate-data"), "--node-name", "bench"],
        ingress,
        tmp / "restate-server.log",
        env={
            "RESTATE_DISABLE_TELEMETRY": "true",
            "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
            "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
            "RESTATE_BIND_ADDRESS": f"127.0.0.1:{fabric}",
            "RESTATE_LOG_FORMAT": "compact",
        },
    )  # fmt: skip
    service = Process(
        "Restate transfer service",
        [sys.executable, str(TRANSFER_SERVICE), "--port", str(service_port)],
        service_port,
        tmp / "restate-transfer-service.log",
    )
    try:
        service.start()
        server.start(ready=60)
        admin_url = f"http://127.0.0.1:{admin}"
        _wait("admin API not healthy", lambda: _http("GET", f"{admin_url}/health")[0] == 200)
        status, text = _http(
            "POST",
            f"{admin_url}/deployments",
            {"uri": f"http://127.0.0.1:{service_port}", "force": True},
            timeout=30,
        )
        if status not in (200, 201):
            raise RuntimeError(f"Restate: registering the transfer service failed: {status} {text}")
        stk = RestateStack(server, service, admin)
        _wait(
            "ingress does not route to Account",
            lambda: _http("POST", f"{stk.ingress_url}/Account/probe/balance")[0] == 200,
        )
        yield stk
    finally:
        service.terminate()
        server.terminate(timeout=30)
