"""Announce the proxy again to a user function that restarted while the proxy kept running.

A language support learns what its proxy supports — the protocol version, the entity types, the
extensions such as ``cloudstate.durable-calls/1`` — only from ``discover``'s ``ProxyInfo``. A
user function that restarts under a running proxy (a crash, an OOM kill, a container restarted
next to its sidecar) has not been called by it: the Python SDK, which must not send durable calls
to a proxy that did not list the extension, then fails every command asking for a timer or a
durable effect with UNIMPLEMENTED — and a client's keyed call stores that failure under its key.

So the proxy watches its channel to the user function. When the connection is lost, the next
call that needs the user function — an entity activation (before its stream opens), an action
call — first calls ``discover`` again with the proxy's ``ProxyInfo``, once for all the callers
waiting; only then does the call go on. The reply's services are not taken over: a user function
that restarted with other services is reported (restart the proxy to serve them).

Example::

    announcer = Announcer(channel, proxy_info(types), timeout=30.0, services=services)
    announcer.start()
    await announced(channel)    # before opening a stream or calling an action
    await announcer.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import grpc

from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.proxy.errors import UserFunctionUnavailable

log = logging.getLogger(__name__)

#: The announcer of each channel to a user function (by ``id``), while its proxy runs.
_ANNOUNCERS: dict[int, Announcer] = {}


async def announced(channel: grpc.aio.Channel) -> None:
    """Return once the user function behind ``channel`` has been told about this proxy since
    the connection was last lost (at once if it has, or no announcer watches ``channel``)."""
    announcer = _ANNOUNCERS.get(id(channel))
    if announcer is not None:
        await announcer.ready()


def connection_lost(channel: grpc.aio.Channel) -> None:
    """The caller found ``channel`` without a connection: announce again before the next call
    (the watcher normally notices first; this covers a change it has not seen yet)."""
    announcer = _ANNOUNCERS.get(id(channel))
    if announcer is not None:
        announcer.lost()


def services_of(spec: entity_pb2.EntitySpec) -> set[tuple[str, str]]:
    """``(service name, entity type)`` of every entity a discovery reply lists."""
    return {(entity.service_name, entity.entity_type) for entity in spec.entities}


class Announcer:
    """Calls ``discover`` again on ``channel`` after each lost connection (see the module doc)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        info: entity_pb2.ProxyInfo,
        timeout: float,
        services: set[tuple[str, str]] | None = None,
    ) -> None:
        self.channel = channel
        self.info = info
        self.timeout = timeout
        #: The services discovered at the start (None: not compared).
        self.services = services
        #: Connections lost so far, and how many of them were followed by an announcement.
        self._lost = 0
        self._announced = 0
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        #: Called after each announcement (the proxy asks for workflow definitions again).
        self.after_announce: Callable[[], Awaitable[None]] | None = None

    def start(self) -> None:
        _ANNOUNCERS[id(self.channel)] = self
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="user function connection")

    async def stop(self) -> None:
        if _ANNOUNCERS.get(id(self.channel)) is self:
            del _ANNOUNCERS[id(self.channel)]
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    def lost(self) -> None:
        if self._announced == self._lost:
            self._lost += 1

    async def _watch(self) -> None:
        state = self.channel.get_state()
        while True:
            await self.channel.wait_for_state_change(state)
            previous, state = state, self.channel.get_state()
            if previous is grpc.ChannelConnectivity.READY and state is not previous:
                self.lost()

    async def ready(self) -> None:
        while self._announced < self._lost:
            async with self._lock:
                target = self._lost
                if self._announced >= target:
                    continue
                await self._announce()
                self._announced = target

    async def _announce(self) -> None:
        stub = entity_pb2_grpc.EntityDiscoveryStub(self.channel)
        try:
            spec: entity_pb2.EntitySpec = await stub.discover(
                self.info, timeout=self.timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as error:
            raise UserFunctionUnavailable(
                "the user function came back but did not answer discovery, which tells it what "
                f"this proxy supports ({error.code().name}: {error.details()}); the command was "
                "not applied"
            ) from error
        if self.services is not None and services_of(spec) != self.services:
            log.warning(
                "the user function restarted with other services than this proxy discovered "
                "at its start; it keeps serving those it discovered: restart the proxy to serve "
                "the new ones"
            )
        log.info("told the restarted user function what this proxy supports (discovery)")
        if self.after_announce is not None:
            await self.after_announce()
