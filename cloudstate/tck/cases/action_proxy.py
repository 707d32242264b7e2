"""Proxy: actions in all four call shapes, from the client and the intercepted protocol calls.

Counterparts of the original's "verifying proxy test: action" (9 cases). As in the original,
metadata is ignored when comparing action messages (the proxy passes request headers on to
actions), and a proxy may cancel a stream it is done with instead of half-closing it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import grpc
from google.protobuf.message import Message

from cloudstate.protocol import entity_pb2
from cloudstate.tck.cases.proxy_support import post_json
from cloudstate.tck.context import TckContext
from cloudstate.tck.framework import PROXY, case
from cloudstate.tck.messages import (
    ACTION_MODEL,
    ACTION_TWO,
    action_command,
    action_effect,
    action_effect_step,
    action_fail_step,
    action_forward_step,
    action_group,
    action_message,
    action_reply_step,
    action_request,
    action_response,
    any_message,
    without_metadata,
)
from cloudstate.tck.model import action_pb2 as act
from cloudstate.tck.model import action_pb2_grpc as act_grpc
from cloudstate.tck.protocol import ProtocolStream
from cloudstate.tck.relay import Connection

GROUP = "action proxy"


def request(*steps: act.ProcessStep) -> act.Request:
    return action_request(action_group(*steps))


async def expect_in(conn: Connection, message: Any, what: str = "") -> None:
    await conn.expect_in(message, what, normalize=without_metadata)


async def expect_out(conn: Connection, message: Any, what: str = "") -> None:
    await conn.expect_out(message, what, normalize=without_metadata)


async def two_called(t: TckContext, target_id: str) -> None:
    """The proxy called ``ActionTwo.Call(OtherRequest(target_id))`` (a forward or a side
    effect), which answered an empty ``Response``."""
    payload = act.OtherRequest(id=target_id)
    conn = await t.relay.connection("action", ACTION_TWO, name="Call", payload=any_message(payload))
    await expect_in(conn, action_command("Call", payload, ACTION_TWO))
    await expect_out(conn, action_response(reply=""))


def check_reply(t: TckContext, reply: Any, message: str, what: str) -> None:
    t.check(reply == act.Response(message=message), what, act.Response(message=message), reply)


@case(
    PROXY,
    GROUP,
    "unary command processing",
    requires=[ACTION_MODEL],
    original="verify unary command processing",
)
async def unary(t: TckContext) -> None:
    """A unary call is one ``handleUnary`` with the client's request; its reply reaches the
    client."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    req = request(action_reply_step(f"one {t.entity_id('unary')}"))
    reply = await t.call(stub.ProcessUnary(req), "ProcessUnary")
    check_reply(t, reply, req.groups[0].steps[0].reply.message, "the client's reply")
    conn = await t.relay.connection(
        "action.unary", ACTION_MODEL, name="ProcessUnary", payload=any_message(req)
    )
    await expect_in(conn, action_command("ProcessUnary", req))
    await expect_out(conn, action_response(reply=req.groups[0].steps[0].reply.message))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "streamed-in command processing",
    requires=[ACTION_MODEL],
    original="verify streamed-in command processing",
)
async def streamed_in(t: TckContext) -> None:
    """A client-streaming call is a ``handleStreamedIn`` stream: the header (service and method,
    no payload), each request as a message, the end of the stream, and one response for the
    client."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    message = f"two {t.entity_id('in')}"
    req = request(action_reply_step(message))
    call = stub.ProcessStreamedIn()
    await t.within(call.write(req), "writing the request")
    await t.within(call.done_writing(), "ending the request stream")
    check_reply(t, await t.call(call, "ProcessStreamedIn"), message, "the client's reply")
    conn = await _header_connection(t, "action.streamed_in", "ProcessStreamedIn", req)
    await expect_in(conn, action_message(req))
    await conn.expect_closed_in()
    await expect_out(conn, action_response(reply=message))


async def _header_connection(t: TckContext, kind: str, name: str, first: act.Request) -> Connection:
    """The streamed call to ``name`` whose first request is ``first``; its header must be the
    service and method without a payload."""
    wanted = action_message(first)

    def matches(c: Connection) -> bool:
        header: Any = c.first
        return (
            c.kind == kind
            and header is not None
            and header.name == name
            and any(
                d == "in" and isinstance(m, Message) and without_metadata(m) == wanted
                for d, m in c.log
            )
        )

    conn = await t.relay.find(matches, f"{kind} call of {name} carrying the request")
    await expect_in(conn, action_command(name), "the header (service and method, no payload)")
    return conn


@case(
    PROXY,
    GROUP,
    "streamed-out command processing",
    requires=[ACTION_MODEL],
    original="verify streamed-out command processing",
)
async def streamed_out(t: TckContext) -> None:
    """A server-streaming call is one ``handleStreamedOut``; each response reaches the client
    in order, and the client's stream ends when the user function's does."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    token = t.entity_id("out")
    messages = [f"A {token}", f"B {token}", f"C {token}"]
    req = action_request(*(action_group(action_reply_step(m)) for m in messages))
    call = stub.ProcessStreamedOut(req)
    stream = t.track(ProtocolStream(call, "the client's ProcessStreamedOut", t.timeout))
    for m in messages:
        await stream.expect(act.Response(message=m), "a streamed reply")
    await stream.expect_end()
    conn = await t.relay.connection("action.streamed_out", ACTION_MODEL, payload=any_message(req))
    await expect_in(conn, action_command("ProcessStreamedOut", req))
    for m in messages:
        await expect_out(conn, action_response(reply=m))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "streamed command processing",
    requires=[ACTION_MODEL],
    original="verify streamed command processing",
)
async def streamed(t: TckContext) -> None:
    """A duplex call is one ``handleStreamed``: the header, then each request and its response
    in turn; when the client ends its requests, every stream ends."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    token = t.entity_id("duplex")
    messages = [f"X {token}", f"Y {token}", f"Z {token}"]
    stream = t.track(
        ProtocolStream(stub.ProcessStreamed(), "the client's ProcessStreamed", t.timeout)
    )
    for m in messages:
        await stream.send(request(action_reply_step(m)), f"request {m!r}")
        await stream.expect(act.Response(message=m), "the reply")
    await stream.close()
    conn = await _header_connection(
        t, "action.streamed", "ProcessStreamed", request(action_reply_step(messages[0]))
    )
    for m in messages:
        await expect_in(conn, action_message(request(action_reply_step(m))))
        await expect_out(conn, action_response(reply=m))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "unary forwards and side effects",
    requires=[ACTION_MODEL, ACTION_TWO],
    original="verify unary forwards and side effects",
)
async def unary_forwards_and_side_effects(t: TckContext) -> None:
    """A forward's target (``ActionTwo.Call``) is called and its reply is the client's; a side
    effect is called too, and the client gets the action's own reply."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    other = t.entity_id("other")
    req = request(action_forward_step(other))
    check_reply(
        t, await t.call(stub.ProcessUnary(req), "ProcessUnary (forward)"), "", "the client's reply"
    )
    conn = await t.relay.connection("action.unary", ACTION_MODEL, payload=any_message(req))
    await expect_in(conn, action_command("ProcessUnary", req))
    await expect_out(conn, action_response(forward_to=other))
    await two_called(t, other)
    another = t.entity_id("another")
    req = request(action_reply_step(""), action_effect_step(another))
    check_reply(
        t,
        await t.call(stub.ProcessUnary(req), "ProcessUnary (side effect)"),
        "",
        "the client's reply",
    )
    conn = await t.relay.connection("action.unary", ACTION_MODEL, payload=any_message(req))
    await expect_in(conn, action_command("ProcessUnary", req))
    await expect_out(conn, action_response(reply="", side_effects=[action_effect(another)]))
    await two_called(t, another)


