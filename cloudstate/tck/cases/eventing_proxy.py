"""Proxy: event-log eventing. Counterparts of the original's three "verifying proxy test:
event log subscriptions" cases, plus the CloudEvent metadata the proxy must attach."""

from __future__ import annotations

from typing import Any

from cloudstate.protocol import action_pb2, event_sourced_pb2
from cloudstate.tck.cases.eventing_model import (
    LOG_ONE,
    ONE,
    PROXY_GROUP,
    SUBSCRIBER,
    TWO,
    step_forward,
    step_reply,
    subscriber_forward,
    subscriber_reply,
)
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import PROXY, case
from cloudstate.tck.messages import any_message, command, es_init
from cloudstate.tck.model import eventlogeventing_pb2 as ev
from cloudstate.tck.model import eventlogeventing_pb2_grpc as ev_grpc


async def _emit_and_expect_entity(
    t: TckContext, service: str, eid: str, name: str, request: Any
) -> Any:
    stub: Any = (
        ev_grpc.EventSourcedEntityOneStub(t.proxy)
        if service == ONE
        else ev_grpc.EventSourcedEntityTwoStub(t.proxy)
    )
    await t.call(getattr(stub, name)(request), f"{service}.{name}")
    conn = await t.relay.connection("eventsourced", service, eid)
    await conn.expect_in(es_init(service, eid))
    await conn.expect_in(
        event_sourced_pb2.EventSourcedStreamIn(command=command(1, eid, name, request))
    )
    return await conn.next_out()


async def _subscriber_call(t: TckContext, name: str, subject: str) -> Any:
    """The proxy's call of the subscriber's ``name`` for the events of entity ``subject``."""

    def matches(c: Any) -> bool:
        first = c.first
        if not isinstance(first, action_pb2.ActionCommand):
            return False
        meta = {e.key.lower(): e.string_value for e in first.metadata.entries}
        return (
            first.service_name == SUBSCRIBER
            and first.name == name
            and meta.get("ce-subject") == subject
        )

    return await t.relay.find(
        matches, f"call of {SUBSCRIBER}.{name} for {subject!r}", wait=max(t.timeout, 5.0)
    )


def _check_cloud_event(
    t: TckContext, first: action_pb2.ActionCommand, subject: str, source: str
) -> None:
    meta = {e.key.lower(): e.string_value for e in first.metadata.entries}
    expected = {
        "ce-subject": subject,
        "ce-source": source,
        "ce-specversion": "1.0",
        "ce-type": first.payload.type_url,
    }
    actual = {k: meta.get(k) for k in expected}
    t.check(actual == expected, "the event's CloudEvent metadata", expected, actual)


@case(
    PROXY, PROXY_GROUP, "consume an event", requires=[SUBSCRIBER, ONE], original="consume an event"
)
async def consume_an_event(t: TckContext) -> None:
    """An event emitted by ``EventSourcedEntityOne`` reaches the subscriber (a unary action
    call) with the event as payload and CloudEvent metadata (``ce-subject`` = entity id,
    ``ce-source`` = persistence id); the subscriber's reply is taken."""
    eid = t.entity_id("eventlogeventing")
    event = ev.EventOne(step=step_reply("some message"))
    await _emit_and_expect_entity(
        t, ONE, eid, "EmitEvent", ev.EmitEventRequest(id=eid, event_one=event)
    )
    conn = await _subscriber_call(t, "ProcessEventOne", eid)
    first: Any = conn.first
    t.check(
        first.payload == any_message(event), "the event payload", any_message(event), first.payload
    )
    _check_cloud_event(t, first, eid, LOG_ONE)
    await conn.expect_out(subscriber_reply(eid, "some message"))


@case(
    PROXY,
    PROXY_GROUP,
    "forward a consumed event",
    requires=[SUBSCRIBER, ONE],
    original="forward a consumed event",
)
async def forward_a_consumed_event(t: TckContext) -> None:
    """A subscriber's forward is performed: ``Effect`` is called with the forwarded request."""
    eid = t.entity_id("eventlogeventing")
    event = ev.EventOne(step=step_forward("some message"))
    await _emit_and_expect_entity(
        t, ONE, eid, "EmitEvent", ev.EmitEventRequest(id=eid, event_one=event)
    )
    conn = await _subscriber_call(t, "ProcessEventOne", eid)
    await conn.expect_out(subscriber_forward(eid, "some message"))
    payload = any_message(ev.EffectRequest(id=eid, message="some message"))
    effect = await t.relay.connection(
        "action", SUBSCRIBER, name="Effect", payload=payload, wait=max(t.timeout, 5.0)
    )
    await effect.expect_out(subscriber_reply(eid, "some message"))


@case(
    PROXY,
    PROXY_GROUP,
    "process json events",
    requires=[SUBSCRIBER, TWO],
    original="process json events",
)
async def process_json_events(t: TckContext) -> None:
    """A JSON event of ``EventSourcedEntityTwo`` goes to the subscriber's ``google.protobuf.Any``
    method as is."""
    eid = t.entity_id("eventlogeventing")
    reply: Any = await _emit_and_expect_entity(
        t, TWO, eid, "EmitJsonEvent", ev.JsonEvent(id=eid, message="some json message")
    )
    events = list(reply.reply.events) if hasattr(reply, "reply") else []
    t.check(
        len(events) == 1 and events[0].type_url.startswith("json.cloudstate.io/"),
        "the entity's reply must carry one JSON event",
        "one json.cloudstate.io/ event",
        reply,
    )
    conn = await _subscriber_call(t, "ProcessAnyEvent", eid)
    await conn.expect_out(subscriber_reply(eid, "some json message"))
