"""Value-entity semantics of the SDK, driven over a real gRPC channel the way a proxy does.

The cases follow the conformance kit's value-entity model: init always carries ``state`` (with a
value only for a stored entity); a reply carries the client action, the side effects and — only
when the command changed the state — one ``state_action`` (several changes collapse to the last).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from cloudstate.any_support import pack
from cloudstate.cloudstate import CloudState, CloudStateServer
from cloudstate.discovery import EntityDiscoveryServicer
from cloudstate.protocol import entity_pb2, value_entity_pb2, value_entity_pb2_grpc
from cloudstate.value_entity import ValueEntity
from tests.sdk import valueentity_model as m

TIMEOUT = 10.0
MODEL = "sdktest.ve.Model"
PROBE = "sdktest.ve.Probe"
TWO = "sdktest.ve.Two"
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]


class Stream:
    """One ``ValueEntity.handle`` stream; command ids count from 1 as a proxy's do."""

    def __init__(self, channel: grpc.aio.Channel, service: str, entity_id: str) -> None:
        self.service = service
        self.entity_id = entity_id
        self.call = value_entity_pb2_grpc.ValueEntityStub(channel).handle()
        self.next_id = 1

    async def write(self, message: value_entity_pb2.ValueEntityStreamIn) -> None:
        await asyncio.wait_for(self.call.write(message), TIMEOUT)

    async def read(self) -> Any:
        return await asyncio.wait_for(self.call.read(), TIMEOUT)

    async def init(self, value: Any = None) -> Stream:
        init = value_entity_pb2.ValueEntityInit(service_name=self.service, entity_id=self.entity_id)
        init.state.SetInParent()
        if value is not None:
            init.state.value.CopyFrom(pack(value))
        await self.write(value_entity_pb2.ValueEntityStreamIn(init=init))
        return self

    async def send(
        self, name: str, message: Message, metadata: Sequence[tuple[str, str]] = ()
    ) -> int:
        command_id = self.next_id
        self.next_id += 1
        command = entity_pb2.Command(
            entity_id=self.entity_id, id=command_id, name=name, payload=pack(message)
        )
        for key, value in metadata:
            command.metadata.entries.add(key=key, string_value=value)
        await self.write(value_entity_pb2.ValueEntityStreamIn(command=command))
        return command_id

    async def command(
        self, name: str, message: Message, metadata: Sequence[tuple[str, str]] = ()
    ) -> value_entity_pb2.ValueEntityReply:
        command_id = await self.send(name, message, metadata)
        out = await self.read()
        assert out is not grpc.aio.EOF, "stream ended instead of replying"
        assert out.WhichOneof("message") == "reply", out
        assert out.reply.command_id == command_id
        return out.reply

    async def expect_failure(self) -> entity_pb2.Failure:
        out = await self.read()
        assert out is not grpc.aio.EOF, "stream ended without a failure"
        assert out.WhichOneof("message") == "failure", out
        assert await self.read() is grpc.aio.EOF
        return out.failure

    async def close(self) -> None:
        await asyncio.wait_for(self.call.done_writing(), TIMEOUT)
        assert await self.read() is grpc.aio.EOF
        assert await asyncio.wait_for(self.call.code(), TIMEOUT) == grpc.StatusCode.OK


def reply(
    command_id: int,
    payload: Message | None = None,
    *,
    update: Message | None = None,
    delete: bool = False,
    forward: tuple[str, str, Message] | None = None,
    side_effects: Sequence[tuple[str, str, Message, bool]] = (),
) -> value_entity_pb2.ValueEntityReply:
    """The exact reply expected from the SDK."""
    expected = value_entity_pb2.ValueEntityReply(command_id=command_id)
    if forward is not None:
        service, method, message = forward
        expected.client_action.forward.CopyFrom(
            entity_pb2.Forward(service_name=service, command_name=method, payload=pack(message))
        )
    elif payload is not None:
        expected.client_action.reply.payload.CopyFrom(pack(payload))
    for service, method, message, synchronous in side_effects:
        expected.side_effects.add(
            service_name=service,
            command_name=method,
            payload=pack(message),
            synchronous=synchronous,
        )
    if update is not None:
        expected.state_action.update.value.CopyFrom(pack(update))
    if delete:
        expected.state_action.delete.SetInParent()
    return expected


def failure_reply(command_id: int, description: str, code: int = 0) -> Any:
    expected = value_entity_pb2.ValueEntityReply(command_id=command_id)
    expected.client_action.failure.CopyFrom(
        entity_pb2.Failure(command_id=command_id, description=description, grpc_status_code=code)
    )
    return expected


def P(value: str) -> Any:
    return m.Persisted(value=value)


def R(message: str = "") -> Any:
    return m.Response(message=message)


def update(value: str) -> Any:
    return m.RequestAction(update={"value": value})


def delete() -> Any:
    return m.RequestAction(delete={})


