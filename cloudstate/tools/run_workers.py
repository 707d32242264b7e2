"""``cloudstate run MODULE --workers N``: N user-function processes (``python -m MODULE`` with
``CLOUDSTATE_WORKERS=N``: ``CloudState().start()`` forks them on consecutive ports) and a proxy
of N workers in front of them, worker ``i`` talking to process ``i``. No ``--reload`` here."""

from __future__ import annotations

import socket

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.workers.supervisor import Supervisor
from cloudstate.server_workers import WORKERS_ENV
from cloudstate.tools.devserver import UserFunctionProcess

#: Where the search for N consecutive free user-function ports starts.
_FIRST_PORT = 18080


def consecutive_free_ports(count: int, start: int = _FIRST_PORT) -> int:
    """The first of ``count`` consecutive ports free on loopback (searching from ``start``)."""
    base = start
    while base < 65000:
        for offset in range(count):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", base + offset))
                except OSError:
                    base += offset + 1
                    break
        else:
            return base
    raise OSError(f"no {count} consecutive free ports above {start}")


def serve(module: str, path: str | None, uf_port: int, config: ProxyConfig) -> int:
    """Run the user-function processes and the proxy workers until SIGINT / SIGTERM."""
    config.user_function = f"127.0.0.1:{uf_port}"
    config.user_function_workers = config.workers
    child = UserFunctionProcess(module, uf_port, path)
    child.env[WORKERS_ENV] = str(config.workers)
    child.start()
    try:
        return Supervisor(config).run()
    finally:
        child.stop(grace=5.0)
