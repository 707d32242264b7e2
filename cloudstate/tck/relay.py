"""The intercepting relay: a gRPC server between the proxy under test and the user function.

The proxy is pointed at the relay as if it were the user function. The relay forwards every
protocol call (discovery, ``EventSourced``, ``ValueEntity``, ``Crdt``, ``ActionProtocol``) to the
real user function and records both directions, so proxy cases can check what the proxy sent and
what it was answered::

    relay = Relay("127.0.0.1:8080")            # the real user function
    port = await relay.start("127.0.0.1", 0)   # point the proxy at this port
    ...
    conn = await relay.connection("eventsourced", service, entity_id)
    await conn.expect_in(es_command(1, entity_id, request))
    await conn.expect_out(es_reply(1, es_response("A")))

Discovery: the relay passes the proxy's ``ProxyInfo`` on and answers with the user function's
``EntitySpec`` minus the entities whose type the proxy did not list as supported (their cases are
then skipped, not failed). A proxy whose ``ProxyInfo`` does not list ``cloudstate.workflows/1``
is passed on with it added (a user function serving workflows refuses such a proxy outright),
and the workflows are left out of its answer. Every discovery and ``reportError`` is recorded.
Workflow calls (``cloudstate.workflow.Workflows``, all unary) are relayed by
:mod:`cloudstate.tck.relay_workflows`.

One concern: the recording relay (one relay per protocol service, all recording alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from cloudstate.protocol import (
    action_pb2,
    action_pb2_grpc,
    crdt_pb2,
    entity_pb2,
    entity_pb2_grpc,
    event_sourced_pb2_grpc,
    value_entity_pb2_grpc,
)
from cloudstate.tck import crdt_v00, relay_workflows
from cloudstate.tck.framework import CaseFailed
from cloudstate.tck.protocol import END_OF_STREAM, Normalizer, compare

log = logging.getLogger(__name__)

_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]

#: The workflows protocol extension (``ProxyInfo.extensions``) and its entity type.
WORKFLOWS_EXTENSION = "cloudstate.workflows/1"
WORKFLOWS_TYPE = "cloudstate.workflow.Workflows"

# Headers of the proxy's calls that are transport details, not to be copied upstream.
_SKIP_HEADERS = {"content-type", "te", "user-agent", "grpc-accept-encoding", "accept-encoding"}


@dataclass(frozen=True)
class End:
    """The end of one direction of a recorded stream: ``status`` "OK" is a normal completion."""

    status: str = "OK"

    def __str__(self) -> str:
        return END_OF_STREAM if self.status == "OK" else f"<stream ended: {self.status}>"


@dataclass
class Discovery:
    """One recorded ``discover`` call."""

    proxy_info: entity_pb2.ProxyInfo
    spec: entity_pb2.EntitySpec | None = None  # as the user function answered
    served: entity_pb2.EntitySpec | None = None  # as passed on to the proxy
    error: str | None = None
    claimed: bool = False


@dataclass
class Connection:
    """One recorded protocol call between the proxy and the user function."""

    kind: str  # eventsourced, valueentity, crdt, action.unary, action.streamed_in, ...
    timeout: float
    first: Message | None = None
    claimed: bool = False
    incoming: asyncio.Queue[Message | End] = field(default_factory=asyncio.Queue)
    outgoing: asyncio.Queue[Message | End] = field(default_factory=asyncio.Queue)
    first_seen: asyncio.Event = field(default_factory=asyncio.Event)
    #: Both directions interleaved in arrival order: ("in" | "out", message or End).
    log: list[tuple[str, Message | End]] = field(default_factory=list)
    #: Turns what a case expects into the format this stream speaks (CRDT streams of a user
    #: function on the earlier format: :class:`~cloudstate.tck.crdt_v00.Expect00`), with the
    #: normalizer for that format.
    expect_format: Callable[[Message], Message] | None = None
    format_normalizer: Normalizer | None = None
    _in_ended: bool = False
    _out_ended: bool = False

    @property
    def label(self) -> str:
        if self.first is None:
            return f"{self.kind} stream"
        init = getattr(self.first, "init", None)
        if init is not None and self.first.HasField("init"):
            return f"{self.kind} stream of {init.service_name} (entity {init.entity_id!r})"
        if isinstance(self.first, action_pb2.ActionCommand):
            return f"{self.kind} call {self.first.service_name}/{self.first.name}"
        workflow_id = relay_workflows.workflow_id_of(self.first)
        if workflow_id is not None:
            return f"{self.kind} call of workflow {workflow_id!r}"
        return f"{self.kind} stream"

    # -- recording (relay side) ------------------------------------------------------------------

    def record_in(self, message: Message) -> None:
        if self.first is None:
            self.first = message
            self.first_seen.set()
        self.incoming.put_nowait(message)
        self.log.append(("in", message))

    def end_in(self, status: str = "OK") -> None:
        if not self._in_ended:
            self._in_ended = True
            self.incoming.put_nowait(End(status))
            self.log.append(("in", End(status)))
            self.first_seen.set()

    def record_out(self, message: Message) -> None:
        self.outgoing.put_nowait(message)
        self.log.append(("out", message))

    def end_out(self, status: str = "OK") -> None:
        if not self._out_ended:
            self._out_ended = True
            self.outgoing.put_nowait(End(status))
            self.log.append(("out", End(status)))

    # -- expectations (case side) ----------------------------------------------------------------

    async def _next(self, queue: asyncio.Queue[Message | End], direction: str) -> Message | End:
        try:
            return await asyncio.wait_for(queue.get(), self.timeout)
        except TimeoutError:
            raise CaseFailed(
                f"{self.label}: nothing {direction} within {self.timeout:g}s"
            ) from None

    async def expect_in(
        self, expected: Message, what: str = "", normalize: Normalizer | None = None
    ) -> Message:
        """The next message the proxy sent on this stream must equal ``expected``."""
        actual = await self._next(self.incoming, "sent by the proxy")
        label = f"{self.label}: {what or 'unexpected message from the proxy'}"
        expected, normalize = self._in_format(expected, normalize)
        if isinstance(actual, End):
            raise CaseFailed(label, expected, str(actual))
        compare(label, expected, actual, normalize)
        return actual

    async def expect_out(
        self, expected: Message, what: str = "", normalize: Normalizer | None = None
    ) -> Message:
        """The next message the user function sent on this stream must equal ``expected``."""
        actual = await self._next(self.outgoing, "sent by the user function")
        label = f"{self.label}: {what or 'unexpected message from the user function'}"
        expected, normalize = self._in_format(expected, normalize)
        if isinstance(actual, End):
            raise CaseFailed(label, expected, str(actual))
        compare(label, expected, actual, normalize)
        return actual

    def _in_format(
        self, expected: Message, normalize: Normalizer | None
    ) -> tuple[Message, Normalizer | None]:
        if self.expect_format is None:
            return expected, normalize
        return self.expect_format(expected), (normalize and self.format_normalizer)

    async def next_in(self) -> Message | End:
        return await self._next(self.incoming, "sent by the proxy")

    async def next_out(self) -> Message | End:
        return await self._next(self.outgoing, "sent by the user function")

    async def expect_closed_in(self) -> None:
        """The proxy must have completed its side of the stream (the client's end of input)."""
        actual = await self._next(self.incoming, "ending the stream (proxy side)")
        if not isinstance(actual, End) or actual.status != "OK":
            raise CaseFailed(
                f"{self.label}: expected the proxy to complete its side", END_OF_STREAM, actual
            )

    async def expect_closed(self, *, allow_cancel: bool = True) -> None:
        """Both directions must end (the proxy closes or cancels, the user function completes).

        With ``allow_cancel`` (the default) a proxy that cancels the stream instead of
        half-closing it passes too: proxies may cancel streams they are done with, since some
        language supports never complete their side.
        """
        for queue, direction in ((self.incoming, "proxy"), (self.outgoing, "user function")):
            actual = await self._next(queue, f"ending the stream ({direction} side)")
            if not isinstance(actual, End):
                raise CaseFailed(
                    f"{self.label}: expected the {direction} to end the stream",
                    END_OF_STREAM,
                    actual,
                )
            if actual.status != "OK" and not (allow_cancel and actual.status == "CANCELLED"):
                raise CaseFailed(
                    f"{self.label}: the {direction} side ended with an error",
                    END_OF_STREAM,
                    str(actual),
                )


Matcher = Callable[[Connection], bool]


class Relay:
    """See the module docstring."""

    def __init__(self, user_function: str, timeout: float = 3.0) -> None:
        self.user_function = user_function
        self.timeout = timeout
        self.connections: list[Connection] = []
        self.discoveries: list[Discovery] = []
        self.reported_errors: list[str] = []
        self._changed = asyncio.Condition()
        #: Whether the user function speaks the earlier CRDT format (it reported protocol 0.0
        #: in discovery): its CRDT streams are relayed and recorded in those messages.
        self.earlier_crdt = False
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port); returns the bound port."""
        self._channel = grpc.aio.insecure_channel(self.user_function)
        server = grpc.aio.server()
        entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(
            _DiscoveryRelay(self, entity_pb2_grpc.EntityDiscoveryStub(self._channel)), server
        )
        event_sourced_pb2_grpc.add_EventSourcedServicer_to_server(
            _StreamRelay(self, "eventsourced", event_sourced_pb2_grpc.EventSourcedStub), server
        )
        value_entity_pb2_grpc.add_ValueEntityServicer_to_server(
            _StreamRelay(self, "valueentity", value_entity_pb2_grpc.ValueEntityStub), server
        )
        server.add_generic_rpc_handlers((_crdt_handler(self),))
        action_pb2_grpc.add_ActionProtocolServicer_to_server(
            _ActionRelay(self, action_pb2_grpc.ActionProtocolStub(self._channel)), server
        )
        relay_workflows.add_to_server(self, server, _forwarded_metadata)
        self.port = server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"the TCK relay cannot listen on {host}:{port}")
        await server.start()
        self._server = server
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0.5)
        if self._channel is not None:
            await self._channel.close(None)

    @property
    def channel(self) -> grpc.aio.Channel:
        assert self._channel is not None, "relay not started"
        return self._channel

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _new_connection(self, kind: str) -> Connection:
        connection = Connection(kind, self.timeout)
        if kind == "crdt" and self.earlier_crdt:
            connection.expect_format = crdt_v00.Expect00()
            connection.format_normalizer = crdt_v00.sorted_00
        self.connections.append(connection)
        return connection

    def crdt_message_types(self) -> tuple[type[Message], type[Message]]:
        """``(CrdtStreamIn, CrdtStreamOut)`` of the user function's CRDT format."""
        if self.earlier_crdt:
            return crdt_v00.STREAM_IN, crdt_v00.STREAM_OUT
        return crdt_pb2.CrdtStreamIn, crdt_pb2.CrdtStreamOut

    # -- what cases use ---------------------------------------------------------------------------

    async def connection(
        self,
        kind: str,
        service: str,
        entity_id: str | None = None,
        *,
        name: str | None = None,
        payload: Message | None = None,
        wait: float | None = None,
        what: str = "",
    ) -> Connection:
        """The oldest unclaimed recorded stream of ``kind`` for ``service`` (and ``entity_id``,
        or for actions the command ``name`` and ``payload``: an ``Any``), waiting up to ``wait``
        seconds for it to appear."""

        def matches(c: Connection) -> bool:
            if c.claimed or not c.kind.startswith(kind) or c.first is None:
                return False
            first: Any = c.first
            if isinstance(first, action_pb2.ActionCommand):
                return (
                    first.service_name == service
                    and (name is None or first.name == name)
                    and (payload is None or first.payload == payload)
                )
            if not first.HasField("init"):
                return False
            init = first.init
            return init.service_name == service and (
                entity_id is None or init.entity_id == entity_id
            )

        found = await self._wait_for(matches, wait)
        if found is None:
            target = f"{service}" + (f" (entity {entity_id!r})" if entity_id else "")
            target += f" {name}" if name else ""
            raise CaseFailed(
                what
                or f"the proxy opened no {kind} stream for {target} "
                f"within {wait or self.timeout:g}s"
            )
        found.claimed = True
        return found

    async def find(self, matches: Matcher, what: str, wait: float | None = None) -> Connection:
        """The oldest unclaimed recorded call for which ``matches`` is true (waiting up to
        ``wait`` seconds); claims it. ``what`` describes it when none turns up."""
        found = await self._wait_for(lambda c: not c.claimed and matches(c), wait)
        if found is None:
            raise CaseFailed(f"the proxy made no {what} within {wait or self.timeout:g}s")
        found.claimed = True
        return found

    async def _wait_for(self, matches: Matcher, wait: float | None) -> Connection | None:
        deadline = asyncio.get_running_loop().time() + (wait or self.timeout)

        def pick() -> Connection | None:
            return next((c for c in self.connections if matches(c)), None)

        async with self._changed:
            while True:
                found = pick()
                if found is not None:
                    return found
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def discovery(self, wait: float | None = None) -> Discovery:
        """The oldest unclaimed recorded discovery, waiting up to ``wait`` seconds."""
        deadline = asyncio.get_running_loop().time() + (wait or self.timeout)
        async with self._changed:
            while True:
                for d in self.discoveries:
                    if not d.claimed and (d.spec is not None or d.error is not None):
                        d.claimed = True
                        return d
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise CaseFailed(
                        f"the proxy did not call discover within {wait or self.timeout:g}s"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    def unclaimed(self, entity_ids: set[str]) -> list[Connection]:
        """Recorded entity streams and workflow calls for ``entity_ids`` that no case has looked
        at."""
        found = []
        for c in self.connections:
            first: Any = c.first
            if c.claimed or first is None or isinstance(first, action_pb2.ActionCommand):
                continue
            if c.kind.startswith("workflow."):
                if relay_workflows.workflow_id_of(first) in entity_ids:
                    found.append(c)
            elif first.HasField("init") and first.init.entity_id in entity_ids:
                found.append(c)
        return found

    def ignore(self, entity_id: str) -> None:
        """Mark every stream recorded so far for ``entity_id`` as claimed."""
        for c in self.unclaimed({entity_id}):
            c.claimed = True


def _forwarded_metadata(context: grpc.aio.ServicerContext[Any, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in (context.invocation_metadata() or ())
        if k not in _SKIP_HEADERS and not k.startswith(":")
    ]


def _status_of(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code().name
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return type(error).__name__


class _DiscoveryRelay:
    def __init__(self, relay: Relay, stub: Any) -> None:
        self.relay = relay
        self.stub = stub

    async def discover(
        self, request: entity_pb2.ProxyInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> entity_pb2.EntitySpec:
        record = Discovery(proxy_info=request)
        self.relay.discoveries.append(record)
        # A user function serving a workflow refuses a proxy that does not list the workflows
        # extension; ask as if it did, and leave the workflows out of what the proxy is told
        # (their cases are then skipped, as for an entity type the proxy does not support).
        without_workflows = WORKFLOWS_EXTENSION not in request.extensions
        upstream = entity_pb2.ProxyInfo()
        upstream.CopyFrom(request)
        if without_workflows:
            upstream.extensions.append(WORKFLOWS_EXTENSION)
        try:
            spec: entity_pb2.EntitySpec = await self.stub.discover(upstream, timeout=30)
        except grpc.aio.AioRpcError as e:
            record.error = f"{e.code().name}: {e.details()}"
            await self.relay._notify()
            await context.abort(e.code(), e.details() or "")
            raise
        record.spec = spec
        info = spec.service_info
        self.relay.earlier_crdt = crdt_v00.speaks_earlier_crdt(
            info.protocol_major_version, info.protocol_minor_version
        )
        served = entity_pb2.EntitySpec()
        served.CopyFrom(spec)
        supported = set(request.supported_entity_types)
        if without_workflows:
            supported.discard(WORKFLOWS_TYPE)
        if supported or without_workflows:
            del served.entities[:]
            served.entities.extend(
                e
                for e in spec.entities
                if (not supported or e.entity_type in supported)
                and not (without_workflows and e.entity_type == WORKFLOWS_TYPE)
            )
        record.served = served
        await self.relay._notify()
        return served

    async def reportError(
        self, request: entity_pb2.UserFunctionError, context: grpc.aio.ServicerContext[Any, Any]
    ) -> empty_pb2.Empty:
        self.relay.reported_errors.append(request.message)
        log.info("the proxy reported an error to the user function: %s", request.message)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self.stub.reportError(request, timeout=5)
        return empty_pb2.Empty()


class _StreamRelay:
    """Relays the bidirectional ``handle`` stream of an entity protocol service."""

    def __init__(self, relay: Relay, kind: str, stub_class: Any) -> None:
        self.relay = relay
        self.kind = kind
        self.stub_class = stub_class

    async def handle(
        self, request_iterator: AsyncIterator[Message], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        connection = self.relay._new_connection(self.kind)
        upstream = self.stub_class(self.relay.channel).handle(metadata=_forwarded_metadata(context))
        await _relay_bidi(self.relay, connection, upstream, request_iterator, context)


class _CrdtStub:
    """``Crdt.handle`` towards the user function, in the messages of its CRDT format."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def handle(self, metadata: list[tuple[str, Any]]) -> Any:
        _, stream_out = self.relay.crdt_message_types()
        call: Any = self.relay.channel.stream_stream(
            "/cloudstate.crdt.Crdt/handle",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=stream_out.FromString,
        )
        return call(metadata=metadata)


def _crdt_handler(relay: Relay) -> grpc.GenericRpcHandler:  # type: ignore[type-arg]
    """The relay's ``Crdt.handle``: the messages' format is chosen per call, after discovery."""
    stream = _StreamRelay(relay, "crdt", lambda channel: _CrdtStub(relay))

    def parse_in(data: bytes) -> Message:
        stream_in, _ = relay.crdt_message_types()
        return stream_in.FromString(data)

    return grpc.method_handlers_generic_handler(
        "cloudstate.crdt.Crdt",
        {
            "handle": grpc.stream_stream_rpc_method_handler(
                stream.handle,
                request_deserializer=parse_in,
                response_serializer=lambda message: message.SerializeToString(),
            )
        },
    )


async def _relay_bidi(
    relay: Relay,
    connection: Connection,
    upstream: Any,
    request_iterator: AsyncIterator[Message],
    context: grpc.aio.ServicerContext[Any, Any],
) -> None:
    """Pump proxy->UF and UF->proxy, recording both, until both directions have ended."""

    async def pump_in() -> None:
        try:
            async for message in request_iterator:
                connection.record_in(message)
                await relay._notify()
                await upstream.write(message)
            connection.end_in()
            await relay._notify()
            with contextlib.suppress(Exception):
                await upstream.done_writing()
        except Exception as e:  # the proxy's side broke, or the upstream call ended
            connection.end_in(_status_of(e))
            await relay._notify()

    pumping = asyncio.create_task(pump_in())
    try:
        while True:
            message = await upstream.read()
            if message is _EOF:
                connection.end_out()
                break
            connection.record_out(message)
            await context.write(message)
        await relay._notify()
    except asyncio.CancelledError:
        # The proxy cancelled the call.
        connection.end_in("CANCELLED")
        connection.end_out("CANCELLED")
        upstream.cancel()
        await relay._notify()
        raise
    except grpc.aio.AioRpcError as e:
        connection.end_out(e.code().name)
        await relay._notify()
        await context.abort(e.code(), e.details() or "")
    finally:
        if not pumping.done():
            # Let the proxy's side finish on its own (it usually already has).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(pumping), 0.5)
            pumping.cancel()


class _ActionRelay:
    """Relays the four ``ActionProtocol`` calls."""

    def __init__(self, relay: Relay, stub: Any) -> None:
        self.relay = relay
        self.stub = stub

    async def handleUnary(
        self, request: action_pb2.ActionCommand, context: grpc.aio.ServicerContext[Any, Any]
    ) -> action_pb2.ActionResponse:
        connection = self.relay._new_connection("action.unary")
        connection.record_in(request)
        connection.end_in()
        await self.relay._notify()
        try:
            response: action_pb2.ActionResponse = await self.stub.handleUnary(
                request, metadata=_forwarded_metadata(context)
            )
        except grpc.aio.AioRpcError as e:
            connection.end_out(e.code().name)
            await self.relay._notify()
            await context.abort(e.code(), e.details() or "")
            raise
        connection.record_out(response)
        connection.end_out()
        await self.relay._notify()
        return response

    async def handleStreamedIn(
        self,
        request_iterator: AsyncIterator[action_pb2.ActionCommand],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> action_pb2.ActionResponse | None:
        connection = self.relay._new_connection("action.streamed_in")

        async def requests() -> AsyncIterator[action_pb2.ActionCommand]:
            async for message in request_iterator:
                connection.record_in(message)
                await self.relay._notify()
                yield message
            connection.end_in()
            await self.relay._notify()

        try:
            response: action_pb2.ActionResponse = await self.stub.handleStreamedIn(
                requests(), metadata=_forwarded_metadata(context)
            )
        except grpc.aio.AioRpcError as e:
            connection.end_in(e.code().name)
            connection.end_out(e.code().name)
            await self.relay._notify()
            await context.abort(e.code(), e.details() or "")
            return None
        connection.record_out(response)
        connection.end_out()
        await self.relay._notify()
        return response

    async def handleStreamedOut(
        self, request: action_pb2.ActionCommand, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        connection = self.relay._new_connection("action.streamed_out")
        connection.record_in(request)
        connection.end_in()
        await self.relay._notify()
        upstream = self.stub.handleStreamedOut(request, metadata=_forwarded_metadata(context))
        try:
            while True:
                message = await upstream.read()
                if message is _EOF:
                    connection.end_out()
                    break
                connection.record_out(message)
                await context.write(message)
            await self.relay._notify()
        except asyncio.CancelledError:
            connection.end_out("CANCELLED")
            upstream.cancel()
            await self.relay._notify()
            raise
        except grpc.aio.AioRpcError as e:
            connection.end_out(e.code().name)
            await self.relay._notify()
            await context.abort(e.code(), e.details() or "")

    async def handleStreamed(
        self,
        request_iterator: AsyncIterator[action_pb2.ActionCommand],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        connection = self.relay._new_connection("action.streamed")
        upstream = self.stub.handleStreamed(metadata=_forwarded_metadata(context))
        await _relay_bidi(self.relay, connection, upstream, request_iterator, context)
