"""The event-log eventing TCK model services, implemented with the Python SDK.

See ``cloudstate/protos/cloudstate/tck/model/eventlogeventing.proto``: two event-sourced
entities emit events (protobuf and JSON); an action subscribed to their event logs answers each
event according to its steps, with the entity id taken from the CloudEvent subject::

    server = CloudState()
    for entity in entities():
        server.register_entity(entity)

``python -m cloudstate.tck.model --no-eventing`` leaves these out, for proxies that cannot deliver
event logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf import empty_pb2

from cloudstate.action.context import ActionContext
from cloudstate.action.entity import Action
from cloudstate.any_support import Json
from cloudstate.event_sourced.context import EventSourcedCommandContext
from cloudstate.event_sourced.entity import EventSourcedEntity
from cloudstate.registry import EntityDefinition
from cloudstate.tck.model import eventlogeventing_pb2 as pb

FILE = pb.DESCRIPTOR
SUBSCRIBER = FILE.services_by_name["EventLogSubscriberModel"]
ONE = FILE.services_by_name["EventSourcedEntityOne"]
TWO = FILE.services_by_name["EventSourcedEntityTwo"]
EFFECT = SUBSCRIBER.methods_by_name["Effect"]


def _answer(step: pb.ProcessStep, ctx: ActionContext) -> Any:
    """Reply or forward to ``Effect``, naming the event's entity (the CloudEvent subject)."""
    subject = str(ctx.metadata.get("ce-subject", ""))
    if step.WhichOneof("step") == "forward":
        return ctx.forward(EFFECT, pb.EffectRequest(id=subject, message=step.forward.message))
    return pb.Response(id=subject, message=step.reply.message)


def subscriber() -> Action:
    """``EventLogSubscriberModel``: answers the events of both entities' logs."""
    action = Action(SUBSCRIBER, [FILE])

    def process_event_one(event: pb.EventOne, ctx: ActionContext) -> Any:
        return _answer(event.step, ctx)

    def process_event_two(event: pb.EventTwo, ctx: ActionContext) -> Iterator[Any]:
        for step in event.step:
            yield _answer(step, ctx)

    def effect(request: pb.EffectRequest) -> pb.Response:
        return pb.Response(id=request.id, message=request.message)

    def process_any_event(event: Any, ctx: ActionContext) -> pb.Response:
        message = event.get("message", "") if isinstance(event, dict) else ""
        return pb.Response(id=str(ctx.metadata.get("ce-subject", "")), message=message)

    action.unary("ProcessEventOne")(process_event_one)
    action.streamed_out("ProcessEventTwo")(process_event_two)
    action.unary("Effect")(effect)
    action.unary("ProcessAnyEvent")(process_any_event)
    return action


def _no_state(entity_id: str) -> None:
    return None


def entity_one() -> EventSourcedEntity:
    """``EventSourcedEntityOne`` (persistence id ``eventlogeventing-one``): emits the request's
    ``EventOne`` or ``EventTwo``."""
    entity = EventSourcedEntity(ONE, [FILE], _no_state, persistence_id="eventlogeventing-one")

    def emit_event(request: pb.EmitEventRequest, ctx: EventSourcedCommandContext) -> Any:
        if request.WhichOneof("event") == "event_one":
            ctx.emit(request.event_one)
        elif request.WhichOneof("event") == "event_two":
            ctx.emit(request.event_two)
        return empty_pb2.Empty()

    def applied(event: Any) -> None:
        return None

    entity.command_handler("EmitEvent")(emit_event)
    entity.event_handler(pb.EventOne)(applied)
    entity.event_handler(pb.EventTwo)(applied)
    return entity


def entity_two() -> EventSourcedEntity:
    """``EventSourcedEntityTwo`` (persistence id ``eventlogeventing-two``): emits
    ``{"message": ...}`` as the JSON event ``json.cloudstate.io/JsonEvent``."""
    entity = EventSourcedEntity(TWO, [FILE], _no_state, persistence_id="eventlogeventing-two")

    def emit_json_event(request: pb.JsonEvent, ctx: EventSourcedCommandContext) -> Any:
        ctx.emit(Json({"message": request.message}, "JsonEvent"))
        return empty_pb2.Empty()

    def applied(event: dict[str, Any]) -> None:
        return None

    entity.command_handler("EmitJsonEvent")(emit_json_event)
    entity.event_handler(dict)(applied)  # replayed JSON events
    entity.event_handler(Json)(applied)  # the SDK looks up emitted events by their Python type
    return entity


def entities() -> list[EntityDefinition]:
    """Fresh definitions of the three eventing model services."""
    return [subscriber(), entity_one(), entity_two()]
