"""The TCK can fail: deliberately broken user functions and proxies are caught by the cases that
check what they break (and only by those).

Mutants live in ``mutant_model.py`` (user functions) and ``mutant_proxy.py`` (proxies).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from cloudstate.tck.framework import LANGUAGE_SUPPORT, PROXY, Outcome
from cloudstate.tck.runner import run
from cloudstate.tck.session import TckSettings

ROOT = Path(__file__).resolve().parents[2]
LS = "language-support/event-sourced-model/"
LSV = "language-support/value-entity-model/"
LSA = "language-support/action-model/"
LSC = "language-support/crdt-model/"
LSD = "language-support/durable-calls-model/"
LSW = "language-support/workflow-model/"
PXW = "proxy/workflow-proxy/"
PX = "proxy/event-sourced-proxy/"
PXV = "proxy/value-entity-proxy/"

# Seconds per expectation: what a mutant breaks often shows as a message that never comes.
MUTANT_TIMEOUT = 2.0

USER_FUNCTION_MUTANTS = [
    (
        "orset-ignores-removes",
        ["crdt-model/orset", "crdt-model/gcounter-state-changes"],
        {
            f"{LSC}orset-state-changes",
            f"{LSC}orset-initial-delta-in-init",
            f"{LSC}orset-initial-empty-state-with-replicated-initial-delta",
            f"{LSC}orset-mix-of-local-and-replicated-state-changes",
            f"{LSC}orset-rehydration-after-passivation",
            f"{LSC}orset-delete-action-received-from-entity",  # the mutant ignores deletes too
        },
    ),
    (
        "reversed-streamed-out",
        ["streamed-out", "unary-command-reply"],
        {
            f"{LSA}streamed-out-command-replies-and-side-effects",
            f"{LSA}streamed-out-command-no-replies-and-side-effects",
            f"{LSA}streamed-out-command-forwards-and-side-effects",
            f"{LSA}streamed-out-command-failures-and-side-effects",
        },
    ),
    (
        "first-update-wins",
        ["value-entity-model/sub-invocations", "value-entity-model/update-state"],
        {
            f"{LSV}sub-invocations-with-multiple-update-states",
            f"{LSV}sub-invocations-with-multiple-update-states-and-delete-states",
            f"{LSV}sub-invocations-with-update-delete-and-update-states",
        },
    ),
    # mutant, cases to run, the cases that must fail
    (
        "drop-last-event",
        ["multiple-emitted-events", "single-emitted-event"],
        {f"{LS}multiple-emitted-events", f"{LS}multiple-emitted-events-and-snapshots"},
    ),
    (
        "no-snapshots",
        ["snapshot", "initial-empty-state"],
        {
            f"{LS}multiple-emitted-events-and-snapshots",
            f"{LS}forward-with-emitted-events-and-snapshot",
            f"{LS}reply-with-multiple-side-effects-events-and-snapshot",
            f"{LS}replayed-snapshot-and-events-set-the-sequence",
        },
    ),
    (
        "snapshot-every-4",
        ["multiple-emitted-events-and-snapshots", "initial-snapshot"],
        {f"{LS}multiple-emitted-events-and-snapshots"},
    ),
    (
        "reverse-events",
        ["multiple-emitted-events", "single-emitted-event"],
        {f"{LS}multiple-emitted-events", f"{LS}multiple-emitted-events-and-snapshots"},
    ),
    (
        "side-effects-on-failure",
        ["failure", "reply-with-side-effect"],
        {
            f"{LS}failure-action",
            f"{LS}connection-after-failure-action",
            f"{LS}failure-actions-do-not-retain-emitted-events-may-request-entity-restart",
            f"{LS}failure-actions-do-not-allow-side-effects",
            f"{LS}failure-actions-do-not-allow-forwards",
            f"{LSD}a-failure-drops-durable-effects-and-timers",  # leaked effects, durable or not
        },
    ),
    (
        "events-on-failure",
        ["failure-actions-do-not-retain", "single-emitted-event"],
        {f"{LS}failure-actions-do-not-retain-emitted-events-may-request-entity-restart"},
    ),
    (
        "replay-ignores-event-sequence",
        ["replayed-snapshot", "initial-snapshot"],
        {f"{LS}replayed-snapshot-and-events-set-the-sequence"},
    ),
    (
        "one-synchronous-flag",
        [f"{LS}reply-with", f"{LS}synchronous-side-effect"],
        {f"{LS}reply-with-synchronous-and-asynchronous-side-effects"},
    ),
    (
        "forward-beats-failure",
        [f"{LS}failure", f"{LS}forward"],
        {f"{LS}failure-actions-do-not-allow-forwards"},
    ),
    (
        "two-fails",
        [f"{LS}second-service-handles", f"{LS}forward-to-second-service"],
        {f"{LS}second-service-handles-its-commands"},
    ),
    (
        "ignore-replicated-delete",
        ["crdt-model/orset-delete", "crdt-model/gcounter-delete"],
        {f"{LSC}orset-delete-action-sent-to-entity-clears-its-value"},
    ),
    (
        "nested-vote-totals",
        ["crdt-model/vote", "crdt-model/ormap"],
        {f"{LSC}ormap-vote-values-send-only-their-own-vote"},
    ),
    (
        "crdt-side-effects-on-failure",
        [f"{LSC}failure", f"{LSC}connection-after-failure", f"{LSC}reply-with-side-effect"],
        {
            f"{LSC}failure-action",
            f"{LSC}connection-after-failure-action",
            f"{LSC}failure-undoes-nested-changes-and-drops-side-effects",
        },
    ),
    (
        "durable-field-dropped",
        [f"{LSD}durable-side-effect", f"{LSD}timer-cancelled", f"{LSD}durable-calls-model-disc"],
        {
            f"{LSD}durable-side-effect",
            f"{LSD}durable-side-effect-with-max-attempts",
            f"{LSD}timer-cancelled",
        },
    ),
    (
        "extension-assumed",
        [f"{LSD}without-the-extension-an-entity", f"{LSD}durable-side-effect"],
        {f"{LSD}without-the-extension-an-entity-s-durable-request-fails-the-command"},
    ),
    (
        "workflow-attempt-always-1",
        [f"{LSW}a-step-s-exception", f"{LSW}a-step-makes"],
        {f"{LSW}a-step-s-exception-fails-the-attempt"},
    ),
    (
        "workflow-go-to-drops-input",
        [f"{LSW}a-command-updates", f"{LSW}a-step-makes", f"{LSW}a-step-asks", f"{LSW}a-command-r"],
        {
            f"{LSW}a-command-updates-the-state-and-goes-to-a-step",
            f"{LSW}a-step-makes-a-transition",
            f"{LSW}a-step-asks-for-a-call-and-its-continuation-gets-the-reply",
        },
    ),
    (
        "workflow-extension-ignored",
        [f"{LSW}without-the-extension", f"{LSW}workflow-model-discovery"],
        {f"{LSW}without-the-extension-discovery-fails-naming-the-workflow"},
    ),
    (
        "empty-reply-metadata",
        ["initial-empty-state", "forward-to-second-service", "forward-with-emitted-events"],
        {
            f"{LS}initial-empty-state",
            f"{LS}forward-to-second-service",
            f"{LS}forward-with-emitted-events-and-snapshot",
        },
    ),
]

PROXY_MUTANTS = [
    (
        "workflow-call-without-key",
        [f"{PXW}a-step-s-call", f"{PXW}retries-run-out", f"{PXW}steps-run-in-order"],
        {
            f"{PXW}a-step-s-call-carries-the-step-key-and-attempt",
            f"{PXW}retries-run-out-then-the-recover-step-runs",
        },
    ),
    (
        "workflow-attempt-always-1",
        [f"{PXW}failed-attempts", f"{PXW}steps-run-in-order"],
        {f"{PXW}failed-attempts-are-retried-with-the-same-step-key"},
    ),
    (
        "wrong-event-source",
        ["eventing-proxy/"],
        {"proxy/eventing-proxy/consume-an-event"},
    ),
    (
        "ignore-stream-cancel",
        ["crdt-proxy/streamed-responses", "crdt-proxy/state-changes"],
        {"proxy/crdt-proxy/streamed-responses-for-connection-tracking"},
    ),
    (
        "drop-async-effects",
        [
            "event-sourced-proxy/forwards-and-side-effects",
            "action-proxy/unary-forwards-and-side-effects",
            "reflection",
        ],
        {f"{PX}forwards-and-side-effects", "proxy/action-proxy/unary-forwards-and-side-effects"},
    ),
    (
        "forget-deletes",
        ["value-entity-proxy/state-is-durable", "value-entity-proxy/state-changes", "reflection"],
        {f"{PXV}state-is-durable-when-the-reply-arrives", f"{PXV}state-changes"},
    ),
    (
        "forget-events",
        [f"{PX}failures", f"{PX}events-are-durable", f"{PX}state-changes"],
        {f"{PX}failures", f"{PX}events-are-durable-when-the-reply-arrives"},
    ),
    (
        "no-replay",
        [f"{PX}failures", f"{PX}events-are-durable", f"{PX}state-changes"],
        {f"{PX}failures", f"{PX}events-are-durable-when-the-reply-arrives"},
    ),
    ("unknown-status", [f"{PX}failures", f"{PX}state-changes"], {f"{PX}failures"}),
    (
        "ignore-passivation-strategy",
        [f"{PX}passivation-timeout", f"{PX}state-changes"],
        {f"{PX}passivation-timeout"},
    ),
    (
        "drop-metadata",
        [f"{PX}request-metadata", f"{PX}state-changes"],
        {f"{PX}request-metadata-reaches-the-entity"},
    ),
    (
        "always-metadata",
        [f"{PX}request-metadata", f"{PX}state-changes", "reflection"],
        {f"{PX}state-changes", f"{PX}request-metadata-reaches-the-entity"},
    ),
]


async def _failed(settings: TckSettings) -> tuple[set[str], str]:
    out = io.StringIO()
    results = await run(settings, out)
    assert any(r.outcome is Outcome.PASS for r in results), out.getvalue()
    assert not any(r.outcome is Outcome.ERROR for r in results), out.getvalue()
    return {r.case.id for r in results if r.outcome is Outcome.FAIL}, out.getvalue()


@pytest.mark.parametrize(
    ("mutant", "patterns", "expected"),
    USER_FUNCTION_MUTANTS,
    ids=[m[0] for m in USER_FUNCTION_MUTANTS],
)
async def test_broken_user_function_is_caught(
    mutant: str, patterns: list[str], expected: set[str], unused_tcp_port: int
) -> None:
    settings = TckSettings(
        targets=(LANGUAGE_SUPPORT,),
        user_function=f"127.0.0.1:{unused_tcp_port}",
        user_function_command=f"{sys.executable} -m tests.tck.mutant_model {mutant}",
        patterns=tuple(patterns),
        timeout=MUTANT_TIMEOUT,
    )
    failed, report = await _failed(settings)
    assert failed == expected, report


@pytest.mark.parametrize(
    ("mutant", "patterns", "expected"), PROXY_MUTANTS, ids=[m[0] for m in PROXY_MUTANTS]
)
async def test_broken_proxy_is_caught(
    mutant: str, patterns: list[str], expected: set[str], unused_tcp_port: int, tmp_path: Path
) -> None:
    script = ROOT / "tests" / "tck" / "mutant_proxy.py"
    settings = TckSettings(
        targets=(PROXY,),
        user_function=f"127.0.0.1:{unused_tcp_port}",
        user_function_command=f"{sys.executable} -m cloudstate.tck.model",
        proxy_command=f"{sys.executable} {script} {mutant} --store sqlite:///{tmp_path}/proxy.db",
        patterns=tuple(patterns),
        timeout=MUTANT_TIMEOUT,
    )
    failed, report = await _failed(settings)
    assert failed == expected, report


async def test_the_unbroken_proxy_passes_the_same_cases(
    unused_tcp_port: int, tmp_path: Path
) -> None:
    """The control: the same cases pass against our proxy as it is, run the same way."""
    settings = TckSettings(
        targets=(PROXY,),
        user_function=f"127.0.0.1:{unused_tcp_port}",
        user_function_command=f"{sys.executable} -m cloudstate.tck.model",
        proxy_command=f"{sys.executable} -m cloudstate.proxy --store sqlite:///{tmp_path}/proxy.db",
        patterns=(
            PX,
            f"{PXV}state-is-durable",
            f"{PXV}state-changes",
            f"{PXW}a-step-s-call",
            f"{PXW}retries-run-out",
            f"{PXW}failed-attempts",
            f"{PXW}steps-run-in-order",
        ),
    )
    failed, report = await _failed(settings)
    assert failed == set(), report


async def test_a_proxy_without_the_workflows_extension_skips_the_workflow_cases(
    unused_tcp_port: int, tmp_path: Path
) -> None:
    """A proxy that does not list ``cloudstate.workflows/1`` (an optional extension) in front of
    the model serving a workflow: the relay asks the model as if it did and leaves the workflow
    out, so the workflow cases are skipped with the reason and the others still run."""
    script = ROOT / "tests" / "tck" / "mutant_proxy.py"
    settings = TckSettings(
        targets=(PROXY,),
        user_function=f"127.0.0.1:{unused_tcp_port}",
        user_function_command=f"{sys.executable} -m cloudstate.tck.model",
        proxy_command=f"{sys.executable} {script} without-workflows "
        f"--store sqlite:///{tmp_path}/proxy.db",
        patterns=(PXW, "proxy-discovery/", f"{PXV}state-changes"),
        timeout=MUTANT_TIMEOUT,
    )
    out = io.StringIO()
    results = await run(settings, out)
    report = out.getvalue()
    workflow = [r for r in results if r.case.id.startswith(PXW)]
    assert workflow and all(r.outcome is Outcome.SKIP for r in workflow), report
    assert all("cloudstate.workflow.Workflows" in r.message for r in workflow), report
    others = [r for r in results if not r.case.id.startswith(PXW)]
    assert others and all(r.outcome is Outcome.PASS for r in others), report
