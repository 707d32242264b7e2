"""The workflow engine against the raw user function: real gRPC, a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import grpc
import pytest

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.stores.base import Payload
from tests.durable.harness import cloudstate_cli
from tests.workflows.harness import running_stack
from tests.workflows.uf import (
    ACCOUNTS,
    UserFunction,
    millis,
    pack,
    transfer_definition,
    transfer_pb2,
)

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


async def test_the_reply_comes_after_the_record_and_its_wake_up_are_written(
    tmp_path: Path,
) -> None:
    uf = UserFunction().start()
    hold = threading.Event()
    uf.script.hold = hold  # the withdrawal waits: nothing after the command's write happens
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            store = stack.proxy.store
            assert store is not None
            await stack.start("d1")
            stored = await store.load_value("transfers", "d1")  # at once: no polling
            assert stored is not None
            record = workflow_pb2.WorkflowRecord.FromString(stored.payload.value)
            assert (record.view.status, record.view.step, record.attempt) == (
                workflow_pb2.RUNNING,
                "withdraw",
                1,
            )
            (wake,) = await store.list_tasks("workflow:")
            assert wake.name == "workflow:wftest.Transfers/d1"
            assert wake.due > record.started_at + 2.0  # the step's timeout and a grace
            hold.set()
            await stack.wait_status("d1", "COMPLETED")
    finally:
        hold.set()
        uf.stop()


async def test_a_step_without_a_call_then_pause_and_signal(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.start("t2")
        await stack.wait_status("t2", "COMPLETED")
        view = await stack.signal("p1", "go:local")  # local (no call) -> wait (pauses forever)
        assert view.status == "NOT_STARTED"
        record = await stack.wait_status("p1", "WAITING")
        assert (record.view.step, record.pause_until) == ("wait", 0.0)
        assert not await stack.proxy.store.list_tasks("workflow:")  # type: ignore[union-attr]
        view = await stack.signal("p1", "state:signalled,end")
        record = await stack.wait_status("p1", "COMPLETED")
        assert stack.uf.ledger.applied("Withdraw") == [("alice", 10, "wf:wftest.Transfers/t2/1")]


async def test_pause_timeout_runs_the_timeout_step(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.pause = (200, "expire")
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.signal("p2", "go:wait")
            record = await stack.wait_status("p2", "COMPLETED")
            assert [h.step for h in record.history] == ["wait", "expire"]
            got = await stack.get("p2")
            assert got.state.note == "expired"
    finally:
        uf.stop()


async def test_pause_timeout_without_a_step_fails(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.signal("p3", "pause:150")
        record = await stack.wait_status("p3", "FAILED")
        assert "timed out" in record.view.reason


async def test_workflow_timeout_goes_to_its_timeout_step_once(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.definition = transfer_definition(timeout_ms=300, timeout_step="expire")
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.signal("w1", "pause:0")  # waits for ever; the workflow timeout ends it
            record = await stack.wait_status("w1", "COMPLETED")
            assert (record.view.step, record.deadline) == ("expire", 0.0)
            assert not await stack.proxy.store.list_tasks("workflow")  # type: ignore[union-attr]
    finally:
        uf.stop()


async def test_workflow_timeout_without_a_timeout_step_fails(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.definition = transfer_definition(timeout_ms=200)
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.signal("w2", "pause:0")
            record = await stack.wait_status("w2", "FAILED")
            assert "timed out" in record.view.reason
    finally:
        uf.stop()


async def test_retries_with_backoff_then_the_recover_step_compensates(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.fail_deposits = 3  # every attempt of deposit fails; the refund's deposit works
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.start("r1", "alice", "bob", 7)
            record = await stack.wait_status("r1", "FAILED")
            assert record.view.reason == "refunded"
            ledger = uf.ledger
            assert ledger.balances == {"alice": 0}  # withdrawn once, refunded once
            assert ledger.applied("Withdraw") == [("alice", 7, "wf:wftest.Transfers/r1/1")]
            assert ledger.applied("Deposit") == [("alice", 7, "wf:wftest.Transfers/r1/3")]
            deposit_runs = [r for r in uf.script.runs if r[0] == "deposit" and not r[3]]
            assert [r[1] for r in deposit_runs] == [1, 2, 3]
            assert {r[2] for r in deposit_runs} == {"wf:wftest.Transfers/r1/2"}  # same key
            outcomes = [(h.step, h.attempts, h.outcome.split(":")[0]) for h in record.history]
            assert outcomes == [
                ("withdraw", 1, "ok"),
                ("deposit", 3, "failed"),
                ("refund", 1, "ok"),
            ]
            assert "Deposit fails on purpose" in record.history[1].outcome
    finally:
        uf.stop()


async def test_exhausted_attempts_without_a_recover_step_fail_it(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.definition = transfer_definition(recover="", deposit_attempts=2)
    uf.script.fail_deposits = -1
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.start("f1")
            record = await stack.wait_status("f1", "FAILED")
            assert "Deposit fails on purpose" in record.view.reason
            assert record.history[-1].attempts == 2
            assert not uf.ledger.applied("Deposit")
    finally:
        uf.stop()


async def test_refused_transitions_and_unknown_steps(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.start("x1")
        await stack.wait_status("x1", "COMPLETED")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.signal("x1", "go:withdraw")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        details = refused.value.details() or ""
        assert "'x1'" in details and "COMPLETED" in details and "wftest.Transfers" in details
        # A state update alone is accepted in every status.
        assert (await stack.signal("x1", "state:late")).status == "COMPLETED"
        assert (await stack.get("x1")).state.note == "late"
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stack.signal("x2", "go:nowhere")
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'nowhere'" in (unknown.value.details() or "")
        assert any("nowhere" in message for message in stack.uf.reported)
        assert await stack.engine.read("x2") is None  # nothing written
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stack.signal("x3", "fail-command")
        assert "refused by the user function" in (failed.value.details() or "")
        assert await stack.engine.read("x3") is None  # a failure changes nothing


async def test_suspend_resume_cancel(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        engine = stack.engine
        await stack.signal("s1", "pause:0")
        await stack.wait_status("s1", "WAITING")
        record = await engine.suspend("s1", "looking into it")
        assert record.view.status == workflow_pb2.SUSPENDED
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.signal("s1", "go:local")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "SUSPENDED" in (refused.value.details() or "")
        record = await engine.resume("s1")
        assert record.view.status == workflow_pb2.WAITING
        await stack.signal("s1", "go:local")  # local -> wait (pauses again)
        await stack.wait_status("s1", "WAITING")
        record = await engine.cancel("s1", "no longer needed")
        assert (record.view.status, record.view.reason) == (
            workflow_pb2.CANCELLED,
            "no longer needed",
        )
        with pytest.raises(Exception, match="already ended"):
            await engine.cancel("s1")
        ids, more = await engine.list(limit=10)
        assert (ids, more) == (["s1"], "")


async def test_suspended_running_workflow_runs_its_step_on_resume(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.fail_deposits = 1
    uf.script.definition.steps[1].recovery.min_backoff.CopyFrom(millis(1000))  # deposit
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.start("s2")
            record = await stack.wait_status("s2", "RUNNING")
            while record.attempt < 2:  # deposit failed once: in its back-off
                record = await stack.wait_status("s2", "RUNNING")
            await stack.engine.suspend("s2")
            assert not await stack.proxy.store.list_tasks("workflow:")  # type: ignore[union-attr]
            await stack.engine.resume("s2")
            await stack.wait_status("s2", "COMPLETED")
            assert uf.ledger.balances == {"alice": -10, "bob": 10}
    finally:
        uf.stop()


async def test_inspect_workflows_lists_id_status_step_attempt_transitions(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.start("i1")
        await stack.wait_status("i1", "COMPLETED")
        await stack.signal("i2", "pause:0")
        await stack.wait_status("i2", "WAITING")
        url = f"sqlite:///{stack.db}"
        shown = await asyncio.to_thread(cloudstate_cli, "inspect", "--store", url, "workflows")
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].split() == ["ID", "STATUS", "STEP", "ATTEMPT", "TRANSITIONS", "REASON"]
        assert lines[1].split() == ["i1", "COMPLETED", "deposit", "0", "3"]
        assert lines[2].split() == ["i2", "WAITING", "0", "1"]
        as_json = await asyncio.to_thread(
            cloudstate_cli, "inspect", "--store", url, "--json", "workflows", "transfers"
        )
        rows = json.loads(as_json.stdout)["workflows"]
        assert [(r["id"], r["status"]) for r in rows] == [("i1", "COMPLETED"), ("i2", "WAITING")]


async def test_an_unreachable_user_function_does_not_use_up_attempts(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.definition = transfer_definition(recover="", deposit_attempts=1)
    refusals = [2]

    def unavailable(run: workflow_pb2.StepRun, context: grpc.ServicerContext) -> None:
        if run.step == "deposit" and refusals[0] > 0:
            refusals[0] -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")

    uf.script.on_step = unavailable
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            before = _sample("cloudstate_workflows_ended_total", "COMPLETED")
            await stack.start("u1")
            record = await stack.wait_status("u1", "COMPLETED")
            deposits = [r[1] for r in uf.script.runs if r[0] == "deposit" and not r[3]]
            assert deposits == [1, 1, 1]  # one attempt allowed: the refusals were not counted
            assert record.history[-1].attempts == 1
            assert _sample("cloudstate_workflows_ended_total", "COMPLETED") == before + 1
            assert _sample("cloudstate_workflow_step_seconds_count", "deposit") >= 1
    finally:
        uf.stop()


def _sample(name: str, label: str) -> float:
    """The value of metric ``name`` for service wftest.Transfers and ``label``."""
    from cloudstate.proxy import metrics

    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == name
                and labels.get("service") == "wftest.Transfers"
                and label in labels.values()
            ):
                return float(sample.value)
    return 0.0


async def test_side_effects_of_a_command_ordinary_and_durable(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.signal("se1", "pause:0,effect:carol,durable:dave")
        record = await stack.wait_status("se1", "WAITING")
        assert record.view.transitions == 1
        for _ in range(300):
            if len(stack.uf.ledger.applied("Deposit")) == 2:
                break
            await asyncio.sleep(0.02)
        deposits = sorted(stack.uf.ledger.applied("Deposit"))
        assert [(a, n) for a, n, _ in deposits] == [("carol", 1), ("dave", 1)]
        durable_key = deposits[1][2]
        assert durable_key.startswith("effect:transfers/se1/")  # delivered by the scheduler
        # A durable side effect alone (no state, no transition) is written too.
        await stack.signal("se1", "durable:erin")
        for _ in range(300):
            if len(stack.uf.ledger.applied("Deposit")) == 3:
                break
            await asyncio.sleep(0.02)
        assert stack.uf.ledger.balances["erin"] == 1


async def test_side_effects_of_a_step_run_after_its_transition_is_written(
    tmp_path: Path,
) -> None:
    uf = UserFunction().start()

    def with_effects(
        run: workflow_pb2.StepRun, context: grpc.ServicerContext
    ) -> workflow_pb2.StepReply | None:
        if run.step != "local":
            return None
        reply = workflow_pb2.StepReply()
        reply.effect.go_to.step = "expire"
        for account, durable in (("frank", False), ("gina", True)):
            side = reply.side_effects.add(service_name=ACCOUNTS, command_name="Deposit")
            side.payload.CopyFrom(pack(transfer_pb2.Change(account=account, amount=2)))
            if durable:
                side.durable.SetInParent()
        return reply

    uf.script.on_step = with_effects
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            await stack.signal("se2", "go:local")
            await stack.wait_status("se2", "COMPLETED")
            for _ in range(300):
                if len(uf.ledger.applied("Deposit")) == 2:
                    break
                await asyncio.sleep(0.02)
            assert uf.ledger.balances == {"frank": 2, "gina": 2}
    finally:
        uf.stop()


async def test_a_stale_writer_steps_down_when_another_node_moved_on(tmp_path: Path) -> None:
    uf = UserFunction().start()
    hold = threading.Event()
    uf.script.hold = hold
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            store = stack.proxy.store
            assert store is not None
            await stack.start("st1")
            await asyncio.to_thread(uf.script.entered.wait, 10)  # withdrawal in flight
            # Another node makes the next transition first (here: straight to the store).
            stored = await store.load_value("transfers", "st1")
            assert stored is not None
            other = workflow_pb2.WorkflowRecord.FromString(stored.payload.value)
            other.view.transitions += 1
            other.view.status = workflow_pb2.CANCELLED
            other.view.reason = "cancelled on another node"
            await store.save_value(
                "transfers",
                "st1",
                Payload(stored.payload.type_url, other.SerializeToString()),
                expected_version=stored.version,
            )
            hold.set()
            await asyncio.sleep(1.0)  # the step's write lost; the engine read again
            record = await stack.engine.read("st1")
            assert record is not None
            assert (record.view.status, record.view.reason) == (
                workflow_pb2.CANCELLED,
                "cancelled on another node",
            )
            assert not uf.ledger.applied("Deposit")  # the deposit step never ran
    finally:
        hold.set()
        uf.stop()


async def test_the_workflows_gauge_follows_the_status(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        waiting = _sample("cloudstate_workflows", "waiting")
        suspended = _sample("cloudstate_workflows", "suspended")
        await stack.signal("g1", "pause:0")
        assert _sample("cloudstate_workflows", "waiting") == waiting + 1
        await stack.engine.suspend("g1")
        assert _sample("cloudstate_workflows", "waiting") == waiting
        assert _sample("cloudstate_workflows", "suspended") == suspended + 1
        await stack.engine.cancel("g1")
        assert _sample("cloudstate_workflows", "suspended") == suspended


async def test_many_transfers_at_once_conserve_money_and_all_end(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.fail_accounts = {"closed"}
    count = 120
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            targets = ["closed" if n % 10 == 0 else f"acct-{n % 7}" for n in range(count)]
            await asyncio.gather(
                *(stack.start(f"m{n}", f"src-{n % 5}", targets[n], 1 + n % 3) for n in range(count))
            )
            records = [
                await stack.wait_status(f"m{n}", "COMPLETED" if n % 10 else "FAILED", within=60)
                for n in range(count)
            ]
            assert sum(uf.ledger.balances.values()) == 0  # every withdrawal deposited or refunded
            assert uf.ledger.balances.get("closed", 0) == 0
            refunded = [r for r in records if r.view.reason == "refunded"]
            assert len(refunded) == count // 10
            keys = [k for _, _, k in uf.ledger.applied("Withdraw") + uf.ledger.applied("Deposit")]
            assert len(keys) == len(set(keys))  # each step execution applied once
            assert not await stack.proxy.store.list_tasks("workflow")  # type: ignore[union-attr]
    finally:
        uf.stop()


async def test_a_keyed_command_is_answered_once_with_its_record(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        store = stack.proxy.store
        assert store is not None
        first = await stack.signal("k1", "state:once,pause:0", key="key-1")
        version = (await store.load_value("transfers", "k1")).version  # type: ignore[union-attr]
        assert await store.load_idempotency("key-1") is not None  # stored with the record
        again = await stack.signal("k1", "state:once,pause:0", key="key-1")
        assert again == first
        assert stack.uf.script.commands.count(("Signal", "k1")) == 1
        assert (await store.load_value("transfers", "k1")).version == version  # type: ignore[union-attr]
        read = await stack.signal("k1", "", key="key-2")  # writes nothing: its answer alone
        assert await stack.signal("k1", "", key="key-2") == read
        assert stack.uf.script.commands.count(("Signal", "k1")) == 2
