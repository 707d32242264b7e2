"""The SDK's ``ActionProtocol`` driven directly, as a proxy (or the conformance kit) does.

The cases follow the conformance kit's action model tests: every call shape with replies, no
replies, forwards and failures, each with side effects (which are kept on failures).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest

from cloudstate.any_support import pack_message
from cloudstate.protocol import action_pb2, entity_pb2
from tests.actions.model import pb

TCK = "acttest.TckModel"
TIMEOUT = 10


def req(*groups: Sequence[Any]) -> Any:
    return pb.Request(groups=[pb.Group(steps=list(steps)) for steps in groups])


def reply_step(message: str) -> Any:
    return pb.Step(reply=pb.Reply(message=message))


def forward_step(id_: str) -> Any:
    return pb.Step(forward=pb.Forward(id=id_))


def fail_step(message: str) -> Any:
    return pb.Step(fail=pb.Fail(message=message))


def effect_step(id_: str, synchronous: bool = False) -> Any:
    return pb.Step(effect=pb.Effect(id=id_, synchronous=synchronous))


def se(id_: str, synchronous: bool = False) -> entity_pb2.SideEffect:
    return entity_pb2.SideEffect(
        service_name="acttest.Two",
        command_name="Call",
        payload=pack_message(pb.OtherRequest(id=id_)),
        synchronous=synchronous,
    )


def reply(message: str, *effects: entity_pb2.SideEffect) -> action_pb2.ActionResponse:
    return action_pb2.ActionResponse(
        reply=entity_pb2.Reply(payload=pack_message(pb.Response(message=message))),
        side_effects=list(effects),
    )


def no_reply(*effects: entity_pb2.SideEffect) -> action_pb2.ActionResponse:
    return action_pb2.ActionResponse(side_effects=list(effects))


def forward(id_: str, *effects: entity_pb2.SideEffect) -> action_pb2.ActionResponse:
    return action_pb2.ActionResponse(
        forward=entity_pb2.Forward(
            service_name="acttest.Two",
            command_name="Call",
            payload=pack_message(pb.OtherRequest(id=id_)),
        ),
        side_effects=list(effects),
    )


def failure(message: str, *effects: entity_pb2.SideEffect) -> action_pb2.ActionResponse:
    return action_pb2.ActionResponse(
        failure=entity_pb2.Failure(command_id=0, description=message),
        side_effects=list(effects),
    )


def command(name: str, request: Any = None, service: str = TCK) -> action_pb2.ActionCommand:
    cmd = action_pb2.ActionCommand(service_name=service, name=name)
    if request is not None:
        cmd.payload.CopyFrom(pack_message(request))
    return cmd


async def commands(header: str, *requests: Any) -> AsyncIterator[action_pb2.ActionCommand]:
    yield command(header)
    for request in requests:
        yield action_pb2.ActionCommand(payload=pack_message(request))


UNARY_CASES = [
    ("reply", [reply_step("one")], reply("one")),
    ("reply + effect", [reply_step("two"), effect_step("other")], reply("two", se("other"))),
    (
        "reply + sync effect",
        [reply_step("three"), effect_step("another", True)],
        reply("three", se("another", True)),
    ),
    (
        "reply + effects",
        [reply_step("four"), effect_step("a"), effect_step("b"), effect_step("c")],
        reply("four", se("a"), se("b"), se("c")),
    ),
    ("no reply", [], no_reply()),
    ("no reply + effect", [effect_step("other")], no_reply(se("other"))),
    ("no reply + sync effect", [effect_step("another", True)], no_reply(se("another", True))),
    (
        "no reply + effects",
        [effect_step("a"), effect_step("b"), effect_step("c")],
        no_reply(se("a"), se("b"), se("c")),
    ),
    ("forward", [forward_step("one")], forward("one")),
    ("forward + effect", [forward_step("two"), effect_step("other")], forward("two", se("other"))),
    (
        "forward + sync effect",
        [forward_step("three"), effect_step("another", True)],
        forward("three", se("another", True)),
    ),
    (
        "forward + effects",
        [forward_step("four"), effect_step("a"), effect_step("b"), effect_step("c")],
        forward("four", se("a"), se("b"), se("c")),
    ),
    ("failure", [fail_step("one")], failure("one")),
    ("failure + effect", [fail_step("two"), effect_step("other")], failure("two", se("other"))),
    (
        "failure + sync effect",
        [fail_step("three"), effect_step("another", True)],
        failure("three", se("another", True)),
    ),
    (
        "failure + effects",
        [fail_step("four"), effect_step("a"), effect_step("b"), effect_step("c")],
        failure("four", se("a"), se("b"), se("c")),
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"), [c[1:] for c in UNARY_CASES], ids=[c[0] for c in UNARY_CASES]
)
async def test_unary(protocol: Any, steps: list[Any], expected: Any) -> None:
    response = await protocol.handleUnary(command("ProcessUnary", req(steps)), timeout=TIMEOUT)
    assert response == expected


EFFECTS_ABCD = (se("a"), se("b", True), se("c"), se("d"))


def effect_requests(first: list[Any]) -> list[Any]:
    return [
        req([*first, effect_step("a")]),
        req([effect_step("b", True)]),
        req([effect_step("c"), effect_step("d")]),
    ]


STREAMED_IN_CASES = [
    ("reply", [req([reply_step("one")])], reply("one")),
    ("reply + effects", effect_requests([reply_step("two")]), reply("two", *EFFECTS_ABCD)),
    ("no requests", [], no_reply()),
    ("no reply", [req([])], no_reply()),
    ("no reply + effects", effect_requests([]), no_reply(*EFFECTS_ABCD)),
    ("forward", [req([forward_step("one")])], forward("one")),
    ("forward + effects", effect_requests([forward_step("two")]), forward("two", *EFFECTS_ABCD)),
    ("failure", [req([fail_step("one")])], failure("one")),
    ("failure + effects", effect_requests([fail_step("two")]), failure("two", *EFFECTS_ABCD)),
]


@pytest.mark.parametrize(
    ("requests", "expected"),
    [c[1:] for c in STREAMED_IN_CASES],
    ids=[c[0] for c in STREAMED_IN_CASES],
)
async def test_streamed_in(protocol: Any, requests: list[Any], expected: Any) -> None:
    response = await protocol.handleStreamedIn(
        commands("ProcessStreamedIn", *requests), timeout=TIMEOUT
    )
    assert response == expected


FOUR_GROUPS = {
    "replies": (
        [
            [reply_step("one")],
            [reply_step("two"), effect_step("other")],
            [reply_step("three"), effect_step("another", True)],
            [reply_step("four"), effect_step("a"), effect_step("b"), effect_step("c")],
        ],
        [
            reply("one"),
            reply("two", se("other")),
            reply("three", se("another", True)),
            reply("four", se("a"), se("b"), se("c")),
        ],
    ),
    "no replies": (
        [
            [],
            [effect_step("other")],
            [effect_step("another", True)],
            [effect_step("a"), effect_step("b"), effect_step("c")],
        ],
        [
            no_reply(),
            no_reply(se("other")),
            no_reply(se("another", True)),
            no_reply(se("a"), se("b"), se("c")),
        ],
    ),
    "forwards": (
        [
            [forward_step("one")],
            [forward_step("two"), effect_step("other")],
            [forward_step("three"), effect_step("another", True)],
            [forward_step("four"), effect_step("a"), effect_step("b"), effect_step("c")],
        ],
        [
            forward("one"),
            forward("two", se("other")),
            forward("three", se("another", True)),
            forward("four", se("a"), se("b"), se("c")),
        ],
    ),
    "failures": (
        [
            [fail_step("one")],
            [fail_step("two"), effect_step("other")],
            [fail_step("three"), effect_step("another", True)],
            [fail_step("four"), effect_step("a"), effect_step("b"), effect_step("c")],
        ],
        [
            failure("one"),
            failure("two", se("other")),
            failure("three", se("another", True)),
            failure("four", se("a"), se("b"), se("c")),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(FOUR_GROUPS))
async def test_streamed_out(protocol: Any, case: str) -> None:
    groups, expected = FOUR_GROUPS[case]
    call = protocol.handleStreamedOut(command("ProcessStreamedOut", req(*groups)), timeout=TIMEOUT)
    assert [response async for response in call] == expected


@pytest.mark.parametrize("case", sorted(FOUR_GROUPS))
async def test_streamed_duplex_interleaves(protocol: Any, case: str) -> None:
    """One request per exchange; the last request has two groups, so two responses."""
    groups, expected = FOUR_GROUPS[case]
    call = protocol.handleStreamed(timeout=TIMEOUT)
    await call.write(command("ProcessStreamed"))
    for group in groups[:2]:
        await call.write(action_pb2.ActionCommand(payload=pack_message(req(group))))
        assert await call.read() == expected[groups.index(group)]
    await call.write(action_pb2.ActionCommand(payload=pack_message(req(*groups[2:]))))
    assert [await call.read(), await call.read()] == expected[2:]
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF  # type: ignore[attr-defined]


async def test_unknown_service_and_method_fail_clearly(protocol: Any) -> None:
    response = await protocol.handleUnary(command("ProcessUnary", req(), service="acttest.Nope"))
    assert response.failure.command_id == 0
    assert response.failure.description.startswith("Unknown service: 'acttest.Nope'")
    response = await protocol.handleUnary(command("Nope", req()))
    assert "no handler for 'Nope'" in response.failure.description
    assert response.failure.grpc_status_code == grpc.StatusCode.UNIMPLEMENTED.value[0]


async def test_wrong_call_shape_is_a_failure(protocol: Any) -> None:
    response = await protocol.handleUnary(command("ProcessStreamedOut", req()))
    assert "is server-streaming but was called with handleUnary" in response.failure.description


async def test_metadata_reaches_the_context(protocol: Any) -> None:
    cmd = command("Record", pb.Note(key="meta-direct", text="hello"), service="acttest.Recorder")
    cmd.metadata.entries.add(key="X-Trace", string_value="t-1")
    response = await protocol.handleUnary(cmd, timeout=TIMEOUT)
    assert response == reply_of(pb.Response(message="hello"))
    notes = await protocol.handleUnary(
        command("Read", pb.NoteQuery(key="meta-direct"), service="acttest.Recorder")
    )
    assert pb.Notes.FromString(notes.reply.payload.value).entries == ["hello|t-1"]


def reply_of(message: Any) -> action_pb2.ActionResponse:
    return action_pb2.ActionResponse(reply=entity_pb2.Reply(payload=pack_message(message)))


async def test_streams_of_every_handler_form(protocol: Any) -> None:
    request = pb.StreamRequest(prefix="p", count=3)
    for name in ("Out", "OutSync"):
        call = protocol.handleStreamedOut(
            command(name, request, service="acttest.Streams"), timeout=TIMEOUT
        )
        assert [r async for r in call] == [reply_of(pb.Item(text=f"p{i}")) for i in range(3)]
    summary = await protocol.handleStreamedIn(
        commands_for("acttest.Streams", "In", pb.Item(text="a"), pb.Item(text="b")),
        timeout=TIMEOUT,
    )
    assert summary == reply_of(pb.Summary(count=2, joined="a,b"))
    call = protocol.handleStreamed(
        commands_for("acttest.Streams", "Both", pb.Item(text="x"), pb.Item(text="fail")),
        timeout=TIMEOUT,
    )
    responses = [r async for r in call]
    assert responses == [reply_of(pb.Item(text="X")), failure("asked to fail")]


async def commands_for(service: str, name: str, *messages: Any) -> AsyncIterator[Any]:
    yield command(name, service=service)
    for message in messages:
        yield action_pb2.ActionCommand(payload=pack_message(message))


async def test_an_exception_in_a_handler_is_an_internal_failure(protocol: Any) -> None:
    # Relay.Call with a hop naming a service that does not exist: ctx.forward() raises
    # ValueError inside the handler.
    response = await protocol.handleUnary(
        command("Call", pb.Hops(services=["Nowhere"]), service="acttest.Relay"), timeout=TIMEOUT
    )
    failure_ = response.failure
    assert failure_.grpc_status_code == grpc.StatusCode.INTERNAL.value[0]
    assert "Unexpected error in action acttest.Relay.Call: ValueError" in failure_.description
    assert "unknown service 'acttest.Nowhere'" in failure_.description
