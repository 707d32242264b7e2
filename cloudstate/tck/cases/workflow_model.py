"""Language support: workflows (the protocol extension ``cloudstate.workflows/1``,
docs/protocol-workflows.md), driven directly through ``Workflows.describe`` /
``handleCommand`` / ``runStep`` on the workflow model (``cloudstate/tck/model/workflow.proto``).

New: the original TCK had no workflows. The TCK acts as the proxy: it sends the workflow's view
(status, state, step, transitions) with every call, as a proxy does, and compares the answers
exactly, except where the spec leaves the text to the language support (the descriptions of
failures it makes itself, which must name what went wrong).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.message import Message

from cloudstate.protocol import entity_pb2, entity_pb2_grpc, workflow_pb2, workflow_pb2_grpc
from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import LANGUAGE_SUPPORT, CaseFunction, case
from cloudstate.tck.model import valueentity_pb2 as ve
from cloudstate.tck.model import workflow_pb2 as wm
from cloudstate.tck.protocol import compare
from cloudstate.tck.session import tck_proxy_info
from cloudstate.tck.workflow_messages import (
    MODEL,
    PERSISTENCE_ID,
    WORKFLOW_ENTITY_TYPE,
    WORKFLOWS,
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
    step_run,
    steps_sorted,
    view,
)

GROUP = "workflow model"


def wf_case(name: str, description: str | None = None) -> Callable[[CaseFunction], CaseFunction]:
    return case(
        LANGUAGE_SUPPORT, GROUP, name, requires=[MODEL], original=None, description=description
    )


def stub(t: TckContext) -> workflow_pb2_grpc.WorkflowsStub:
    return workflow_pb2_grpc.WorkflowsStub(t.user_function)


async def handle(
    t: TckContext, message: workflow_pb2.WorkflowCommand
) -> workflow_pb2.WorkflowCommandReply:
    try:
        reply: workflow_pb2.WorkflowCommandReply = await t.within(
            stub(t).handleCommand(message), "handleCommand"
        )
    except grpc.aio.AioRpcError as e:
        t.fail(f"handleCommand failed: {e.code().name}: {e.details()}")
    return reply


async def run(t: TckContext, message: workflow_pb2.StepRun) -> workflow_pb2.StepReply:
    try:
        reply: workflow_pb2.StepReply = await t.within(stub(t).runStep(message), "runStep")
    except grpc.aio.AioRpcError as e:
        t.fail(f"runStep {message.step} failed: {e.code().name}: {e.details()}")
    return reply


async def expect_command(
    t: TckContext, message: workflow_pb2.WorkflowCommand, expected: Message, what: str
) -> None:
    compare(f"handleCommand: {what}", expected, await handle(t, message))


async def expect_step(
    t: TckContext, message: workflow_pb2.StepRun, expected: Message, what: str
) -> None:
    compare(f"runStep {message.step!r}: {what}", expected, await run(t, message))


# -- discovery and definition ---------------------------------------------------------------------


@wf_case("workflow model discovery")
async def discovery(t: TckContext) -> None:
    """To a proxy listing ``cloudstate.workflows/1``, ``WorkflowTckModel`` is reported as an
    entity of type ``cloudstate.workflow.Workflows`` with persistence id
    ``workflow-tck-model``."""
    check_entity(t, MODEL, WORKFLOW_ENTITY_TYPE, PERSISTENCE_ID)


@wf_case("without the extension discovery fails naming the workflow")
async def without_extension(t: TckContext) -> None:
    """A ``discover`` whose ``ProxyInfo`` does not list ``cloudstate.workflows/1`` fails (any
    error status) with details naming the workflow service and the extension: such a proxy would
    route the workflow's commands to a protocol it does not speak. Discovery with the extension
    works again afterwards."""
    discovery_stub = entity_pb2_grpc.EntityDiscoveryStub(t.user_function)
    restore = t.session.proxy_info or tck_proxy_info()

    async def rediscover() -> None:
        await discovery_stub.discover(restore, timeout=t.timeout)

    t.on_cleanup(rediscover)
    wanted = f"an error naming {MODEL} and {WORKFLOWS}"
    try:
        spec = await t.within(
            discovery_stub.discover(tck_proxy_info(["cloudstate.durable-calls/1"])), "discover"
        )
    except grpc.aio.AioRpcError as e:
        details = e.details() or ""
        t.check(
            MODEL in details and WORKFLOWS in details,
            "discover without the extension: the error must name the workflow and the extension",
            wanted,
            f"{e.code().name}: {details}",
        )
    else:
        t.fail("discover without the extension succeeded", wanted, spec)
    again = await t.within(discovery_stub.discover(tck_proxy_info()), "discover with it")
    t.check(
        any(e.service_name == MODEL for e in again.entities),
        "discover with the extension after a refusal",
        MODEL,
        again,
    )


@wf_case("describe returns the definition")
async def describe(t: TckContext) -> None:
    """``describe`` answers the model's ``WorkflowDefinition``: each step's timeout and recovery
    (durations exact, unset ones absent), the workflow's timeout, timeout step and default
    recovery. The steps are compared sorted by name."""
    definition = await t.within(
        stub(t).describe(workflow_pb2.DescribeWorkflow(service_name=MODEL)), "describe"
    )
    compare("describe: the model's definition", model_definition(), definition, steps_sorted)


# -- commands ---------------------------------------------------------------------------------


@wf_case("a command reads the view")
async def command_reads_view(t: TckContext) -> None:
    """A command gets the view the proxy sent (id, status, state, step, transitions): the model
    replies with what it saw; a command that changes nothing has no ``effect``."""
    wid = t.entity_id("wf")
    current = view(wid, Status.WAITING, wm.State(value="A"), "again", 4)
    await expect_command(
        t,
        command(wid, current, request(wid)),
        command_reply(seen(wid, Status.WAITING, "A", "again", 4)),
        "a read",
    )
    await expect_command(
        t,
        command(wid, view(wid, Status.NOT_STARTED), request(wid), command_id=2),
        command_reply(seen(wid, Status.NOT_STARTED)),
        "a read of a workflow not started (no state)",
    )


@wf_case("a command updates the state and goes to a step")
async def command_go_to(t: TckContext) -> None:
    """``effect`` carries the new state and ``go_to`` with the step and its input, as ``Any``
    in the canonical encoding; ``go_to`` without an input has no ``input``."""
    wid = t.entity_id("wf")
    first = plan(end("done"))
    await expect_command(
        t,
        command(
            wid, view(wid, Status.NOT_STARTED), request(wid, effect("A", go_to=go_to("run", first)))
        ),
        command_reply(
            seen(wid, Status.NOT_STARTED), protocol_effect(state("A"), go_to=("run", first))
        ),
        "a state update and a go_to with an input",
    )
    await expect_command(
        t,
        command(
            wid,
            view(wid, Status.WAITING, state("A"), "run", 1),
            request(wid, effect(go_to=go_to("again"))),
        ),
        command_reply(
            seen(wid, Status.WAITING, "A", "run", 1), protocol_effect(go_to=("again", None))
        ),
        "a go_to without an input (no state update)",
    )


@wf_case("a command pauses, ends or fails the workflow")
async def command_transitions(t: TckContext) -> None:
    """``pause`` carries its timeout and timeout step (present but empty without them); ``end``
    is present and empty; ``fail`` carries the reason; a state update alone has no transition."""
    wid = t.entity_id("wf")
    running = view(wid, Status.RUNNING, state("A"), "run", 1)
    seen_running = seen(wid, Status.RUNNING, "A", "run", 1)
    cases: list[tuple[str, wm.Effect, workflow_pb2.Effect]] = [
        (
            "a pause with a timeout",
            effect(pause=wm.Pause(timeout_millis=1500, timeout_step="expired")),
            protocol_effect(pause=workflow_pb2.Pause(timeout=millis(1500), timeout_step="expired")),
        ),
        ("a pause without a timeout", effect(pause=wm.Pause()), _paused_for_ever()),
        ("an end", effect(end=True), protocol_effect(end=True)),
        ("a failure of the workflow", effect(fail="gave up"), protocol_effect(fail="gave up")),
        ("a state update alone", effect("B"), protocol_effect(state("B"))),
    ]
    for n, (what, asked, expected) in enumerate(cases, start=1):
        await expect_command(
            t,
            command(wid, running, request(wid, asked), command_id=n),
            command_reply(seen_running, expected),
            what,
        )


def _paused_for_ever() -> workflow_pb2.Effect:
    result = workflow_pb2.Effect()
    result.pause.SetInParent()
    return result


@wf_case("a command failure changes nothing")
async def command_failure(t: TckContext) -> None:
    """A command that fails answers ``client_action.failure`` with its command id and the
    description, and no ``effect`` (its state update and transition are dropped)."""
    wid = t.entity_id("wf")
    asked = request(wid, effect("B", go_to=go_to("run", plan(end()))), fail="refused")
    answer = await handle(t, command(wid, view(wid, Status.NOT_STARTED), asked, command_id=7))
    failure = answer.client_action.failure if answer.client_action.HasField("failure") else None
    expected = workflow_pb2.WorkflowCommandReply(
        client_action=entity_pb2.ClientAction(
            failure=entity_pb2.Failure(command_id=7, description="refused")
        )
    )
    t.check(
        failure is not None
        and failure.command_id == 7
        and failure.description == "refused"
        and not answer.HasField("effect")
        and not answer.side_effects,
        "handleCommand: a failing command",
        expected,
        answer,
    )


@wf_case("a command going to an unknown step fails")
async def command_unknown_step(t: TckContext) -> None:
    """A command asking to go to a step the workflow does not define fails, with a description
    naming the step, and has no ``effect`` (the proxy would refuse the transition anyway)."""
    wid = t.entity_id("wf")
    asked = request(wid, effect("B", go_to=go_to("nowhere")))
    answer = await handle(t, command(wid, view(wid, Status.NOT_STARTED), asked))
    failure = answer.client_action.failure if answer.client_action.HasField("failure") else None
    t.check(
        failure is not None and "nowhere" in failure.description and not answer.HasField("effect"),
        "handleCommand: a go_to to an unknown step",
        "a failure naming 'nowhere', no effect",
        answer,
    )


# -- steps ------------------------------------------------------------------------------------


@wf_case("a step makes a transition")
async def step_transition(t: TckContext) -> None:
    """A step gets its input and makes its effect: a state update with ``go_to`` (with the next
    step's input), ``pause``, ``end`` or ``fail``."""
    wid = t.entity_id("wf")
    current = view(wid, Status.RUNNING, state("A"), "run", 1)
    nxt = plan(end())
    asked: list[tuple[str, wm.Effect, workflow_pb2.Effect]] = [
        (
            "a state update and a go_to",
            effect("B", go_to=go_to("again", nxt)),
            protocol_effect(state("B"), go_to=("again", nxt)),
        ),
        (
            "a pause with a timeout",
            effect(pause=wm.Pause(timeout_millis=250, timeout_step="expired")),
            protocol_effect(pause=workflow_pb2.Pause(timeout=millis(250), timeout_step="expired")),
        ),
        ("an end", effect("C", end=True), protocol_effect(state("C"), end=True)),
        ("a failure of the workflow", effect(fail="no way"), protocol_effect(fail="no way")),
    ]
    for what, step_effect, expected in asked:
        await expect_step(t, step_run(current, "run", plan(step_effect)), step_done(expected), what)


@wf_case("a step's exception fails the attempt")
async def step_exception(t: TckContext) -> None:
    """An error raised by a step is the attempt's ``failure`` with the error's message; the step
    reads ``attempt``: with ``fail_attempts: 2`` attempts 1 and 2 fail and attempt 3 makes its
    effect."""
    wid = t.entity_id("wf")
    current = view(wid, Status.RUNNING, state("A"), "run", 1)
    flaky = plan(end("B"), fail_attempts=2)
    for attempt in (1, 2):
        await expect_step(
            t,
            step_run(current, "run", flaky, attempt=attempt),
            step_failed(f"attempt {attempt} of run failed"),
            f"attempt {attempt}",
        )
    await expect_step(
        t,
        step_run(current, "run", flaky, attempt=3),
        step_done(protocol_effect(state("B"), end=True)),
        "attempt 3",
    )


@wf_case("a step going to an unknown step fails the attempt")
async def step_unknown_step(t: TckContext) -> None:
    """A step asking to go to a step the workflow does not define answers ``failure`` (a
    description naming the step), not an ``effect``."""
    wid = t.entity_id("wf")
    current = view(wid, Status.RUNNING, state("A"), "run", 1)
    answer = await run(t, step_run(current, "run", plan(effect(go_to=go_to("nowhere")))))
    t.check(
        answer.HasField("failure") and "nowhere" in answer.failure.description,
        "runStep: a go_to to an unknown step",
        "a failure naming 'nowhere'",
        answer,
    )


@wf_case("a step without a transition fails the attempt")
async def step_no_transition(t: TckContext) -> None:
    """A step that neither asks for a call nor makes a transition (its input is empty) answers
    ``failure``: an ``effect`` without state and transition would be a protocol error."""
    wid = t.entity_id("wf")
    current = view(wid, Status.RUNNING, state("A"), "again", 2)
    answer = await run(t, step_run(current, "again", plan()))
    t.check(
        answer.HasField("failure") and bool(answer.failure.description),
        "runStep: a step making no transition",
        "a failure with a description",
        answer,
    )


@wf_case("a step asks for a call and its continuation gets the reply")
async def step_call_and_continuation(t: TckContext) -> None:
    """A step asking for a call answers ``call`` (service, method, the payload as ``Any``; no
    metadata, no effect); run again with ``call_result``, its continuation gets the reply: it
    sets the state to the reply's message and makes the transition the model's state says
    (``go_to`` with an input, or ``end`` when it says none)."""
    wid = t.entity_id("wf")
    target = t.entity_id("target")
    call = wm.ValueCall(entity_id=target, value="paid")
    nxt = plan(end())
    before = state("A", then=effect(go_to=go_to("again", nxt)))
    current = view(wid, Status.RUNNING, before, "run", 1)
    await expect_step(t, step_run(current, "run", plan(call=call)), step_call(call), "the call")
    await expect_step(
        t,
        step_run(current, "run", plan(call=call), call_reply=ve.Response(message="paid")),
        step_done(protocol_effect(state("paid"), go_to=("again", nxt))),
        "the continuation",
    )
    plain = view(wid, Status.RUNNING, state("A"), "run", 1)
    await expect_step(
        t,
        step_run(plain, "run", plan(call=call), attempt=2, call_reply=ve.Response(message="x")),
        step_done(protocol_effect(state("x"), end=True)),
        "a continuation ending the workflow",
    )
    refused = wm.ValueCall(entity_id=target, fail=True)
    await expect_step(
        t, step_run(plain, "run", plan(call=refused)), step_call(refused), "a refused call"
    )


@wf_case("a continuation may not ask for another call")
async def continuation_calls_again(t: TckContext) -> None:
    """A continuation that asks for a call again answers ``failure`` (one call per attempt),
    not ``call``."""
    wid = t.entity_id("wf")
    call = wm.ValueCall(entity_id=t.entity_id("target"), value="v")
    current = view(wid, Status.RUNNING, state("A", call_again=True), "run", 1)
    answer = await run(
        t, step_run(current, "run", plan(call=call), call_reply=ve.Response(message="v"))
    )
    t.check(
        answer.HasField("failure"),
        "runStep: a continuation asking for a second call",
        "a failure",
        answer,
    )


@wf_case("the recover step and the timeout step")
async def recover_and_timeout_steps(t: TckContext) -> None:
    """The recover step gets the failed step's input (the model makes its ``recovered``
    effect); the timeout step runs with no input (the model sets the state to "expired" and
    ends)."""
    wid = t.entity_id("wf")
    failed = plan(fail_attempts=5, recovered=effect("refunded", end=True))
    current = view(wid, Status.RUNNING, state("A"), "recover", 2)
    await expect_step(
        t,
        step_run(current, "recover", failed),
        step_done(protocol_effect(state("refunded"), end=True)),
        "the recover step",
    )
    expiring = view(wid, Status.RUNNING, state("A"), "expired", 3)
    await expect_step(
        t,
        step_run(expiring, "expired"),
        step_done(protocol_effect(state("expired"), end=True)),
        "the timeout step",
    )
