"""The ``cloudstate.workflow.Workflows`` servicer over real gRPC, called as a proxy calls it:
discovery and its extension check, ``describe``, every operation of a command's context and of a
step's, and the failures that name the workflow, the command or the step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2

from cloudstate import CloudState, CloudStateServer
from cloudstate.any_support import pack
from cloudstate.durable import DURABLE_CALLS
from cloudstate.protocol import entity_pb2, entity_pb2_grpc, workflow_pb2, workflow_pb2_grpc
from cloudstate.workflow import WORKFLOWS_EXTENSION
from tests.workflow_sdk.order_workflow import (
    Order,
    OrderId,
    OrderSignal,
    OrderState,
    Progress,
    Reservation,
    Reserved,
    order,
)

SERVICE = "wftest.OrderWorkflow"
BOTH = (DURABLE_CALLS, WORKFLOWS_EXTENSION)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[CloudStateServer]:
    running = await CloudState(port=0).register_workflow(order).serve_async(host="127.0.0.1")
    yield running
    await running.stop(0)


@pytest.fixture
async def channel(server: CloudStateServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        await discover(opened, BOTH)
        yield opened


async def discover(channel: grpc.aio.Channel, extensions: tuple[str, ...]) -> entity_pb2.EntitySpec:
    info = entity_pb2.ProxyInfo(
        proxy_name="test-proxy", proxy_version="1", protocol_major_version=0, extensions=extensions
    )
    return await entity_pb2_grpc.EntityDiscoveryStub(channel).discover(info, timeout=10)


def view(
    status: int = workflow_pb2.NOT_STARTED,
    state: Any = None,
    step: str = "",
    transitions: int = 0,
) -> workflow_pb2.WorkflowView:
    proto = workflow_pb2.WorkflowView(
        workflow_id="o1", status=status, step=step, transitions=transitions
    )
    if state is not None:
        proto.state.CopyFrom(pack(state))
    return proto


STATE = OrderState(order_id="o1", item="apple", quantity=2)
WAITING = view(workflow_pb2.WAITING, STATE, "reserve", 2)


async def command(
    channel: grpc.aio.Channel, name: str, message: Any, workflow: workflow_pb2.WorkflowView
) -> workflow_pb2.WorkflowCommandReply:
    request = workflow_pb2.WorkflowCommand(
        service_name=SERVICE,
        command=entity_pb2.Command(entity_id="o1", id=7, name=name, payload=pack(message)),
        workflow=workflow,
    )
    return await workflow_pb2_grpc.WorkflowsStub(channel).handleCommand(request, timeout=10)


async def signal(channel: grpc.aio.Channel, action: str) -> workflow_pb2.WorkflowCommandReply:
    return await command(channel, "Signal", OrderSignal(order_id="o1", action=action), WAITING)


async def step(
    channel: grpc.aio.Channel,
    name: str,
    input: Any = None,
    *,
    state: Any = STATE,
    reply: Any = None,
    attempt: int = 1,
) -> workflow_pb2.StepReply:
    run = workflow_pb2.StepRun(
        service_name=SERVICE,
        workflow=view(workflow_pb2.RUNNING, state, name, 1),
        step=name,
        attempt=attempt,
        step_key="wf:wftest.OrderWorkflow/o1/1",
    )
    if input is not None:
        run.input.CopyFrom(pack(input))
    if reply is not None:
        run.call_result.reply.CopyFrom(pack(reply))
    return await workflow_pb2_grpc.WorkflowsStub(channel).runStep(run, timeout=10)


def unpack(payload: any_pb2.Any, cls: type[Any]) -> Any:
    return cls.FromString(payload.value)


# -- discovery and describe ---------------------------------------------------------------------


async def test_discovery_announces_the_workflow_to_a_proxy_with_the_extension(
    server: CloudStateServer,
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        spec = await discover(channel, BOTH)
    [entity] = spec.entities
    assert (entity.entity_type, entity.service_name, entity.persistence_id) == (
        "cloudstate.workflow.Workflows",
        SERVICE,
        "orders",
    )


async def test_discovery_fails_naming_the_workflow_for_a_proxy_without_the_extension(
    server: CloudStateServer,
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await discover(channel, (DURABLE_CALLS,))
        await discover(channel, BOTH)  # the process-wide proxy record is one with both again
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"{SERVICE} needs cloudstate.workflows/1" in (raised.value.details() or "")
    assert "test-proxy 1" in (raised.value.details() or "")


async def test_describe_returns_the_definition(channel: grpc.aio.Channel) -> None:
    stub = workflow_pb2_grpc.WorkflowsStub(channel)
    definition = await stub.describe(workflow_pb2.DescribeWorkflow(service_name=SERVICE))
    assert definition.service_name == SERVICE
    assert [s.name for s in definition.steps] == ["reserve", "ship", "release"]
    assert definition.steps[0].timeout.seconds == 5 and not definition.steps[0].HasField("recovery")
    assert definition.steps[1].recovery.max_attempts == 3
    assert (definition.timeout.seconds, definition.timeout_step) == (3600, "release")
    assert definition.default_recovery == workflow_pb2.Recovery(
        max_attempts=2, recover_step="release"
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.describe(workflow_pb2.DescribeWorkflow(service_name="wftest.Nope"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "wftest.Nope" in (raised.value.details() or "")


# -- commands -----------------------------------------------------------------------------------


async def test_start_sets_the_state_and_goes_to_the_first_step(channel: grpc.aio.Channel) -> None:
    reply = await command(channel, "Start", Order(order_id="o1", item="apple", quantity=2), view())
    progress = unpack(reply.client_action.reply.payload, Progress)
    assert progress.status == "NOT_STARTED"
    assert unpack(reply.effect.state, OrderState) == STATE
    assert reply.effect.go_to.step == "reserve"
    assert unpack(reply.effect.go_to.input, Reservation) == Reservation(item="apple", quantity=2)


async def test_a_command_reads_the_view_and_the_typed_state(channel: grpc.aio.Channel) -> None:
    reply = await command(channel, "Get", OrderId(order_id="o1"), WAITING)
    progress = unpack(reply.client_action.reply.payload, Progress)
    assert (progress.status, progress.step, progress.transitions) == ("WAITING", "reserve", 2)
    assert not reply.HasField("effect")


@pytest.mark.parametrize(
    ("action", "transition"),
    [
        ("pay", workflow_pb2.Effect(go_to=workflow_pb2.Transition(step="ship"))),
        (
            "pause",
            workflow_pb2.Effect(
                pause=workflow_pb2.Pause(timeout={"seconds": 300}, timeout_step="release")
            ),
        ),
        ("pause-forever", workflow_pb2.Effect(pause=workflow_pb2.Pause())),
        ("end", workflow_pb2.Effect(end=workflow_pb2.End())),
        ("cancel", workflow_pb2.Effect(fail=workflow_pb2.Fail(reason="cancelled by the customer"))),
    ],
)
async def test_each_transition_of_a_command_is_its_effect(
    channel: grpc.aio.Channel, action: str, transition: workflow_pb2.Effect
) -> None:
    reply = await signal(channel, action)
    assert reply.client_action.WhichOneof("action") == "reply"
    assert reply.effect == transition


async def test_a_state_update_alone_has_no_transition(channel: grpc.aio.Channel) -> None:
    reply = await signal(channel, "note")
    assert reply.effect.WhichOneof("transition") is None
    assert unpack(reply.effect.state, OrderState).log == ["noted"]


async def test_a_failed_command_sends_only_its_failure(channel: grpc.aio.Channel) -> None:
    reply = await signal(channel, "refuse")
    assert reply.client_action.failure.description == "refused"
    assert reply.client_action.failure.grpc_status_code == 5
    assert not reply.HasField("effect") and not reply.side_effects


async def test_go_to_an_unknown_step_fails_the_command_naming_it(channel: grpc.aio.Channel) -> None:
    reply = await signal(channel, "nowhere")
    failure = reply.client_action.failure
    assert failure.grpc_status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "ctx.go_to('nowhere') in command 'Signal' of workflow wftest.OrderWorkflow" in (
        failure.description
    )
    assert "its steps: 'reserve', 'ship', 'release'" in failure.description
    assert not reply.HasField("effect")


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("twice", "already made a transition (ctx.end())"),
        ("crash", "RuntimeError: the signal handler crashed"),
    ],
)
async def test_an_exception_in_a_command_is_an_internal_failure_naming_it(
    channel: grpc.aio.Channel, action: str, expected: str
) -> None:
    reply = await signal(channel, action)
    failure = reply.client_action.failure
    assert failure.grpc_status_code == grpc.StatusCode.INTERNAL.value[0]
    assert f"workflow {SERVICE} (id 'o1') command 'Signal'" in failure.description
    assert expected in failure.description
    assert not reply.HasField("effect")


async def test_a_command_without_a_handler_is_unimplemented(channel: grpc.aio.Channel) -> None:
    reply = await command(channel, "Refund", OrderId(order_id="o1"), WAITING)
    assert reply.client_action.failure.grpc_status_code == grpc.StatusCode.UNIMPLEMENTED.value[0]
    assert "no handler for command 'Refund'" in reply.client_action.failure.description


async def test_side_effects_timers_and_forwards_of_a_command(channel: grpc.aio.Channel) -> None:
    reply = await signal(channel, "effects")
    durable, timer = reply.side_effects
    assert (durable.service_name, durable.command_name) == ("wftest.Stock", "Release")
    assert durable.HasField("durable") and not durable.durable.timer_name
    assert timer.durable.timer_name == "remind-o1" and timer.durable.delay.seconds == 60
    forwarded = await signal(channel, "forward")
    forward = forwarded.client_action.forward
    assert (forward.service_name, forward.command_name) == (SERVICE, "Get")


async def test_a_durable_effect_needs_the_durable_calls_extension(
    channel: grpc.aio.Channel,
) -> None:
    await discover(channel, (WORKFLOWS_EXTENSION,))
    try:
        reply = await signal(channel, "effects")
    finally:
        await discover(channel, BOTH)
    failure = reply.client_action.failure
    assert failure.grpc_status_code == grpc.StatusCode.UNIMPLEMENTED.value[0]
    assert "needs the protocol extension cloudstate.durable-calls/1" in failure.description
    assert "command 'Signal' of workflow wftest.OrderWorkflow" in failure.description


# -- steps --------------------------------------------------------------------------------------


async def test_a_step_asks_for_a_call_and_its_continuation_makes_the_transition(
    channel: grpc.aio.Channel,
) -> None:
    reservation = Reservation(item="apple", quantity=2)
    asked = await step(channel, "reserve", reservation)
    call = asked.call
    assert (call.service_name, call.command_name) == ("wftest.Stock", "Reserve")
    assert unpack(call.payload, Reservation) == reservation
    assert [(e.key, e.string_value) for e in call.metadata.entries] == [("x-order", "o1")]
    done = await step(
        channel, "reserve", reservation, reply=Reserved(item="apple", left=8), attempt=2
    )
    assert done.WhichOneof("outcome") == "effect"
    assert unpack(done.effect.state, OrderState).log == [
        "reserved apple (attempt 2, key wf:wftest.OrderWorkflow/o1/1)"
    ]
    assert done.effect.pause == workflow_pb2.Pause(
        timeout={"seconds": 1800}, timeout_step="release"
    )


async def test_a_step_that_ends_sends_its_side_effects_with_its_effect(
    channel: grpc.aio.Channel,
) -> None:
    done = await step(channel, "ship")
    assert done.effect.WhichOneof("transition") == "end"
    assert [e.command_name for e in done.side_effects] == ["Release"]


@pytest.mark.parametrize(
    ("name", "input", "state", "reply", "expected"),
    [
        ("reserve", Reservation(item="apple"), STATE, None, "cannot reserve 0 of apple"),
        (
            "reserve",
            Reservation(item="two-calls", quantity=1),
            STATE,
            None,
            "already asked for a call to wftest.Stock.Reserve; a step makes one call",
        ),
        (
            "reserve",
            Reservation(item="call-and-end", quantity=1),
            STATE,
            None,
            "asked for a call and also made a transition",
        ),
        (
            "reserve",
            Reservation(item="x", quantity=1),
            STATE,
            Reserved(item="call-again"),
            "a continuation may not ask for another call",
        ),
        (
            "ship",
            None,
            OrderState(item="idle"),
            None,
            "step 'ship' (attempt 1) of workflow wftest.OrderWorkflow (id 'o1') made no transition",
        ),
        ("ship", None, OrderState(item="note-only"), None, "(id 'o1') made no transition"),
        ("ship", None, OrderState(item="lost"), None, "has no step 'nowhere'"),
        (
            "ship",
            None,
            STATE,
            Reserved(item="x"),
            "step 'ship' of workflow wftest.OrderWorkflow asked for a call, but has no "
            "continuation",
        ),
        (
            "gone",
            None,
            STATE,
            None,
            "workflow wftest.OrderWorkflow has no step 'gone'; its steps: 'reserve', 'ship'",
        ),
        (
            "ship",
            None,
            Reserved(item="not the state"),
            None,
            "stored state is a 'type.googleapis.com/wftest.Reserved', but its state_type is "
            "wftest.OrderState",
        ),
    ],
    ids=[
        "exception",
        "two-calls",
        "call-and-transition",
        "call-in-continuation",
        "no-transition",
        "state-without-transition",
        "unknown-step-in-go-to",
        "no-continuation",
        "unknown-step",
        "state-of-another-type",
    ],
)
async def test_a_failed_attempt_is_a_step_failure_naming_what_went_wrong(
    channel: grpc.aio.Channel, name: str, input: Any, state: Any, reply: Any, expected: str
) -> None:
    answered = await step(channel, name, input, state=state, reply=reply)
    assert answered.WhichOneof("outcome") == "failure"
    assert expected in answered.failure.description
    assert not answered.side_effects
