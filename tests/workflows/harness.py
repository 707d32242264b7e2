"""A proxy in this process in front of the workflow tests' raw user function (tests/workflows/
uf.py), on a fresh SQLite file, and a client for it.

Example::

    async with running_stack(tmp_path) as stack:
        await stack.start("t1", "alice", "bob", 10)
        record = await stack.wait_status("t1", "COMPLETED")
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from cloudstate.proxy.workflows.engine import WorkflowHandler
from tests.workflows.uf import TRANSFERS, UserFunction, transfer_pb2

Record = workflow_pb2.WorkflowRecord


@dataclass
class Stack:
    proxy: Proxy
    uf: UserFunction
    channel: grpc.aio.Channel
    db: Path

    @property
    def engine(self) -> WorkflowHandler:
        engine = self.proxy.workflows.engine(TRANSFERS)
        assert engine is not None
        return engine

    def _unary(self, method: str) -> Any:
        return self.channel.unary_unary(
            f"/{TRANSFERS}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=transfer_pb2.TransferView.FromString,
        )

    async def start(
        self, workflow_id: str, source: str = "alice", target: str = "bob", amount: int = 10
    ) -> transfer_pb2.TransferView:
        request = transfer_pb2.StartTransfer(id=workflow_id, to=target, amount=amount)
        setattr(request, "from", source)
        reply: transfer_pb2.TransferView = await self._unary("Start")(request, timeout=10)
        return reply

    async def signal(
        self, workflow_id: str, action: str, key: str = ""
    ) -> transfer_pb2.TransferView:
        """Signal: a command scripted by ``action`` (``key``: its idempotency key)."""
        request = transfer_pb2.SignalTransfer(id=workflow_id, action=action)
        metadata = (("idempotency-key", key),) if key else None
        reply: transfer_pb2.TransferView = await self._unary("Signal")(
            request, timeout=10, metadata=metadata
        )
        return reply

    async def get(self, workflow_id: str) -> transfer_pb2.TransferView:
        request = transfer_pb2.GetTransfer(id=workflow_id)
        reply: transfer_pb2.TransferView = await self._unary("Get")(request, timeout=10)
        return reply

    async def wait_status(self, workflow_id: str, status: str, within: float = 15.0) -> Record:
        """Poll the stored record until its status is ``status`` (AssertionError after
        ``within`` seconds, naming the last record)."""
        return await wait_status(self.engine, workflow_id, status, within)


async def wait_status(
    engine: WorkflowHandler, workflow_id: str, status: str, within: float = 15.0
) -> Record:
    deadline = time.monotonic() + within
    record = None
    while time.monotonic() < deadline:
        record = await engine.read(workflow_id)
        if record is not None and workflow_pb2.Status.Name(record.view.status) == status:
            return record
        await asyncio.sleep(0.02)
    raise AssertionError(f"{workflow_id} not {status} within {within}s: {record}")


@contextlib.asynccontextmanager
async def running_stack(
    tmp: Path, uf: UserFunction | None = None, store: str = "", **config: Any
) -> AsyncIterator[Stack]:
    """The user function (unless given) and a proxy on ``tmp/proxy.db``; both stopped after."""
    own = uf is None
    function = UserFunction().start() if uf is None else uf
    db = tmp / "proxy.db"
    settings = {"durable_retry_min": "50ms", "durable_retry_max": "400ms", **config}
    proxy = Proxy(
        ProxyConfig(
            user_function=function.address,
            port=0,
            store=store or f"sqlite:///{db}",
            **settings,
        )
    )
    try:
        await proxy.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            yield Stack(proxy, function, channel, db)
    finally:
        await proxy.stop(0)
        if own:
            function.stop()
