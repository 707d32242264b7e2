"""Builders for the durable-calls cases (:mod:`cloudstate.tck.cases.durable_model`): model
requests (``cloudstate/tck/model/durable.proto``) and the side effects a conforming language
support sends for them (``SideEffect.durable``, docs/protocol-durable-calls.md)::

    >>> expected = durable_to_two("d1", durable_pb2.DurableCall())
    >>> expected.HasField("durable")  # present even when empty: that is what makes it durable
    True
"""

from __future__ import annotations

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from cloudstate.protocol import action_pb2, durable_pb2, entity_pb2, event_sourced_pb2
from cloudstate.tck.messages import any_message, side_effect, without_metadata
from cloudstate.tck.model import durable_pb2 as dm

#: The extension a proxy lists in ``ProxyInfo.extensions`` when it takes ``SideEffect.durable``.
DURABLE_CALLS = "cloudstate.durable-calls/1"
PKG = "cloudstate.tck.model.durable"
MODEL = f"{PKG}.DurableTckModel"
ACTION = f"{PKG}.DurableTckAction"
TWO = f"{PKG}.DurableTwo"
EVENT_SOURCED = "cloudstate.eventsourced.EventSourced"
ACTION_TYPE = "cloudstate.action.ActionProtocol"
#: 2100-01-01T00:00:00.25Z: a time with a fraction a microsecond-precise clock type can hold.
AT = timestamp_pb2.Timestamp(seconds=4102444800, nanos=250_000_000)


def request(entity_id: str, *steps: dm.Step) -> dm.Request:
    return dm.Request(id=entity_id, steps=list(steps))


def emit(value: str) -> dm.Step:
    return dm.Step(emit=dm.Emit(value=value))


def effect(target_id: str, synchronous: bool = False) -> dm.Step:
    return dm.Step(effect=dm.Effect(target_id=target_id, synchronous=synchronous))


def durable(target_id: str, max_attempts: int = 0) -> dm.Step:
    return dm.Step(durable_effect=dm.DurableEffect(target_id=target_id, max_attempts=max_attempts))


def start_timer(
    name: str,
    target_id: str,
    *,
    delay_millis: int = 0,
    at: timestamp_pb2.Timestamp | None = None,
    max_attempts: int = 0,
) -> dm.Step:
    timer = dm.StartTimer(
        name=name, target_id=target_id, delay_millis=delay_millis, max_attempts=max_attempts
    )
    if at is not None:
        timer.at.CopyFrom(at)
    return dm.Step(start_timer=timer)


def cancel_timer(name: str) -> dm.Step:
    return dm.Step(cancel_timer=dm.CancelTimer(name=name))


def fail(message: str) -> dm.Step:
    return dm.Step(fail=dm.Fail(message=message))


def ordinary_to_two(target_id: str, synchronous: bool = False) -> entity_pb2.SideEffect:
    return side_effect(TWO, "Call", dm.Target(id=target_id), synchronous)


def durable_to_two(target_id: str, call: durable_pb2.DurableCall) -> entity_pb2.SideEffect:
    """A side effect calling ``DurableTwo.Call`` with ``durable`` present and equal to ``call``
    (present even when ``call`` is empty)."""
    expected = side_effect(TWO, "Call", dm.Target(id=target_id))
    expected.durable.SetInParent()
    expected.durable.MergeFrom(call)
    return expected


def cancellation(name: str) -> entity_pb2.SideEffect:
    return entity_pb2.SideEffect(durable=durable_pb2.DurableCall(timer_name=name, cancel=True))


def calls_of_cancellations_ignored(message: Message) -> Message:
    """A copy in which cancellations keep only their ``durable`` field (the spec lets their call
    fields be anything); actions' metadata dropped as everywhere (``without_metadata``)."""
    copy = without_metadata(message)
    if isinstance(copy, event_sourced_pb2.EventSourcedStreamOut):
        effects = copy.reply.side_effects
    elif isinstance(copy, action_pb2.ActionResponse):
        effects = copy.side_effects
    else:
        return copy
    for one in effects:
        if one.HasField("durable") and one.durable.cancel:
            durable_call = durable_pb2.DurableCall()
            durable_call.CopyFrom(one.durable)
            one.Clear()
            one.durable.CopyFrom(durable_call)
    return copy


def response(message: str = "") -> entity_pb2.Reply:
    return entity_pb2.Reply(payload=any_message(dm.Response(message=message)))


def action_reply(*effects: entity_pb2.SideEffect) -> action_pb2.ActionResponse:
    result = action_pb2.ActionResponse(reply=response())
    result.side_effects.extend(effects)
    return result