@case(
    PROXY,
    GROUP,
    "streamed forwards and side effects",
    requires=[ACTION_MODEL, ACTION_TWO],
    original="verify streamed forwards and side effects",
)
async def streamed_forwards_and_side_effects(t: TckContext) -> None:
    """In a duplex call, a forward's target reply goes to the client's stream; a response with
    only a side effect sends the client nothing but calls the side effect."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    one, two = t.entity_id("one"), t.entity_id("two")
    stream = t.track(
        ProtocolStream(stub.ProcessStreamed(), "the client's ProcessStreamed", t.timeout)
    )
    first = request(action_forward_step(one))
    await stream.send(first, "a request to forward")
    await stream.expect(act.Response(), "the forward target's reply")
    conn = await _header_connection(t, "action.streamed", "ProcessStreamed", first)
    await expect_in(conn, action_message(first))
    await expect_out(conn, action_response(forward_to=one))
    await two_called(t, one)
    second = request(action_effect_step(two))
    await stream.send(second, "a request with only a side effect")
    await expect_in(conn, action_message(second))
    await expect_out(conn, action_response(side_effects=[action_effect(two)]))
    await two_called(t, two)
    await stream.expect_silence(0.1)
    await stream.close()
    await conn.expect_closed()


@case(PROXY, GROUP, "unary failures", requires=[ACTION_MODEL], original="verify unary failures")
async def unary_failures(t: TckContext) -> None:
    """A failure fails the client's call with its description and the proxy's status for user
    failures (ours: INVALID_ARGUMENT; the original: UNKNOWN)."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    description = f"expected failure {t.entity_id('fail')}"
    req = request(action_fail_step(description))
    await t.call_fails(stub.ProcessUnary(req), t.failure_status, description, "ProcessUnary")
    conn = await t.relay.connection("action.unary", ACTION_MODEL, payload=any_message(req))
    await expect_in(conn, action_command("ProcessUnary", req))
    await expect_out(conn, action_response(failure=description))


