"""The conformance kit's other CRDT model cases: discovery, forwards and side effects, failures,
streamed commands and write consistency, driven straight over the protocol against the SDK."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from cloudstate.any_support import pack
from cloudstate.protocol import crdt_pb2, entity_pb2, entity_pb2_grpc
from tests.crdt_sdk.model import Request, StreamedRequest, pb
from tests.crdt_sdk.protocol import (
    CrdtStream,
    cancelled,
    fail,
    gcounter,
    gset,
    lww,
    ormap,
    pncounter,
    reply,
    side_effect,
    strm,
)
from tests.crdt_sdk.steps import (
    TWO,
    R,
    change,
    check,
    effect,
    failure,
    fl,
    forward,
    gadd,
    gc,
    gs,
    inc,
    madd,
    mupdate,
    om,
    ors,
    pn,
    send,
)

Streams = Callable[..., CrdtStream]
CRDT = "cloudstate.crdt.Crdt"


def two(entity_id: str, synchronous: bool = False) -> entity_pb2.SideEffect:
    return side_effect(TWO, "Call", Request(id=entity_id), synchronous)


def to_two(entity_id: str) -> entity_pb2.Forward:
    return entity_pb2.Forward(
        service_name=TWO, command_name="Call", payload=pack(Request(id=entity_id))
    )


# -- discovery -----------------------------------------------------------------------------------


async def discover(channel: grpc.aio.Channel) -> dict[str, entity_pb2.Entity]:
    stub = entity_pb2_grpc.EntityDiscoveryStub(channel)
    spec = await stub.discover(entity_pb2.ProxyInfo(protocol_major_version=0))
    return {entity.service_name: entity for entity in spec.entities}


async def test_crdt_entity_discovery(crdt_channel: grpc.aio.Channel) -> None:
    entities = await discover(crdt_channel)
    assert entities["crdtsdk.CrdtModel"] == entity_pb2.Entity(
        entity_type=CRDT, service_name="crdtsdk.CrdtModel", persistence_id="crdt-sdk-model"
    )
    assert entities["crdtsdk.CrdtTwo"].entity_type == CRDT
    assert entities["crdtsdk.CrdtTwo"].persistence_id == "CrdtTwo"  # the short name


async def test_crdt_configured_entity(crdt_channel: grpc.aio.Channel) -> None:
    configured = (await discover(crdt_channel))["crdtsdk.CrdtConfigured"]
    assert configured.entity_type == CRDT
    assert configured.passivation_strategy.timeout.timeout == 100


# -- forwards and side effects -------------------------------------------------------------------


async def test_forward_to_second_service(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-11").init()
    await check(stream, [inc(42)], gc(42), update=gcounter(42))
    command_id = await send(stream, forward("X-11"))
    await stream.expect(reply(command_id, forward=to_two("X-11")))
    await check(stream, [], gc(42))
    await stream.close()


async def test_forward_with_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-11").init()
    command_id = await send(stream, change(-42), forward("X-11"))
    await stream.expect(reply(command_id, forward=to_two("X-11"), update=pncounter(-42)))
    await stream.close()


async def test_reply_with_side_effect_to_second_service(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-11").init()
    await check(stream, [gadd("one")], gs("one"), update=gset("one"))
    await check(stream, [effect("X-11")], gs("one"), effects=[two("X-11")])
    await check(stream, [], gs("one"))
    await stream.close()


async def test_synchronous_side_effect_to_second_service(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORSet-11").init()
    await check(stream, [effect("X-11", True)], ors(), effects=[two("X-11", True)])
    await stream.close()


async def test_forward_and_side_effect_to_second_service(crdt_stream: Streams) -> None:
    stream = await crdt_stream("LWWRegister-11").init()
    command_id = await send(stream, effect("B-11"), forward("A-11"))
    await stream.expect(
        reply(command_id, forward=to_two("A-11"), update=lww(""), effects=[two("B-11")])
    )
    await stream.close()


async def test_reply_with_multiple_side_effects(crdt_stream: Streams) -> None:
    stream = await crdt_stream("Flag-11").init()
    await check(
        stream,
        [effect("1"), effect("2"), effect("3")],
        fl(False),
        effects=[two("1"), two("2"), two("3")],
    )
    await stream.close()


async def test_reply_with_multiple_side_effects_and_state_changes(crdt_stream: Streams) -> None:
    stream = await crdt_stream("ORMap-11").init()
    await check(
        stream,
        [
            madd("PNCounter-1"),
            *[mupdate("GSet-1", gadd(e)) for e in "abc"],
            effect("1"),
            effect("2"),
            effect("3"),
        ],
        om({"GSet-1": gs(*"abc"), "PNCounter-1": pn(0)}),
        update=ormap(added={"GSet-1": gset("a", "b", "c"), "PNCounter-1": pncounter(0)}),
        effects=[two("1"), two("2"), two("3")],
    )
    await stream.close()


# -- failures ------------------------------------------------------------------------------------


async def test_failure_action(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-12").init()
    command_id = await send(stream, failure("expected failure"))
    await stream.expect(fail(command_id, "expected failure"))
    await stream.close()


async def test_connection_after_failure_action(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-12").init()
    await check(stream, [change(42)], pn(42), update=pncounter(42))
    command_id = await send(stream, failure("expected failure"))
    await stream.expect(fail(command_id, "expected failure"))
    await check(stream, [], pn(42))
    await stream.close()


async def test_failure_undoes_the_commands_changes_and_drops_its_effects(
    crdt_stream: Streams,
) -> None:
    """Beyond the kit: a failed command leaves no trace, even in an ORMap's nested values."""
    stream = await crdt_stream("ORMap-12").init()
    await check(
        stream,
        [mupdate("PNCounter-1", change(1))],
        om({"PNCounter-1": pn(1)}),
        update=ormap(added={"PNCounter-1": pncounter(1)}),
    )
    command_id = await send(
        stream,
        mupdate("PNCounter-1", change(5)),
        madd("GSet-1"),
        effect("X"),
        failure("no"),
    )
    await stream.expect(fail(command_id, "no"))
    await check(
        stream,
        [mupdate("PNCounter-1", change(2))],
        om({"PNCounter-1": pn(3)}),
        update=ormap(updated={"PNCounter-1": pncounter(2)}),
    )
    await stream.close()


