"""The workflow engine against the raw user function: real gRPC, a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflows.harness import running_stack

pytestmark = pytest.mark.asyncio


async def test_discovery_lists_the_extension_and_the_type(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        info = stack.uf.proxy_info
        assert info is not None
        assert "cloudstate.workflows/1" in info.extensions
        assert "cloudstate.workflow.Workflows" in info.supported_entity_types
        assert set(stack.engine.definition.steps) >= {"withdraw", "deposit", "refund"}


async def test_happy_path_transfer(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        view = await stack.start("t1", "alice", "bob", 10)
        assert view.status == "NOT_STARTED"  # the view the command saw
        record = await stack.wait_status("t1", "COMPLETED")
        ledger = stack.uf.ledger
        assert ledger.balances == {"alice": -10, "bob": 10}
        assert [c[3] for c in ledger.calls] == [
            "wf:wftest.Transfers/t1/1",
            "wf:wftest.Transfers/t1/2",
        ]
        assert record.view.transitions == 3
        assert [(h.step, h.outcome) for h in record.history] == [
            ("withdraw", "ok"),
            ("deposit", "ok"),
        ]
        assert not await stack.proxy.store.list_tasks("workflow")  # type: ignore[union-attr]
        got = await stack.get("t1")
        assert (got.status, got.state.note) == ("COMPLETED", "done")
