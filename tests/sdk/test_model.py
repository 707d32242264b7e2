"""Event-sourced semantics on the test model, following the conformance kit's model cases.

The model's state is the concatenation of the emitted values; snapshots every 5 events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.sdk.model import Persisted, Request, Response, Step
from tests.sdk.protocol import EntityStream, failure_reply, reply

Streams = Callable[..., EntityStream]
TWO = "sdktest.Two"


def emit(value: str) -> Step:
    return Step(emit={"value": value})


def forward(entity_id: str) -> Step:
    return Step(forward={"id": entity_id})


def effect(entity_id: str, synchronous: bool = False) -> Step:
    return Step(effect={"id": entity_id, "synchronous": synchronous})


def fail(message: str, code: int = 0) -> Step:
    return Step(fail={"message": message, "code": code})


def P(value: str) -> Persisted:
    return Persisted(value=value)


def R(message: str = "") -> Response:
    return Response(message=message)


async def run(stream: EntityStream, *steps: Step) -> Any:
    return await stream.command("Process", Request(id=stream.entity_id, steps=steps))


async def test_initial_empty_state(model_stream: Streams) -> None:
    stream = await model_stream("empty").init()
    assert await run(stream) == reply(1, R())
    await stream.close()


async def test_single_and_multiple_emitted_events(model_stream: Streams) -> None:
    stream = await model_stream("multi").init()
    assert await run(stream, emit("A")) == reply(1, R("A"), events=[P("A")])
    assert await run(stream, emit("B"), emit("C"), emit("D")) == reply(
        2, R("ABCD"), events=[P("B"), P("C"), P("D")]
    )
    assert await run(stream) == reply(3, R("ABCD"))
    await stream.close()


async def test_emitted_events_and_snapshots(model_stream: Streams) -> None:
    stream = await model_stream("snapshots").init()
    for i, value in enumerate("ABCD", start=1):
        assert await run(stream, emit(value)) == reply(i, R("ABCD"[:i]), events=[P(value)])
    assert await run(stream, emit("E")) == reply(
        5, R("ABCDE"), events=[P("E")], snapshot=P("ABCDE")
    )
    assert await run(stream, emit("F"), emit("G"), emit("H")) == reply(
        6, R("ABCDEFGH"), events=[P("F"), P("G"), P("H")]
    )
    assert await run(stream, emit("I"), emit("J")) == reply(
        7, R("ABCDEFGHIJ"), events=[P("I"), P("J")], snapshot=P("ABCDEFGHIJ")
    )
    assert await run(stream, emit("K")) == reply(8, R("ABCDEFGHIJK"), events=[P("K")])
    assert await run(stream) == reply(9, R("ABCDEFGHIJK"))
    await stream.close()


async def test_initial_snapshot(model_stream: Streams) -> None:
    stream = await model_stream("from-snapshot").init(snapshot=(5, P("ABCDE")))
    assert await run(stream) == reply(1, R("ABCDE"))
    await stream.close()


async def test_initial_snapshot_and_events(model_stream: Streams) -> None:
    stream = await model_stream("snapshot-events").init(
        snapshot=(5, P("ABCDE")), events=[(6, P("F")), (7, P("G"))]
    )
    assert await run(stream) == reply(1, R("ABCDEFG"))
    # sequence 7 + 3 events crosses 10: snapshot
    assert await run(stream, emit("H"), emit("I"), emit("J")) == reply(
        2, R("ABCDEFGHIJ"), events=[P("H"), P("I"), P("J")], snapshot=P("ABCDEFGHIJ")
    )
    await stream.close()


async def test_rehydration_after_passivation(model_stream: Streams) -> None:
    first = await model_stream("passivated").init()
    snapshots = []
    for steps in ([emit("A"), emit("B"), emit("C")], [emit("D"), emit("E")], [emit("F")]):
        out = await run(first, *steps)
        snapshots.append(out.HasField("snapshot"))
    assert snapshots == [False, True, False]
    await first.close()
    second = await model_stream("passivated").init(snapshot=(5, P("ABCDE")), events=[(6, P("F"))])
    assert await run(second) == reply(1, R("ABCDEF"))
    await second.close()


async def test_forward(model_stream: Streams) -> None:
    stream = await model_stream("forwarder").init()
    await run(stream, emit("A"), emit("B"), emit("C"))
    assert await run(stream, forward("target")) == reply(
        2, forward=(TWO, "Call", Request(id="target"))
    )
    assert await run(stream) == reply(3, R("ABC"))
    await stream.close()


async def test_forward_with_events_and_snapshot(model_stream: Streams) -> None:
    stream = await model_stream("forward-events").init()
    assert await run(stream, emit("A"), forward("t")) == reply(
        1, forward=(TWO, "Call", Request(id="t")), events=[P("A")]
    )
    await run(stream, emit("B"), emit("C"))
    assert await run(stream, emit("D"), emit("E"), forward("t")) == reply(
        3, forward=(TWO, "Call", Request(id="t")), events=[P("D"), P("E")], snapshot=P("ABCDE")
    )
    await stream.close()


async def test_side_effects(model_stream: Streams) -> None:
    stream = await model_stream("effects").init()
    await run(stream, emit("A"), emit("B"), emit("C"))
    assert await run(stream, effect("x")) == reply(
        2, R("ABC"), side_effects=[(TWO, "Call", Request(id="x"), False)]
    )
    assert await run(stream, effect("y", synchronous=True)) == reply(
        3, R("ABC"), side_effects=[(TWO, "Call", Request(id="y"), True)]
    )
    assert await run(stream, effect("z"), forward("w")) == reply(
        4,
        forward=(TWO, "Call", Request(id="w")),
        side_effects=[(TWO, "Call", Request(id="z"), False)],
    )
    assert await run(stream) == reply(5, R("ABC"))
    await stream.close()


async def test_multiple_side_effects_events_and_snapshot(model_stream: Streams) -> None:
    stream = await model_stream("many-effects").init()
    steps = [emit(v) for v in "ABCDE"] + [effect("1"), effect("2", True), effect("3")]
    assert await run(stream, *steps) == reply(
        1,
        R("ABCDE"),
        events=[P(v) for v in "ABCDE"],
        snapshot=P("ABCDE"),
        side_effects=[
            (TWO, "Call", Request(id="1"), False),
            (TWO, "Call", Request(id="2"), True),
            (TWO, "Call", Request(id="3"), False),
        ],
    )
    await stream.close()


async def test_failure_and_connection_after_failure(model_stream: Streams) -> None:
    stream = await model_stream("failing").init()
    assert await run(stream, fail("expected failure")) == failure_reply(1, "expected failure")
    assert await run(stream, emit("A")) == reply(2, R("A"), events=[P("A")])
    assert await run(stream, fail("again", code=9)) == failure_reply(3, "again", code=9)
    assert await run(stream) == reply(4, R("A"))
    await stream.close()


async def test_failure_does_not_allow_side_effects(model_stream: Streams) -> None:
    stream = await model_stream("fail-effects").init()
    assert await run(stream, effect("x"), forward("y"), fail("no effects")) == failure_reply(
        1, "no effects"
    )
    await stream.close()


async def test_failure_discards_emitted_events_and_requests_restart(model_stream: Streams) -> None:
    stream = await model_stream("rollback").init()
    await run(stream, emit("A"), emit("B"), emit("C"))
    assert await run(stream, emit("4"), emit("5"), fail("failure 1")) == failure_reply(
        2, "failure 1", restart=True
    )
    # A proxy that does not restart may go on: the failed command left no trace in-process.
    assert await run(stream, emit("D")) == reply(3, R("ABCD"), events=[P("D")])
    assert await run(stream, emit("6"), fail("failure 2"), emit("7")) == failure_reply(
        4, "failure 2", restart=True
    )
    assert await run(stream, emit("E")) == reply(
        5, R("ABCDE"), events=[P("E")], snapshot=P("ABCDE")
    )
    await stream.close()
    # A proxy that restarts replays what it persisted into a new stream.
    restarted = await model_stream("rollback").init(
        events=[(1, P("A")), (2, P("B")), (3, P("C")), (4, P("D"))]
    )
    assert await run(restarted, emit("E")) == reply(
        1, R("ABCDE"), events=[P("E")], snapshot=P("ABCDE")
    )
    await restarted.close()


async def test_second_service_and_passivation_strategy(model_stream: Streams) -> None:
    stream = await model_stream("t", TWO).init()
    assert await stream.command("Call", Request(id="t")) == reply(1, R())
    await stream.close()
