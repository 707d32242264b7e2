"""``cloudstate proxy --workers N``: the parent process that runs N proxy workers and keeps them
running.

The parent binds nothing it serves: each worker is a whole proxy (its own event loop, store
connection and user-function channel) listening on the same client port with SO_REUSEPORT, so
the kernel spreads connections over the workers. The parent only

* picks the client port when ``--port 0`` asked for a free one (and holds it, bound but not
  listening, so that it stays free for the workers);
* starts the workers (``python -m cloudstate.proxy.workers``, the config in the environment);
* restarts a worker that dies (after 0.2 s, doubling to 5 s while it keeps dying young); while it
  is down, commands for its entities wait at the other workers, then fail UNAVAILABLE naming it;
* passes SIGTERM / SIGINT on to the workers and waits for them (a second signal: SIGKILL).

Worker ``i`` serves the admin port ``--admin-port + i`` (when a fixed port is asked for), only
worker 0 opens ``--grpc-port``, and with ``--user-function-workers M`` it talks to the user
function on port ``P + i mod M``.

Example::

    cloudstate proxy --workers 2 --user-function 127.0.0.1:8080 --user-function-workers 2
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.workers.node import PLACE_ENV, WorkerPlace

log = logging.getLogger(__name__)

#: The worker's configuration (JSON of ProxyConfig's fields), set by the parent.
CONFIG_ENV = "CLOUDSTATE_PROXY_WORKER_CONFIG"
#: A worker exiting with this status (or 1: its start failed) within this many seconds of its
#: first start stops the whole proxy: a bad setting or store is not cured by restarting.
_START_WINDOW = 10.0
_RESTART_MIN = 0.2
_RESTART_MAX = 5.0


def worker_config(config: ProxyConfig, index: int) -> ProxyConfig:
    """The configuration of worker ``index``: its admin port, cluster port, user function and
    gRPC port."""
    mine = dataclasses.replace(config)
    if config.admin_port > 0:
        mine.admin_port = config.admin_port + index
    if config.cluster_port > 0:  # each worker is a cluster member of its own
        mine.cluster_port = config.cluster_port + index
    if index > 0:
        mine.grpc_port = -1
    if config.user_function_workers > 1:
        host, _, port = config.user_function.rpartition(":")
        mine.user_function = f"{host}:{int(port) + index % config.user_function_workers}"
    return mine


def _reserve_port(host: str) -> tuple[socket.socket, int]:
    """A bound (not listening) SO_REUSEPORT socket holding a free port for the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host or "0.0.0.0", 0))
    return holder, int(holder.getsockname()[1])


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.first_start = 0.0
        self.restart_at = 0.0
        self.pause = _RESTART_MIN


class Supervisor:
    """Starts ``config.workers`` proxy workers and restarts those that die.

    Example::

        sys.exit(Supervisor(config).run())   # until SIGTERM / SIGINT
    """

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.group = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.workers = [_Worker(i) for i in range(config.workers)]
        self._stopping = 0
        self._holder: socket.socket | None = None

    def _spawn(self, worker: _Worker) -> None:
        place = WorkerPlace(worker.index, len(self.workers), self.group)
        config = worker_config(self.config, worker.index)
        env = dict(os.environ)
        env[PLACE_ENV] = place.env_value()
        env[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        worker.process = subprocess.Popen(
            [sys.executable, "-m", "cloudstate.proxy.workers"], env=env
        )
        worker.started = time.monotonic()
        worker.first_start = worker.first_start or worker.started
        log.info("proxy worker w%d started (pid %d)", worker.index, worker.process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping += 1
        kill = signal.SIGKILL if self._stopping > 1 else signal.SIGTERM
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(kill)

    def run(self) -> int:
        """Run the workers until a signal (exit status 0) or a worker's failed start (its
        status)."""
        if self.config.port == 0:
            self._holder, self.config.port = _reserve_port(self.config.host)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        log.info(
            "proxy: %d workers on %s:%d (group %s)",
            len(self.workers),
            self.config.host,
            self.config.port,
            self.group,
        )
        for worker in self.workers:
            self._spawn(worker)
        try:
            return self._watch()
        finally:
            if self._holder is not None:
                self._holder.close()
            self._remove_lock_files()

    def _watch(self) -> int:
        while True:
            now = time.monotonic()
            alive = 0
            for worker in self.workers:
                process = worker.process
                if process is None:
                    if self._stopping:
                        continue
                    if now >= worker.restart_at:
                        self._spawn(worker)
                    alive += 1
                    continue
                status = process.poll()
                if status is None:
                    alive += 1
                    continue
                worker.process = None
                if self._stopping:
                    continue
                if status in (1, 2) and now - worker.first_start < _START_WINDOW:
                    log.error(
                        "proxy worker w%d could not start (exit status %d): stopping the proxy",
                        worker.index,
                        status,
                    )
                    self._on_signal(signal.SIGTERM, None)
                    self._wait_all()
                    return status
                young = now - worker.started < _START_WINDOW
                worker.pause = min(_RESTART_MAX, worker.pause * 2) if young else _RESTART_MIN
                worker.restart_at = now + worker.pause
                log.warning(
                    "proxy worker w%d (pid %d) exited with status %d; restarting it in %.1fs "
                    "(commands for its entities wait for it)",
                    worker.index,
                    process.pid,
                    status,
                    worker.pause,
                )
            if self._stopping and not alive:
                return 0
            time.sleep(0.05)

    def _wait_all(self) -> None:
        for worker in self.workers:
            if worker.process is not None:
                worker.process.wait()

    def _remove_lock_files(self) -> None:
        import glob
        import tempfile

        pattern = os.path.join(tempfile.gettempdir(), f"cloudstate-proxy-{self.group}-*.lock")
        for path in glob.glob(pattern):
            try:
                os.unlink(path)
            except OSError:
                pass
