"""Proxy: event-sourced entities, from the client and from the intercepted protocol streams.

Counterparts of the original's "verifying proxy test: event-sourced entity" (5 cases), plus
cases it lacked: durability of events when the reply arrives (proxy killed and restarted),
one-command-at-a-time ordering under concurrent calls, request metadata, and error mapping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from cloudstate.protocol import entity_pb2, event_sourced_pb2
from cloudstate.tck.cases.proxy_support import expect_status, post_json, post_json_fails
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import PROXY, case
from cloudstate.tck.messages import (
    ES_CONFIGURED,
    ES_MODEL,
    ES_TWO,
    es_command,
    es_effect,
    es_emit,
    es_event,
    es_fail,
    es_failure,
    es_forward,
    es_init,
    es_persisted,
    es_reply,
    es_request,
    es_response,
    forward,
    side_effect,
)
from cloudstate.tck.model import eventsourced_pb2 as es
from cloudstate.tck.model import eventsourced_pb2_grpc as es_grpc
from cloudstate.tck.relay import Connection

GROUP = "event sourced proxy"


def emits(entity_id: str, *values: str) -> es.Request:
    return es_request(entity_id, *(es_emit(v) for v in values))


class Client:
    """The model services through the proxy, as a client calls them."""

    def __init__(self, t: TckContext) -> None:
        self.t = t
        self.model = es_grpc.EventSourcedTckModelStub(t.proxy)
        self.two = es_grpc.EventSourcedTwoStub(t.proxy)
        self.configured = es_grpc.EventSourcedConfiguredStub(t.proxy)

    async def process(self, request: es.Request, expected: str, **kwargs: Any) -> None:
        """``Process(request)`` must answer ``Response{message: expected}``."""
        reply = await self.t.call(
            self.model.Process(request, **kwargs), f"EventSourcedTckModel.Process ({expected!r})"
        )
        self.t.check(
            reply == es.Response(message=expected),
            "the client's reply",
            es.Response(message=expected),
            reply,
        )

    async def process_fails(self, request: es.Request, description: str) -> None:
        await self.t.call_fails(
            self.model.Process(request),
            self.t.failure_status,
            description,
            "EventSourcedTckModel.Process with a failing action",
        )


async def command(
    conn: Connection, command_id: int, request: es.Request, reply: Any, name: str = "Process"
) -> None:
    """The proxy sent ``request`` as command ``command_id`` and the user function answered
    ``reply``."""
    await conn.expect_in(es_command(command_id, request.id, request, name))
    await conn.expect_out(reply)


@case(PROXY, GROUP, "state changes", requires=[ES_MODEL], original="verify state changes")
async def state_changes(t: TckContext) -> None:
    """A new entity gets ``init`` without a snapshot; each call is one command on the same
    stream, numbered from 1, with the client's request bytes and no metadata; events and the
    snapshot (every 5 events) come back in the replies and the client sees each reply."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(es_request(eid), "")
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await conn.expect_in(es_init(ES_MODEL, eid), "init (no snapshot for a new entity)")
    await command(conn, 1, es_request(eid), es_reply(1, es_response("")))
    steps = [("A", None), ("BCD", None), ("E", "ABCDE"), ("FGHI", None), ("JK", "ABCDEFGHIJK")]
    state = ""
    for n, (values, snapshot) in enumerate(steps, start=2):
        state += values
        request = emits(eid, *values)
        await client.process(request, state)
        reply = es_reply(
            n,
            es_response(state),
            events=[es_persisted(v) for v in values],
            snapshot=es_persisted(snapshot) if snapshot else None,
        )
        await command(conn, n, request, reply)


