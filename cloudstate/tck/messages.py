"""Builders for the protocol messages the cases send and expect.

They build exactly what a conforming peer must send — in particular, optional sub-messages are set
only when asked for, because presence is compared (a present-but-empty ``snapshot`` is not an
absent one)::

    >>> reply = es_reply(1, any_message(es.Response(message="A")), events=[es_persisted("A")])
    >>> reply.reply.HasField("snapshot")
    False
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import any_pb2, wrappers_pb2
from google.protobuf.message import Message

from cloudstate.protocol import action_pb2, entity_pb2, event_sourced_pb2, value_entity_pb2
from cloudstate.tck.model import action_pb2 as act
from cloudstate.tck.model import eventsourced_pb2 as es
from cloudstate.tck.model import valueentity_pb2 as ve

TYPE_URL_PREFIX = "type.googleapis.com/"


def any_message(message: Message) -> any_pb2.Any:
    """``Any`` with the canonical (deterministic) encoding of ``message``."""
    return any_pb2.Any(
        type_url=TYPE_URL_PREFIX + message.DESCRIPTOR.full_name,
        value=message.SerializeToString(deterministic=True),
    )


def primitive_string(value: str) -> any_pb2.Any:
    """The Cloudstate string primitive ``p.cloudstate.io/string`` ("" encodes to no bytes)."""
    return any_pb2.Any(
        type_url="p.cloudstate.io/string",
        value=wrappers_pb2.StringValue(value=value).SerializeToString(deterministic=True),
    )


def command(
    command_id: int,
    entity_id: str,
    name: str,
    payload: Message,
    *,
    streamed: bool = False,
    metadata: entity_pb2.Metadata | None = None,
) -> entity_pb2.Command:
    """A ``Command`` as a proxy sends it (metadata absent unless given)."""
    result = entity_pb2.Command(
        entity_id=entity_id,
        id=command_id,
        name=name,
        payload=any_message(payload),
        streamed=streamed,
    )
    if metadata is not None:
        result.metadata.CopyFrom(metadata)
    return result


def forward(service: str, method: str, payload: Message) -> entity_pb2.Forward:
    return entity_pb2.Forward(
        service_name=service, command_name=method, payload=any_message(payload)
    )


def side_effect(
    service: str, method: str, payload: Message, synchronous: bool = False
) -> entity_pb2.SideEffect:
    return entity_pb2.SideEffect(
        service_name=service,
        command_name=method,
        payload=any_message(payload),
        synchronous=synchronous,
    )


def client_action(
    payload: any_pb2.Any | None = None,
    forward_to: entity_pb2.Forward | None = None,
    failure: entity_pb2.Failure | None = None,
) -> entity_pb2.ClientAction | None:
    if forward_to is not None:
        return entity_pb2.ClientAction(forward=forward_to)
    if failure is not None:
        return entity_pb2.ClientAction(failure=failure)
    if payload is not None:
        return entity_pb2.ClientAction(reply=entity_pb2.Reply(payload=payload))
    return None


# -- event sourced --------------------------------------------------------------------------------

ES_MODEL = "cloudstate.tck.model.EventSourcedTckModel"
ES_TWO = "cloudstate.tck.model.EventSourcedTwo"
ES_CONFIGURED = "cloudstate.tck.model.EventSourcedConfigured"


def es_request(entity_id: str, *actions: es.RequestAction) -> es.Request:
    return es.Request(id=entity_id, actions=list(actions))


def es_emit(value: str) -> es.RequestAction:
    return es.RequestAction(emit=es.Emit(value=value))


def es_forward(entity_id: str) -> es.RequestAction:
    return es.RequestAction(forward=es.Forward(id=entity_id))


def es_effect(entity_id: str, synchronous: bool = False) -> es.RequestAction:
    return es.RequestAction(effect=es.Effect(id=entity_id, synchronous=synchronous))


def es_fail(message: str) -> es.RequestAction:
    return es.RequestAction(fail=es.Fail(message=message))


def es_response(message: str = "") -> any_pb2.Any:
    return any_message(es.Response(message=message))


def es_persisted(value: str) -> any_pb2.Any:
    return any_message(es.Persisted(value=value))


def es_init(
    service: str, entity_id: str, snapshot: tuple[int, any_pb2.Any] | None = None
) -> event_sourced_pb2.EventSourcedStreamIn:
    init = event_sourced_pb2.EventSourcedInit(service_name=service, entity_id=entity_id)
    if snapshot is not None:
        init.snapshot.snapshot_sequence = snapshot[0]
        init.snapshot.snapshot.CopyFrom(snapshot[1])
    return event_sourced_pb2.EventSourcedStreamIn(init=init)


def es_event(sequence: int, payload: any_pb2.Any) -> event_sourced_pb2.EventSourcedStreamIn:
    return event_sourced_pb2.EventSourcedStreamIn(
        event=event_sourced_pb2.EventSourcedEvent(sequence=sequence, payload=payload)
    )


def es_command(
    command_id: int, entity_id: str, payload: Message, name: str = "Process"
) -> event_sourced_pb2.EventSourcedStreamIn:
    return event_sourced_pb2.EventSourcedStreamIn(
        command=command(command_id, entity_id, name, payload)
    )


def es_reply(
    command_id: int,
    payload: any_pb2.Any | None = None,
    *,
    events: Sequence[any_pb2.Any] = (),
    snapshot: any_pb2.Any | None = None,
    forward_to: entity_pb2.Forward | None = None,
    side_effects: Sequence[entity_pb2.SideEffect] = (),
) -> event_sourced_pb2.EventSourcedStreamOut:
    reply = event_sourced_pb2.EventSourcedReply(command_id=command_id)
    action = client_action(payload, forward_to)
    if action is not None:
        reply.client_action.CopyFrom(action)
    reply.side_effects.extend(side_effects)
    reply.events.extend(events)
    if snapshot is not None:
        reply.snapshot.CopyFrom(snapshot)
    return event_sourced_pb2.EventSourcedStreamOut(reply=reply)


def es_failure(
    command_id: int, description: str, restart: bool = False
) -> event_sourced_pb2.EventSourcedStreamOut:
    failure = entity_pb2.Failure(command_id=command_id, description=description, restart=restart)
    return event_sourced_pb2.EventSourcedStreamOut(
        reply=event_sourced_pb2.EventSourcedReply(
            command_id=command_id, client_action=entity_pb2.ClientAction(failure=failure)
        )
    )


# -- value entity ---------------------------------------------------------------------------------

VE_MODEL = "cloudstate.tck.model.valueentity.ValueEntityTckModel"
VE_TWO = "cloudstate.tck.model.valueentity.ValueEntityTwo"
VE_CONFIGURED = "cloudstate.tck.model.valueentity.ValueEntityConfigured"


def ve_request(entity_id: str, *actions: ve.RequestAction) -> ve.Request:
    return ve.Request(id=entity_id, actions=list(actions))


def ve_update(value: str) -> ve.RequestAction:
    return ve.RequestAction(update=ve.Update(value=value))


def ve_delete() -> ve.RequestAction:
    return ve.RequestAction(delete=ve.Delete())


def ve_forward(entity_id: str) -> ve.RequestAction:
    return ve.RequestAction(forward=ve.Forward(id=entity_id))


def ve_effect(entity_id: str, synchronous: bool = False) -> ve.RequestAction:
    return ve.RequestAction(effect=ve.Effect(id=entity_id, synchronous=synchronous))


def ve_fail(message: str) -> ve.RequestAction:
    return ve.RequestAction(fail=ve.Fail(message=message))


def ve_response(message: str = "") -> any_pb2.Any:
    return any_message(ve.Response(message=message))


def ve_persisted(value: str) -> any_pb2.Any:
    return any_message(ve.Persisted(value=value))


def ve_init(
    service: str, entity_id: str, state: any_pb2.Any | None = None
) -> value_entity_pb2.ValueEntityStreamIn:
    """``init`` with ``state`` always present (its ``value`` only if the entity exists)."""
    init = value_entity_pb2.ValueEntityInit(service_name=service, entity_id=entity_id)
    init.state.SetInParent()
    if state is not None:
        init.state.value.CopyFrom(state)
    return value_entity_pb2.ValueEntityStreamIn(init=init)


def ve_command(
    command_id: int, entity_id: str, payload: Message, name: str = "Process"
) -> value_entity_pb2.ValueEntityStreamIn:
    return value_entity_pb2.ValueEntityStreamIn(
        command=command(command_id, entity_id, name, payload)
    )


def ve_reply(
    command_id: int,
    payload: any_pb2.Any | None = None,
    *,
    update: any_pb2.Any | None = None,
    delete: bool = False,
    forward_to: entity_pb2.Forward | None = None,
    side_effects: Sequence[entity_pb2.SideEffect] = (),
) -> value_entity_pb2.ValueEntityStreamOut:
    reply = value_entity_pb2.ValueEntityReply(command_id=command_id)
    action = client_action(payload, forward_to)
    if action is not None:
        reply.client_action.CopyFrom(action)
    reply.side_effects.extend(side_effects)
    if update is not None:
        reply.state_action.update.value.CopyFrom(update)
    elif delete:
        reply.state_action.delete.SetInParent()
    return value_entity_pb2.ValueEntityStreamOut(reply=reply)


def ve_failure(command_id: int, description: str) -> value_entity_pb2.ValueEntityStreamOut:
    failure = entity_pb2.Failure(command_id=command_id, description=description)
    return value_entity_pb2.ValueEntityStreamOut(
        reply=value_entity_pb2.ValueEntityReply(
            command_id=command_id, client_action=entity_pb2.ClientAction(failure=failure)
        )
    )


# -- action ---------------------------------------------------------------------------------------

ACTION_MODEL = "cloudstate.tck.model.action.ActionTckModel"
ACTION_TWO = "cloudstate.tck.model.action.ActionTwo"


def action_group(*steps: act.ProcessStep) -> act.ProcessGroup:
    return act.ProcessGroup(steps=list(steps))


def action_request(*groups: act.ProcessGroup) -> act.Request:
    return act.Request(groups=list(groups))


def action_reply_step(message: str) -> act.ProcessStep:
    return act.ProcessStep(reply=act.Reply(message=message))


def action_forward_step(target_id: str) -> act.ProcessStep:
    return act.ProcessStep(forward=act.Forward(id=target_id))


def action_fail_step(message: str) -> act.ProcessStep:
    return act.ProcessStep(fail=act.Fail(message=message))


def action_effect_step(target_id: str, synchronous: bool = False) -> act.ProcessStep:
    return act.ProcessStep(effect=act.SideEffect(id=target_id, synchronous=synchronous))


def action_command(
    name: str, payload: Message | None = None, service: str = ACTION_MODEL
) -> action_pb2.ActionCommand:
    """A unary / streamed-out command, or (``payload`` None) the header of a streamed-in or
    duplex call."""
    command_ = action_pb2.ActionCommand(service_name=service, name=name)
    if payload is not None:
        command_.payload.CopyFrom(any_message(payload))
    return command_


def action_message(payload: Message) -> action_pb2.ActionCommand:
    """A message of a streamed-in or duplex call after the header: only the payload."""
    return action_pb2.ActionCommand(payload=any_message(payload))


def action_effect(target_id: str, synchronous: bool = False) -> entity_pb2.SideEffect:
    return side_effect(ACTION_TWO, "Call", act.OtherRequest(id=target_id), synchronous)


def action_response(
    *,
    reply: str | None = None,
    forward_to: str | None = None,
    failure: str | None = None,
    side_effects: Sequence[entity_pb2.SideEffect] = (),
) -> action_pb2.ActionResponse:
    """``ActionResponse``: a reply message, a forward to ``ActionTwo.Call``, a failure (command
    id 0) or, with none of them, no reply."""
    response = action_pb2.ActionResponse()
    if reply is not None:
        response.reply.payload.CopyFrom(any_message(act.Response(message=reply)))
    elif forward_to is not None:
        response.forward.CopyFrom(forward(ACTION_TWO, "Call", act.OtherRequest(id=forward_to)))
    elif failure is not None:
        response.failure.CopyFrom(entity_pb2.Failure(command_id=0, description=failure))
    response.side_effects.extend(side_effects)
    return response


def without_metadata(message: Message) -> Message:
    """A copy of an action message without its metadata (the proxy's request headers), which
    action comparisons ignore, as the original TCK's interceptor did."""
    copy = type(message)()
    copy.CopyFrom(message)
    if isinstance(copy, action_pb2.ActionCommand):
        copy.ClearField("metadata")
    elif isinstance(copy, action_pb2.ActionResponse):
        kind = copy.WhichOneof("response")
        if kind in ("reply", "forward"):
            getattr(copy, kind).ClearField("metadata")
        for effect in copy.side_effects:
            effect.ClearField("metadata")
    return copy
