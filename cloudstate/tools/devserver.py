"""``cloudstate run --reload``: the user function restarts whenever its code changes.

On a change the user function is stopped (half a second of grace, then killed: it holds no
durable state) and started again on the same port. Once it answers discovery, the in-process
proxy is restarted on the same client port — a matter of milliseconds — so that every entity
opens a fresh stream to the new code and replays its state from the store; clients keep their
address and see no failed command. The services are listed again only when they changed. A user
function that fails to start (a syntax error) is reported and retried on the next change, and
the proxy keeps serving meanwhile.

Watching is a cheap poll of ``*.py`` modification times every half second, skipping hidden
directories, ``__pycache__``, virtual environments and ``node_modules``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.proxy.config import ProxyConfig

if TYPE_CHECKING:
    from cloudstate.proxy.server import Proxy

log = logging.getLogger("cloudstate.run")

POLL_INTERVAL = 0.5
SETTLE_DELAY = 0.2  # editors write several files in a row: wait for the burst to end
RESTART_GRACE = 1.0  # seconds in-flight calls get when the proxy restarts
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "build", "dist"})


def source_files(directories: Iterable[Path]) -> dict[str, int]:
    """Modification times (ns) of the ``*.py`` files under ``directories``."""
    found: dict[str, int] = {}
    for directory in directories:
        for root, dirs, files in os.walk(directory):
            dirs[:] = [
                d
                for d in dirs
                if not d.startswith(".")
                and d not in _SKIPPED_DIRS
                and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))
            ]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    try:
                        found[path] = os.stat(path).st_mtime_ns
                    except OSError:
                        continue  # deleted while we looked
    return found


def changed_files(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Paths added, removed or modified between two :func:`source_files` results."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


class UserFunctionProcess:
    """``python -m MODULE`` on a fixed port, restartable."""

    def __init__(self, module: str, port: int, path: str | None) -> None:
        self.module = module
        self.port = port
        self.env = dict(os.environ, HOST="127.0.0.1", PORT=str(port))
        if path:
            self.env["PYTHONPATH"] = os.pathsep.join(
                [os.path.abspath(path), *filter(None, [self.env.get("PYTHONPATH")])]
            )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", self.module], env=self.env)
        log.info("started user function %s (pid %d) on port %d", self.module, self.pid, self.port)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, grace: float = 0.5) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def fetch_spec(
    address: str,
    alive: Callable[[], bool],
    timeout: float = 30.0,  # noqa: ASYNC109 - a retry budget, not one operation's deadline
) -> entity_pb2.EntitySpec | None:
    """The user function's discovery answer, retried until it listens; ``None`` if it died."""
    from cloudstate.proxy.discovery import PROTOCOL_MAJOR, PROTOCOL_MINOR

    info = entity_pb2.ProxyInfo(
        protocol_major_version=PROTOCOL_MAJOR,
        protocol_minor_version=PROTOCOL_MINOR,
        proxy_name="cloudstate-run",
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # Short reconnect backoff: the user function is expected within a second.
    options = [
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 200),
    ]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = entity_pb2_grpc.EntityDiscoveryStub(channel)
        while loop.time() < deadline:
            if not alive():
                return None
            try:
                spec: entity_pb2.EntitySpec = await stub.discover(
                    info, timeout=0.5, wait_for_ready=True
                )
                return spec
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
    return None


def same_services(a: entity_pb2.EntitySpec | None, b: entity_pb2.EntitySpec | None) -> bool:
    """True if two discovery answers serve the same services, types and settings."""
    if a is None or b is None:
        return False
    return a.proto == b.proto and list(a.entities) == list(b.entities)


async def serve_with_reload(
    module: str,
    path: str | None,
    uf_port: int,
    config: ProxyConfig,
    watch: Sequence[Path],
    describe: Callable[[object, str, int], str],
) -> None:
    """Run user function + proxy until SIGINT/SIGTERM, restarting on code changes."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    child = UserFunctionProcess(module, uf_port, path)
    child.start()
    address = f"127.0.0.1:{uf_port}"
    proxy: Proxy | None = None
    spec: entity_pb2.EntitySpec | None = None
    dirs = ", ".join(str(d) for d in watch)
    try:
        spec = await fetch_spec(address, lambda: child.exit_code() is None, timeout=3600)
        if spec is None:
            log.error(
                "the user function exited with code %s; fix it and save: watching %s",
                child.exit_code(),
                dirs,
            )
        else:
            proxy = await _start_proxy(config, describe, announce=True)
            log.info("watching %s for changes (--reload)", dirs)
        files = await asyncio.to_thread(source_files, watch)
        reported_exit = spec is None
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), POLL_INTERVAL)
                break
            except TimeoutError:
                pass
            if child.exit_code() is not None and not reported_exit:
                reported_exit = True
                log.error(
                    "the user function exited with code %s; it restarts on the next change",
                    child.exit_code(),
                )
            current = await asyncio.to_thread(source_files, watch)
            if current == files:
                continue
            await asyncio.sleep(SETTLE_DELAY)
            current = await asyncio.to_thread(source_files, watch)
            changed = changed_files(files, current)
            files = current
            shown = ", ".join(_relative(p) for p in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            log.info("%s%s changed: restarting the user function", shown, more)
            await asyncio.to_thread(child.stop)
            child.start()
            new_spec = await fetch_spec(address, lambda: child.exit_code() is None)
            if new_spec is None:
                reported_exit = True
                log.error(
                    "the user function did not start (exit code %s); fix it and save",
                    child.exit_code(),
                )
                continue
            reported_exit = False
            changed_services = not same_services(spec, new_spec)
            if proxy is not None:
                await proxy.stop(RESTART_GRACE)
            if changed_services and spec is not None:
                log.info("the services changed:")
            proxy = await _start_proxy(config, describe, announce=changed_services)
            if not changed_services:
                log.info(
                    "user function restarted (pid %d); proxy reconnected on port %d",
                    child.pid,
                    config.port,
                )
            spec = new_spec
    finally:
        if proxy is not None:
            await proxy.stop()
        await asyncio.to_thread(child.stop)


async def _start_proxy(
    config: ProxyConfig, describe: Callable[[object, str, int], str], announce: bool
) -> Proxy:
    from cloudstate.proxy.server import Proxy

    proxy = Proxy(config)
    try:
        await proxy.start()
    except BaseException:
        await proxy.stop()
        raise
    config.port = proxy.port  # restarts keep the port, even when 0 was asked for
    if announce:
        print(describe(proxy.model, config.host, proxy.port), flush=True)
    return proxy


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