@case(
    PROXY,
    GROUP,
    "forwards and side effects",
    requires=[ES_MODEL, ES_TWO],
    original="verify forwards and side effects",
)
async def forwards_and_side_effects(t: TckContext) -> None:
    """A forward's target reply reaches the client; the target entity gets its own stream
    (``init``, then the forwarded payload as command 1); a side effect is called on that
    stream too, and the client gets the original reply."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(emits(eid, "one"), "one")
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await conn.expect_in(es_init(ES_MODEL, eid))
    await command(
        conn, 1, emits(eid, "one"), es_reply(1, es_response("one"), events=[es_persisted("one")])
    )
    request = es_request(eid, es_forward(eid))
    await client.process(request, "")
    await command(
        conn, 2, request, es_reply(2, forward_to=forward(ES_TWO, "Call", es.Request(id=eid)))
    )
    two = await t.relay.connection("eventsourced", ES_TWO, eid)
    await two.expect_in(es_init(ES_TWO, eid))
    await command(two, 1, es.Request(id=eid), es_reply(1, es_response("")), name="Call")
    request = es_request(eid, es_effect(eid))
    await client.process(request, "one")
    await command(
        conn,
        3,
        request,
        es_reply(
            3, es_response("one"), side_effects=[side_effect(ES_TWO, "Call", es.Request(id=eid))]
        ),
    )
    await command(two, 2, es.Request(id=eid), es_reply(2, es_response("")), name="Call")
    await client.process(es_request(eid), "one")
    await command(conn, 4, es_request(eid), es_reply(4, es_response("one")))


@case(PROXY, GROUP, "failures", requires=[ES_MODEL], original="verify failures")
async def failures(t: TckContext) -> None:
    """A failed command fails the client call with the description and the proxy's status for
    user failures (ours: INVALID_ARGUMENT, ``--failure-status``; the original: UNKNOWN) and the
    entity goes on. When the user function asks for a restart (it emitted events before
    failing), the stream ends and the next command replays the persisted events — never the
    failed command's — into a new stream, with command ids from 1 (our proxy re-activates on the
    next command; the original did so at once: both pass)."""
    client = Client(t)
    eid = t.entity_id()
    request = emits(eid, "1", "2", "3")
    await client.process(request, "123")
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await conn.expect_in(es_init(ES_MODEL, eid))
    await command(
        conn, 1, request, es_reply(1, es_response("123"), events=[es_persisted(v) for v in "123"])
    )
    request = es_request(eid, es_fail("expected failure"))
    await client.process_fails(request, "expected failure")
    await command(conn, 2, request, es_failure(2, "expected failure"))
    await client.process(es_request(eid), "123")
    await command(conn, 3, es_request(eid), es_reply(3, es_response("123")))
    request = es_request(eid, es_emit("4"), es_fail("another failure"), es_emit("5"))
    await client.process_fails(request, "another failure")
    await conn.expect_in(es_command(4, eid, request))
    reply = await conn.next_out()
    restart = (
        isinstance(reply, event_sourced_pb2.EventSourcedStreamOut)
        and reply.reply.client_action.failure.restart
    )
    expected = es_failure(4, "another failure", restart)
    t.check(reply == expected, f"{conn.label}: the reply to command 4", expected, reply)
    request = emits(eid, "4", "5")
    if restart:
        await conn.expect_closed()
        await client.process(request, "12345")
        conn = await t.relay.connection(
            "eventsourced", ES_MODEL, eid, what="no new stream after a restart"
        )
        await conn.expect_in(es_init(ES_MODEL, eid), "init of the restarted entity")
        for n, value in enumerate("123", start=1):
            await conn.expect_in(es_event(n, es_persisted(value)), "replay of the persisted events")
        first = 1
    else:
        await client.process(request, "12345")
        first = 5
    await command(
        conn,
        first,
        request,
        es_reply(
            first,
            es_response("12345"),
            events=[es_persisted("4"), es_persisted("5")],
            snapshot=es_persisted("12345"),
        ),
    )


@case(
    PROXY,
    GROUP,
    "HTTP API",
    requires=[ES_MODEL, ES_TWO],
    original="verify HTTP API",
    needs=["http"],
)
async def http_api(t: TckContext) -> None:
    """The ``google.api.http`` rule of ``Process`` and the default ``POST /<service>/<method>``
    rule reach the entity with the JSON body transcoded to protobuf; replies come back as JSON
    (compared as protobuf, so printing default values or not both pass); a user failure answers
    the proxy's HTTP status for user failures (ours: 400, ``--failure-http-status``; the
    original: 500) with the description in the body."""
    eid = t.entity_id()
    await post_json(t, f"/tck/model/eventsourced/{eid}", {}, es.Response(message=""))
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await conn.expect_in(es_init(ES_MODEL, eid))
    await command(conn, 1, es_request(eid), es_reply(1, es_response("")))
    await post_json(
        t, "/cloudstate.tck.model.EventSourcedTwo/Call", {"id": eid}, es.Response(message="")
    )
    two = await t.relay.connection("eventsourced", ES_TWO, eid)
    await two.expect_in(es_init(ES_TWO, eid))
    await command(two, 1, es.Request(id=eid), es_reply(1, es_response("")), name="Call")
    await post_json(
        t,
        f"/tck/model/eventsourced/{eid}",
        {"actions": [{"emit": {"value": "x"}}]},
        es.Response(message="x"),
    )
    await command(
        conn, 2, emits(eid, "x"), es_reply(2, es_response("x"), events=[es_persisted("x")])
    )
    body = {"actions": [{"fail": {"message": "expected failure"}}]}
    await post_json_fails(t, f"/tck/model/eventsourced/{eid}", body, "expected failure")
    await command(
        conn, 3, es_request(eid, es_fail("expected failure")), es_failure(3, "expected failure")
    )
    await post_json(
        t,
        f"/tck/model/eventsourced/{eid}",
        {"actions": [{"emit": {"value": "y"}}]},
        es.Response(message="xy"),
    )
    await command(
        conn, 4, emits(eid, "y"), es_reply(4, es_response("xy"), events=[es_persisted("y")])
    )


@case(
    PROXY,
    GROUP,
    "passivation timeout",
    requires=[ES_CONFIGURED],
    original="verify passivation timeout",
)
async def passivation_timeout(t: TckContext) -> None:
    """An entity type with a 100 ms passivation strategy has its stream closed soon after its
    last command (within 2 s)."""
    eid = t.entity_id()
    reply = await t.call(
        es_grpc.EventSourcedConfiguredStub(t.proxy).Call(es.Request(id=eid)),
        "EventSourcedConfigured.Call",
    )
    t.check(reply == es.Response(), "the client's reply", es.Response(), reply)
    conn = await t.relay.connection("eventsourced", ES_CONFIGURED, eid)
    await conn.expect_in(es_init(ES_CONFIGURED, eid))
    await command(conn, 1, es.Request(id=eid), es_reply(1, es_response("")), name="Call")
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "events are durable when the reply arrives",
    requires=[ES_MODEL],
    needs=["restartable-proxy"],
)
async def durable_before_reply(t: TckContext) -> None:
    """New (the original could not check it): once the client has a reply, its events survive a
    crash. The proxy is killed (SIGKILL) right after the reply and started again on the same
    store; the entity's next stream replays exactly the acknowledged events."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(emits(eid, "A", "B"), "AB")
    await client.process(emits(eid, "C"), "ABC")
    t.relay.ignore(eid)
    await t.restart_proxy()
    await client.process(es_request(eid), "ABC")
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await conn.expect_in(es_init(ES_MODEL, eid))
    for n, value in enumerate("ABC", start=1):
        await conn.expect_in(es_event(n, es_persisted(value)), "replay after the restart")
    await command(conn, 1, es_request(eid), es_reply(1, es_response("ABC")))


