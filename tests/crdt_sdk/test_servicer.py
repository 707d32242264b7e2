"""SDK behaviour beyond the conformance kit: creating the CRDT in a command, callbacks of every
kind, replicated changes reaching streams, cancellation, and errors that end the stream."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from cloudstate.any_support import pack
from cloudstate.protocol import crdt_pb2, entity_pb2
from tests.crdt_sdk.model import Request, StreamedRequest, pb
from tests.crdt_sdk.protocol import (
    CrdtStream,
    In,
    cancelled,
    gcounter,
    orset,
    reply,
    strm,
    vote,
)
from tests.crdt_sdk.steps import TWO, R, check, gc, inc, lw, oadd, ors, request, send, vt
from tests.crdt_sdk.steps import vote as cast_vote

Streams = Callable[..., CrdtStream]
PROBE = "crdtsdk.CrdtProbe"


async def probe(stream: CrdtStream, method: str, *actions: object, streamed: bool = False) -> int:
    return await stream.send(method, request(stream.entity_id, *actions), streamed=streamed)


async def test_a_command_creates_the_crdt_and_its_first_delta_is_sent(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("ORSet-p1", PROBE).init()
    command_id = await probe(stream, "Create")  # created empty: nothing to replicate yet
    await stream.expect(reply(command_id, R(ors())))
    command_id = await probe(stream, "Create", oadd("a"))
    await stream.expect(reply(command_id, R(ors("a")), update=orset(["a"])))
    await stream.close()


async def test_a_replicated_delta_creates_the_missing_crdt(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p2", PROBE).init()
    await stream.delta(gcounter(5))
    command_id = await probe(stream, "Create", inc(1))
    await stream.expect(reply(command_id, R(gc(6)), update=gcounter(1)))
    await stream.close()


async def test_creating_the_crdt_twice_ends_the_stream(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p3", PROBE).init()
    command_id = await probe(stream, "CreateTwice")
    failure = await stream.expect_failure()
    assert failure.command_id == command_id
    assert "already has a GCounter" in failure.description
    assert "crdtsdk.CrdtProbe" in failure.description and "CreateTwice" in failure.description


async def test_an_exception_in_a_handler_ends_the_stream(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p4", PROBE).init()
    command_id = await probe(stream, "Raise")
    failure = await stream.expect_failure()
    assert failure.command_id == command_id
    assert "ValueError: boom GCounter-p4" in failure.description


async def test_a_command_without_handler_fails_only_the_command(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p5", PROBE).init()
    command_id = await probe(stream, "Missing")
    out = await stream.read()
    assert out.reply.command_id == command_id
    assert (
        out.reply.client_action.failure.grpc_status_code == grpc.StatusCode.UNIMPLEMENTED.value[0]
    )
    assert "no handler for command 'Missing'" in out.reply.client_action.failure.description
    command_id = await probe(stream, "Create")
    await stream.expect(reply(command_id, R(gc(0))))
    await stream.close()


async def test_callbacks_need_a_streamed_command(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p6", PROBE).init()
    await probe(stream, "NotStreamed")
    failure = await stream.expect_failure()
    assert "needs a streamed command" in failure.description


async def test_an_on_change_callback_must_not_change_the_crdt(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p7", PROBE).init(gcounter(1))
    watcher = await probe(stream, "WatchMutating", streamed=True)
    await stream.expect(reply(watcher, streamed=True))
    await stream.delta(gcounter(1))
    failure = await stream.expect_failure()
    assert "may only read it" in failure.description


async def test_replicated_changes_reach_open_streams(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p8", PROBE).init(gcounter(1))
    watcher = await probe(stream, "WatchAsync", streamed=True)
    await stream.expect(reply(watcher, R(gc(1)), streamed=True))
    await stream.delta(gcounter(2))
    await stream.expect(strm(watcher, R(gc(3))))
    await stream.close()


async def test_an_on_change_failure_ends_that_stream_only(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p9", PROBE).init(gcounter(1))
    failing = await probe(stream, "WatchFailing", streamed=True)
    await stream.expect(reply(failing, streamed=True))
    watcher = await probe(stream, "WatchAsync", streamed=True)
    await stream.expect(reply(watcher, R(gc(1)), streamed=True))
    await stream.delta(gcounter(1))
    message = crdt_pb2.CrdtStreamedMessage(command_id=failing)
    message.client_action.failure.CopyFrom(
        entity_pb2.Failure(command_id=failing, description="too many")
    )
    await stream.expect(crdt_pb2.CrdtStreamOut(streamed_message=message), strm(watcher, R(gc(2))))
    await stream.delta(gcounter(1))
    await stream.expect(strm(watcher, R(gc(3))))  # the failed subscription is gone
    await stream.cancel(failing)  # a late cancel of an ended stream is still answered
    await stream.expect(cancelled(failing))
    await stream.close()


async def test_an_on_change_callback_may_forward(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p10", PROBE).init(gcounter(1))
    watcher = await probe(stream, "WatchForward", streamed=True)
    await stream.expect(reply(watcher, streamed=True))
    await stream.delta(gcounter(1))
    message = crdt_pb2.CrdtStreamedMessage(command_id=watcher)
    message.client_action.forward.CopyFrom(
        entity_pb2.Forward(
            service_name=TWO, command_name="Call", payload=pack(Request(id="GCounter-p10"))
        )
    )
    await stream.expect(crdt_pb2.CrdtStreamOut(streamed_message=message))
    await stream.close()


async def test_end_stream_in_the_handler_replies_not_streamed(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p11", PROBE).init(gcounter(1))
    ended = await probe(stream, "EndAtOnce", streamed=True)
    await stream.expect(reply(ended, R(gc(1))))
    await stream.delta(gcounter(1))  # no subscription: nothing is streamed
    command_id = await probe(stream, "Create")
    await stream.expect(reply(command_id, R(gc(2))))
    await stream.cancel(ended)  # the proxy may still cancel it: answered, once
    await stream.expect(cancelled(ended))
    await stream.cancel(ended)
    assert "not a streamed command" in (await stream.expect_failure()).description


async def test_an_on_cancel_callback_may_delete_with_effects(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p12", PROBE).init(gcounter(1))
    command_id = await probe(stream, "CancelDeletes", streamed=True)
    await stream.expect(reply(command_id, streamed=True))
    await stream.cancel(command_id)
    response = crdt_pb2.CrdtStreamCancelledResponse(command_id=command_id)
    response.side_effects.add(
        service_name=TWO, command_name="Call", payload=pack(Request(id="GCounter-p12"))
    )
    response.state_action.delete.SetInParent()
    response.state_action.write_consistency = crdt_pb2.ALL
    await stream.expect(crdt_pb2.CrdtStreamOut(stream_cancelled_response=response))
    await stream.close()


async def test_connection_tracking_with_a_vote(crdt_stream: Streams) -> None:
    """The kit's proxy case 'streamed responses for connection tracking', as the UF sees it."""
    stream = await crdt_stream("Vote-p13").init()
    monitor = await stream.send("ProcessStreamed", StreamedRequest(id="Vote-p13"), streamed=True)
    await stream.expect(reply(monitor, R(vt(False, 0, 1)), streamed=True))
    connect = StreamedRequest(
        id="Vote-p13", initial_update=cast_vote(True), cancel_update=cast_vote(False), empty=True
    )
    connection = await stream.send("ProcessStreamed", connect, streamed=True)
    await stream.expect(
        reply(connection, update=vote(True), streamed=True), strm(monitor, R(vt(True, 1, 1)))
    )
    await stream.cancel(connection)
    await stream.expect(cancelled(connection, vote(False)), strm(monitor, R(vt(False, 0, 1))))
    await stream.cancel(monitor)
    await stream.expect(cancelled(monitor))
    await check(stream, [pb.RequestAction(delete={})], vt(False, 0, 1), delete=True)
    await stream.close()


