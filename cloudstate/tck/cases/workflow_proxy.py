"""Proxy: workflows (the protocol extension ``cloudstate.workflows/1``,
docs/protocol-workflows.md), from the client and from the recorded ``Workflows`` calls.

New: the original TCK had no workflows. The client calls the workflow model's ``Process``
through the proxy; the relay records the proxy's ``describe``, ``handleCommand`` and ``runStep``
calls and the value-entity streams of the steps' calls, so each case checks what the proxy sent
to the user function (the view, attempts, step keys, the call's metadata) as well as what the
client saw.

``Command.id`` of a workflow command is not compared (the spec does not number them); every
other field is.

One concern: the workflow proxy cases (helpers to read the recorded calls included).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.message import Message

from cloudstate.protocol import entity_pb2, value_entity_pb2, workflow_pb2
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import PROXY, CaseFunction, case
from cloudstate.tck.messages import VE_MODEL, any_message, ve_failure, ve_init, ve_reply
from cloudstate.tck.model import valueentity_pb2 as ve
from cloudstate.tck.model import workflow_pb2 as wm
from cloudstate.tck.model import workflow_pb2_grpc as wm_grpc
from cloudstate.tck.relay import Connection
from cloudstate.tck.relay_workflows import DESCRIBE, command_of, step_of
from cloudstate.tck.workflow_messages import (
    CALL_METHOD,
    MODEL,
    Status,
    command,
    command_reply,
    effect,
    end,
    go_to,
    millis,
    model_definition,
    plan,
    protocol_effect,
    request,
    seen,
    state,
    step_call,
    step_done,
    step_failed,
    step_key,
    step_run,
    steps_sorted,
    value_request,
    view,
)

GROUP = "workflow proxy"

#: The metadata keys a step's call must carry (docs/protocol-workflows.md, Steps).
IDEMPOTENCY_KEY, ATTEMPT = "idempotency-key", "cloudstate-attempt"


def wf_case(
    name: str, *services: str, needs: tuple[str, ...] = ()
) -> Callable[[CaseFunction], CaseFunction]:
    return case(PROXY, GROUP, name, requires=services or (MODEL,), original=None, needs=needs)


def without_command_id(message: Message) -> Message:
    """A copy of a ``WorkflowCommand`` with ``command.id`` cleared (not specified)."""
    if not isinstance(message, workflow_pb2.WorkflowCommand):
        return message
    copy = workflow_pb2.WorkflowCommand()
    copy.CopyFrom(message)
    copy.command.id = 0
    return copy


class Client:
    """The workflow model through the proxy."""

    def __init__(self, t: TckContext) -> None:
        self.t = t
        self.stub = wm_grpc.WorkflowTckModelStub(t.proxy)

    async def process(self, message: wm.Request, expected: wm.Response, what: str) -> None:
        reply = await self.t.call(self.stub.Process(message), f"WorkflowTckModel.Process: {what}")
        self.t.check(reply == expected, f"the client's reply to {what}", expected, reply)


async def expect_command(
    t: TckContext,
    workflow_view: workflow_pb2.WorkflowView,
    message: wm.Request,
    reply: workflow_pb2.WorkflowCommandReply,
    what: str,
) -> None:
    """The proxy's next ``handleCommand`` for the workflow carries ``workflow_view`` and
    ``message``; the user function answered ``reply``."""
    wid = workflow_view.workflow_id
    conn = await t.relay.find(command_of(wid), f"handleCommand for {what} (workflow {wid!r})")
    await conn.expect_in(
        command(wid, workflow_view, message), f"handleCommand: {what}", without_command_id
    )
    await conn.expect_out(reply, f"handleCommand: {what}")


async def expect_step(
    t: TckContext,
    expected_run: workflow_pb2.StepRun,
    reply: workflow_pb2.StepReply,
    what: str,
    wait: float | None = None,
) -> None:
    """The proxy's next ``runStep`` for the workflow is ``expected_run``; the user function
    answered ``reply``."""
    wid = expected_run.workflow.workflow_id
    conn = await t.relay.find(
        step_of(wid), f"runStep of {what} (workflow {wid!r})", wait=wait or t.timeout
    )
    await conn.expect_in(expected_run, f"runStep: {what}")
    await conn.expect_out(reply, f"runStep: {what}")


def keyed_command(
    command_id: int, entity_id: str, payload: Message, key: str, attempt: int
) -> value_entity_pb2.ValueEntityStreamIn:
    """A value-entity command carrying a step call's delivery metadata."""
    metadata = entity_pb2.Metadata(
        entries=[
            entity_pb2.MetadataEntry(key=IDEMPOTENCY_KEY, string_value=key),
            entity_pb2.MetadataEntry(key=ATTEMPT, string_value=str(attempt)),
        ]
    )
    return value_entity_pb2.ValueEntityStreamIn(
        command=entity_pb2.Command(
            entity_id=entity_id,
            id=command_id,
            name=CALL_METHOD,
            payload=any_message(payload),
            metadata=metadata,
        )
    )