@case(PROXY, GROUP, "commands run one at a time in arrival order", requires=[ES_MODEL])
async def one_at_a_time(t: TckContext) -> None:
    """New: concurrent calls to one entity are fed to its stream one at a time — every
    command's reply arrives before the next command is sent — and each client gets the reply
    to its own command."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(es_request(eid), "")
    values = [f"<{n}>" for n in range(8)]
    calls = [client.model.Process(emits(eid, v), timeout=t.timeout) for v in values]
    try:
        replies = await asyncio.gather(*calls)
    except grpc.aio.AioRpcError as e:
        t.fail(f"a concurrent call failed: {e.code().name}: {e.details()}")
    for value, reply in zip(values, replies, strict=True):
        t.check(
            value in reply.message,
            f"the reply to the call emitting {value}",
            f"a state containing {value}",
            reply,
        )
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await asyncio.sleep(0.05)
    kinds = []
    for direction, message in conn.log:
        which = getattr(message, "WhichOneof", None)
        kind = which("message") if which else str(message)
        if kind in ("command", "reply"):
            kinds.append((direction, kind))
    expected = [("in", "command"), ("out", "reply")] * (len(values) + 1)
    t.check(kinds == expected, "commands and replies must alternate on the stream", expected, kinds)


@case(PROXY, GROUP, "request metadata reaches the entity", requires=[ES_MODEL])
async def request_metadata(t: TckContext) -> None:
    """New (our proxy's documented behaviour; the original sent no metadata to entities): a
    client's custom request headers arrive as ``Command.metadata`` string entries; a call
    without custom headers has no ``metadata`` at all (as the original sent it)."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(es_request(eid), "")
    await client.process(es_request(eid), "", metadata=(("x-tck-header", "tck value"),))
    conn = await t.relay.connection("eventsourced", ES_MODEL, eid)
    await conn.expect_in(es_init(ES_MODEL, eid))
    await command(conn, 1, es_request(eid), es_reply(1, es_response("")))
    message = await conn.next_in()
    entries = (
        list(message.command.metadata.entries)
        if isinstance(message, event_sourced_pb2.EventSourcedStreamIn)
        else []
    )
    wanted = entity_pb2.MetadataEntry(key="x-tck-header", string_value="tck value")
    t.check(
        wanted in entries, "command 2 must carry the client's header as metadata", wanted, message
    )
    await conn.expect_out(es_reply(2, es_response("")))


@case(PROXY, GROUP, "requests that cannot be routed", requires=[ES_MODEL])
async def unroutable_requests(t: TckContext) -> None:
    """New (our proxy's documented error mapping): a request without its entity key, or whose
    bytes do not parse, fails with INVALID_ARGUMENT; an unknown method of a served service with
    UNIMPLEMENTED. No entity stream is opened for them."""
    no_key = t.proxy.unary_unary(f"/{ES_MODEL}/Process", None, None)
    await expect_status(
        t,
        no_key(es.Request().SerializeToString()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "empty entity key",
    )
    await expect_status(
        t, no_key(b"\xff\xff\xff"), grpc.StatusCode.INVALID_ARGUMENT, "unparsable request"
    )
    unknown = t.proxy.unary_unary(f"/{ES_MODEL}/NoSuchMethod", None, None)
    await expect_status(
        t,
        unknown(es.Request(id="x").SerializeToString()),
        grpc.StatusCode.UNIMPLEMENTED,
        "unknown method",
    )