def forward(entity_id: str) -> Any:
    return m.RequestAction(forward={"id": entity_id})


def effect(entity_id: str, synchronous: bool = False) -> Any:
    return m.RequestAction(effect={"id": entity_id, "synchronous": synchronous})


def fail(message: str, code: int = 0) -> Any:
    return m.RequestAction(fail={"message": message, "code": code})


async def run(stream: Stream, *actions: Any) -> Any:
    return await stream.command("Process", m.Request(id=stream.entity_id, actions=actions))


@pytest.fixture(scope="module")
async def ve_server() -> AsyncIterator[CloudStateServer]:
    cloudstate = CloudState(service_name="ve-tests")
    for entity in (m.model, m.two, m.configured, m.probe):
        cloudstate.register_value_entity(entity)
    server = await cloudstate.serve_async(host="127.0.0.1", port=0)
    yield server
    await server.stop(0)


@pytest.fixture(scope="module")
async def ve_channel(ve_server: CloudStateServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(ve_server.address) as channel:
        yield channel


@pytest.fixture
def stream(ve_channel: grpc.aio.Channel) -> Callable[..., Stream]:
    return lambda entity_id, service=MODEL: Stream(ve_channel, service, entity_id)


Streams = Callable[..., Stream]


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_reports_value_entities() -> None:
    spec = EntityDiscoveryServicer([m.model, m.two, m.configured]).entity_spec()
    assert [(e.entity_type, e.service_name, e.persistence_id) for e in spec.entities] == [
        ("cloudstate.valueentity.ValueEntity", MODEL, "ve-model"),
        ("cloudstate.valueentity.ValueEntity", TWO, "Two"),
        ("cloudstate.valueentity.ValueEntity", "sdktest.ve.Configured", "ve-configured"),
    ]
    assert not spec.entities[0].HasField("passivation_strategy")
    assert spec.entities[2].passivation_strategy.timeout.timeout == 100
    assert m.model.entity_type() == "cloudstate.valueentity.ValueEntity"


# -- the conformance kit's model cases ---------------------------------------------------------


async def test_initial_empty_state(stream: Streams) -> None:
    s = await stream("empty").init()
    assert await run(s) == reply(1, R())
    await s.close()


async def test_update_state(stream: Streams) -> None:
    s = await stream("update").init()
    assert await run(s, update("A")) == reply(1, R("A"), update=P("A"))
    assert await run(s) == reply(2, R("A"))
    await s.close()


async def test_delete_state(stream: Streams) -> None:
    s = await stream("delete").init()
    assert await run(s, update("A")) == reply(1, R("A"), update=P("A"))
    assert await run(s, delete()) == reply(2, R(), delete=True)
    assert await run(s) == reply(3, R())
    await s.close()


async def test_several_updates_collapse_to_the_last(stream: Streams) -> None:
    s = await stream("collapse").init()
    assert await run(s, update("A"), update("B"), update("C")) == reply(1, R("C"), update=P("C"))
    assert await run(s) == reply(2, R("C"))
    assert await run(s, update("D"), update("E"), delete()) == reply(3, R(), delete=True)
    assert await run(s) == reply(4, R())
    assert await run(s, update("F"), delete(), update("G")) == reply(5, R("G"), update=P("G"))
    assert await run(s) == reply(6, R("G"))
    await s.close()


async def test_rehydration_from_the_init_state(stream: Streams) -> None:
    s = await stream("rehydrate").init(P("D"))
    assert await run(s) == reply(1, R("D"))
    assert await run(s, update("E")) == reply(2, R("E"), update=P("E"))
    assert await run(s) == reply(3, R("E"))
    await s.close()


async def test_side_effects_in_order_with_state(stream: Streams) -> None:
    s = await stream("effects").init()
    assert await run(
        s, update("A"), effect("1"), effect("2", synchronous=True), update("B")
    ) == reply(
        1,
        R("B"),
        update=P("B"),
        side_effects=[
            (TWO, "Call", m.Request(id="1"), False),
            (TWO, "Call", m.Request(id="2"), True),
        ],
    )
    await s.close()


async def test_forward_with_updated_state_and_side_effect(stream: Streams) -> None:
    s = await stream("forward").init()
    assert await run(s, effect("x"), update("A"), forward("other")) == reply(
        1,
        update=P("A"),
        forward=(TWO, "Call", m.Request(id="other")),
        side_effects=[(TWO, "Call", m.Request(id="x"), False)],
    )
    assert await run(s) == reply(2, R("A"))
    await s.close()


async def test_failure_changes_nothing(stream: Streams) -> None:
    s = await stream("failure").init()
    assert await run(s, update("A")) == reply(1, R("A"), update=P("A"))
    assert await run(s, update("B"), effect("1"), fail("expected failure")) == failure_reply(
        2, "expected failure"
    )
    assert await run(s, delete(), fail("no delete", 5)) == failure_reply(3, "no delete", 5)
    assert await run(s) == reply(4, R("A"))
    await s.close()


# -- SDK behaviour -----------------------------------------------------------------------------


async def test_in_place_changes_without_update_are_not_kept(stream: Streams) -> None:
    s = await stream("mutate", PROBE).init(P("s"))
    assert await s.command("Mutate", m.Request(id="mutate")) == reply(1, R("sx"))
    assert await s.command("Mutate", m.Request(id="mutate")) == reply(2, R("sx"))
    await s.close()


async def test_async_handler(stream: Streams) -> None:
    s = await stream("async", PROBE).init()
    assert await s.command("AsyncUpdate", m.Request()) == reply(1, R("a"), update=P("a"))
    assert await s.command("AsyncUpdate", m.Request()) == reply(2, R("aa"), update=P("aa"))
    await s.close()


async def test_json_state(stream: Streams) -> None:
    s = await stream("json", PROBE).init()
    first = await s.command("JsonState", m.Request())
    assert first.state_action.update.value.type_url == "json.cloudstate.io/dict"
    assert first == reply(1, R("1"), update={"count": 1})  # type: ignore[arg-type]
    assert (await s.command("JsonState", m.Request())).client_action.reply.payload == pack(R("2"))
    await s.close()
    s = await stream("json", PROBE).init({"count": 41})
    assert (await s.command("JsonState", m.Request())).client_action.reply.payload == pack(R("42"))
    await s.close()


async def test_context_values(stream: Streams) -> None:
    s = await stream("ctx", PROBE).init()
    await s.command("Mutate", m.Request())
    answer = await s.command("Context", m.Request(), metadata=[("x-test", "yes")])
    assert answer == reply(2, R("ctx|Context|2|yes"))
    await s.close()


async def test_unhandled_command_fails_and_stream_continues(stream: Streams) -> None:
    s = await stream("unhandled", PROBE).init()
    assert await s.command("Unhandled", m.Request()) == failure_reply(
        1, "sdktest.ve.Probe has no handler for command 'Unhandled'", UNIMPLEMENTED
    )
    assert await s.command("AsyncUpdate", m.Request()) == reply(2, R("a"), update=P("a"))
    await s.close()


@pytest.mark.parametrize(
    ("method", "text"),
    [
        ("Raise", "RuntimeError: probe exploded"),
        ("UpdateNone", "use ctx.delete_state()"),
        ("WrongReply", "returned sdktest.ve.Persisted"),
    ],
)
async def test_handler_errors_end_the_stream_with_a_failure(
    stream: Streams, method: str, text: str
) -> None:
    s = await stream(f"error-{method}", PROBE).init()
    command_id = await s.send(method, m.Request())
    failure = await s.expect_failure()
    assert failure.command_id == command_id
    assert text in failure.description
    assert "sdktest.ve.Probe" in failure.description


async def test_protocol_violations(stream: Streams) -> None:
    s = stream("no-init")
    await s.send("Process", m.Request())
    failure = await s.expect_failure()
    assert "expected init as the first message" in failure.description

    s = await stream("twice").init()
    await s.init()
    assert "second init" in (await s.expect_failure()).description

    s = await stream("unknown", "sdktest.ve.Nope").init()
    assert "unknown service 'sdktest.ve.Nope'" in (await s.expect_failure()).description


# -- registration --------------------------------------------------------------------------------


def test_registration_errors() -> None:
    with pytest.raises(TypeError, match="ValueEntity"):
        CloudState().register_value_entity(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no method 'Nope'"):
        m.model.command_handler("Nope")
    entity = ValueEntity(m.MODEL, [m.FILE], m.model_init)
    entity.command_handler("Process")(lambda: None)
    with pytest.raises(ValueError, match="registered twice"):
        entity.command_handler("Process")
    with pytest.raises(ValueError, match="passivation_timeout"):
        ValueEntity(m.MODEL, [m.FILE], m.model_init, passivation_timeout=0)
    with pytest.raises(TypeError, match="ServiceDescriptor"):
        ValueEntity(m.FILE, [m.FILE], m.model_init)  # type: ignore[arg-type]
    assert entity.persistence_id == "Model"
    assert entity.state_type is m.Persisted


async def test_value_and_event_sourced_entities_side_by_side() -> None:
    from tests.sdk import model as es_model
    from tests.sdk.protocol import EntityStream

    server = await (
        CloudState()
        .register_value_entity(m.model)
        .register_event_sourced_entity(es_model.model)
        .serve_async(host="127.0.0.1", port=0)
    )
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            ve = await Stream(channel, MODEL, "both").init()
            assert await run(ve, update("v")) == reply(1, R("v"), update=P("v"))
            await ve.close()
            es = await EntityStream(channel, "sdktest.Model", "both").init()
            answer = await es.command("Process", es_model.Request(id="both"))
            assert answer.client_action.reply.payload == pack(es_model.Response())
            await es.close()
    finally:
        await server.stop(0)
