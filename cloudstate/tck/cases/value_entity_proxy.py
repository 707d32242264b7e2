"""Proxy: value entities, from the client and from the intercepted protocol streams.

Counterparts of the original's "verifying proxy test: entity" (5 cases), plus what it lacked:
value entities end to end across a proxy crash (the stored value is what the client was told),
and state kept across passivation.
"""

from __future__ import annotations

from typing import Any

from cloudstate.protocol import entity_pb2, value_entity_pb2
from cloudstate.tck.cases.proxy_support import post_json, post_json_fails
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import PROXY, case
from cloudstate.tck.messages import (
    VE_CONFIGURED,
    VE_MODEL,
    VE_TWO,
    forward,
    side_effect,
    ve_command,
    ve_delete,
    ve_effect,
    ve_fail,
    ve_failure,
    ve_forward,
    ve_init,
    ve_persisted,
    ve_reply,
    ve_request,
    ve_response,
    ve_update,
)
from cloudstate.tck.model import valueentity_pb2 as ve
from cloudstate.tck.model import valueentity_pb2_grpc as ve_grpc
from cloudstate.tck.relay import Connection

GROUP = "value entity proxy"


class Client:
    """The value-entity model services through the proxy."""

    def __init__(self, t: TckContext) -> None:
        self.t = t
        self.model = ve_grpc.ValueEntityTckModelStub(t.proxy)

    async def process(self, request: ve.Request, expected: str) -> None:
        reply = await self.t.call(
            self.model.Process(request), f"ValueEntityTckModel.Process ({expected!r})"
        )
        wanted = ve.Response(message=expected)
        self.t.check(reply == wanted, "the client's reply", wanted, reply)


async def command(
    conn: Connection, command_id: int, request: ve.Request, reply: Any, name: str = "Process"
) -> None:
    await conn.expect_in(ve_command(command_id, request.id, request, name))
    await conn.expect_out(reply)


