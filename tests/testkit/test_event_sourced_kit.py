"""The event-sourced test kit against the SDK's test model: what a command did, the proxy's
part (journal, snapshots, restarts), sync and async calling, errors that name what to do."""

from __future__ import annotations

import grpc
import pytest

from cloudstate.testkit import EventSourcedTestKit, Forwarded, SideEffect, kit_for
from cloudstate.testkit._sync import NeedsEventLoop
from tests.sdk.model import TWO_CALL, Persisted, Request, Response, Step, model, probe, two


def steps(*items: Step) -> list[Step]:
    return list(items)


def emit(value: str) -> Step:
    return Step(emit={"value": value})


def test_events_reply_and_state() -> None:
    kit = EventSourcedTestKit(model, "m1")
    result = kit.process(Request(id="m1", steps=[emit("a"), emit("b")]))
    assert result.succeeded
    assert result.reply == Response(message="ab")
    assert result.events == [Persisted(value="a"), Persisted(value="b")]
    assert kit.state == "ab"
    assert kit.sequence == 2
    assert kit.events == [Persisted(value="a"), Persisted(value="b")]


def test_call_by_method_name_with_fields_and_kit_for() -> None:
    kit = kit_for(model, "m1")
    assert isinstance(kit, EventSourcedTestKit)
    assert kit.call("Process", id="m1", steps=[emit("x")]).reply == Response(message="x")
    assert kit.call("process", Request(id="m1")).reply == Response(message="x")


def test_forward_and_effects_are_decoded() -> None:
    kit = EventSourcedTestKit(model, "m1")
    result = kit.process(
        id="m1",
        steps=[
            emit("a"),
            Step(effect={"id": "e1", "synchronous": True}),
            Step(effect={"id": "e2"}),
            Step(forward={"id": "f"}),
        ],
    )
    assert result.reply is None
    assert result.forward == Forwarded("sdktest.Two", "Call", Request(id="f"))
    assert result.effects == [
        SideEffect("sdktest.Two", "Call", Request(id="e1"), synchronous=True),
        SideEffect("sdktest.Two", "Call", Request(id="e2"), synchronous=False),
    ]
    assert result.events == [Persisted(value="a")]  # kept with a forward
    assert TWO_CALL.name == result.forward.method


def test_a_failure_after_emitting_discards_the_events_and_restarts() -> None:
    kit = EventSourcedTestKit(model, "m1")
    kit.process(id="m1", steps=[emit("a")])
    result = kit.process(
        id="m1", steps=[emit("b"), Step(fail={"message": "no", "code": 5}), emit("c")]
    )
    assert result.failure is not None
    assert (result.failure.description, result.failure.code) == ("no", grpc.StatusCode.NOT_FOUND)
    assert result.failure.restart
    assert result.events == []
    assert (kit.state, kit.sequence, kit.events) == ("a", 1, [Persisted(value="a")])


def test_snapshots_are_taken_and_used_on_restart() -> None:
    kit = EventSourcedTestKit(model, "m1")
    result = kit.process(id="m1", steps=[emit(c) for c in "abcdef"])
    assert result.snapshot == Persisted(value="abcdef")  # sequence 5 was among them
    assert kit.snapshot_sequence == 6
    kit.process(id="m1", steps=[emit("g")])
    kit.restart()
    assert kit.state == "abcdefg"


def test_seeding_with_a_snapshot_and_events() -> None:
    kit = EventSourcedTestKit(
        model,
        "m1",
        snapshot=Persisted(value="xyz"),
        snapshot_sequence=10,
        events=[Persisted(value="!")],
    )
    assert (kit.state, kit.sequence, kit.snapshot) == ("xyz!", 11, Persisted(value="xyz"))
    assert kit.process(id="m1", steps=[emit("?")]).reply == Response(message="xyz!?")
    with pytest.raises(ValueError, match="snapshot_sequence given without a snapshot"):
        EventSourcedTestKit(model, snapshot_sequence=3)


def test_metadata_and_context() -> None:
    kit = EventSourcedTestKit(probe, "p1")
    reply = kit.echo(id="p1", metadata={"x-user": "alice", "x-bin": b"\x01"}).reply
    assert reply.message == "p1|Echo|1|0|x-user='alice',x-bin=b'\\x01'|"
    assert kit.echo(id="p1", metadata=[("k", "v")]).reply.message.startswith("p1|Echo|2|")


def test_async_handlers_and_json_events() -> None:
    kit = EventSourcedTestKit(probe, "p1")
    assert kit.async_emit(id="p1", steps=[emit("a"), emit("b")]).reply.message == "a,b/[1, 2]"
    result = kit.emit_json(id="p1", steps=[emit("j")])
    assert result.events == [{"value": "j"}]
    assert kit.state.values == ["a", "b", "j@3"]


def test_an_unexpected_exception_reaches_the_test_and_the_instance_is_rebuilt() -> None:
    kit = EventSourcedTestKit(probe, "p1")
    kit.async_emit(id="p1", steps=[emit("a")])
    with pytest.raises(RuntimeError, match="boom for p1") as raised:
        kit.raise_(id="p1")
    assert any("rebuilds the instance" in note for note in raised.value.__notes__)
    with pytest.raises(TypeError, match=r"returned sdktest\.Persisted"):
        kit.wrong_reply(id="p1")
    assert kit.state.values == ["a"]


def test_unhandled_method_and_misuse() -> None:
    kit = EventSourcedTestKit(probe, "p1")
    result = kit.unhandled(id="p1")
    assert result.failure is not None and result.failure.code == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(AttributeError, match="its commands: async_emit, echo"):
        kit.add_item  # noqa: B018
    with pytest.raises(TypeError, match=r"takes sdktest\.Request, not sdktest\.Persisted"):
        kit.echo(Persisted())
    with pytest.raises(TypeError, match=r"takes sdktest\.Request"):
        kit.echo(no_such_field=1)
    with pytest.raises(ValueError, match="has no method 'Nope'"):
        kit.call("Nope")
    with pytest.raises(TypeError, match="needs an EventSourcedEntity"):
        EventSourcedTestKit(object())  # type: ignore[arg-type]


def test_no_reply_gives_the_empty_output_message() -> None:
    kit = EventSourcedTestKit(probe, "p1")
    assert kit.no_reply(id="p1", steps=[emit("a")]).reply == Response()
    assert kit.state.values == ["a"]


async def test_sync_calls_work_in_async_tests_until_a_handler_waits() -> None:
    kit = EventSourcedTestKit(two, "t")
    assert kit.call("Call", id="t").reply == Response()  # sync handler: stepped in place
    awaited = EventSourcedTestKit(probe, "p")
    result = await awaited.call_async("AsyncEmit", id="p", steps=[emit("a")])
    assert result.reply.message == "a/[1]"
    await awaited.restart_async()
    assert awaited.state.values == ["a"]


async def test_a_sync_call_that_must_wait_names_the_async_spelling() -> None:
    import asyncio

    from cloudstate.event_sourced_entity import EventSourcedEntity
    from tests.sdk.model import PROBE

    sleepy = EventSourcedEntity(PROBE, [PROBE.file], lambda: None)

    @sleepy.command_handler("Echo")
    async def echo() -> Response:
        await asyncio.sleep(0.001)
        return Response(message="late")

    kit = EventSourcedTestKit(sleepy)
    with pytest.raises(NeedsEventLoop, match=r"await kit.call_async\('Echo', ...\)"):
        kit.echo()
    assert (await kit.call_async("Echo")).reply == Response(message="late")