def metadata_sorted(message: Message) -> Message:
    """A copy of a value-entity command with its metadata entries sorted (their order carries
    no meaning)."""
    if not isinstance(message, value_entity_pb2.ValueEntityStreamIn):
        return message
    copy = value_entity_pb2.ValueEntityStreamIn()
    copy.CopyFrom(message)
    entries = sorted(copy.command.metadata.entries, key=lambda e: (e.key, e.string_value))
    sorted_entries = [entity_pb2.MetadataEntry.FromString(e.SerializeToString()) for e in entries]
    del copy.command.metadata.entries[:]
    copy.command.metadata.entries.extend(sorted_entries)
    return copy


async def read(t: TckContext, client: Client, wid: str, expected: wm.Response, what: str) -> None:
    """Read the workflow through the proxy; the proxy hands the model the view ``expected``
    describes."""
    await client.process(request(wid), expected, what)
    status = Status.Value(expected.status)
    current = view(wid, status, state(expected.state), expected.step, expected.transitions)
    await expect_command(t, current, request(wid), command_reply(expected), what)


# -- cases ------------------------------------------------------------------------------------


@wf_case("the proxy asks for the definition")
async def definition(t: TckContext) -> None:
    """After discovery the proxy calls ``describe`` for the workflow service and gets the model's
    definition."""
    conn = await t.relay.find(
        lambda c: (
            c.kind == DESCRIBE
            and isinstance(c.first, workflow_pb2.DescribeWorkflow)
            and c.first.service_name == MODEL
        ),
        f"describe call for {MODEL}",
    )
    await conn.expect_in(workflow_pb2.DescribeWorkflow(service_name=MODEL))
    await conn.expect_out(model_definition(), "the definition", steps_sorted)


@wf_case("steps run in order after the transition is written")
async def steps_in_order(t: TckContext) -> None:
    """A command's state update and ``go_to`` start the workflow: the client has its reply, then
    the proxy runs ``run`` (attempt 1, step key of transition 1) with the input and the state
    the command wrote, then ``again`` with the state ``run`` wrote (transition 2); a read then
    sees the workflow completed with the state of its last step, after 3 transitions."""
    client = Client(t)
    wid = t.entity_id("wf")
    second = plan(end("C"))
    first = plan(effect("B", go_to=go_to("again", second)))
    start = request(wid, effect("A", go_to=go_to("run", first)))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the start")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED), protocol_effect(state("A"), go_to=("run", first))
        ),
        "the start",
    )
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("A"), "run", 1), "run", first),
        step_done(protocol_effect(state("B"), go_to=("again", second))),
        "step run",
    )
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("B"), "again", 2), "again", second),
        step_done(protocol_effect(state("C"), end=True)),
        "step again",
    )
    await read(t, client, wid, seen(wid, Status.COMPLETED, "C", "again", 3), "a read at the end")


