"""Declaring actions: decorator checks, handler forms and what responses they produce."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cloudstate.action import NO_REPLY, Action, Shape
from cloudstate.action_context import ActionContext
from cloudstate.action_servicer import ActionServicer
from cloudstate.any_support import pack_message
from cloudstate.cloudstate import CloudState
from cloudstate.protocol import action_pb2
from tests.actions.model import FILE, pb

STREAMS = FILE.services_by_name["Streams"]


def test_decorators_check_the_method_and_its_shape() -> None:
    action = Action(STREAMS, [FILE])
    with pytest.raises(ValueError, match="has no method 'Outt'; its methods: Out, In, Both"):
        action.unary("Outt")
    with pytest.raises(ValueError) as error:
        action.unary("Out")
    assert str(error.value) == (
        "acttest.Streams.Out is server-streaming: register its handler with "
        "@action.streamed_out('Out') (or @action.command_handler)"
    )
    with pytest.raises(ValueError, match=r"is client-streaming: .*@action\.streamed_in"):
        action.streamed("In")

    def gen(request: Any) -> Iterator[Any]:
        yield request

    with pytest.raises(TypeError, match="is a generator, but a unary method has a single"):
        action.unary("Open")(gen)
    action.stream_out_handler("Out")(gen)  # the original SDK's name
    with pytest.raises(ValueError, match="handler for 'Out' registered twice"):
        action.streamed_out("Out")
    action.command_handler("Both")(gen)
    assert action.methods["Both"].shape is Shape.STREAMED
    assert action.methods["Both"].per_message  # not an async generator: once per message
    with pytest.raises(TypeError, match="expected an Action, got str"):
        CloudState().register_action("nope")  # type: ignore[arg-type]


class FakeContext:
    def __init__(self) -> None:
        self.written: list[Any] = []

    async def write(self, message: Any) -> None:
        self.written.append(message)


async def header_and(name: str, *items: Any) -> AsyncIterator[Any]:
    yield action_pb2.ActionCommand(service_name="acttest.Streams", name=name)
    for item in items:
        yield action_pb2.ActionCommand(payload=pack_message(item))


def reply_of(message: Any) -> Any:
    return pack_message(message)


async def test_handler_forms() -> None:
    action = Action(STREAMS, [FILE])

    @action.streamed_in("In")
    def summarize(items: list[Any], ctx: ActionContext) -> Any:
        """A plain function gets all the messages at once."""
        return pb.Summary(count=len(items), joined=",".join(i.text for i in items))

    @action.streamed_out("Out")
    async def numbers(request: Any, ctx: ActionContext) -> list[Any]:
        """An async def may return a list."""
        ctx.effect(FILE.services_by_name["Two"].methods_by_name["Call"], pb.OtherRequest(id="e"))
        return [pb.Item(text=f"{request.prefix}{i}") for i in range(request.count)]

    @action.streamed("Both")
    async def echo(item: Any) -> Any:
        """A plain async def in a duplex method: called once per message."""
        return NO_REPLY if item.text == "skip" else pb.Item(text=item.text * 2)

    @action.unary("Open")
    def open_(request: Any) -> None:
        """None from a unary handler: the empty output message."""

    servicer = ActionServicer([action])
    summary = await servicer.handleStreamedIn(header_and("In", pb.Item(text="a")), None)  # type: ignore[arg-type]
    assert summary.reply.payload == reply_of(pb.Summary(count=1, joined="a"))

    context = FakeContext()
    command = action_pb2.ActionCommand(
        service_name="acttest.Streams",
        name="Out",
        payload=pack_message(pb.StreamRequest(prefix="n", count=2)),
    )
    await servicer.handleStreamedOut(command, context)  # type: ignore[arg-type]
    assert [r.reply.payload for r in context.written] == [
        reply_of(pb.Item(text="n0")),
        reply_of(pb.Item(text="n1")),
    ]
    # The side effect rides on the first response.
    assert [len(r.side_effects) for r in context.written] == [1, 0]

    context = FakeContext()
    requests = header_and("Both", pb.Item(text="ab"), pb.Item(text="skip"), pb.Item(text="c"))
    await servicer.handleStreamed(requests, context)  # type: ignore[arg-type]
    assert [r.WhichOneof("response") for r in context.written] == ["reply", None, "reply"]
    assert context.written[2].reply.payload == reply_of(pb.Item(text="cc"))

    command = action_pb2.ActionCommand(
        service_name="acttest.Streams", name="Open", payload=pack_message(pb.OtherRequest())
    )
    opened = await servicer.handleUnary(command, None)  # type: ignore[arg-type]
    assert opened.reply.payload == reply_of(pb.OpenStreams())


async def test_wrong_reply_type_and_leftover_effects() -> None:
    action = Action(STREAMS, [FILE])
    two_call = FILE.services_by_name["Two"].methods_by_name["Call"]

    @action.unary("Open")
    def wrong(request: Any) -> Any:
        return pb.Item(text="not an OpenStreams")

    @action.streamed_out("Out")
    def effects_only(request: Any, ctx: ActionContext) -> Iterator[Any]:
        yield pb.Item(text="first")
        ctx.effect(two_call, pb.OtherRequest(id="late"))

    servicer = ActionServicer([action])
    command = action_pb2.ActionCommand(
        service_name="acttest.Streams", name="Open", payload=pack_message(pb.OtherRequest())
    )
    response = await servicer.handleUnary(command, None)  # type: ignore[arg-type]
    assert response.failure.description.startswith(
        "Unexpected error in action acttest.Streams.Open: TypeError: unary handler for "
        "acttest.Streams.Open: "
    )
    assert "produced a acttest.Item, but acttest.Streams.Open returns acttest.OpenStreams" in (
        response.failure.description
    )
    context = FakeContext()
    command = action_pb2.ActionCommand(
        service_name="acttest.Streams", name="Out", payload=pack_message(pb.StreamRequest())
    )
    await servicer.handleStreamedOut(command, context)  # type: ignore[arg-type]
    assert [r.WhichOneof("response") for r in context.written] == ["reply", None]
    assert [e.payload for e in context.written[1].side_effects] == [
        pack_message(pb.OtherRequest(id="late"))
    ]


def test_cloudstate_run_describes_streamed_methods_and_actions() -> None:
    from cloudstate.cli import describe_services
    from cloudstate.proxy.model import ALL_ENTITY_TYPES, build_model
    from tests.actions.uf import build

    model = build_model(build().discovery_servicer().entity_spec(), ALL_ENTITY_TYPES)
    text = describe_services(model, "127.0.0.1", 9000).splitlines()
    assert "  acttest.Streams  [ActionProtocol]" in text
    assert "  acttest.Counter  [EventSourced, persistence id act-counter]" in text
    assert "    rpc Both(stream acttest.Item) returns (stream acttest.Item)" in text
    assert "    rpc Out(acttest.StreamRequest) returns (stream acttest.Item)" in text