async def test_a_deletion_ends_the_open_streams(crdt_stream: Streams) -> None:
    stream = await crdt_stream("GCounter-p17").init(gcounter(1))
    watcher = await stream.send("ProcessStreamed", StreamedRequest(id="x"), streamed=True)
    await stream.expect(reply(watcher, R(gc(1)), streamed=True))
    await stream.delete()  # replicated deletion: no output, the stream is over
    await stream.delta(gcounter(4))  # (re-created elsewhere) nobody is notified
    command_id = await send(stream)
    await stream.expect(reply(command_id, R(gc(4))))
    await stream.cancel(watcher)
    await stream.expect(cancelled(watcher))
    await stream.close()


async def test_cancelling_a_command_that_was_not_streamed_ends_the_stream(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("GCounter-p14").init()
    command_id = await send(stream)
    await stream.expect(reply(command_id, R(gc(0))))
    await stream.cancel(command_id)
    failure = await stream.expect_failure()
    assert f"stream_cancelled for command id {command_id}" in failure.description


async def test_protocol_errors_end_the_stream(crdt_channel: grpc.aio.Channel) -> None:
    stream = CrdtStream(crdt_channel, "crdtsdk.CrdtModel", "GCounter-p15")
    await stream.send("Process", Request(id="GCounter-p15"))
    assert "expected init as the first message" in (await stream.expect_failure()).description

    stream = await CrdtStream(crdt_channel, "crdtsdk.CrdtModel", "GCounter-p15").init()
    await stream.init()
    assert "second init" in (await stream.expect_failure()).description

    stream = await CrdtStream(crdt_channel, "crdtsdk.Nope", "GCounter-p15").init()
    assert "unknown service 'crdtsdk.Nope'" in (await stream.expect_failure()).description

    stream = await CrdtStream(crdt_channel, "crdtsdk.CrdtModel", "GCounter-p15").init()
    await stream.delta(orset(["a"]))
    failure = await stream.expect_failure()
    assert "orset delta for a GCounter" in failure.description

    stream = await CrdtStream(crdt_channel, "crdtsdk.CrdtModel", "GCounter-p15").init()
    await stream.write(In())
    assert "empty CrdtStreamIn" in (await stream.expect_failure()).description


async def test_callbacks_see_the_streamed_commands_name_id_and_metadata(
    crdt_stream: Streams,
) -> None:
    stream = await crdt_stream("GCounter-p18", PROBE).init(gcounter(1))
    watcher = await stream.send(
        "WatchMetadata", Request(id="x"), streamed=True, metadata={"user": "alice"}
    )
    await stream.expect(reply(watcher, streamed=True))
    await stream.delta(gcounter(1))
    await stream.expect(strm(watcher, R(lw(f"WatchMetadata {watcher} alice"))))
    await stream.close()
