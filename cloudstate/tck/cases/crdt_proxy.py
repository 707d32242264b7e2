"""Proxy: CRDT entities, from the client and from the intercepted protocol streams.

Counterparts of the original's "verifying proxy test: CRDT entities" (6 cases), plus what it
lacked: CRDT state survives a proxy crash (the original kept CRDTs in memory only). Unordered
delta lists are sorted before comparing.
"""

from __future__ import annotations

from typing import Any

from cloudstate.tck.cases.proxy_support import post_json, post_json_fails
from cloudstate.tck.context import TckContext
from cloudstate.tck.crdt_messages import (
    CRDT_CONFIGURED,
    CRDT_MODEL,
    CRDT_TWO,
    a_delete,
    a_effect,
    a_fail,
    a_forward,
    cancelled_response,
    crdt_command,
    crdt_init,
    crdt_stream_cancelled,
    d_gcounter,
    d_gset,
    d_pncounter,
    d_vote,
    failure,
    gc,
    gs,
    pn,
    reply,
    sorted_crdt,
    streamed_message,
    two_effect,
    two_forward,
    u_gc,
    u_gset,
    u_pn,
    vote,
)
from cloudstate.tck.framework import PROXY, case
from cloudstate.tck.model import crdt_pb2 as m
from cloudstate.tck.model import crdt_pb2_grpc as m_grpc
from cloudstate.tck.protocol import ProtocolStream
from cloudstate.tck.relay import Connection

GROUP = "crdt proxy"


async def command(
    conn: Connection,
    command_id: int,
    request: Any,
    expected: Any,
    name: str = "Process",
    streamed: bool = False,
) -> None:
    await conn.expect_in(
        crdt_command(command_id, request.id, request, name, streamed), normalize=sorted_crdt
    )
    await conn.expect_out(expected, normalize=sorted_crdt)


class Client:
    def __init__(self, t: TckContext) -> None:
        self.t = t
        self.model = m_grpc.CrdtTckModelStub(t.proxy)
        self.two = m_grpc.CrdtTwoStub(t.proxy)

    async def process(self, request: m.Request, state: m.State) -> None:
        reply_ = await self.t.call(self.model.Process(request), "CrdtTckModel.Process")
        expected = m.Response(state=state)
        self.t.check(reply_ == expected, "the client's reply", expected, reply_)


@case(PROXY, GROUP, "state changes", requires=[CRDT_MODEL], original="verify state changes")
async def state_changes(t: TckContext) -> None:
    """A new entity's ``init`` has no delta; each command's delta is applied and the client
    sees the new value; after a command deleting the entity, its stream is closed."""
    client = Client(t)
    eid = t.entity_id("PNCounter")
    await client.process(m.Request(id=eid), pn(0))
    conn = await t.relay.connection("crdt", CRDT_MODEL, eid)
    await conn.expect_in(crdt_init(CRDT_MODEL, eid), "init (no delta for a new entity)")
    await command(conn, 1, m.Request(id=eid), reply(1, pn(0)))
    request = m.Request(id=eid, actions=[u_pn(1), u_pn(-2), u_pn(3)])
    await client.process(request, pn(2))
    await command(conn, 2, request, reply(2, pn(2), update=d_pncounter(2)))
    request = m.Request(id=eid, actions=[u_pn(4), u_pn(-5), u_pn(6)])
    await client.process(request, pn(7))
    await command(conn, 3, request, reply(3, pn(7), update=d_pncounter(5)))
    request = m.Request(id=eid, actions=[a_delete()])
    await client.process(request, pn(7))
    await command(conn, 4, request, reply(4, pn(7), delete=True))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "forwards and side effects",
    requires=[CRDT_MODEL, CRDT_TWO],
    original="verify forwards and side effects",
)
async def forwards_and_side_effects(t: TckContext) -> None:
    """A forward's target reply reaches the client; the target entity gets its own stream; a
    side effect is called on it; deleting either entity closes its stream."""
    client = Client(t)
    eid = t.entity_id("GSet")
    request = m.Request(id=eid, actions=[u_gset("one")])
    await client.process(request, gs("one"))
    conn = await t.relay.connection("crdt", CRDT_MODEL, eid)
    await conn.expect_in(crdt_init(CRDT_MODEL, eid))
    await command(conn, 1, request, reply(1, gs("one"), update=d_gset("one")))
    request = m.Request(id=eid, actions=[a_forward(eid)])
    reply_ = await t.call(client.model.Process(request), "Process (forward)")
    t.check(reply_ == m.Response(), "the forward target's reply", m.Response(), reply_)
    await command(conn, 2, request, reply(2, forward_to=two_forward(eid)))
    two = await t.relay.connection("crdt", CRDT_TWO, eid)
    await two.expect_in(crdt_init(CRDT_TWO, eid))
    await command(two, 1, m.Request(id=eid), reply(1), name="Call")
    request = m.Request(id=eid, actions=[a_effect(eid)])
    await client.process(request, gs("one"))
    await command(conn, 3, request, reply(3, gs("one"), side_effects=[two_effect(eid)]))
    await command(two, 2, m.Request(id=eid), reply(2), name="Call")
    request = m.Request(id=eid, actions=[a_delete()])
    await client.process(request, gs("one"))
    await command(conn, 4, request, reply(4, gs("one"), delete=True))
    await conn.expect_closed()
    request = m.Request(id=eid, actions=[a_delete()])
    reply_ = await t.call(client.two.Call(request), "CrdtTwo.Call (delete)")
    t.check(reply_ == m.Response(), "CrdtTwo's reply", m.Response(), reply_)
    await command(two, 3, request, reply(3, delete=True), name="Call")
    await two.expect_closed()