@wf_case("failed attempts are retried with the same step key")
async def retries(t: TckContext) -> None:
    """A step whose attempts 1 and 2 fail is run again as attempts 2 and 3, each with the same
    view and ``step_key`` (``wf:<service>/<id>/1``); attempt 3 completes the workflow."""
    client = Client(t)
    wid = t.entity_id("wf")
    flaky = plan(end("ok"), fail_attempts=2)
    start = request(wid, effect("A", go_to=go_to("run", flaky)))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the start")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED), protocol_effect(state("A"), go_to=("run", flaky))
        ),
        "the start",
    )
    running = view(wid, Status.RUNNING, state("A"), "run", 1)
    for attempt in (1, 2):
        await expect_step(
            t,
            step_run(running, "run", flaky, attempt=attempt),
            step_failed(f"attempt {attempt} of run failed"),
            f"attempt {attempt}",
        )
    await expect_step(
        t,
        step_run(running, "run", flaky, attempt=3),
        step_done(protocol_effect(state("ok"), end=True)),
        "attempt 3",
    )
    await read(t, client, wid, seen(wid, Status.COMPLETED, "ok", "run", 2), "a read at the end")


@wf_case("a step's call carries the step key and attempt", MODEL, VE_MODEL)
async def call_then_continuation(t: TckContext) -> None:
    """A step asking for a call: the proxy calls the value entity with the request, adding
    ``idempotency-key: <step_key>`` and ``cloudstate-attempt: 1`` to its metadata, then runs the
    step again (same attempt) with ``call_result`` holding the entity's reply; the
    continuation's transition is then made."""
    client = Client(t)
    wid, target = t.entity_id("wf"), t.entity_id("target")
    call = wm.ValueCall(entity_id=target, value="paid")
    nxt = plan(end("done"))
    before = state("A", then=effect(go_to=go_to("again", nxt)))
    start = request(wid, effect(before, go_to=go_to("run", plan(call=call))))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the start")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED),
            protocol_effect(before, go_to=("run", plan(call=call))),
        ),
        "the start",
    )
    running = view(wid, Status.RUNNING, before, "run", 1)
    await expect_step(t, step_run(running, "run", plan(call=call)), step_call(call), "the call")
    key = step_key(MODEL, wid, 1)
    entity = await t.relay.connection("valueentity", VE_MODEL, target)
    await entity.expect_in(ve_init(VE_MODEL, target))
    await entity.expect_in(
        keyed_command(1, target, value_request(call), key, 1),
        "the step's call with its delivery metadata",
        metadata_sorted,
    )
    paid = ve.Response(message="paid")
    await entity.expect_out(
        ve_reply(1, any_message(paid), update=any_message(ve.Persisted(value="paid")))
    )
    await expect_step(
        t,
        step_run(running, "run", plan(call=call), call_reply=paid),
        step_done(protocol_effect(state("paid"), go_to=("again", nxt))),
        "the continuation",
    )
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("paid"), "again", 2), "again", nxt),
        step_done(protocol_effect(state("done"), end=True)),
        "step again",
    )
    await read(t, client, wid, seen(wid, Status.COMPLETED, "done", "again", 3), "a read")


@wf_case("retries run out then the recover step runs", MODEL, VE_MODEL)
async def recovery(t: TckContext) -> None:
    """A step whose call fails every time: the proxy makes the call in each of the step's 3
    attempts, with the same ``idempotency-key`` and ``cloudstate-attempt`` 1, 2, 3 (a failed
    call is not answered from the key's record), then goes to the recover step with the failed
    step's input (transition 2), which completes the workflow."""
    client = Client(t)
    wid, target = t.entity_id("wf"), t.entity_id("target")
    call = wm.ValueCall(entity_id=target, fail=True)
    doomed = plan(call=call, recovered=end("refunded"))
    start = request(wid, effect("A", go_to=go_to("run", doomed)))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the start")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED), protocol_effect(state("A"), go_to=("run", doomed))
        ),
        "the start",
    )
    running = view(wid, Status.RUNNING, state("A"), "run", 1)
    key = step_key(MODEL, wid, 1)
    entity: Connection | None = None
    for attempt in (1, 2, 3):
        await expect_step(
            t,
            step_run(running, "run", doomed, attempt=attempt),
            step_call(call),
            f"attempt {attempt}",
        )
        if entity is None:
            entity = await t.relay.connection("valueentity", VE_MODEL, target)
            await entity.expect_in(ve_init(VE_MODEL, target))
        await entity.expect_in(
            keyed_command(attempt, target, value_request(call), key, attempt),
            f"the call of attempt {attempt}",
            metadata_sorted,
        )
        await entity.expect_out(ve_failure(attempt, "call refused"))
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("A"), "recover", 2), "recover", doomed),
        step_done(protocol_effect(state("refunded"), end=True)),
        "the recover step",
    )
    await read(t, client, wid, seen(wid, Status.COMPLETED, "refunded", "recover", 3), "a read")


