"""A proxy in this process in front of the durable-calls user function (tests/durable/uf.py), on
a fresh SQLite file, and a client for it.

Example::

    async with running_stack(tmp_path, durable_max_attempts=3) as stack:
        await stack.ask(effect("a"))
        await stack.uf.wait_for(lambda: stack.uf.delivered("a"))
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from cloudstate.proxy.stores.base import Store
from tests.durable.uf import UserFunction, jobs_pb2
from tests.processes import ROOT

#: Quick retries for the tests: 100 ms doubling up to 800 ms.
FAST_RETRIES = {"durable_retry_min": "100ms", "durable_retry_max": "800ms"}


def effect(tag: str, **fields: Any) -> jobs_pb2.Call:
    """A durable side effect delivering ``Job{tag}`` to Jobs/Deliver."""
    return jobs_pb2.Call(kind="effect", tag=tag, **fields)


def timer(name: str, tag: str, delay_ms: int, **fields: Any) -> jobs_pb2.Call:
    return jobs_pb2.Call(kind="timer", timer_name=name, tag=tag, delay_ms=delay_ms, **fields)


def cancel(name: str) -> jobs_pb2.Call:
    return jobs_pb2.Call(kind="cancel", timer_name=name)


@dataclass
class Stack:
    proxy: Proxy
    uf: UserFunction
    channel: grpc.aio.Channel
    db: Path

    @property
    def store(self) -> Store:
        assert self.proxy.store is not None
        return self.proxy.store

    def _unary(self, path: str) -> Any:
        return self.channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=empty_pb2.Empty.FromString,
        )

    async def ask(self, *calls: jobs_pb2.Call, fail: bool = False, metadata: Any = None) -> None:
        """Jobs/Ask: an action answering with ``calls`` (and a failure when ``fail``)."""
        await self._unary("/durabletest.Jobs/Ask")(
            jobs_pb2.Plan(calls=calls, fail=fail), timeout=10, metadata=metadata
        )

    async def ask_stream(self, *calls: jobs_pb2.Call) -> int:
        stream = self.channel.unary_stream(
            "/durabletest.Jobs/AskStream",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=empty_pb2.Empty.FromString,
        )
        return len([reply async for reply in stream(jobs_pb2.Plan(calls=calls), timeout=10)])

    async def update(
        self, account: str, *calls: jobs_pb2.Call, fail: bool = False, write: bool = True
    ) -> None:
        """Accounts/Update: a value entity answering with ``calls``."""
        plan = jobs_pb2.AccountPlan(id=account, calls=calls, fail=fail, write=write)
        await self._unary("/durabletest.Accounts/Update")(plan, timeout=10)

    async def record(
        self, account: str, *calls: jobs_pb2.Call, fail: bool = False, write: bool = True
    ) -> None:
        """Ledger/Record: an event-sourced entity answering with ``calls``."""
        plan = jobs_pb2.AccountPlan(id=account, calls=calls, fail=fail, write=write)
        await self._unary("/durabletest.Ledger/Record")(plan, timeout=10)


@contextlib.asynccontextmanager
async def running_stack(
    tmp: Path,
    services: tuple[str, ...] = ("Jobs", "Accounts", "Ledger"),
    uf: UserFunction | None = None,
    **config: Any,
) -> AsyncIterator[Stack]:
    """The user function (unless given) and a proxy on ``tmp/proxy.db``; both stopped after."""
    own = uf is None
    function = UserFunction(services).start() if uf is None else uf
    db = tmp / "proxy.db"
    settings = {**FAST_RETRIES, **config}
    proxy = Proxy(
        ProxyConfig(user_function=function.address, port=0, store=f"sqlite:///{db}", **settings)
    )
    try:
        await proxy.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            yield Stack(proxy, function, channel, db)
    finally:
        await proxy.stop(0)
        if own:
            function.stop()


async def eventually(
    condition: Callable[[], Awaitable[object]], within: float = 15.0, what: str = ""
) -> None:
    """Poll the async ``condition`` until it is truthy (AssertionError after ``within`` s)."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what or condition}")
        await asyncio.sleep(0.02)


async def no_tasks(stack: Stack) -> bool:
    return not await stack.store.list_tasks()


def cloudstate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``cloudstate ARGS`` (the installed CLI's module) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cloudstate.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