@case(
    PROXY, GROUP, "streamed failures", requires=[ACTION_MODEL], original="verify streamed failures"
)
async def streamed_failures(t: TckContext) -> None:
    """A failure in a duplex call ends the client's stream with its description and the
    proxy's status for user failures, and the user function's stream is ended too."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    description = f"expected failure {t.entity_id('fail')}"
    req = request(action_fail_step(description))
    call = stub.ProcessStreamed()
    t.track(ProtocolStream(call, "the client's ProcessStreamed", t.timeout))
    await t.within(call.write(req), "writing the request")
    try:
        message = await asyncio.wait_for(call.read(), t.timeout)
    except grpc.aio.AioRpcError as e:
        actual = f"{e.code().name}: {e.details()}"
        t.check(
            e.code() == t.failure_status and description in (e.details() or ""),
            "the client's stream must end with the failure",
            f"{t.failure_status.name}: {description}",
            actual,
        )
    except TimeoutError:
        t.fail(f"the client's stream did not end within {t.timeout:g}s after the failure")
    else:
        t.fail("the client's stream must end with the failure", description, message)
    conn = await _header_connection(t, "action.streamed", "ProcessStreamed", req)
    await expect_in(conn, action_message(req))
    await expect_out(conn, action_response(failure=description))
    await conn.expect_closed()


@case(
    PROXY,
    GROUP,
    "unary HTTP API",
    requires=[ACTION_MODEL],
    original="verify unary HTTP API",
    needs=["http"],
)
async def unary_http(t: TckContext) -> None:
    """``POST /tck/model/action/unary`` (the method's ``google.api.http`` rule) reaches the
    action; a failure answers the proxy's HTTP status for user failures (ours: 400; the
    original: 500) with the description in the body."""
    body = {"groups": [{"steps": [{"reply": {"message": "foo"}}]}]}
    await post_json(t, "/tck/model/action/unary", body, act.Response(message="foo"))
    conn = await t.relay.connection(
        "action.unary", ACTION_MODEL, payload=any_message(request(action_reply_step("foo")))
    )
    await expect_out(conn, action_response(reply="foo"))
    body = {"groups": [{"steps": [{"fail": {"message": "boom"}}]}]}
    async with t.session.http.post(
        t.http_url + "/tck/model/action/unary",
        json=body,
        timeout=aiohttp.ClientTimeout(total=t.timeout),
    ) as response:
        text = await response.text()
    t.check(
        response.status == t.failure_http_status and "boom" in text,
        "a failure over HTTP",
        f"HTTP {t.failure_http_status} with 'boom' in the body",
        f"HTTP {response.status}: {text}",
    )
    conn = await t.relay.connection(
        "action.unary", ACTION_MODEL, payload=any_message(request(action_fail_step("boom")))
    )
    await expect_out(conn, action_response(failure="boom"))


@case(PROXY, GROUP, "request metadata reaches the action", requires=[ACTION_MODEL])
async def request_metadata(t: TckContext) -> None:
    """New (the original's interceptor ignored action metadata): a client's custom request
    header arrives as a string entry of ``ActionCommand.metadata``."""
    stub = act_grpc.ActionTckModelStub(t.proxy)
    message = f"meta {t.entity_id('meta')}"
    req = request(action_reply_step(message))
    reply = await t.call(
        stub.ProcessUnary(req, metadata=(("x-tck-header", "tck value"),)), "ProcessUnary"
    )
    check_reply(t, reply, message, "the client's reply")
    conn = await t.relay.connection("action.unary", ACTION_MODEL, payload=any_message(req))
    first: Any = conn.first
    wanted = entity_pb2.MetadataEntry(key="x-tck-header", string_value="tck value")
    t.check(
        wanted in list(first.metadata.entries),
        "the action command must carry the client's header as metadata",
        wanted,
        first,
    )
    await expect_out(conn, action_response(reply=message))