@wf_case("a paused workflow goes on when a command makes a transition")
async def pause_and_signal(t: TckContext) -> None:
    """A step that pauses leaves the workflow ``WAITING`` in that step (a read sees it, after 2
    transitions, and no step runs); a command's ``go_to`` (a signal) then runs the next step
    with the state the command wrote (transition 3)."""
    client = Client(t)
    wid = t.entity_id("wf")
    wait = plan(effect("waiting", pause=wm.Pause()))
    start = request(wid, effect("A", go_to=go_to("run", wait)))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the start")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED), protocol_effect(state("A"), go_to=("run", wait))
        ),
        "the start",
    )
    paused = workflow_pb2.Effect()
    paused.state.CopyFrom(any_message(state("waiting")))
    paused.pause.SetInParent()
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("A"), "run", 1), "run", wait),
        step_done(paused),
        "step run (pauses)",
    )
    waiting = seen(wid, Status.WAITING, "waiting", "run", 2)
    await read(t, client, wid, waiting, "a read while waiting")
    finish = plan(end("signalled"))
    signal = request(wid, effect("B", go_to=go_to("again", finish)))
    await client.process(signal, waiting, "the signal")
    await expect_command(
        t,
        view(wid, Status.WAITING, state("waiting"), "run", 2),
        signal,
        command_reply(waiting, protocol_effect(state("B"), go_to=("again", finish))),
        "the signal",
    )
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("B"), "again", 3), "again", finish),
        step_done(protocol_effect(state("signalled"), end=True)),
        "step again after the signal",
    )
    await read(
        t, client, wid, seen(wid, Status.COMPLETED, "signalled", "again", 4), "a read at the end"
    )


@wf_case("a refused transition is FAILED_PRECONDITION")
async def refused_transition(t: TckContext) -> None:
    """A command of a completed workflow asking for a transition fails with
    ``FAILED_PRECONDITION`` naming the workflow, and nothing is written; a state update alone
    is accepted; a failing command fails with the proxy's status for user failures and changes
    nothing."""
    client = Client(t)
    wid = t.entity_id("wf")
    done = request(wid, end("X"))
    await client.process(done, seen(wid, Status.NOT_STARTED), "an immediate end")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        done,
        command_reply(seen(wid, Status.NOT_STARTED), protocol_effect(state("X"), end=True)),
        "an immediate end",
    )
    completed = view(wid, Status.COMPLETED, state("X"), "", 1)
    again = request(wid, effect("Y", go_to=go_to("run", plan(end()))))
    await t.call_fails(
        client.stub.Process(again),
        grpc.StatusCode.FAILED_PRECONDITION,
        wid,
        "a go_to in a completed workflow",
    )
    await expect_command(
        t,
        completed,
        again,
        command_reply(
            seen(wid, Status.COMPLETED, "X", "", 1),
            protocol_effect(state("Y"), go_to=("run", plan(end()))),
        ),
        "a go_to in a completed workflow",
    )
    failing = request(wid, effect("Z"), fail="refused")
    await t.call_fails(client.stub.Process(failing), t.failure_status, "refused", "a failure")
    conn = await t.relay.find(command_of(wid), "handleCommand of a failing command")
    await conn.expect_in(command(wid, completed, failing), "a failing command", without_command_id)
    answer = await conn.next_out()
    t.check(
        isinstance(answer, workflow_pb2.WorkflowCommandReply)
        and answer.client_action.failure.description == "refused",
        "handleCommand: a failing command",
        "a failure 'refused'",
        answer,
    )
    update = request(wid, effect("Y"))
    await client.process(update, seen(wid, Status.COMPLETED, "X", "", 1), "a state update")
    await expect_command(
        t,
        completed,
        update,
        command_reply(seen(wid, Status.COMPLETED, "X", "", 1), protocol_effect(state("Y"))),
        "a state update",
    )
    await read(t, client, wid, seen(wid, Status.COMPLETED, "Y", "", 1), "a read")


