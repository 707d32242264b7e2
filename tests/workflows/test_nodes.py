"""Two proxy nodes on one PostgreSQL database: the node driving a workflow is SIGKILLed while
its step's call is in flight; the other node takes the durable tasks over and finishes the
workflow from its wake-up task, the call applied once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.stores.registry import open_store
from tests.durable.test_nodes import OWNER_LINE, wait_for_line
from tests.processes import Process, proxy, wait_serving
from tests.workflows.test_crash import _start
from tests.workflows.uf import UserFunction

pytestmark = pytest.mark.asyncio


def _node(tmp: Path, uf: UserFunction, store: str) -> Process:
    node = proxy(tmp, uf.port, store, "--shutdown-grace", "1").start()
    wait_serving(node.port)
    return node


async def _status(store_url: str, workflow_id: str) -> str:
    store = await open_store(store_url)
    try:
        stored = await store.load_value("transfers", workflow_id)
    finally:
        await store.close()
    if stored is None:
        return "none"
    record = workflow_pb2.WorkflowRecord.FromString(stored.payload.value)
    return workflow_pb2.Status.Name(record.view.status)


async def test_the_surviving_node_finishes_a_killed_nodes_workflow(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    uf = UserFunction().start()
    hold = threading.Event()
    uf.script.hold = hold
    first = await asyncio.to_thread(_node, tmp_path, uf, fresh_postgres_url)
    second: Process | None = None
    try:
        await asyncio.to_thread(wait_for_line, first, OWNER_LINE)
        second = await asyncio.to_thread(_node, tmp_path, uf, fresh_postgres_url)
        await _start(first.port, "n1")  # the first node drives it (and owns the tasks)
        assert await asyncio.to_thread(uf.script.entered.wait, 10)
        first.kill()
        # The held call stays held until the test ends (then it finds its caller gone and is not
        # applied): released now, it could race the user function noticing the kill.
        uf.script.hold = None
        for _ in range(800):  # takeover, then the wake-up (7 s after the start)
            if await _status(fresh_postgres_url, "n1") == "COMPLETED":
                break
            await asyncio.sleep(0.05)
        assert await _status(fresh_postgres_url, "n1") == "COMPLETED", second.log()[-3000:]
        assert OWNER_LINE in second.log()
        assert uf.ledger.applied("Withdraw") == [("alice", 5, "wf:wftest.Transfers/n1/1")]
        assert uf.ledger.applied("Deposit") == [("bob", 5, "wf:wftest.Transfers/n1/2")]
    finally:
        hold.set()
        first.kill()
        if second is not None:
            second.kill()
        uf.stop()
