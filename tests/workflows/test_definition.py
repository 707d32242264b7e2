"""Workflow definitions: the rules of docs/protocol-workflows.md (Discovery), the defaults, and a
proxy refusing a broken definition at discovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.workflows.definition import StepDefaults, check_definition
from cloudstate.proxy.workflows.record import HISTORY_LIMIT, add_history, new_record, step_key
from tests.workflows.harness import running_stack
from tests.workflows.uf import UserFunction, millis, step, transfer_definition

DEFAULTS = StepDefaults(timeout=30.0)


def definition(
    *steps: workflow_pb2.StepDefinition, **fields: object
) -> workflow_pb2.WorkflowDefinition:
    return workflow_pb2.WorkflowDefinition(service_name="s.W", steps=steps, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (definition(step("")), "a step has no name"),
        (definition(step("a b")), "step name 'a b' is not made of"),
        (definition(step("a"), step("a")), "step 'a' is defined twice"),
        (definition(step("a", recover="b")), "recover_step 'b' names no step"),
        (definition(step("a"), timeout_step="z"), "timeout_step 'z' names no step"),
        (definition(step("a", max_attempts=-1)), "max_attempts is negative"),
        (
            definition(workflow_pb2.StepDefinition(name="a", timeout=millis(-5))),
            "step 'a': timeout is negative",
        ),
        (definition(step("a"), timeout=millis(-1)), "timeout is negative"),
    ],
)
def test_a_broken_definition_is_refused_naming_the_service(
    broken: workflow_pb2.WorkflowDefinition, problem: str
) -> None:
    with pytest.raises(DiscoveryError, match=r"workflow s\.W: ") as refused:
        check_definition("s.W", broken, DEFAULTS)
    assert problem in str(refused.value)


def test_defaults_fill_what_a_definition_leaves_unset() -> None:
    checked = check_definition(
        "s.W",
        definition(
            workflow_pb2.StepDefinition(name="plain"),
            step("own", timeout_ms=1500, max_attempts=5, recover="plain"),
            default_recovery=workflow_pb2.Recovery(max_attempts=7),
        ),
        DEFAULTS,
    )
    plain, own = checked.steps["plain"], checked.steps["own"]
    assert (plain.timeout, plain.max_attempts, plain.min_backoff, plain.max_backoff) == (
        30.0,
        7,
        1.0,
        60.0,
    )
    assert (own.timeout, own.max_attempts, own.recover_step) == (1.5, 5, "plain")
    assert own.backoff(1, draw=lambda: 0.0) == 0.025  # half of min_backoff (50 ms)
    assert own.backoff(10, draw=lambda: 1.0) == 0.2  # capped at max_backoff


def test_step_keys_and_the_history_cap() -> None:
    assert step_key("s.W", "t1", 4) == "wf:s.W/t1/4"
    long = step_key("s.W", "x" * 300, 1)
    assert long.startswith("wf:") and len(long) == 3 + 64
    record = new_record("t1")
    for n in range(HISTORY_LIMIT + 20):
        record.view.transitions = n
        add_history(record, "s", 0, 0, 1, "ok")
    assert len(record.history) == HISTORY_LIMIT
    assert record.history[0].transition == 20  # the newest are kept


@pytest.mark.asyncio
async def test_discovery_fails_on_a_refused_definition(tmp_path: Path) -> None:
    uf = UserFunction().start()
    uf.script.definition = transfer_definition(recover="nowhere")
    try:
        with pytest.raises(DiscoveryError, match="recover_step 'nowhere' names no step"):
            async with running_stack(tmp_path, uf=uf):
                pass
        assert any("nowhere" in message for message in uf.reported)
    finally:
        uf.stop()


@pytest.mark.asyncio
async def test_a_restarted_user_function_is_asked_for_its_definitions_again(
    tmp_path: Path,
) -> None:
    first = UserFunction().start()
    second: UserFunction | None = None
    try:
        async with running_stack(tmp_path, uf=first) as stack:
            await stack.start("r1")
            await stack.wait_status("r1", "COMPLETED")
            assert stack.engine.definition.steps["deposit"].max_attempts == 3
            first.stop()
            second = UserFunction(port=first.port)
            second.script.definition = transfer_definition(deposit_attempts=9)
            second.start()
            for _ in range(100):  # the proxy notices the lost connection
                try:
                    await stack.start("r2")
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            await stack.wait_status("r2", "COMPLETED")
            assert stack.engine.definition.steps["deposit"].max_attempts == 9
    finally:
        first.stop()
        if second is not None:
            second.stop()
