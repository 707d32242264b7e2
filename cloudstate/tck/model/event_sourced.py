"""The event-sourced TCK model services, implemented with the Python SDK.

See ``cloudstate/protos/cloudstate/tck/model/eventsourced.proto`` for what each service must do.
:func:`entities` builds fresh entity definitions, so several model servers (or a deliberately
broken variant in the TCK's own tests) can be built in one process::

    server = await CloudState().register_entity(entities()[0]).serve_async(port=0)
"""

from __future__ import annotations

from cloudstate.event_sourced.context import EventSourcedCommandContext
from cloudstate.event_sourced.entity import EventSourcedEntity
from cloudstate.tck.model import eventsourced_pb2 as pb

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["EventSourcedTckModel"]
TWO = FILE.services_by_name["EventSourcedTwo"]
CONFIGURED = FILE.services_by_name["EventSourcedConfigured"]
TWO_CALL = TWO.methods_by_name["Call"]


def _empty_state(entity_id: str) -> str:
    return ""


def model_entity(snapshot_every: int = 5) -> EventSourcedEntity:
    """``EventSourcedTckModel``: a string state built by appending ``Persisted`` events."""
    entity = EventSourcedEntity(
        MODEL,
        [FILE],
        _empty_state,
        persistence_id="event-sourced-tck-model",
        snapshot_every=snapshot_every,
    )

    @entity.event_handler(pb.Persisted)
    def persisted(state: str, event: pb.Persisted) -> str:
        return state + event.value

    def snapshot(state: str) -> pb.Persisted:
        return pb.Persisted(value=state)

    def restore(state: str, snapshot: pb.Persisted) -> str:
        return str(snapshot.value)

    entity.snapshot(snapshot)
    entity.snapshot_handler(restore)

    @entity.command_handler("Process")
    def process(request: pb.Request, ctx: EventSourcedCommandContext) -> pb.Response:
        for action in request.actions:
            kind = action.WhichOneof("action")
            if kind == "emit":
                ctx.emit(pb.Persisted(value=action.emit.value))
            elif kind == "forward":
                ctx.forward(TWO_CALL, pb.Request(id=action.forward.id))
            elif kind == "effect":
                ctx.effect(
                    TWO_CALL, pb.Request(id=action.effect.id), synchronous=action.effect.synchronous
                )
            elif kind == "fail":
                ctx.fail(action.fail.message)
        return pb.Response(message=ctx.state)

    return entity


def two_entity() -> EventSourcedEntity:
    """``EventSourcedTwo``: the target of forwards and side effects."""
    entity = EventSourcedEntity(TWO, [FILE], _empty_state, persistence_id="EventSourcedTwo")

    @entity.command_handler("Call")
    def call(request: pb.Request) -> pb.Response:
        return pb.Response()

    return entity


def configured_entity() -> EventSourcedEntity:
    """``EventSourcedConfigured``: passivated after 100 ms without commands."""
    entity = EventSourcedEntity(
        CONFIGURED,
        [FILE],
        _empty_state,
        persistence_id="event-sourced-configured",
        passivation_timeout=0.1,
    )

    @entity.command_handler("Call")
    def call(request: pb.Request) -> pb.Response:
        return pb.Response()

    return entity


def entities() -> list[EventSourcedEntity]:
    """Fresh definitions of the three event-sourced model services."""
    return [model_entity(), two_entity(), configured_entity()]
