"""One attempt of a workflow step: ``runStep``, the call it asks for, its continuation.

The call goes through the router as an internal call with ``idempotency-key: <step_key>`` and
``cloudstate-attempt: <n>`` added to its metadata, so a step execution's call is applied once by
its target however often the attempt runs (docs/protocol-workflows.md, Steps). The whole attempt
is bounded by the step's timeout.

Example::

    result = await run_attempt(stub, router, channel, service, record, step, attempt=1)
    if result.kind == "done": ...      # result.effect, result.side_effects
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2, workflow_pb2, workflow_pb2_grpc
from cloudstate.proxy import metrics
from cloudstate.proxy.durable.keys import ATTEMPT_KEY, METADATA_KEY
from cloudstate.proxy.entities.base import wait_until_reachable
from cloudstate.proxy.errors import ProxyError, UserFunctionUnavailable
from cloudstate.proxy.workflows.definition import Step
from cloudstate.proxy.workflows.record import Record, step_key
from cloudstate.proxy.workflows.transitions import describe

if TYPE_CHECKING:
    from cloudstate.proxy.router import Router

_RESERVED = frozenset({METADATA_KEY, ATTEMPT_KEY})


@dataclass(slots=True)
class AttemptResult:
    """How an attempt ended: ``done`` (``effect`` holds a transition), ``failed`` (counted) or
    ``unreachable`` (the user function could not be reached: not counted)."""

    kind: Literal["done", "failed", "unreachable"]
    effect: workflow_pb2.Effect | None = None
    side_effects: list[entity_pb2.SideEffect] = field(default_factory=list)
    error: str = ""


def call_metadata(call: workflow_pb2.StepCall, key: str, attempt: int) -> entity_pb2.Metadata:
    """The step call's own metadata (without the delivery keys) plus ``idempotency-key`` and
    ``cloudstate-attempt``."""
    metadata = entity_pb2.Metadata()
    metadata.entries.extend(e for e in call.metadata.entries if e.key.lower() not in _RESERVED)
    metadata.entries.add(key=METADATA_KEY, string_value=key)
    metadata.entries.add(key=ATTEMPT_KEY, string_value=str(attempt))
    return metadata


async def run_attempt(
    stub: workflow_pb2_grpc.WorkflowsStub,
    router: Router,
    channel: grpc.aio.Channel,
    service: str,
    record: Record,
    step: Step,
    attempt: int,
) -> AttemptResult:
    """Run attempt ``attempt`` of ``record``'s current step (see the module doc)."""
    view = record.view
    who = f"step {step.name!r} of {describe(service, view.workflow_id)}"
    run = workflow_pb2.StepRun(
        service_name=service,
        workflow=view,
        step=step.name,
        attempt=attempt,
        step_key=step_key(service, view.workflow_id, view.transitions),
    )
    if record.HasField("input"):
        run.input.CopyFrom(record.input)
    started = time.monotonic()
    try:
        async with asyncio.timeout(step.timeout):
            return await _attempt(stub, router, channel, run, who)
    except TimeoutError:
        return AttemptResult(
            "failed",
            error=f"DEADLINE_EXCEEDED: attempt {attempt} of {who} took longer than its timeout "
            f"({step.timeout:g}s)",
        )
    except grpc.aio.AioRpcError as error:
        text = f"{error.code().name}: {error.details()}"
        if error.code() == grpc.StatusCode.UNAVAILABLE:
            return AttemptResult("unreachable", error=f"the user function is unreachable ({text})")
        return AttemptResult("failed", error=f"runStep of {who} failed ({text})")
    except UserFunctionUnavailable as error:
        return AttemptResult("unreachable", error=error.message)
    finally:
        seconds = time.monotonic() - started
        metrics.WORKFLOW_STEP_SECONDS.labels(service, step.name).observe(seconds)


async def _attempt(
    stub: workflow_pb2_grpc.WorkflowsStub,
    router: Router,
    channel: grpc.aio.Channel,
    run: workflow_pb2.StepRun,
    who: str,
) -> AttemptResult:
    await wait_until_reachable(channel, 30.0, who)
    reply: workflow_pb2.StepReply = await stub.runStep(run)
    if reply.WhichOneof("outcome") == "call":
        call = reply.call
        method = router.model.method(call.service_name, call.command_name)
        target = f"{call.service_name}/{call.command_name}"
        if method is None:
            return AttemptResult(
                "failed", error=f"UNIMPLEMENTED: {who} called {target}, which is no method here"
            )
        if call.payload.type_url and call.payload.type_url != method.input_type_url:
            return AttemptResult(
                "failed",
                error=f"INVALID_ARGUMENT: {who} called {target} with {call.payload.type_url}; "
                f"it takes {method.input_type.full_name}",
            )
        metadata = call_metadata(call, run.step_key, run.attempt)
        try:
            answer = await router.call(method, bytes(call.payload.value), metadata, internal=True)
        except UserFunctionUnavailable as error:
            return AttemptResult("unreachable", error=f"{target}: {error.message}")
        except ProxyError as error:
            return AttemptResult(
                "failed", error=f"{target} failed: {error.status.name}: {error.message}"
            )
        run.call_result.reply.CopyFrom(
            any_pb2.Any(type_url=method.output_type_url, value=answer.payload)
        )
        reply = await stub.runStep(run)
        if reply.WhichOneof("outcome") == "call":
            return AttemptResult(
                "failed",
                error=f"protocol error: the continuation of {who} asked for another call; a "
                "step makes one call (use another step for the next one)",
            )
    outcome = reply.WhichOneof("outcome")
    if outcome == "failure":
        return AttemptResult("failed", error=reply.failure.description or "the step failed")
    if outcome == "effect" and reply.effect.WhichOneof("transition") is not None:
        return AttemptResult("done", reply.effect, list(reply.side_effects))
    return AttemptResult(
        "failed",
        error=f"protocol error: {who} answered "
        + ("an effect without a transition" if outcome == "effect" else "nothing")
        + "; a step's effect must make a transition (go_to, pause, end or fail)",
    )
