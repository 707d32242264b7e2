"""A TCK run's environment: the user function, and for proxy runs the relay and the proxy.

::

    session = Session(TckSettings(targets=(PROXY,), user_function="127.0.0.1:8080",
                                  start_proxy=True))
    await session.start()          # discover; start relay and proxy; wait until it serves
    result = await run_case(session, case)   # cloudstate.tck.context
    await session.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.tck.crdt_v00 import speaks_earlier_crdt
from cloudstate.tck.framework import (
    PROXY,
    Case,
    CaseFailed,
    CaseSkipped,
    Target,
)

# The workflows extension is optional, so "every entity type" above leaves its type out; the TCK
# lists both in its own ProxyInfo.
from cloudstate.tck.relay import WORKFLOWS_EXTENSION, WORKFLOWS_TYPE, Relay

log = logging.getLogger(__name__)

#: The entity types a complete proxy supports (advertised by the TCK in its own discover call).
ALL_ENTITY_TYPES = (
    "cloudstate.action.ActionProtocol",
    "cloudstate.valueentity.ValueEntity",
    "cloudstate.eventsourced.EventSourced",
    "cloudstate.crdt.Crdt",
)

#: Entity types of protocol extensions a proxy may list as well (``cloudstate.workflows/1``).
EXTENSION_ENTITY_TYPES = ("cloudstate.workflow.Workflows",)

#: Services whose ``Call`` the HTTP probe may use (any id is fine for them).
HTTP_PROBE_SERVICES = (
    "cloudstate.tck.model.EventSourcedTwo",
    "cloudstate.tck.model.crdt.CrdtTwo",
)

#: Longest a single case may run before it is reported as an error.
CASE_DEADLINE = 60.0


class TckSetupError(Exception):
    """The run cannot start: the user function or the proxy is not reachable or not ready."""


@dataclass
class TckSettings:
    """Everything a run needs to know; the ``cloudstate tck`` flags map onto these."""

    targets: tuple[Target, ...]
    #: ``host:port`` of the user function implementing the TCK model.
    user_function: str
    #: Start this command as the user function, with ``HOST``/``PORT`` set to ``user_function``.
    user_function_command: str | None = None
    #: ``host:port`` of a running proxy (proxy target); its user function must be the relay.
    proxy: str | None = None
    #: Start our proxy (``python -m cloudstate.proxy``) in front of the relay.
    start_proxy: bool = False
    #: Start this command as the proxy; it gets ``USER_FUNCTION_HOST``/``USER_FUNCTION_PORT``
    #: (the relay) and ``HTTP_PORT`` in its environment.
    proxy_command: str | None = None
    #: Extra arguments for our proxy with ``start_proxy``.
    proxy_args: tuple[str, ...] = ()
    #: Store URL for our proxy with ``start_proxy`` (default: SQLite in a temporary directory).
    proxy_store: str | None = None
    #: Where the relay listens; an externally started proxy must use it as its user function.
    relay_host: str = "127.0.0.1"
    relay_port: int = 0
    #: Seconds to wait for each expected message.
    timeout: float = 3.0
    #: Seconds to wait for the user function / proxy to come up.
    startup_timeout: float = 60.0
    #: gRPC status the proxy gives user failures (ours: INVALID_ARGUMENT; the original: UNKNOWN).
    failure_status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
    #: HTTP status the proxy gives user failures (ours: 400; the original: 500).
    failure_http_status: int = 400
    #: Only cases whose id contains one of these.
    patterns: tuple[str, ...] = ()
    #: Directory for logs and the proxy's store (default: a temporary directory).
    work_dir: str | None = None
    #: Our own proxy address once started (filled in by the session).
    proxy_address: str = field(default="", init=False)


class Session:
    """See the module docstring."""

    def __init__(self, settings: TckSettings) -> None:
        self.settings = settings
        self.token = secrets.token_hex(3)
        self.spec: entity_pb2.EntitySpec | None = None
        self.user_function_channel: grpc.aio.Channel = None  # type: ignore[assignment]
        self.relay: Relay | None = None
        self.proxy_channel: grpc.aio.Channel | None = None
        self.proxy_spec: entity_pb2.EntitySpec | None = None
        self.proxy_info: entity_pb2.ProxyInfo | None = None
        self.features: dict[str, str | None] = {}  # feature -> None if available, else why not
        self._proxy_process: subprocess.Popen[bytes] | None = None
        self._user_function_process: subprocess.Popen[bytes] | None = None
        self._proxy_port = 0
        self._work_dir: tempfile.TemporaryDirectory[str] | None = None
        self.work_dir = Path(settings.work_dir) if settings.work_dir else Path()
        self._http: aiohttp.ClientSession | None = None

    # -- set-up ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.work_dir is None:
            self._work_dir = tempfile.TemporaryDirectory(prefix="cloudstate-tck-")
            self.work_dir = Path(self._work_dir.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.user_function_command:
            self._launch_user_function()
        self.user_function_channel = grpc.aio.insecure_channel(self.settings.user_function)
        self.spec = await self._discover_directly()
        if PROXY in self.settings.targets:
            await self._start_proxy_side()

    def _launch_user_function(self) -> None:
        s = self.settings
        host, _, port = s.user_function.rpartition(":")
        assert s.user_function_command is not None
        log_file = open(self.work_dir / "user-function.log", "ab")
        env = dict(os.environ, HOST=host or "127.0.0.1", PORT=port, PYTHONUNBUFFERED="1")
        self._user_function_process = subprocess.Popen(
            shlex.split(s.user_function_command), env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        log_file.close()

    async def _discover_directly(self) -> entity_pb2.EntitySpec:
        stub = entity_pb2_grpc.EntityDiscoveryStub(self.user_function_channel)
        info = tck_proxy_info()
        deadline = time.monotonic() + self.settings.startup_timeout
        while True:
            try:
                spec: entity_pb2.EntitySpec = await stub.discover(info, timeout=5)
                return spec
            except grpc.aio.AioRpcError as e:
                process = self._user_function_process
                if process is not None and process.poll() is not None:
                    raise TckSetupError(
                        f"the user function exited with {process.returncode}"
                        + _log_tail(self.work_dir / "user-function.log", "user function")
                    ) from e
                if time.monotonic() > deadline:
                    raise TckSetupError(
                        f"the user function at {self.settings.user_function} does not answer "
                        f"discover: {e.code().name}: {e.details()}"
                    ) from e
                await asyncio.sleep(0.2)

    async def _start_proxy_side(self) -> None:
        s = self.settings
        self.relay = Relay(s.user_function, s.timeout)
        await self.relay.start(s.relay_host, s.relay_port)
        if s.start_proxy or s.proxy_command:
            self._proxy_port = _free_port()
            s.proxy_address = f"127.0.0.1:{self._proxy_port}"
            self._launch_proxy()
            self.features["restartable-proxy"] = None
        elif s.proxy:
            s.proxy_address = s.proxy
            self.features["restartable-proxy"] = "the proxy was started outside the TCK"
        else:
            raise TckSetupError("proxy target: give --proxy HOST:PORT, --start or --proxy-command")
        try:
            discovery = await self.relay.discovery(s.startup_timeout)
        except CaseFailed as e:
            raise TckSetupError(
                f"{e.message}; is the proxy's user function set to the relay at "
                f"{s.relay_host}:{self.relay.port}?{self._proxy_log_tail()}"
            ) from None
        if discovery.served is None:
            raise TckSetupError(f"discovery through the relay failed: {discovery.error}")
        self.proxy_info = discovery.proxy_info
        self.proxy_spec = discovery.served
        self.proxy_channel = grpc.aio.insecure_channel(s.proxy_address)
        await self._wait_for_proxy()
        self._http = aiohttp.ClientSession()
        self.features["http"] = await self._probe_http()

    def _launch_proxy(self) -> None:
        s = self.settings
        assert self.relay is not None
        log_file = open(self.work_dir / "proxy.log", "ab")
        env = dict(
            os.environ,
            USER_FUNCTION_HOST="127.0.0.1",
            USER_FUNCTION_PORT=str(self.relay.port),
            HTTP_PORT=str(self._proxy_port),
            PYTHONUNBUFFERED="1",
        )
        if s.proxy_command:
            args = shlex.split(s.proxy_command)
        else:
            store = s.proxy_store or f"sqlite:///{self.work_dir / 'proxy.db'}"
            args = [
                sys.executable,
                "-m",
                "cloudstate.proxy",
                "--user-function",
                f"127.0.0.1:{self.relay.port}",
                "--port",
                str(self._proxy_port),
                "--store",
                store,
                *s.proxy_args,
            ]
        self._proxy_process = subprocess.Popen(
            args, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        log_file.close()

    def _proxy_log_tail(self) -> str:
        if self._proxy_process is None:
            return ""
        return _log_tail(self.work_dir / "proxy.log", "proxy")

    async def _wait_for_proxy(self) -> None:
        """Until the proxy answers gRPC on its port (health SERVING, or no health service)."""
        assert self.proxy_channel is not None
        health = health_pb2_grpc.HealthStub(self.proxy_channel)
        deadline = time.monotonic() + self.settings.startup_timeout
        while True:
            if self._proxy_process is not None and self._proxy_process.poll() is not None:
                raise TckSetupError(
                    f"the proxy exited with {self._proxy_process.returncode}"
                    + self._proxy_log_tail()
                )
            try:
                response = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return
            if time.monotonic() > deadline:
                raise TckSetupError(
                    f"the proxy at {self.settings.proxy_address} is not serving"
                    + self._proxy_log_tail()
                )
            await asyncio.sleep(0.1)

    async def _probe_http(self) -> str | None:
        """None if the proxy serves the HTTP/JSON API, else why not."""
        assert self._http is not None and self.relay is not None
        probe_id = f"http-probe-{self.token}"
        served = {e.service_name for e in self.served_entities()}
        service = next((s for s in HTTP_PROBE_SERVICES if s in served), None)
        if service is None:
            return f"the HTTP probe needs one of {', '.join(HTTP_PROBE_SERVICES)}"
        url = f"http://{self.settings.proxy_address}/{service}/Call"
        try:
            async with self._http.post(
                url, json={"id": probe_id}, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as e:
            return f"the proxy does not serve HTTP/JSON ({type(e).__name__}: {e})"
        await asyncio.sleep(0.05)
        self.relay.ignore(probe_id)
        if status != 200:
            return f"the proxy does not serve HTTP/JSON (POST {url} answered {status})"
        return None

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None
        return self._http

    def served_entities(self) -> list[entity_pb2.Entity]:
        spec = self.proxy_spec if self.proxy_spec is not None else self.spec
        return list(spec.entities) if spec is not None else []

    async def restart_proxy(self) -> None:
        """SIGKILL the proxy we started, start it again, wait until it serves."""
        if self._proxy_process is None:
            raise CaseSkipped("the proxy was not started by the TCK, so it cannot be restarted")
        self._proxy_process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self._proxy_process.wait)
        assert self.relay is not None
        self._launch_proxy()
        discovery = await self.relay.discovery(self.settings.startup_timeout)
        if discovery.served is None:
            raise CaseFailed(f"rediscovery after the restart failed: {discovery.error}")
        await self._wait_for_proxy()

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self.proxy_channel is not None:
            await self.proxy_channel.close(None)
        await _terminate(self._proxy_process)
        if self.relay is not None:
            await self.relay.stop()
        if self.user_function_channel is not None:
            await self.user_function_channel.close(None)
        await _terminate(self._user_function_process)
        if self._work_dir is not None:
            self._work_dir.cleanup()

    # -- running cases ---------------------------------------------------------------------------

    def why_not_applicable(self, case: Case) -> str | None:
        """Why ``case`` must be skipped in this run (None if it can run)."""
        assert self.spec is not None
        served_by_uf = {e.service_name: e.entity_type for e in self.spec.entities}
        for service in case.requires:
            if service not in served_by_uf:
                return f"the user function does not serve {service}"
        info = self.spec.service_info
        earlier = speaks_earlier_crdt(info.protocol_major_version, info.protocol_minor_version)
        if earlier and case.target is not PROXY:
            for service in case.requires:
                if served_by_uf[service] == "cloudstate.crdt.Crdt":
                    return (
                        f"the user function reports protocol {info.protocol_major_version}."
                        f"{info.protocol_minor_version}: its CRDT entities speak the earlier CRDT "
                        "format, which the language-support CRDT cases do not check"
                    )
        if case.target is PROXY:
            served = {e.service_name for e in self.served_entities()}
            for service in case.requires:
                if service not in served:
                    return (
                        f"the proxy does not support entity type {served_by_uf[service]} "
                        f"(needed by {service})"
                    )
            for feature in case.needs:
                reason = self.features.get(feature, f"feature {feature!r} is not available")
                if reason is not None:
                    return reason
        return None


def tck_proxy_info(extensions: Sequence[str] = (WORKFLOWS_EXTENSION,)) -> entity_pb2.ProxyInfo:
    """The ``ProxyInfo`` the TCK sends when it discovers the user function directly: a 0.2
    proxy supporting workflows, listing ``extensions`` (by default only
    ``cloudstate.workflows/1``, since a language support refuses to be discovered with its
    workflows by a proxy that does not list it; the durable-calls and workflow cases list
    theirs)."""
    from cloudstate import __version__

    return entity_pb2.ProxyInfo(
        protocol_major_version=0,
        protocol_minor_version=2,
        proxy_name="cloudstate-tck",
        proxy_version=__version__,
        supported_entity_types=[*ALL_ENTITY_TYPES, WORKFLOWS_TYPE],
        extensions=list(extensions),
    )


async def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.to_thread(process.wait), 15)
    except TimeoutError:
        process.kill()
        await asyncio.to_thread(process.wait)


def _log_tail(path: Path, what: str, lines: int = 30) -> str:
    if not path.exists():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- {what} log (last lines) ---\n" + "\n".join(tail)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
