"""Language support: event-log eventing, an action subscribed to the event logs of
event-sourced entities (new: the original checked eventing only through a proxy).

The subscriber answers CloudEvent-carrying commands, the entities emit protobuf and JSON events,
and the methods carry the ``(cloudstate.eventing).in.event_log`` options. The helpers here are
shared with :mod:`cloudstate.tck.cases.eventing_proxy`.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, empty_pb2, wrappers_pb2

from cloudstate import eventing_pb2
from cloudstate.protocol import action_pb2, entity_pb2
from cloudstate.tck.cases.discovery import check_entity
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import LANGUAGE_SUPPORT, case
from cloudstate.tck.messages import any_message, es_reply, forward
from cloudstate.tck.model import eventlogeventing_pb2 as ev
from cloudstate.tck.protocol import ActionStream

PKG = "cloudstate.tck.model.eventlogeventing"
SUBSCRIBER = f"{PKG}.EventLogSubscriberModel"
ONE = f"{PKG}.EventSourcedEntityOne"
TWO = f"{PKG}.EventSourcedEntityTwo"
LOG_ONE, LOG_TWO = "eventlogeventing-one", "eventlogeventing-two"
LS_GROUP = "eventing model"
PROXY_GROUP = "eventing proxy"


def cloud_event(subject: str, source: str, type_url: str) -> entity_pb2.Metadata:
    """The CloudEvent metadata a proxy attaches to an event-log event."""
    entries = {
        "ce-id": "1",
        "ce-source": source,
        "ce-specversion": "1.0",
        "ce-type": type_url,
        "Content-Type": "application/vnd.cloudstate.protobuf.any",
        "ce-subject": subject,
    }
    return entity_pb2.Metadata(
        entries=[entity_pb2.MetadataEntry(key=k, string_value=v) for k, v in entries.items()]
    )


def json_event(message: str) -> any_pb2.Any:
    text = json.dumps({"message": message}, separators=(",", ":"))
    return any_pb2.Any(
        type_url="json.cloudstate.io/JsonEvent",
        value=wrappers_pb2.BytesValue(value=text.encode()).SerializeToString(),
    )


def step_reply(message: str) -> ev.ProcessStep:
    return ev.ProcessStep(reply=ev.Reply(message=message))


def step_forward(message: str) -> ev.ProcessStep:
    return ev.ProcessStep(forward=ev.Forward(message=message))


def event_command(name: str, payload: Any, subject: str, source: str) -> action_pb2.ActionCommand:
    result = action_pb2.ActionCommand(service_name=SUBSCRIBER, name=name, payload=payload)
    result.metadata.CopyFrom(cloud_event(subject, source, payload.type_url))
    return result


def subscriber_reply(subject: str, message: str) -> action_pb2.ActionResponse:
    response = action_pb2.ActionResponse()
    response.reply.payload.CopyFrom(any_message(ev.Response(id=subject, message=message)))
    return response


def subscriber_forward(subject: str, message: str) -> action_pb2.ActionResponse:
    return action_pb2.ActionResponse(
        forward=forward(SUBSCRIBER, "Effect", ev.EffectRequest(id=subject, message=message))
    )


# -- language support -----------------------------------------------------------------------------


@case(LANGUAGE_SUPPORT, LS_GROUP, "eventing discovery", requires=[SUBSCRIBER, ONE, TWO])
async def eventing_discovery(t: TckContext) -> None:
    """The subscriber is an action; the entities have persistence ids ``eventlogeventing-one``
    and ``-two``; the subscriber's methods carry their ``event_log`` sources in the descriptors."""
    check_entity(t, SUBSCRIBER, "cloudstate.action.ActionProtocol")
    check_entity(t, ONE, "cloudstate.eventsourced.EventSourced", LOG_ONE)
    check_entity(t, TWO, "cloudstate.eventsourced.EventSourced", LOG_TWO)
    files = descriptor_pb2.FileDescriptorSet.FromString(t.spec.proto).file
    sources: dict[str, str] = {}
    for f in files:
        for service in f.service:
            if f"{f.package}.{service.name}" != SUBSCRIBER:
                continue
            for method in service.method:
                options = descriptor_pb2.MethodOptions.FromString(
                    method.options.SerializeToString()
                )
                extension: Any = eventing_pb2.eventing
                eventing: Any = options.Extensions[extension]
                if eventing.HasField("in"):
                    sources[method.name] = getattr(eventing, "in").event_log
    expected = {"ProcessEventOne": LOG_ONE, "ProcessEventTwo": LOG_ONE, "ProcessAnyEvent": LOG_TWO}
    t.check(sources == expected, "event_log sources of the subscriber's methods", expected, sources)