@case(PROXY, GROUP, "state changes", requires=[VE_MODEL], original="verify state changes")
async def state_changes(t: TckContext) -> None:
    """A new entity's ``init`` carries ``state`` present but without a value; updates and
    deletes come back as state actions and the client sees the state after each command; all
    commands go to one stream, numbered from 1."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(ve_request(eid), "")
    conn = await t.relay.connection("valueentity", VE_MODEL, eid)
    await conn.expect_in(ve_init(VE_MODEL, eid), "init (state present, no value)")
    await command(conn, 1, ve_request(eid), ve_reply(1, ve_response("")))
    steps: list[tuple[ve.Request, str, Any]] = [
        (ve_request(eid, ve_update("one")), "one", {"update": ve_persisted("one")}),
        (ve_request(eid, ve_update("two")), "two", {"update": ve_persisted("two")}),
        (ve_request(eid), "two", {}),
        (ve_request(eid, ve_delete()), "", {"delete": True}),
        (ve_request(eid), "", {}),
        (ve_request(eid, ve_update("foo")), "foo", {"update": ve_persisted("foo")}),
        (ve_request(eid, ve_delete()), "", {"delete": True}),
    ]
    for n, (request, state, action) in enumerate(steps, start=2):
        await client.process(request, state)
        await command(conn, n, request, ve_reply(n, ve_response(state), **action))


@case(
    PROXY,
    GROUP,
    "forwards and side effects",
    requires=[VE_MODEL, VE_TWO],
    original="verify forwards and side effects",
)
async def forwards_and_side_effects(t: TckContext) -> None:
    """A forward's target reply reaches the client; the target entity gets its own stream; a
    side effect is called on it as well."""
    client = Client(t)
    eid = t.entity_id()
    request = ve_request(eid, ve_update("one"))
    await client.process(request, "one")
    conn = await t.relay.connection("valueentity", VE_MODEL, eid)
    await conn.expect_in(ve_init(VE_MODEL, eid))
    await command(conn, 1, request, ve_reply(1, ve_response("one"), update=ve_persisted("one")))
    request = ve_request(eid, ve_forward(eid))
    await client.process(request, "")
    await command(
        conn, 2, request, ve_reply(2, forward_to=forward(VE_TWO, "Call", ve.Request(id=eid)))
    )
    two = await t.relay.connection("valueentity", VE_TWO, eid)
    await two.expect_in(ve_init(VE_TWO, eid))
    await command(two, 1, ve.Request(id=eid), ve_reply(1, ve_response("")), name="Call")
    request = ve_request(eid, ve_effect(eid))
    await client.process(request, "one")
    effect = side_effect(VE_TWO, "Call", ve.Request(id=eid))
    await command(conn, 3, request, ve_reply(3, ve_response("one"), side_effects=[effect]))
    await command(two, 2, ve.Request(id=eid), ve_reply(2, ve_response("")), name="Call")
    await client.process(ve_request(eid), "one")
    await command(conn, 4, ve_request(eid), ve_reply(4, ve_response("one")))


@case(PROXY, GROUP, "failures", requires=[VE_MODEL], original="verify failures")
async def failures(t: TckContext) -> None:
    """A failed command fails the client call with the description and the proxy's status for
    user failures (ours: INVALID_ARGUMENT; the original: UNKNOWN); nothing is stored and the
    entity goes on."""
    client = Client(t)
    eid = t.entity_id()
    request = ve_request(eid, ve_update("one"))
    await client.process(request, "one")
    conn = await t.relay.connection("valueentity", VE_MODEL, eid)
    await conn.expect_in(ve_init(VE_MODEL, eid))
    await command(conn, 1, request, ve_reply(1, ve_response("one"), update=ve_persisted("one")))
    request = ve_request(eid, ve_update("two"), ve_fail("expected failure"))
    await t.call_fails(
        client.model.Process(request), t.failure_status, "expected failure", "a failing Process"
    )
    await command(conn, 2, request, ve_failure(2, "expected failure"))
    await client.process(ve_request(eid), "one")
    await command(conn, 3, ve_request(eid), ve_reply(3, ve_response("one")))


@case(
    PROXY,
    GROUP,
    "HTTP API",
    requires=[VE_MODEL, VE_TWO],
    original="verify HTTP API",
    needs=["http"],
)
async def http_api(t: TckContext) -> None:
    """The ``google.api.http`` rule and the default ``POST /<service>/<method>`` rule reach the
    value entity; a user failure answers the proxy's HTTP status for user failures (ours: 400;
    the original: 500) with the description in the body."""
    eid = t.entity_id()
    path = f"/tck/model/entity/{eid}"
    await post_json(t, path, {}, ve.Response())
    conn = await t.relay.connection("valueentity", VE_MODEL, eid)
    await conn.expect_in(ve_init(VE_MODEL, eid))
    await command(conn, 1, ve_request(eid), ve_reply(1, ve_response("")))
    await post_json(t, f"/{VE_TWO}/Call", {"id": eid}, ve.Response())
    two = await t.relay.connection("valueentity", VE_TWO, eid)
    await two.expect_in(ve_init(VE_TWO, eid))
    await command(two, 1, ve.Request(id=eid), ve_reply(1, ve_response("")), name="Call")
    await post_json(
        t, path, {"actions": [{"update": {"value": "one"}}]}, ve.Response(message="one")
    )
    request = ve_request(eid, ve_update("one"))
    await command(conn, 2, request, ve_reply(2, ve_response("one"), update=ve_persisted("one")))
    body = {"actions": [{"fail": {"message": "expected failure"}}]}
    await post_json_fails(t, path, body, "expected failure")
    request = ve_request(eid, ve_fail("expected failure"))
    await command(conn, 3, request, ve_failure(3, "expected failure"))
    await post_json(t, path, {}, ve.Response(message="one"))
    await command(conn, 4, ve_request(eid), ve_reply(4, ve_response("one")))


@case(
    PROXY,
    GROUP,
    "passivation timeout",
    requires=[VE_CONFIGURED],
    original="verify passivation timeout",
)
async def passivation_timeout(t: TckContext) -> None:
    """An entity type with a 100 ms passivation strategy has its stream closed soon after its
    last command."""
    eid = t.entity_id()
    stub = ve_grpc.ValueEntityConfiguredStub(t.proxy)
    reply = await t.call(stub.Call(ve.Request(id=eid)), "ValueEntityConfigured.Call")
    t.check(reply == ve.Response(), "the client's reply", ve.Response(), reply)
    conn = await t.relay.connection("valueentity", VE_CONFIGURED, eid)
    await conn.expect_in(ve_init(VE_CONFIGURED, eid))
    await command(conn, 1, ve.Request(id=eid), ve_reply(1, ve_response("")), name="Call")
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "state is durable when the reply arrives",
    requires=[VE_MODEL],
    needs=["restartable-proxy"],
)
async def durable_before_reply(t: TckContext) -> None:
    """New: once the client has a reply, the value is stored. The proxy is killed (SIGKILL)
    and started again on the same store; the entity's next ``init`` carries the last value the
    client saw, and a deleted value stays deleted."""
    client = Client(t)
    kept, deleted = t.entity_id(), t.entity_id()
    await client.process(ve_request(kept, ve_update("A")), "A")
    await client.process(ve_request(kept, ve_update("B")), "B")
    await client.process(ve_request(deleted, ve_update("C")), "C")
    await client.process(ve_request(deleted, ve_delete()), "")
    t.relay.ignore(kept)
    t.relay.ignore(deleted)
    await t.restart_proxy()
    await client.process(ve_request(kept), "B")
    conn = await t.relay.connection("valueentity", VE_MODEL, kept)
    await conn.expect_in(ve_init(VE_MODEL, kept, ve_persisted("B")), "init after the restart")
    await command(conn, 1, ve_request(kept), ve_reply(1, ve_response("B")))
    await client.process(ve_request(deleted), "")
    conn = await t.relay.connection("valueentity", VE_MODEL, deleted)
    await conn.expect_in(ve_init(VE_MODEL, deleted), "init of a deleted entity (no value)")
    await command(conn, 1, ve_request(deleted), ve_reply(1, ve_response("")))


@case(PROXY, GROUP, "request metadata reaches the entity", requires=[VE_MODEL])
async def request_metadata(t: TckContext) -> None:
    """New (our proxy's documented behaviour; the original sent entities no metadata): a
    client's custom request headers arrive as ``Command.metadata``; without them the command
    has no ``metadata`` at all."""
    client = Client(t)
    eid = t.entity_id()
    await client.process(ve_request(eid), "")
    reply = await t.call(
        client.model.Process(ve_request(eid), metadata=(("x-tck-header", "tck value"),)),
        "Process with a custom header",
    )
    t.check(reply == ve.Response(), "the client's reply", ve.Response(), reply)
    conn = await t.relay.connection("valueentity", VE_MODEL, eid)
    await conn.expect_in(ve_init(VE_MODEL, eid))
    await command(conn, 1, ve_request(eid), ve_reply(1, ve_response("")))
    message = await conn.next_in()
    entries = (
        list(message.command.metadata.entries)
        if isinstance(message, value_entity_pb2.ValueEntityStreamIn)
        else []
    )
    wanted = entity_pb2.MetadataEntry(key="x-tck-header", string_value="tck value")
    t.check(wanted in entries, "command 2 must carry the header as metadata", wanted, message)
    await conn.expect_out(ve_reply(2, ve_response("")))
