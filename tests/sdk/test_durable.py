"""Durable effects and timers in the SDK (docs/protocol-durable-calls.md): what the contexts put
on the wire, the arguments they refuse, and refusing any of it — failing the command, sending no
``SideEffect.durable`` — unless the proxy listed ``cloudstate.durable-calls/1`` in discovery.

The wire tests serve the TCK's durable model (``cloudstate/tck/model/durable.py``) over real gRPC
and drive it as a proxy would; the argument tests run handlers through the action test kit.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, duration_pb2, timestamp_pb2

from cloudstate import (
    ActionContext,
    CloudState,
    CloudStateServer,
    EventSourcedCommandContext,
    EventSourcedEntity,
    schedule_pb2,
)
from cloudstate import durable as durable_module
from cloudstate.action import Action
from cloudstate.protoc import run
from cloudstate.protocol import (
    action_pb2,
    action_pb2_grpc,
    durable_pb2,
    entity_pb2,
    entity_pb2_grpc,
    event_sourced_pb2,
    event_sourced_pb2_grpc,
)
from cloudstate.tck.durable_messages import (
    ACTION,
    DURABLE_CALLS,
    MODEL,
    cancel_timer,
    durable,
    durable_to_two,
    effect,
    emit,
    request,
    start_timer,
)
from cloudstate.tck.messages import any_message
from cloudstate.tck.model import durable as durable_model
from cloudstate.tck.model import durable_pb2 as dm
from cloudstate.testkit import ActionTestKit, EventSourcedTestKit

OLD_PROXY = entity_pb2.ProxyInfo(
    protocol_major_version=0,
    protocol_minor_version=2,
    proxy_name="old-proxy",
    proxy_version="0.2.9",
    extensions=["example.com/other/1"],
)
NEW_PROXY = entity_pb2.ProxyInfo(
    protocol_major_version=0,
    protocol_minor_version=2,
    proxy_name="new-proxy",
    proxy_version="1.0",
    extensions=[DURABLE_CALLS],
)


@pytest.fixture(scope="module")
async def durable_server() -> AsyncIterator[CloudStateServer]:
    server = CloudState(service_name="durable-test")
    for entity in durable_model.entities():
        server.register_entity(entity)
    running = await server.serve_async(host="127.0.0.1", port=0)
    yield running
    await running.stop(0)


@pytest.fixture
async def channel(durable_server: CloudStateServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(durable_server.address) as channel:
        yield channel


async def discover(channel: grpc.aio.Channel, info: entity_pb2.ProxyInfo) -> None:
    await entity_pb2_grpc.EntityDiscoveryStub(channel).discover(info, timeout=10)


async def one_command(
    channel: grpc.aio.Channel, entity_id: str, *steps: dm.Step
) -> event_sourced_pb2.EventSourcedReply:
    """Open the model entity's stream, send one Process command, return the reply."""
    call = event_sourced_pb2_grpc.EventSourcedStub(channel).handle()
    await call.write(
        event_sourced_pb2.EventSourcedStreamIn(
            init=event_sourced_pb2.EventSourcedInit(service_name=MODEL, entity_id=entity_id)
        )
    )
    command = entity_pb2.Command(
        entity_id=entity_id, id=1, name="Process", payload=any_message(request(entity_id, *steps))
    )
    await call.write(event_sourced_pb2.EventSourcedStreamIn(command=command))
    out = await call.read()
    call.cancel()
    assert out.HasField("reply"), out
    return out.reply  # type: ignore[no-any-return]


async def test_with_the_extension_the_entity_sends_durable_effects_and_timers(
    channel: grpc.aio.Channel,
) -> None:
    await discover(channel, NEW_PROXY)
    reply = await one_command(
        channel,
        "e1",
        durable("a"),
        start_timer("expire-e1", "b", delay_millis=2500, max_attempts=3),
        cancel_timer("other"),
    )
    assert not reply.client_action.HasField("failure"), reply
    assert list(reply.side_effects) == [
        durable_to_two("a", durable_pb2.DurableCall()),
        durable_to_two(
            "b",
            durable_pb2.DurableCall(
                timer_name="expire-e1",
                delay=duration_pb2.Duration(seconds=2, nanos=500_000_000),
                max_attempts=3,
            ),
        ),
        entity_pb2.SideEffect(durable=durable_pb2.DurableCall(timer_name="other", cancel=True)),
    ]
    assert reply.side_effects[0].HasField("durable")  # present though empty