@case(LANGUAGE_SUPPORT, LS_GROUP, "subscriber replies to an event", requires=[SUBSCRIBER])
async def subscriber_replies(t: TckContext) -> None:
    """A protobuf event with a ``reply`` step is answered with the entity id from
    ``ce-subject`` and the message."""
    subject = t.entity_id("eventlogeventing")
    event = ev.EventOne(step=step_reply("some message"))
    payload = any_message(event)
    response = await t.action_unary(event_command("ProcessEventOne", payload, subject, LOG_ONE))
    expected = subscriber_reply(subject, "some message")
    t.check(response == expected, "the subscriber's response", expected, response)


@case(LANGUAGE_SUPPORT, LS_GROUP, "subscriber forwards an event", requires=[SUBSCRIBER])
async def subscriber_forwards(t: TckContext) -> None:
    """A ``forward`` step forwards to ``Effect`` with the subject and the message; ``Effect``
    echoes them."""
    subject = t.entity_id("eventlogeventing")
    payload = any_message(ev.EventOne(step=step_forward("some message")))
    response = await t.action_unary(event_command("ProcessEventOne", payload, subject, LOG_ONE))
    expected = subscriber_forward(subject, "some message")
    t.check(response == expected, "the subscriber's response", expected, response)
    effect = action_pb2.ActionCommand(
        service_name=SUBSCRIBER,
        name="Effect",
        payload=any_message(ev.EffectRequest(id=subject, message="some message")),
    )
    response = await t.action_unary(effect)
    expected = subscriber_reply(subject, "some message")
    t.check(response == expected, "Effect's response", expected, response)


@case(LANGUAGE_SUPPORT, LS_GROUP, "subscriber streams answers", requires=[SUBSCRIBER])
async def subscriber_streams(t: TckContext) -> None:
    """``ProcessEventTwo`` (server streaming) answers each step of the event in order."""
    subject = t.entity_id("eventlogeventing")
    event = ev.EventTwo(step=[step_reply("first"), step_forward("second")])
    stream: ActionStream = t.action_stream(
        "handleStreamedOut",
        event_command("ProcessEventTwo", any_message(event), subject, LOG_ONE),
    )
    await stream.expect(subscriber_reply(subject, "first"))
    await stream.expect(subscriber_forward(subject, "second"))
    await stream.expect_end()


@case(LANGUAGE_SUPPORT, LS_GROUP, "subscriber takes JSON events", requires=[SUBSCRIBER])
async def subscriber_json(t: TckContext) -> None:
    """``ProcessAnyEvent`` (input ``google.protobuf.Any``) receives a JSON event as is and
    replies with its message."""
    subject = t.entity_id("eventlogeventing")
    payload = json_event("some json message")
    response = await t.action_unary(event_command("ProcessAnyEvent", payload, subject, LOG_TWO))
    expected = subscriber_reply(subject, "some json message")
    t.check(response == expected, "the subscriber's response", expected, response)


@case(LANGUAGE_SUPPORT, LS_GROUP, "entities emit protobuf and JSON events", requires=[ONE, TWO])
async def entities_emit(t: TckContext) -> None:
    """``EventSourcedEntityOne`` emits the request's event as protobuf; ``EventSourcedEntityTwo``
    emits ``{"message": ...}`` as ``json.cloudstate.io/JsonEvent``."""
    eid = t.entity_id("eventlogeventing")
    s = await t.event_sourced(ONE, eid).start()
    event = ev.EventOne(step=step_reply("hello"))
    await s.command(ev.EmitEventRequest(id=eid, event_one=event), "EmitEvent")
    await s.expect(es_reply(1, any_message(empty_pb2.Empty()), events=[any_message(event)]))
    await s.close()
    s = await t.event_sourced(TWO, eid).start()
    await s.command(ev.JsonEvent(id=eid, message="hello json"), "EmitJsonEvent")
    reply: Any = await s.receive()
    events = list(reply.reply.events) if reply is not None and reply.HasField("reply") else []
    t.check(
        len(events) == 1 and events[0].type_url.startswith("json.cloudstate.io/"),
        "EmitJsonEvent must emit one JSON event",
        "one json.cloudstate.io/ event",
        reply,
    )
    document = json.loads(wrappers_pb2.BytesValue.FromString(events[0].value).value)
    t.check(
        document.get("message") == "hello json",
        "the JSON event",
        {"message": "hello json"},
        document,
    )
    await s.close()