@wf_case("a pause and its timeout survive a proxy restart", needs=("restartable-proxy",))
async def pause_survives_restart(t: TckContext) -> None:
    """A command pausing the workflow for 1.5 s: once the client has the reply, the state and
    the pause are stored. The proxy is killed (SIGKILL) and started again on the same store;
    when the timeout passes the proxy runs the timeout step ``expired`` (transition 2) with the
    state the command wrote."""
    client = Client(t)
    wid = t.entity_id("wf")
    pause = wm.Pause(timeout_millis=1500, timeout_step="expired")
    start = request(wid, effect("A", pause=pause))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the pause")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED),
            protocol_effect(
                state("A"),
                pause=workflow_pb2.Pause(timeout=millis(1500), timeout_step="expired"),
            ),
        ),
        "the pause",
    )
    await t.restart_proxy()
    await expect_step(
        t,
        step_run(view(wid, Status.RUNNING, state("A"), "expired", 2), "expired"),
        step_done(protocol_effect(state("expired"), end=True)),
        "the timeout step after the restart",
        wait=t.timeout + 20,
    )
    await read(t, client, wid, seen(wid, Status.COMPLETED, "expired", "expired", 3), "a read")


@wf_case("a step in back-off resumes after a proxy restart", needs=("restartable-proxy",))
async def step_resumes_after_restart(t: TckContext) -> None:
    """Step ``slow`` (timeout and back-off 2 s) fails its attempt 1; the proxy is then killed
    (SIGKILL) and started again. The step runs again with the same view and ``step_key``, until
    its attempt 2 completes the workflow: after the back-off when the proxy had written the
    failed attempt, else attempt 1 once more after the attempt's timeout (the wake-up written
    with the transition)."""
    client = Client(t)
    wid = t.entity_id("wf")
    flaky = plan(end("done"), fail_attempts=1)
    start = request(wid, effect("A", go_to=go_to("slow", flaky)))
    await client.process(start, seen(wid, Status.NOT_STARTED), "the start")
    await expect_command(
        t,
        view(wid, Status.NOT_STARTED),
        start,
        command_reply(
            seen(wid, Status.NOT_STARTED), protocol_effect(state("A"), go_to=("slow", flaky))
        ),
        "the start",
    )
    running = view(wid, Status.RUNNING, state("A"), "slow", 1)
    await expect_step(
        t, step_run(running, "slow", flaky), step_failed("attempt 1 of slow failed"), "attempt 1"
    )
    await t.restart_proxy()
    attempt = 1
    for _ in range(2):
        conn = await t.relay.find(
            step_of(wid), "runStep of step slow after the restart", wait=t.timeout + 20
        )
        first = conn.first
        attempt = first.attempt if isinstance(first, workflow_pb2.StepRun) else 0
        t.check(attempt in (1, 2), "the attempt after the restart", "1 or 2", first)
        if attempt == 1:
            await conn.expect_in(step_run(running, "slow", flaky), "attempt 1 again")
            await conn.expect_out(step_failed("attempt 1 of slow failed"))
            continue
        await conn.expect_in(step_run(running, "slow", flaky, attempt=2), "attempt 2")
        await conn.expect_out(step_done(protocol_effect(state("done"), end=True)))
        break
    t.check(attempt == 2, "attempt 2 after the restart", 2, attempt)
    await read(t, client, wid, seen(wid, Status.COMPLETED, "done", "slow", 2), "a read")
