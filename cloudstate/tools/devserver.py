"""``cloudstate run``: the user function as a child process and a proxy in front of it; with
``--reload``, the user function restarts whenever its code changes.

Start-up, in both modes: ``python -m MODULE`` starts with ``HOST``/``PORT`` set; what it writes to
stderr passes through to ours, its end kept. The proxy starts once the user function answers
discovery. A user function that exits first ends ``cloudstate run`` at once, with its exit
status and one line naming the likely fix (:mod:`cloudstate.tools.diagnose`: protos not
compiled, module not found, ...); one that does not answer within ``--discovery-timeout`` (30 s
for ``run``) ends it with the address it was waited on. With ``--reload`` the same line is
logged instead, and the next save tries again.

SIGINT / SIGTERM stop both processes in every phase — waiting for the user function, serving,
restarting; a second one during the stop ends at once (:mod:`cloudstate.proxy.signals`).

On a change (``--reload``) the user function is stopped (half a second of grace, then killed: it
holds no durable state) and started again on the same port. Once it answers discovery, the
in-process proxy is restarted on the same client port — a matter of milliseconds — so that every
entity opens a fresh stream to the new code and replays its state from the store; clients keep
their address and see no failed command. The services are listed again only when they changed.
A user function that fails to start (a syntax error) is reported and retried on the next change,
and the proxy keeps serving meanwhile.

Watching is a cheap poll of ``*.py`` modification times every half second, skipping hidden
directories, ``__pycache__``, virtual environments and ``node_modules``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import grpc

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.signals import StopSignals
from cloudstate.tools.diagnose import StartupError, exit_status, explain

if TYPE_CHECKING:
    from cloudstate.proxy.server import Proxy

T = TypeVar("T")

log = logging.getLogger("cloudstate.run")

POLL_INTERVAL = 0.5
SETTLE_DELAY = 0.2  # editors write several files in a row: wait for the burst to end
RESTART_GRACE = 1.0  # seconds in-flight calls get when the proxy restarts
STOP_GRACE = 1.0  # seconds the user function gets to stop once the proxy has stopped
#: How long a user function may take before ``cloudstate run`` says it is waiting, and how often
#: it says so again.
WAIT_NOTE_AFTER = 2.0
WAIT_NOTE_EVERY = 10.0
#: A user function's exit is checked this often while it serves (no thread blocks on it).
EXIT_POLL = 0.25
_KEEP = 16 * 1024  # bytes of the user function's stderr kept for the diagnosis
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


class _ErrorOutput:
    """Copies a child's stderr to ours as it comes (a thread), keeping its last bytes."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.tail = b""
        self._thread = threading.Thread(target=self._copy, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _copy(self, stream: IO[bytes]) -> None:
        fd = stream.fileno()
        try:
            while chunk := os.read(fd, 65536):
                self.tail = (self.tail + chunk)[-_KEEP:]
                try:
                    target = getattr(sys.stderr, "buffer", None)
                    if target is not None:
                        target.write(chunk)
                        target.flush()
                    else:  # a text-only stderr (tests capturing it)
                        sys.stderr.write(chunk.decode(errors="replace"))
                        sys.stderr.flush()
                except (OSError, ValueError):
                    pass  # our stderr is gone: keep draining the pipe all the same
        finally:
            stream.close()

    def text(self, wait: float = 1.0) -> str:
        """What the child wrote last, once it closed stderr (waiting at most ``wait`` s)."""
        self._thread.join(wait)
        return self.tail.decode(errors="replace")


class UserFunctionProcess:
    """``python -m MODULE`` on a fixed port, restartable; its stderr passes through to ours."""

    def __init__(self, module: str, port: int, path: str | None) -> None:
        self.module = module
        self.port = port
        self.path = path
        self.address = f"127.0.0.1:{port}"
        self.env = dict(os.environ, HOST="127.0.0.1", PORT=str(port))
        if path:
            self.env["PYTHONPATH"] = os.pathsep.join(
                [os.path.abspath(path), *filter(None, [self.env.get("PYTHONPATH")])]
            )
        self.process: subprocess.Popen[bytes] | None = None
        self._errors: _ErrorOutput | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env=self.env, stderr=subprocess.PIPE
        )
        assert self.process.stderr is not None
        self._errors = _ErrorOutput(self.process.stderr, f"{self.module} stderr")
        log.info("started user function %s (pid %d) on port %d", self.module, self.pid, self.port)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def error_output(self) -> str:
        """The end of what the user function wrote to stderr (all of it, once it exited)."""
        return "" if self._errors is None else self._errors.text()

    def stop(self, grace: float = 0.5) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._errors is not None:
            self._errors.text(wait=0.5)  # its last words reach our stderr before we go on

    def kill(self) -> None:
        """At once, no grace (a second Ctrl-C)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def fetch_spec(
    address: str,
    alive: Callable[[], bool],
    timeout: float | None = 30.0,  # noqa: ASYNC109 - a retry budget, not one operation's deadline
) -> entity_pb2.EntitySpec | None:
    """The user function's discovery answer, retried until it listens; ``None`` if it died or
    did not answer within ``timeout`` seconds (``None``: no limit)."""
    from cloudstate.proxy.discovery import EXTENSIONS, PROTOCOL_MAJOR, PROTOCOL_MINOR

    # The extensions of the proxy it runs: a user function needing one (a workflow needs
    # cloudstate.workflows/1) refuses a discovery that does not list it.
    info = entity_pb2.ProxyInfo(
        protocol_major_version=PROTOCOL_MAJOR,
        protocol_minor_version=PROTOCOL_MINOR,
        proxy_name="cloudstate-run",
        extensions=list(EXTENSIONS),
    )
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    # Short reconnect backoff: the user function is expected within a second.
    options = [
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 200),
    ]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = entity_pb2_grpc.EntityDiscoveryStub(channel)
        while deadline is None or loop.time() < deadline:
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


async def wait_until_serving(
    child: UserFunctionProcess,
    timeout: float,  # noqa: ASYNC109 - --discovery-timeout, a budget for many attempts
    stop: asyncio.Event,
) -> entity_pb2.EntitySpec | None:
    """The user function's discovery answer once it serves; ``None`` if ``stop`` is set first.

    Raises :class:`StartupError` if it exits first (naming the likely fix) or does not answer
    within ``timeout`` seconds (0: no limit). Says what it waits for after a couple of seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    fetching = asyncio.ensure_future(
        fetch_spec(child.address, lambda: child.exit_code() is None, timeout or None)
    )
    stopped = asyncio.ensure_future(stop.wait())
    note_at = started + WAIT_NOTE_AFTER
    try:
        while not fetching.done() and not stop.is_set():
            await asyncio.wait(
                {fetching, stopped},
                timeout=max(0.0, note_at - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if loop.time() >= note_at and not fetching.done():
                limit = f"up to {timeout:g}s, --discovery-timeout" if timeout else "no limit"
                log.info(
                    "waiting for the user function %s (pid %d) to answer on %s: %.0fs so far (%s)",
                    child.module,
                    child.pid,
                    child.address,
                    loop.time() - started,
                    limit,
                )
                note_at += WAIT_NOTE_EVERY
    finally:
        stopped.cancel()
        if not fetching.done():
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetching
    if stop.is_set():
        return None
    spec = fetching.result()
    if spec is not None:
        return spec
    status = child.exit_code()
    if status is None:
        raise StartupError(
            f"the user function {child.module} did not answer on {child.address} within "
            f"{timeout:g}s: it runs (pid {child.pid}) but does not serve there; check that "
            f"`python -m {child.module}` serves on $HOST:$PORT (cloudstate run sets them, "
            "CloudState().start() reads them), or wait longer with --discovery-timeout"
        )
    if await _stop_follows(stop):  # Ctrl-C reaches the user function too: no error then
        return None
    message = explain(child.module, child.path, status, child.error_output())
    raise StartupError(message, status if status > 0 else 1)


async def _stop_follows(stop: asyncio.Event, within: float = 0.3) -> bool:
    """True if ``stop`` is (or gets) set within ``within`` seconds: a terminal's Ctrl-C goes to
    the user function too, which may exit a moment before our own signal handler runs."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), within)
    return stop.is_set()


async def _until(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """``await work``, unless ``stop`` is set first: then ``work`` is cancelled, and None."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _exit_or_stop(child: UserFunctionProcess, stop: asyncio.Event) -> int | None:
    """The user function's exit status once it exits, or None once ``stop`` is set."""
    while not stop.is_set():
        status = child.exit_code()
        if status is not None:
            return None if await _stop_follows(stop) else status
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EXIT_POLL)
    return None


async def serve(
    module: str,
    path: str | None,
    uf_port: int,
    config: ProxyConfig,
    describe: Callable[[object, str, int], str],
) -> int:
    """Run user function + proxy until SIGINT/SIGTERM (then 0) or until the user function exits
    (then its exit status, at least 1). Raises :class:`StartupError` when the user function does
    not start."""
    child = UserFunctionProcess(module, uf_port, path)
    signals = StopSignals.install(on_force=child.kill)
    proxy: Proxy | None = None
    try:
        child.start()
        spec = await wait_until_serving(child, config.discovery_timeout, signals.requested)
        if spec is None:
            return 0
        proxy = await _until(signals.requested, _start_proxy(config, describe, announce=True))
        status = None if proxy is None else await _exit_or_stop(child, signals.requested)
        if status is None:
            return 0
        log.error("the user function %s stopped (%s)", module, exit_status(status))
        return status if status > 0 else 1
    finally:
        signals.stopping()
        if proxy is not None:
            await proxy.stop()
        await asyncio.to_thread(child.stop, STOP_GRACE)


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
    child = UserFunctionProcess(module, uf_port, path)
    signals = StopSignals.install(on_force=child.kill)
    stop = signals.requested
    proxy: Proxy | None = None
    dirs = ", ".join(str(d) for d in watch)
    try:
        child.start()
        spec = await _wait_or_report(child, config, stop, f": watching {dirs}")
        if stop.is_set():
            return
        if spec is not None:
            proxy = await _until(stop, _start_proxy(config, describe, announce=True))
            if proxy is None:
                return
            log.info("watching %s for changes (--reload)", dirs)
        files = await asyncio.to_thread(source_files, watch)
        reported_exit = spec is None
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), POLL_INTERVAL)
                break
            except TimeoutError:
                pass
            status = child.exit_code()
            if status is not None and not reported_exit:
                reported_exit = True
                log.error(
                    "the user function stopped (%s); it restarts on the next change",
                    exit_status(status),
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
            new_spec = await _wait_or_report(child, config, stop, "")
            if stop.is_set():
                break
            if new_spec is None:
                reported_exit = True
                continue
            reported_exit = False
            changed_services = not same_services(spec, new_spec)
            if proxy is not None:
                await proxy.stop(RESTART_GRACE)
                proxy = None
            if changed_services and spec is not None:
                log.info("the services changed:")
            proxy = await _until(stop, _start_proxy(config, describe, announce=changed_services))
            if proxy is None:
                break
            if not changed_services:
                log.info(
                    "user function restarted (pid %d); proxy reconnected on port %d",
                    child.pid,
                    config.port,
                )
            spec = new_spec
    finally:
        signals.stopping()
        if proxy is not None:
            await proxy.stop()
        await asyncio.to_thread(child.stop, STOP_GRACE)


async def _wait_or_report(
    child: UserFunctionProcess, config: ProxyConfig, stop: asyncio.Event, watching: str
) -> entity_pb2.EntitySpec | None:
    """:func:`wait_until_serving`, a start that failed logged (the next save tries again)."""
    try:
        return await wait_until_serving(child, config.discovery_timeout, stop)
    except StartupError as error:
        log.error("%s; fix it and save%s", error, watching)
        return None


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
    if config.admin_port == 0:
        config.admin_port = proxy.admin_port  # so does the console's
    if announce:
        print(describe(proxy.model, config.host, proxy.port), flush=True)
        if config.console:
            scheme = "https" if config.admin_tls_cert else "http"
            url = f"{scheme}://{config.admin_host}:{proxy.admin_port}/console/"
            print(f"Developer console: {url}", flush=True)
    return proxy


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
