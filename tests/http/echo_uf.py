"""The HTTP tests' user function: an event-sourced ``httptest.Echo`` entity that replies with what
it received (the request message and the request metadata), fails on request, and serves raw
``google.api.HttpBody`` bytes; and the ``httptest.Ticker`` action with the streamed call shapes.
Run: ``python tests/http/echo_uf.py`` with $HOST/$PORT set."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from google.api.httpbody_pb2 import HttpBody
from httptest.echo_pb2 import (
    _ECHO,
    _TICKER,
    DownloadRequest,
    EchoReply,
    EchoRequest,
    FailRequest,
    Tick,
    TickRequest,
    UploadRequest,
)
from httptest.echo_pb2 import DESCRIPTOR as ECHO_FILE

from cloudstate.action import Action
from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity

entity = EventSourcedEntity(_ECHO, [ECHO_FILE], lambda entity_id: None, persistence_id="echo")


def _echo(request: EchoRequest, ctx: EventSourcedCommandContext) -> EchoReply:
    reply = EchoReply(request=request, method=ctx.command_name)
    reply.inner.CopyFrom(request.inner)
    reply.items.extend(request.items)
    for key, value in ctx.metadata.entries():
        reply.metadata[key] = value if isinstance(value, str) else "bytes:" + value.hex()
    return reply


for _name in ("Get", "Post", "Put", "Delete", "Reset", "Plain", "Internal"):
    entity.command_handler(_name)(_echo)


@entity.command_handler("ViaInternal")
def via_internal(request: EchoRequest, ctx: EventSourcedCommandContext) -> None:
    ctx.forward("httptest.Echo", "Internal", request)


@entity.command_handler("Fail")
def fail(request: FailRequest, ctx: EventSourcedCommandContext) -> EchoReply:
    ctx.fail(request.message or "failed on request", request.code or None)


@entity.command_handler("Upload")
def upload(request: UploadRequest, ctx: EventSourcedCommandContext) -> EchoReply:
    reply = EchoReply(method="Upload")
    reply.metadata["content-type"] = request.body.content_type
    reply.metadata["data"] = request.body.data.decode("utf-8", "replace")
    return reply


@entity.command_handler("Download")
def download(request: DownloadRequest, ctx: EventSourcedCommandContext) -> HttpBody:
    return HttpBody(content_type=request.content_type or "text/plain", data=request.text.encode())


ticker = Action(_TICKER, [ECHO_FILE])


@ticker.streamed_out("Ticks")
async def ticks(request: TickRequest) -> AsyncIterator[Tick]:
    for n in range(request.count):
        yield Tick(n=n)


@ticker.streamed_in("Sum")
async def total(requests: AsyncIterator[Tick]) -> Tick:
    return Tick(n=sum([tick.n async for tick in requests]))


@ticker.streamed("Chat")
async def chat(requests: AsyncIterator[Tick]) -> AsyncIterator[Tick]:
    async for tick in requests:
        yield Tick(n=tick.n * 10)


@ticker.streamed_out("Files")
async def files(request: TickRequest) -> AsyncIterator[HttpBody]:
    for n in range(request.count):
        yield HttpBody(content_type="text/plain", data=f"chunk{n};".encode())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    CloudState().register_event_sourced_entity(entity).register_action(ticker).start()
