"""Crash safety: the proxy (a subprocess) is SIGKILLed while a step runs; restarted, it resumes
the workflow from its wake-up task and the step's call is applied once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import grpc
import pytest

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.stores.registry import open_store
from tests.processes import free_port, proxy, wait_serving
from tests.workflows.uf import TRANSFERS, UserFunction, step, transfer_definition, transfer_pb2

pytestmark = pytest.mark.asyncio


async def _start(port: int, workflow_id: str) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        start = channel.unary_unary(
            f"/{TRANSFERS}/Start",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=transfer_pb2.TransferView.FromString,
        )
        request = transfer_pb2.StartTransfer(id=workflow_id, to="bob", amount=5)
        setattr(request, "from", "alice")
        await start(request, timeout=10)


async def _status(db: Path, workflow_id: str) -> str:
    store = await open_store(f"sqlite:///{db}")
    try:
        stored = await store.load_value("transfers", workflow_id)
    finally:
        await store.close()
    if stored is None:
        return "none"
    record = workflow_pb2.WorkflowRecord.FromString(stored.payload.value)
    return workflow_pb2.Status.Name(record.view.status)


@pytest.mark.parametrize("where", ["call in flight", "continuation in flight"])
async def test_sigkill_during_a_step_resumes_and_applies_the_call_once(
    tmp_path: Path, where: str
) -> None:
    uf = UserFunction().start()
    hold = threading.Event()
    if where == "call in flight":
        uf.script.hold = hold
    else:
        uf.script.hold_continuation = hold
    db = tmp_path / "proxy.db"
    port = free_port()
    node = proxy(tmp_path, uf.port, f"sqlite:///{db}", port=port).start()
    try:
        await asyncio.to_thread(wait_serving, port)
        await _start(port, "c1")
        assert await asyncio.to_thread(uf.script.entered.wait, 10), "the step never ran"
        node.kill()  # SIGKILL while the withdrawal (or its continuation) is in flight
        assert await _status(db, "c1") == "RUNNING"
        # The held call stays held until the test ends (then it finds its caller gone and is not
        # applied): released now, it could race the user function noticing the kill.
        uf.script.hold = uf.script.hold_continuation = None
        node = proxy(tmp_path, uf.port, f"sqlite:///{db}", port=port).start()
        await asyncio.to_thread(wait_serving, port)
        for _ in range(600):  # the wake-up is due 7 s after the start (timeout + grace)
            if await _status(db, "c1") == "COMPLETED":
                break
            await asyncio.sleep(0.05)
        assert await _status(db, "c1") == "COMPLETED", node.log()
        assert uf.ledger.applied("Withdraw") == [("alice", 5, "wf:wftest.Transfers/c1/1")], (
            uf.ledger.calls,
            uf.script.runs,
            node.log(),
        )
        assert uf.ledger.applied("Deposit") == [("bob", 5, "wf:wftest.Transfers/c1/2")]
        assert uf.ledger.balances == {"alice": -5, "bob": 5}
    finally:
        hold.set()
        node.kill()
        uf.stop()


async def test_a_restarted_proxy_resumes_an_interrupted_step_at_once(tmp_path: Path) -> None:
    """On a store no other node uses, the restarted proxy runs the interrupted step again at
    start, not when its wake-up falls due (here 65 s after the start: a 60 s step timeout)."""
    uf = UserFunction().start()
    definition = transfer_definition()
    definition.steps[0].CopyFrom(step("withdraw", timeout_ms=60_000))
    uf.script.definition = definition
    hold = threading.Event()
    uf.script.hold = hold
    db = tmp_path / "proxy.db"
    port = free_port()
    node = proxy(tmp_path, uf.port, f"sqlite:///{db}", port=port).start()
    try:
        await asyncio.to_thread(wait_serving, port)
        await _start(port, "r1")
        assert await asyncio.to_thread(uf.script.entered.wait, 10), "the step never ran"
        node.kill()
        # The held call stays held until the test ends (then it finds its caller gone and is not
        # applied): released now, it could race the user function noticing the kill.
        uf.script.hold = None
        node = proxy(tmp_path, uf.port, f"sqlite:///{db}", port=port).start()
        await asyncio.to_thread(wait_serving, port)
        for _ in range(300):  # 15 s: far less than the wake-up's 65 s
            if await _status(db, "r1") == "COMPLETED":
                break
            await asyncio.sleep(0.05)
        assert await _status(db, "r1") == "COMPLETED", node.log()
        assert "interrupted by a stop resume now" in node.log()
        assert len(uf.ledger.applied("Withdraw")) == 1
    finally:
        hold.set()
        node.kill()
        uf.stop()