# -- streamed commands ---------------------------------------------------------------------------


async def streamed(stream: CrdtStream, request: StreamedRequest) -> int:
    return await stream.send("ProcessStreamed", request, streamed=True)


async def test_streamed_responses(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-13").init()
    listener = await streamed(stream, StreamedRequest(id="GCounter-13"))
    await stream.expect(reply(listener, R(gc(0)), streamed=True))
    total = 0
    for n in (1, 2, 3):
        total += n
        command_id = await send(stream, inc(n))
        await stream.expect(
            reply(command_id, R(gc(total)), update=gcounter(n)), strm(listener, R(gc(total)))
        )
    await stream.close()


async def test_streamed_responses_with_stream_ending_action(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-14").init()
    listener = await streamed(stream, StreamedRequest(id="GCounter-14", end_state=gc(3)))
    await stream.expect(reply(listener, R(gc(0)), streamed=True))
    command_id = await send(stream, inc(1))
    await stream.expect(reply(command_id, R(gc(1)), update=gcounter(1)), strm(listener, R(gc(1))))
    command_id = await send(stream, inc(2))
    await stream.expect(
        reply(command_id, R(gc(3)), update=gcounter(2)), strm(listener, R(gc(3)), end=True)
    )
    await check(stream, [inc(3)], gc(6), update=gcounter(3))  # no streamed message follows
    await check(stream, [], gc(6))
    await stream.close()


async def test_streamed_responses_with_cancellation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-13").init()
    request = StreamedRequest(id="PNCounter-13", cancel_update=change(-42))
    listener = await streamed(stream, request)
    await stream.expect(reply(listener, R(pn(0)), streamed=True))
    command_id = await send(stream, change(10))
    await stream.expect(
        reply(command_id, R(pn(10)), update=pncounter(10)), strm(listener, R(pn(10)))
    )
    command_id = await send(stream, change(20))
    await stream.expect(
        reply(command_id, R(pn(30)), update=pncounter(20)), strm(listener, R(pn(30)))
    )
    await stream.cancel(listener)
    await stream.expect(cancelled(listener, pncounter(-42)))
    await check(stream, [], pn(-12))
    await check(stream, [change(30)], pn(18), update=pncounter(30))
    await stream.close()


async def test_empty_streamed_responses_with_cancellation(crdt_stream: Streams) -> None:
    stream = await crdt_stream("PNCounter-14").init()
    await check(stream, [change(10)], pn(10), update=pncounter(10))
    request = StreamedRequest(id="PNCounter-14", cancel_update=change(-42), empty=True)
    listener = await streamed(stream, request)
    await stream.expect(reply(listener, streamed=True))  # no client action at all
    await stream.cancel(listener)
    await stream.expect(cancelled(listener, pncounter(-42)))
    await check(stream, [], pn(-32))
    await stream.close()


async def test_streamed_responses_with_side_effects(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GSet-13").init()
    request = StreamedRequest(
        id="GSet-13", effects=[pb.Effect(id="one"), pb.Effect(id="two", synchronous=True)]
    )
    listener = await streamed(stream, request)
    await stream.expect(reply(listener, R(gs()), streamed=True))
    elements: list[str] = []
    for element in ("a", "b"):
        elements.append(element)
        command_id = await send(stream, gadd(element))
        await stream.expect(
            reply(command_id, R(gs(*elements)), update=gset(element)),
            strm(listener, R(gs(*elements)), effects=[two("one"), two("two", True)]),
        )
    await stream.close()


# -- write consistency ---------------------------------------------------------------------------


async def test_write_consistency_can_be_configured(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-15").init()
    await check(stream, [inc(1, crdt_pb2.LOCAL)], gc(1), update=gcounter(1))
    await check(
        stream,
        [inc(2, crdt_pb2.MAJORITY)],
        gc(3),
        update=gcounter(2),
        consistency=crdt_pb2.MAJORITY,
    )
    await check(stream, [inc(3, crdt_pb2.ALL)], gc(6), update=gcounter(3), consistency=crdt_pb2.ALL)
    await stream.close()
