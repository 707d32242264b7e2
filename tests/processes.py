"""Start the real processes the end-to-end tests talk to: user functions and proxies.

Every process gets a free loopback port, its output goes to a log file next to the test's data
(printed when a start fails), and it is stopped with SIGTERM or killed with SIGKILL on request.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
SHOPPINGCART_DIR = ROOT / "examples" / "shoppingcart"
RAWUF_SERVER = ROOT / "tests" / "rawuf" / "server.py"


#: Ports handed out in this process: never handed out twice.
_HANDED_OUT: set[int] = set()
#: Below the kernel's ephemeral range (32768-60999 here), where outgoing connections take their
#: source ports: a port from the kernel (bind to 0) could be taken by such a connection, or be
#: handed to the other xdist worker, before the process it is meant for binds it, and the test
#: would then talk to another test's proxy ("Method not found!").
_BLOCK_START, _BLOCK_SIZE = 20000, 2000


def free_port() -> int:
    """A free port of this xdist worker's own block (gw0: 20000-21999, gw1: 22000-23999, ...),
    never the same twice in one session: no other test process picks it meanwhile."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low = _BLOCK_START + _BLOCK_SIZE * (index % 6)
    for _ in range(500):
        port = random.randrange(low, low + _BLOCK_SIZE)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:  # the block is used up: any port the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


class Process:
    """A child process with a port, a log file and stop/kill helpers."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        port: int,
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.port = port
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: float = 30.0) -> Process:
        log = open(self.log_path, "ab")
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(self.env or {}))
        self.process = subprocess.Popen(
            self.args, cwd=self.cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        _STARTED[self.port] = self
        try:
            wait_for_port(self.port, self.process, ready)
        except Exception as e:
            self.kill()
            raise RuntimeError(f"{self.name} did not start: {e}\n--- log ---\n{self.log()}") from e
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush — what a crash or an OOM kill looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


#: Started processes by port: wait_serving gives up at once when its process has exited.
_STARTED: dict[int, Process] = {}


def shoppingcart_user_function(tmp: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "shopping-cart user function",
        [sys.executable, "-m", "shoppingcart.shopping_cart"],
        port,
        tmp / f"shoppingcart-uf-{port}.log",
        cwd=SHOPPINGCART_DIR,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


def raw_user_function(tmp: Path, *flags: str, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "raw user function",
        [sys.executable, str(RAWUF_SERVER), "--port", str(port), *flags],
        port,
        tmp / f"rawuf-{port}.log",
    )


def proxy(
    tmp: Path, user_function_port: int, store: str, *flags: str, port: int | None = None
) -> Process:
    port = port or free_port()
    return Process(
        "proxy",
        [
            sys.executable,
            "-m",
            "cloudstate.proxy",
            "--user-function",
            f"127.0.0.1:{user_function_port}",
            "--port",
            str(port),
            "--store",
            store,
            *flags,
        ],
        port,
        tmp / f"proxy-{port}.log",
    )


def metric(admin_port: int, name: str) -> float:
    """The sum of every sample of the metric ``name`` (all label sets) a proxy's admin port
    serves on ``/metrics``, e.g. ``metric(9901, "cloudstate_forwarded_commands_total")``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def wait_serving(port: int, timeout: float = 30.0) -> None:
    """Wait until the proxy's health service says SERVING (discovery done).

    The proxy listens before discovery, so a proxy that exits (discovery refused) is noticed
    here rather than by a timeout."""
    deadline = time.monotonic() + timeout
    started = _STARTED.get(port)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if started is not None and started.process is not None:
                code = started.process.poll()
                if code is not None:
                    raise TimeoutError(f"proxy on {port} exited with {code} before serving")
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxy on {port} not serving after {timeout}s")
            time.sleep(0.05)


HTTP_ECHO_SERVER = ROOT / "tests" / "http" / "echo_uf.py"


def http_echo_user_function(tmp: Path, port: int | None = None) -> Process:
    """The HTTP tests' echo entity (tests/http/echo_uf.py)."""
    port = port or free_port()
    return Process(
        "http echo user function",
        [sys.executable, str(HTTP_ECHO_SERVER)],
        port,
        tmp / f"http-echo-uf-{port}.log",
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )
