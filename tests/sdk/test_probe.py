"""Failures, isolation, context values, async and JSON handling, protocol violations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.protocol import event_sourced_pb2
from tests.sdk.model import FILE, PROBE, Persisted, Request, Response, Step
from tests.sdk.protocol import EntityStream, failure_reply, reply

Streams = Callable[..., EntityStream]
Serve = Callable[..., Awaitable[grpc.aio.Channel]]
PROBE_NAME = "sdktest.Probe"


def request(entity_id: str, *values: str) -> Request:
    return Request(id=entity_id, steps=[Step(emit={"value": v}) for v in values])


def probe(model_stream: Streams, entity_id: str) -> EntityStream:
    return model_stream(entity_id, PROBE_NAME)


async def test_raising_handler_fails_the_entity_not_others(
    model_stream: Streams, caplog: pytest.LogCaptureFixture
) -> None:
    bystander = await probe(model_stream, "bystander").init()
    await bystander.command("EmitJson", request("bystander", "a"))
    victim = await probe(model_stream, "victim").init()
    await victim.command("Echo", Request(id="victim"))
    with caplog.at_level(logging.ERROR):
        await victim.send("Raise", Request(id="victim"))
        failure = await victim.expect_failure()
    assert failure.command_id == 2
    for part in ("sdktest.Probe", "'victim'", "'Raise'", "RuntimeError", "boom for victim"):
        assert part in failure.description
    assert not failure.restart
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged and logged[-1].exc_info is not None  # with the traceback
    assert "boom for victim" in caplog.text
    # The other stream is unaffected, and the entity can be started again.
    out = await bystander.command("EmitJson", request("bystander", "b"))
    assert out.client_action.reply.payload.value == b"\n\x07a@1,b@2"
    again = await probe(model_stream, "victim").init()
    assert (await again.command("Echo", Request(id="victim"))).client_action.HasField("reply")
    await again.close()
    await bystander.close()


async def test_context_values_and_metadata(model_stream: Streams) -> None:
    stream = await probe(model_stream, "ctx").init(events=[(1, {"value": "x"})])
    out = await stream.command(
        "Echo", Request(id="ctx"), metadata=[("X-Trace", "t1"), ("bin", b"\x01"), ("x-trace", "t2")]
    )
    assert out == reply(1, Response(message="ctx|Echo|1|1|X-Trace='t1',bin=b'\\x01'|x@1"))
    out = await stream.command("Echo", Request(id="ctx"))
    assert out == reply(2, Response(message="ctx|Echo|2|1||x@1"))
    await stream.close()


async def test_async_command_and_event_handlers(model_stream: Streams) -> None:
    stream = await probe(model_stream, "async").init()
    assert await stream.command("AsyncEmit", request("async", "a", "b")) == reply(
        1, Response(message="a,b/[1, 2]"), events=[Persisted(value="a"), Persisted(value="b")]
    )
    await stream.close()


async def test_unawaited_async_event_handlers_are_applied_before_the_reply(
    model_stream: Streams,
) -> None:
    stream = await probe(model_stream, "unawaited").init()
    assert await stream.command("NoReply", request("unawaited", "a", "b")) == reply(
        1, Response(), events=[Persisted(value="a"), Persisted(value="b")]
    )
    assert await stream.command("Echo", Request(id="unawaited")) == reply(
        2, Response(message="unawaited|Echo|2|2||a,b")
    )
    await stream.close()


async def test_json_events(model_stream: Streams) -> None:
    stream = await probe(model_stream, "json").init()
    out = await stream.command("EmitJson", request("json", "é", "b"))
    assert [e.type_url for e in out.events] == ["json.cloudstate.io/dict"] * 2
    assert out.events[0].value == b'\n\x0e{"value":"\xc3\xa9"}'
    assert out.client_action.reply.payload.value == Response(message="é@1,b@2").SerializeToString()
    await stream.close()


async def test_swallowed_failure_still_fails_and_rolls_back(model_stream: Streams) -> None:
    stream = await probe(model_stream, "swallow").init()
    assert await stream.command("SwallowFailure", request("swallow", "a")) == failure_reply(
        1, "swallowed failure", restart=True
    )
    assert await stream.command("Echo", Request(id="swallow")) == reply(
        2, Response(message="swallow|Echo|2|0||")
    )
    await stream.close()


async def test_wrong_reply_type_is_an_entity_failure(model_stream: Streams) -> None:
    stream = await probe(model_stream, "wrong").init()
    await stream.send("WrongReply", Request(id="wrong"))
    failure = await stream.expect_failure()
    assert failure.command_id == 1
    assert "sdktest.Persisted" in failure.description and "sdktest.Response" in failure.description


async def test_command_without_handler_fails_the_command(model_stream: Streams) -> None:
    stream = await probe(model_stream, "unhandled").init()
    out = await stream.command("Unhandled", Request(id="unhandled"))
    assert out == failure_reply(1, "sdktest.Probe has no handler for command 'Unhandled'", code=12)
    assert (await stream.command("Echo", Request(id="unhandled"))).client_action.HasField("reply")
    await stream.close()


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([event_sourced_pb2.EventSourcedStreamIn()], "expected init as the first message"),
        (
            [event_sourced_pb2.EventSourcedStreamIn(event={"sequence": 1})],
            "expected init as the first message, got event",
        ),
        (
            [event_sourced_pb2.EventSourcedStreamIn(init={"service_name": "no.Such"})],
            "unknown service 'no.Such'",
        ),
        (
            [
                event_sourced_pb2.EventSourcedStreamIn(init={"service_name": PROBE_NAME}),
                event_sourced_pb2.EventSourcedStreamIn(init={"service_name": PROBE_NAME}),
            ],
            "second init",
        ),
        (
            [
                event_sourced_pb2.EventSourcedStreamIn(init={"service_name": PROBE_NAME}),
                event_sourced_pb2.EventSourcedStreamIn(),
            ],
            "empty EventSourcedStreamIn",
        ),
    ],
)
async def test_protocol_violations_end_the_stream(
    model_stream: Streams, messages: list[Any], expected: str
) -> None:
    stream = probe(model_stream, "violator")
    for message in messages:
        await stream.write(message)
    failure = await stream.expect_failure()
    assert failure.command_id == 0
    assert expected in failure.description


async def test_replayed_event_without_handler_fails_the_entity(model_stream: Streams) -> None:
    stream = await model_stream("bad-event", "sdktest.Two").init(events=[(1, Persisted(value="x"))])
    failure = await stream.expect_failure()
    assert "no event handler for Persisted" in failure.description


async def test_snapshot_without_snapshot_handler_fails_the_entity(model_stream: Streams) -> None:
    stream = await probe(model_stream, "bad-snapshot").init(snapshot=(3, Persisted(value="x")))
    failure = await stream.expect_failure()
    assert "no @entity.snapshot_handler()" in failure.description


async def test_unknown_payload_type_fails_the_entity(model_stream: Streams) -> None:
    stream = await probe(model_stream, "bad-type").init()
    command = event_sourced_pb2.EventSourcedStreamIn()
    command.command.id = 1
    command.command.name = "Echo"
    command.command.payload.type_url = "type.googleapis.com/no.such.Type"
    await stream.write(command)
    failure = await stream.expect_failure()
    assert failure.command_id == 1 and "no.such.Type" in failure.description


async def test_uncopyable_state_makes_the_entity_restart_after_a_failed_command(
    serve: Serve,
) -> None:
    entity = EventSourcedEntity(PROBE, [FILE], lambda entity_id: {"lock": threading.Lock()})

    @entity.event_handler(Persisted)
    def persisted(state: dict[str, Any], event: Persisted) -> None:
        state[event.value] = True

    @entity.command_handler("Echo")
    def echo(request: Request, ctx: EventSourcedCommandContext) -> Response:
        for step in request.steps:
            ctx.emit(Persisted(value=step.emit.value))
        if request.id == "fail":
            ctx.fail("failed")
        return Response(message=",".join(sorted(k for k in ctx.state if k != "lock")))

    channel = await serve(entity)
    stream = await EntityStream(channel, PROBE_NAME, "e").init()
    assert await stream.command("Echo", request("ok", "a")) == reply(
        1, Response(message="a"), events=[Persisted(value="a")]
    )
    assert await stream.command("Echo", request("fail", "b")) == failure_reply(
        2, "failed", restart=True
    )
    await stream.send("Echo", request("ok"))
    failure = await stream.expect_failure()
    assert failure.command_id == 3 and "could not be rolled back" in failure.description


async def test_state_can_be_replaced_by_event_handlers_and_read_via_ctx_state(
    serve: Serve,
) -> None:
    def init(entity_id: str) -> tuple[str, ...]:
        return ()

    entity = EventSourcedEntity(PROBE, [FILE], init)

    @entity.event_handler(Persisted)
    async def persisted(event: Persisted, state: tuple[str, ...]) -> tuple[str, ...]:
        return (*state, event.value)

    @entity.command_handler("AsyncEmit")
    async def emit(
        ctx: EventSourcedCommandContext, state: tuple[str, ...], request: Request
    ) -> Response:
        for step in request.steps:
            await ctx.emit(Persisted(value=step.emit.value))
        return Response(message=f"{state}->{ctx.state}@{ctx.sequence}")

    channel = await serve(entity)
    stream = await EntityStream(channel, PROBE_NAME, "e").init()
    out = await stream.command("AsyncEmit", request("e", "a", "b"))
    assert out.client_action.reply.payload.value == (
        Response(message="()->('a', 'b')@2").SerializeToString()
    )
    await stream.close()