@case(PROXY, GROUP, "failures", requires=[CRDT_MODEL], original="verify failures")
async def failures(t: TckContext) -> None:
    """A failed command fails the client call with the description and the proxy's status for
    user failures (ours: INVALID_ARGUMENT; the original: UNKNOWN); the value is unchanged."""
    client = Client(t)
    eid = t.entity_id("GCounter")
    request = m.Request(id=eid, actions=[u_gc(42)])
    await client.process(request, gc(42))
    conn = await t.relay.connection("crdt", CRDT_MODEL, eid)
    await conn.expect_in(crdt_init(CRDT_MODEL, eid))
    await command(conn, 1, request, reply(1, gc(42), update=d_gcounter(42)))
    request = m.Request(id=eid, actions=[a_fail("expected failure")])
    await t.call_fails(
        client.model.Process(request), t.failure_status, "expected failure", "a failing Process"
    )
    await command(conn, 2, request, failure(2, "expected failure"))
    request = m.Request(id=eid, actions=[a_delete()])
    await client.process(request, gc(42))
    await command(conn, 3, request, reply(3, gc(42), delete=True))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "streamed responses for connection tracking",
    requires=[CRDT_MODEL],
    original="verify streamed responses for connection tracking",
)
async def connection_tracking(t: TckContext) -> None:
    """Presence with a Vote: a monitoring client streams the vote; a connecting client votes
    in its streamed command and undoes the vote when it cancels; the monitor sees both
    changes, and each cancellation reaches the user function as ``stream_cancelled``."""
    eid = t.entity_id("Vote")
    stub = m_grpc.CrdtTckModelStub(t.proxy)
    monitor = t.track(
        ProtocolStream(stub.ProcessStreamed(m.StreamedRequest(id=eid)), "the monitor", t.timeout)
    )
    await monitor.expect(m.Response(state=vote(False, 0, 1)), "the monitor's first message")
    conn = await t.relay.connection("crdt", CRDT_MODEL, eid)
    await conn.expect_in(crdt_init(CRDT_MODEL, eid))
    await command(
        conn,
        1,
        m.StreamedRequest(id=eid),
        reply(1, vote(False, 0, 1), streamed=True),
        "ProcessStreamed",
        streamed=True,
    )
    connect_request = m.StreamedRequest(
        id=eid,
        initial_update=m.Update(vote=m.VoteUpdate(self_vote=True)),
        cancel_update=m.Update(vote=m.VoteUpdate(self_vote=False)),
        empty=True,
    )
    connect = t.track(
        ProtocolStream(stub.ProcessStreamed(connect_request), "the connecting client", t.timeout)
    )
    await monitor.expect(m.Response(state=vote(True, 1, 1)), "the monitor sees the vote")
    await connect.expect_silence(0.1)
    await command(
        conn,
        2,
        connect_request,
        reply(2, streamed=True, no_reply=True, update=d_vote(True)),
        "ProcessStreamed",
        streamed=True,
    )
    await conn.expect_out(streamed_message(1, vote(True, 1, 1)))
    connect.cancel()
    await monitor.expect(m.Response(state=vote(False, 0, 1)), "the monitor sees the vote undone")
    await conn.expect_in(crdt_stream_cancelled(eid, 2))
    await conn.expect_out(cancelled_response(2, d_vote(False)))
    await conn.expect_out(streamed_message(1, vote(False, 0, 1)))
    monitor.cancel()
    await conn.expect_in(crdt_stream_cancelled(eid, 1))
    await conn.expect_out(cancelled_response(1))
    request = m.Request(id=eid, actions=[a_delete()])
    await Client(t).process(request, vote(False, 0, 1))
    await command(conn, 3, request, reply(3, vote(False, 0, 1), delete=True))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "HTTP API",
    requires=[CRDT_MODEL, CRDT_TWO],
    original="verify HTTP API",
    needs=["http"],
)
async def http_api(t: TckContext) -> None:
    """The ``google.api.http`` rule and the default rule reach CRDT entities (int64 values as
    JSON strings); a user failure answers the proxy's HTTP status for user failures (ours: 400;
    the original: 500) with the description."""
    eid = t.entity_id("PNCounter")
    path = f"/tck/model/crdt/{eid}"
    await post_json(t, path, {}, m.Response(state=pn(0)))
    conn = await t.relay.connection("crdt", CRDT_MODEL, eid)
    await conn.expect_in(crdt_init(CRDT_MODEL, eid))
    await command(conn, 1, m.Request(id=eid), reply(1, pn(0)))
    await post_json(t, f"/{CRDT_TWO}/Call", {"id": eid}, m.Response())
    two = await t.relay.connection("crdt", CRDT_TWO, eid)
    await two.expect_in(crdt_init(CRDT_TWO, eid))
    await command(two, 1, m.Request(id=eid), reply(1), name="Call")
    body: dict[str, Any] = {"actions": [{"update": {"pncounter": {"change": 42}}}]}
    await post_json(t, path, body, m.Response(state=pn(42)))
    await command(
        conn, 2, m.Request(id=eid, actions=[u_pn(42)]), reply(2, pn(42), update=d_pncounter(42))
    )
    await post_json_fails(
        t, path, {"actions": [{"fail": {"message": "expected failure"}}]}, "expected failure"
    )
    await command(
        conn,
        3,
        m.Request(id=eid, actions=[a_fail("expected failure")]),
        failure(3, "expected failure"),
    )
    body = {"actions": [{"update": {"pncounter": {"change": -123}}}]}
    await post_json(t, path, body, m.Response(state=pn(-81)))
    await command(
        conn,
        4,
        m.Request(id=eid, actions=[u_pn(-123)]),
        reply(4, pn(-81), update=d_pncounter(-123)),
    )
    await post_json(t, path, {"actions": [{"delete": {}}]}, m.Response(state=pn(-81)))
    await command(conn, 5, m.Request(id=eid, actions=[a_delete()]), reply(5, pn(-81), delete=True))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "passivation timeout",
    requires=[CRDT_CONFIGURED],
    original="verify passivation timeout",
)
async def passivation_timeout(t: TckContext) -> None:
    """An entity type with a 100 ms passivation strategy has its stream closed soon after its
    last command."""
    eid = t.entity_id("Configured")
    stub = m_grpc.CrdtConfiguredStub(t.proxy)
    reply_ = await t.call(stub.Call(m.Request(id=eid)), "CrdtConfigured.Call")
    t.check(reply_ == m.Response(), "the client's reply", m.Response(), reply_)
    conn = await t.relay.connection("crdt", CRDT_CONFIGURED, eid)
    await conn.expect_in(crdt_init(CRDT_CONFIGURED, eid))
    await command(conn, 1, m.Request(id=eid), reply(1), name="Call")
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "state is durable when the reply arrives",
    requires=[CRDT_MODEL],
    needs=["restartable-proxy"],
)
async def durable(t: TckContext) -> None:
    """New (the original kept CRDTs in memory only): once the client has a reply, the CRDT's
    value survives a proxy crash (SIGKILL) and restart; the next stream's ``init`` carries it."""
    client = Client(t)
    eid = t.entity_id("PNCounter")
    await client.process(m.Request(id=eid, actions=[u_pn(5)]), pn(5))
    await client.process(m.Request(id=eid, actions=[u_pn(-2)]), pn(3))
    t.relay.ignore(eid)
    await t.restart_proxy()
    await client.process(m.Request(id=eid), pn(3))
    conn = await t.relay.connection("crdt", CRDT_MODEL, eid)
    await conn.expect_in(crdt_init(CRDT_MODEL, eid, d_pncounter(3)), "init after the restart")
    await command(conn, 1, m.Request(id=eid), reply(1, pn(3)))