async def test_without_the_extension_the_command_fails_naming_the_proxy_and_the_extension(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    durable_module._logged.clear()
    await discover(channel, OLD_PROXY)
    with caplog.at_level(logging.ERROR, logger="cloudstate.durable"):
        for entity_id, steps in (
            ("e2", (emit("x"), effect("plain"), durable("a"))),
            ("e3", (start_timer("expire-e3", "b", delay_millis=10),)),
            ("e4", (cancel_timer("expire-e4"),)),
        ):
            reply = await one_command(channel, entity_id, *steps)
            assert reply.client_action.HasField("failure"), reply
            assert not reply.side_effects and not reply.events
            failure = reply.client_action.failure
            assert failure.grpc_status_code == grpc.StatusCode.UNIMPLEMENTED.value[0]
            assert DURABLE_CALLS in failure.description
            assert "old-proxy 0.2.9" in failure.description
            assert "example.com/other/1" in failure.description
            assert f"entity {entity_id!r}" in failure.description
    logged = [r for r in caplog.records if r.name == "cloudstate.durable"]
    assert len(logged) == 1, "logged once per proxy"
    reply = await one_command(channel, "e5", emit("y"), effect("plain"))
    assert not reply.client_action.HasField("failure")
    assert len(reply.side_effects) == 1 and not reply.side_effects[0].HasField("durable")


async def test_an_action_without_the_extension_fails_and_sends_nothing_durable(
    channel: grpc.aio.Channel,
) -> None:
    await discover(channel, OLD_PROXY)
    command = action_pb2.ActionCommand(
        service_name=ACTION,
        name="Process",
        payload=any_message(request("a1", effect("plain"), durable("x"))),
    )
    response = await action_pb2_grpc.ActionProtocolStub(channel).handleUnary(command, timeout=10)
    assert response.HasField("failure")
    assert DURABLE_CALLS in response.failure.description
    assert not any(e.HasField("durable") for e in response.side_effects)
    await discover(channel, NEW_PROXY)
    response = await action_pb2_grpc.ActionProtocolStub(channel).handleUnary(command, timeout=10)
    assert response.HasField("reply")
    assert [e.HasField("durable") for e in response.side_effects] == [False, True]


def test_before_any_discover_durable_requests_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(durable_module, "_discovered", None)
    with pytest.raises(durable_module.DurableCallsUnsupported) as refused:
        durable_module.require_durable_calls("ctx.timers.start()", "command 'Start'")
    assert "no proxy has called discover" in refused.value.description
    with durable_module.assume_proxy():
        durable_module.require_durable_calls("ctx.timers.start()", "command 'Start'")


# -- arguments, through the action test kit (a proxy with the extension) --------------------------

TWO_CALL = durable_model.TWO_CALL


def run_handler(body: Callable[[ActionContext], Any]) -> Any:
    """Run ``body(ctx)`` as the handler of a fresh action on the model's action service."""
    action = Action(durable_model.ACTION, [durable_model.FILE])

    @action.unary("Process")
    def process(request: dm.Request, ctx: ActionContext) -> dm.Response:
        body(ctx)
        return dm.Response()

    return ActionTestKit(action).process(id="x")


def target() -> dm.Target:
    return dm.Target(id="t")


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (
            lambda ctx: ctx.effect(TWO_CALL, target(), synchronous=True, durable=True),
            TypeError,
            ["synchronous=True", "durable=True"],
        ),
        (lambda ctx: ctx.effect(TWO_CALL, target(), max_attempts=3), TypeError, ["durable=True"]),
        (
            lambda ctx: ctx.effect(TWO_CALL, target(), durable=True, max_attempts=-1),
            ValueError,
            ["max_attempts", "-1"],
        ),
        (lambda ctx: ctx.timers.start("", TWO_CALL, target(), delay=1), ValueError, ["empty"]),
        (
            lambda ctx: ctx.timers.start("x" * 201, TWO_CALL, target(), delay=1),
            ValueError,
            ["201 characters", "200"],
        ),
        (
            lambda ctx: ctx.timers.start("café", TWO_CALL, target(), delay=1),
            ValueError,
            ["printable ASCII"],
        ),
        (lambda ctx: ctx.timers.start("t", TWO_CALL, target()), TypeError, ["delay=", "at="]),
        (
            lambda ctx: ctx.timers.start("t", TWO_CALL, target(), delay=1, at=datetime.now(UTC)),
            TypeError,
            ["not both"],
        ),
        (
            lambda ctx: ctx.timers.start("t", TWO_CALL, target(), at=datetime(2030, 1, 1)),
            ValueError,
            ["no time zone"],
        ),
        (
            lambda ctx: ctx.timers.start("t", TWO_CALL, target(), delay=-0.5),
            ValueError,
            ["negative"],
        ),
        (
            lambda ctx: ctx.timers.start("t", TWO_CALL, target(), delay=float("nan")),
            ValueError,
            ["finite"],
        ),
        (
            lambda ctx: ctx.timers.start("t", TWO_CALL, dm.Request(), delay=1),
            TypeError,
            ["cloudstate.tck.model.durable.Target"],
        ),
        (lambda ctx: ctx.timers.cancel(""), ValueError, ["empty"]),
    ],
    ids=[
        "synchronous-and-durable",
        "max-attempts-without-durable",
        "negative-max-attempts",
        "empty-timer-name",
        "long-timer-name",
        "non-ascii-timer-name",
        "neither-delay-nor-at",
        "both-delay-and-at",
        "naive-at",
        "negative-delay",
        "nan-delay",
        "wrong-message-type",
        "cancel-empty-name",
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(
    body: Callable[[ActionContext], Any], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as raised:
        run_handler(body)
    for word in words:
        assert word in str(raised.value)


def test_delays_and_times_reach_the_wire_exactly() -> None:
    paris = timezone(timedelta(hours=2))

    def body(ctx: ActionContext) -> None:
        ctx.timers.start("a", TWO_CALL, target(), delay=timedelta(days=1, microseconds=7))
        ctx.timers.start("b", TWO_CALL, target(), delay=0.25)
        ctx.timers.start("c", TWO_CALL, target(), delay=3)
        ctx.timers.start(
            "d", TWO_CALL, target(), at=datetime(2030, 6, 1, 12, 0, 0, 500, tzinfo=paris)
        )
        ctx.timers.start("x" * 200, TWO_CALL, target(), delay=1)  # the longest name

    result = run_handler(body)
    wire = {t.name: t.proto.durable for t in result.timers}
    assert wire["a"].delay == duration_pb2.Duration(seconds=86400, nanos=7000)
    assert wire["b"].delay == duration_pb2.Duration(nanos=250_000_000)
    assert wire["c"].delay == duration_pb2.Duration(seconds=3)
    assert not wire["d"].HasField("delay")
    assert wire["d"].at == timestamp_pb2.Timestamp(
        seconds=int(datetime(2030, 6, 1, 10, 0, tzinfo=UTC).timestamp()), nanos=500_000
    )
    assert result.timers[3].at == datetime(2030, 6, 1, 10, 0, 0, 500, tzinfo=UTC)
    assert len(result.timers) == 5


# -- schedules: the option reaches the proxy in discovery -----------------------------------------


def compile_scheduled(tmp_path: Path) -> Any:
    """``tests/sdk/proto/sdktest/scheduled.proto`` compiled into ``tmp_path`` and imported."""
    proto_root = Path(__file__).resolve().parent / "proto"
    assert run([f"-I{proto_root}", f"--python_out={tmp_path}", "sdktest/scheduled.proto"]) == 0
    path = tmp_path / "sdktest" / "scheduled_pb2.py"
    spec = importlib.util.spec_from_file_location("sdktest_scheduled_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schedule_options_reach_the_proxy_in_discovery(tmp_path: Path) -> None:
    scheduled = compile_scheduled(tmp_path)
    service = scheduled.DESCRIPTOR.services_by_name["Housekeeping"]
    housekeeping = Action(service, [scheduled.DESCRIPTOR])
    housekeeping.unary("ExpireStale")(lambda request: None)
    housekeeping.unary("NightlyReport")(lambda request: None)
    spec = CloudState().register_action(housekeeping).discovery_servicer().entity_spec()
    files = descriptor_pb2.FileDescriptorSet.FromString(spec.proto).file
    (proto,) = [f for f in files if f.name == "sdktest/scheduled.proto"]
    assert "cloudstate/schedule.proto" in {f.name for f in files}
    options = {m.name: m.options.Extensions[schedule_pb2.schedule] for m in proto.service[0].method}
    assert options == {
        "ExpireStale": schedule_pb2.Schedule(every="30s"),
        "NightlyReport": schedule_pb2.Schedule(cron="0 3 * * *", time_zone="Europe/Paris"),
    }


def test_an_entitys_effects_and_timers_carry_their_metadata() -> None:
    entity = EventSourcedEntity(
        durable_model.MODEL, [durable_model.FILE], lambda entity_id: "", persistence_id="m"
    )

    @entity.command_handler("Process")
    def process(request: dm.Request, ctx: EventSourcedCommandContext) -> dm.Response:
        ctx.effect(TWO_CALL, target(), durable=True, metadata={"tenant": "acme"})
        ctx.timers.start("m", TWO_CALL, target(), delay=1, metadata=[("tenant", b"\x01")])
        return dm.Response()

    result = EventSourcedTestKit(entity, "m1").process(id="m1")
    entries = result.effects[0].proto.metadata.entries
    assert [(e.key, e.string_value) for e in entries] == [("tenant", "acme")]
    entries = result.timers[0].proto.metadata.entries
    assert [(e.key, e.bytes_value) for e in entries] == [("tenant", b"\x01")]
