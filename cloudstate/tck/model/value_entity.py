"""The value-entity TCK model services, implemented with the Python SDK.

See ``cloudstate/protos/cloudstate/tck/model/valueentity.proto`` for what each service must do::

    server = CloudState()
    for entity in entities():
        server.register_entity(entity)
"""

from __future__ import annotations

from google.protobuf.descriptor import ServiceDescriptor

from cloudstate.tck.model import valueentity_pb2 as pb
from cloudstate.value_entity.context import ValueEntityCommandContext
from cloudstate.value_entity.entity import ValueEntity

FILE = pb.DESCRIPTOR
MODEL = FILE.services_by_name["ValueEntityTckModel"]
TWO = FILE.services_by_name["ValueEntityTwo"]
CONFIGURED = FILE.services_by_name["ValueEntityConfigured"]
TWO_CALL = TWO.methods_by_name["Call"]


def _empty_state(entity_id: str) -> pb.Persisted:
    return pb.Persisted()


def model_entity() -> ValueEntity:
    """``ValueEntityTckModel``: a string state, updated, deleted, forwarded and failed on demand."""
    entity = ValueEntity(MODEL, [FILE], _empty_state, persistence_id="value-entity-tck-model")

    def process(request: pb.Request, ctx: ValueEntityCommandContext) -> pb.Response:
        for action in request.actions:
            kind = action.WhichOneof("action")
            if kind == "update":
                ctx.update_state(pb.Persisted(value=action.update.value))
            elif kind == "delete":
                ctx.delete_state()
            elif kind == "forward":
                ctx.forward(TWO_CALL, pb.Request(id=action.forward.id))
            elif kind == "effect":
                ctx.effect(
                    TWO_CALL, pb.Request(id=action.effect.id), synchronous=action.effect.synchronous
                )
            elif kind == "fail":
                ctx.fail(action.fail.message)
        state = ctx.state
        return pb.Response(message=state.value if state is not None else "")

    entity.command_handler("Process")(process)
    return entity


def _replying_entity(
    service: ServiceDescriptor, persistence_id: str, passivation_timeout: float | None = None
) -> ValueEntity:
    entity = ValueEntity(
        service, [FILE], _empty_state, persistence_id, passivation_timeout=passivation_timeout
    )

    def call(request: pb.Request) -> pb.Response:
        return pb.Response()

    entity.command_handler("Call")(call)
    return entity


def entities() -> list[ValueEntity]:
    """Fresh definitions of the three value-entity model services (``ValueEntityTwo`` replies
    with an empty ``Response``; ``ValueEntityConfigured`` is passivated after 100 ms)."""
    return [
        model_entity(),
        _replying_entity(TWO, "value-entity-tck-model-two"),
        _replying_entity(CONFIGURED, "value-entity-configured", passivation_timeout=0.1),
    ]
