"""The durable-calls TCK model services, implemented with the Python SDK.

See ``cloudstate/protos/cloudstate/tck/model/durable.proto``: an event-sourced entity and an
action running the same steps (durable effects, timers started with a delay or at a time, timer
cancellations, ordinary effects, failures), and the action they all call::

    server = CloudState()
    for entity in entities():
        server.register_entity(entity)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from typing import Any

from cloudstate.action.context import ActionContext
from cloudstate.action.entity import Action
from cloudstate.event_sourced.context import EventSourcedCommandContext
from cloudstate.event_sourced.entity import EventSourcedEntity
from cloudstate.tck.model import durable_pb2 as pb

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["DurableTckModel"]
ACTION = FILE.services_by_name["DurableTckAction"]
TWO = FILE.services_by_name["DurableTwo"]
TWO_CALL = TWO.methods_by_name["Call"]


def run_steps(steps: Iterable[pb.Step], ctx: EventSourcedCommandContext | ActionContext) -> None:
    """Run the steps in order (``emit`` only where ``ctx`` can emit)."""
    for step in steps:
        kind = step.WhichOneof("step")
        if kind == "emit" and isinstance(ctx, EventSourcedCommandContext):
            ctx.emit(pb.Persisted(value=step.emit.value))
        elif kind == "effect":
            ctx.effect(
                TWO_CALL,
                pb.Target(id=step.effect.target_id),
                synchronous=step.effect.synchronous,
            )
        elif kind == "durable_effect":
            ctx.effect(
                TWO_CALL,
                pb.Target(id=step.durable_effect.target_id),
                durable=True,
                max_attempts=step.durable_effect.max_attempts,
            )
        elif kind == "start_timer":
            timer = step.start_timer
            when: dict[str, Any] = (
                {"at": timer.at.ToDatetime(tzinfo=UTC)}
                if timer.HasField("at")
                else {"delay": timedelta(milliseconds=timer.delay_millis)}
            )
            ctx.timers.start(
                timer.name,
                TWO_CALL,
                pb.Target(id=timer.target_id),
                max_attempts=timer.max_attempts,
                **when,
            )
        elif kind == "cancel_timer":
            ctx.timers.cancel(step.cancel_timer.name)
        elif kind == "fail":
            ctx.fail(step.fail.message)


def _empty_state(entity_id: str) -> str:
    return ""


def model_entity() -> EventSourcedEntity:
    """``DurableTckModel``: the steps, then ``Response{message: <state>}``."""
    entity = EventSourcedEntity(MODEL, [FILE], _empty_state, persistence_id="durable-tck-model")

    @entity.event_handler(pb.Persisted)
    def persisted(state: str, event: pb.Persisted) -> str:
        return state + event.value

    @entity.command_handler("Process")
    def process(request: pb.Request, ctx: EventSourcedCommandContext) -> pb.Response:
        run_steps(request.steps, ctx)
        return pb.Response(message=ctx.state)

    return entity


def model_action() -> Action:
    """``DurableTckAction``: the steps, then an empty ``Response``."""
    action = Action(ACTION, [FILE])

    @action.unary("Process")
    def process(request: pb.Request, ctx: ActionContext) -> pb.Response:
        run_steps(request.steps, ctx)
        return pb.Response()

    return action


def two_action() -> Action:
    """``DurableTwo``: replies with an empty ``Response``."""
    action = Action(TWO, [FILE])

    @action.unary("Call")
    def call(request: pb.Target) -> pb.Response:
        return pb.Response()

    return action


def entities() -> list[EventSourcedEntity | Action]:
    """Fresh definitions of the three durable-calls model services."""
    return [model_entity(), model_action(), two_action()]
