"""A throw-away NATS server with JetStream for the tests and benchmarks (standard library only).

* ``python3 tests/nats_server.py bin`` prints the ``nats-server`` binary and exits 0, or exits 1
  if there is none (``.ci/run`` then installs Debian's ``nats-server`` package);
* :func:`start` runs ``nats-server -js`` on a free loopback port with its JetStream store in a
  given directory and returns once it accepts connections; :meth:`NatsServer.stop` stops it.

The binary comes from ``NATS_SERVER``, else ``nats-server`` on ``PATH``, else ``/usr/sbin`` (where
the Debian package puts it, often not on a user's ``PATH``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def find_binary() -> Path | None:
    """The ``nats-server`` executable, or None if it is not installed."""
    candidates = [os.environ.get("NATS_SERVER", ""), shutil.which("nats-server") or ""]
    candidates.append("/usr/sbin/nats-server")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """A running ``nats-server -js``; ``url`` is ``nats://127.0.0.1:<port>``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self.log = log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start(
    store_dir: Path, binary: Path | None = None, timeout: float = 20.0, port: int = 0
) -> NatsServer:
    """Start ``nats-server -js`` with its store in ``store_dir`` (on ``port``, default a free
    one); wait until it listens."""
    binary = binary or find_binary()
    if binary is None:
        raise FileNotFoundError("nats-server is not installed (apt-get install nats-server)")
    store_dir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    log = store_dir / "nats-server.log"
    ready_before = log.read_bytes().count(b"Server is ready") if log.exists() else 0
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(binary), "-js", "-sd", str(store_dir), "-a", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited ({process.returncode}):\n{log.read_text()}")
        if log.read_bytes().count(b"Server is ready") > ready_before:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return NatsServer(process, port, log)
            except OSError:
                pass
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"nats-server did not start:\n{log.read_text()}")
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    if argv[1:2] == ["bin"]:
        binary = find_binary()
        if binary is None:
            return 1
        print(binary)
        return 0
    print("usage: nats_server.py bin", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
