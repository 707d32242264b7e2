"""The action TCK model services, implemented with the Python SDK.

See ``cloudstate/protos/cloudstate/tck/model/action.proto``: every group of steps yields one
response (reply, forward and failure replace the outcome so far, side effects accumulate)::

    server = CloudState()
    for action in actions():
        server.register_entity(action)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from cloudstate.action.context import NO_REPLY, ActionContext
from cloudstate.action.entity import Action
from cloudstate.tck.model import action_pb2 as pb

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["ActionTckModel"]
TWO = FILE.services_by_name["ActionTwo"]
TWO_CALL = TWO.methods_by_name["Call"]


def respond(groups: Iterable[pb.ProcessGroup], ctx: ActionContext) -> Any:
    """Run the steps of ``groups`` in order and return the one response they make."""
    outcome: Any = NO_REPLY
    forward_to: str | None = None
    for group in groups:
        for step in group.steps:
            kind = step.WhichOneof("step")
            if kind == "reply":
                outcome, forward_to = pb.Response(message=step.reply.message), None
            elif kind == "forward":
                outcome, forward_to = None, step.forward.id
            elif kind == "fail":
                outcome, forward_to = ctx.failure(step.fail.message), None
            elif kind == "effect":
                ctx.effect(
                    TWO_CALL,
                    pb.OtherRequest(id=step.effect.id),
                    synchronous=step.effect.synchronous,
                )
    if forward_to is not None:
        return ctx.forward(TWO_CALL, pb.OtherRequest(id=forward_to))
    return outcome


def model_action() -> Action:
    """``ActionTckModel`` in its four call shapes."""
    action = Action(MODEL, [FILE])

    def process_unary(request: pb.Request, ctx: ActionContext) -> Any:
        return respond(request.groups, ctx)

    async def process_streamed_in(requests: AsyncIterator[pb.Request], ctx: ActionContext) -> Any:
        groups = [group async for request in requests for group in request.groups]
        return respond(groups, ctx)

    def process_streamed_out(request: pb.Request, ctx: ActionContext) -> Iterator[Any]:
        for group in request.groups:
            yield respond([group], ctx)

    async def process_streamed(
        requests: AsyncIterator[pb.Request], ctx: ActionContext
    ) -> AsyncIterator[Any]:
        async for request in requests:
            for group in request.groups:
                yield respond([group], ctx)

    action.unary("ProcessUnary")(process_unary)
    action.streamed_in("ProcessStreamedIn")(process_streamed_in)
    action.streamed_out("ProcessStreamedOut")(process_streamed_out)
    action.streamed("ProcessStreamed")(process_streamed)
    return action


def two_action() -> Action:
    """``ActionTwo``: replies with an empty ``Response``."""
    action = Action(TWO, [FILE])

    def call(request: pb.OtherRequest) -> pb.Response:
        return pb.Response()

    action.unary("Call")(call)
    return action


def actions() -> list[Action]:
    """Fresh definitions of the two action model services."""
    return [model_action(), two_action()]
