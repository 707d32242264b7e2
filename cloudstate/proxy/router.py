"""Routes a call to the entity that owns it, then performs what the entity asked for.

For every outcome of a component (an entity's reply, after its state change is durable, or an
action's response), in this order:

0. a **failure** fails the call at once: none of the side effects are performed;
0b. **durable side effects and timers** (``SideEffect.durable``) are recorded, not performed:
   an entity records them with its write; for actions and CRDT entities they are written here,
   in their own transaction, before anything below (docs/protocol-durable-calls.md);
1. **synchronous side effects**, one after the other in the order given; each is a full call of
   its target (with its own effects and forwards). If one fails, the call fails with that error —
   the component's own state change is already durable and is *not* undone — and the effects
   after it (and all asynchronous ones) are not performed;
2. the **client action**: a reply, a **forward** (the target is called with the forward's payload;
   its reply becomes the caller's, so forwards chain), a failure, or nothing;
3. **asynchronous side effects**, started once the reply exists; they never delay it. At most
   ``max_async_effects`` run at once and more wait for a slot, up to ``ASYNC_BACKLOG_FACTOR``
   times that many in flight (running or waiting); beyond that they are dropped with an error in
   the log. Their failures are logged.

**Idempotency keys** (:mod:`cloudstate.proxy.durable.idempotency`): entities deduplicate keyed
commands in their actors; for the other components (actions, CRDT entities) the router looks the
key up before calling them and stores their answer after. A replayed answer performs its client
action only. A forward of a keyed call carries the key ``<key>/<service>.<method>`` (so its
target deduplicates too); side effects inherit no key. Streamed calls take no key.

Every forward or side effect is one hop; a chain longer than ``max_forward_depth`` hops is cut
with :class:`ForwardLoop` naming the hops. The metadata of the call flows along forwards and side
effects; entries the forward / side effect sets itself replace entries of the same key.

One concern: the route of a call — the entity that owns it, then what its outcome asks for
(side effects, forwards), with the checks at the door (limits, authentication, metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import logs, metrics
from cloudstate.proxy.admission import QUEUE_TIMEOUT, Admission, retry_hint
from cloudstate.proxy.auth import JwtAuthenticator
from cloudstate.proxy.durable import keys as idempotency_keys
from cloudstate.proxy.durable.tasks import DurableTasks, Origin, split_side_effects
from cloudstate.proxy.entities.base import EntityHandler, Outcome, failure_error
from cloudstate.proxy.errors import (
    BadRequest,
    ForwardLoop,
    InternalMethod,
    Overloaded,
    ProtocolError,
    ProxyError,
    StoreUnavailable,
    UnknownMethod,
)
from cloudstate.proxy.model import MethodModel, UserFunctionModel
from cloudstate.proxy.stores.base import StoreError

if TYPE_CHECKING:
    from cloudstate.proxy.durable.idempotency import Idempotency
    from cloudstate.proxy.tracing import Tracing

log = logging.getLogger(__name__)

#: At most this many times ``max_async_effects`` asynchronous side effects run or wait at once.
ASYNC_BACKLOG_FACTOR = 8
#: Hops named at each end of the chain in a ForwardLoop message.
_CHAIN_SHOWN = 4


@dataclass(slots=True)
class RouterReply:
    """A reply for the client: the serialized output message and optional reply metadata
    (which ingresses turn into response headers)."""

    payload: bytes
    metadata: entity_pb2.Metadata | None = None


_EMPTY_REPLY = RouterReply(b"")


@dataclass(slots=True)
class _Effect:
    """A side effect whose target has been resolved."""

    target: MethodModel
    payload: bytes
    metadata: entity_pb2.Metadata | None
    synchronous: bool


class Router:
    """Dispatches commands to the handler of their service.

    Example::

        router = Router(model, {"com.example.ShoppingCart": handler}, report_error)
        reply = await router.call(method, request_bytes, metadata)
        reply.payload, reply.metadata  # response bytes, response headers (or None)

        async for reply in router.stream(method, request_bytes_or_async_iterator, metadata):
            ...  # one RouterReply per message for the client
    """

    def __init__(
        self,
        model: UserFunctionModel,
        handlers: dict[str, EntityHandler],
        report_error: Callable[[str], Awaitable[None]],
        *,
        max_forward_depth: int = 32,
        max_async_effects: int = 1024,
        max_requests: int = 0,
        max_streams: int = 0,
        max_queued: int = 0,
        queue_timeout: float = 0.0,
    ) -> None:
        self.model = model
        self.handlers = handlers
        self.report_error = report_error
        self.max_forward_depth = max_forward_depth
        self.max_async_effects = max(1, max_async_effects)
        self._async_effects: set[asyncio.Task[None]] = set()
        self._async_effect_slots = asyncio.Semaphore(self.max_async_effects)
        self._async_backlog = self.max_async_effects * ASYNC_BACKLOG_FACTOR
        self._metrics: dict[int, metrics.MethodMetrics] = {}  # by id(MethodModel)
        self._in_flight = metrics.IN_FLIGHT
        #: Requests (unary and streamed) being handled: at most ``max_requests`` (0: no limit);
        #: up to ``max_queued`` more wait ``queue_timeout`` seconds for a slot, then are refused
        #: with RESOURCE_EXHAUSTED (admission.py says why they wait).
        self.admission = admission = Admission(max_requests, max_queued, queue_timeout)
        metrics.QUEUED.set_function(lambda: admission.queued)
        self.max_requests = max_requests
        #: Streamed calls open; above ``max_streams`` new ones are refused (0: no limit).
        self.streams_open = 0
        self.max_streams = max_streams
        self._rejected_requests = metrics.REJECTED.labels("max_requests")
        self._rejected_queued = metrics.REJECTED.labels("queue_timeout")
        self._rejected_streams = metrics.REJECTED.labels("max_streams")
        #: Called with every reply a method returns (eventing: ``out.topic`` publishing); the call
        #: fails if it raises. Set by the EventingManager.
        self.publish_reply: Callable[[MethodModel, RouterReply], Awaitable[None]] | None = None
        #: Checks client requests' bearer tokens (``--jwt-key``); None: no authentication.
        self.auth: JwtAuthenticator | None = None
        #: With ``auth``: server reflection and ``/openapi.json`` need no token
        #: (``--public-api-docs``).
        self.public_docs = False
        #: OpenTelemetry spans (``--tracing``); None: off, one check per call.
        self.tracing: Tracing | None = None
        #: Records durable side effects and timers of actions and CRDT entities (entities record
        #: theirs with their own write); set by the proxy. None: asking for one is an error.
        self.durable: DurableTasks | None = None
        #: Idempotency keys; None: keys are ordinary metadata. Handlers with an ``idempotency``
        #: of their own (entities) deduplicate in their actors.
        self.idempotency: Idempotency | None = None

    @property
    def requests_in_flight(self) -> int:
        return self.admission.in_flight

    def _check_client_may_call(
        self,
        method: MethodModel,
        metadata: entity_pb2.Metadata | None,
        bound: metrics.MethodMetrics,
    ) -> None:
        """Refuse a client's call of an internal method, or without a valid token (--jwt-key)."""
        try:
            if method.internal:
                raise InternalMethod(
                    f"{method.service.name}.{method.name} is internal "
                    "((cloudstate.auth) = { internal: true }): only forwards, side effects, "
                    "timers, schedules and eventing may call it, not clients"
                )
            if self.auth is not None:
                self.auth.check(method, metadata)
        except ProxyError as error:
            bound.record(error.status.name, None)
            raise

    def check_client_access(
        self, method: MethodModel, metadata: entity_pb2.Metadata | None
    ) -> None:
        """Raise as a client's call of ``method`` would be refused (an internal method, no valid
        token with ``--jwt-key``); for endpoints that serve a method's data another way (the
        workflow progress feed)."""
        if method.internal or self.auth is not None:
            self._check_client_may_call(method, metadata, self._method_metrics(method))

    def check_docs_access(self, metadata: entity_pb2.Metadata | None, what: str) -> None:
        """Raise Unauthenticated unless a client may read the API's description (``what``:
        server reflection, ``/openapi.json``): open without ``--jwt-key`` or with
        ``--public-api-docs``, else a valid bearer token is needed, as for the services."""
        if self.auth is not None and not self.public_docs:
            self.auth.check_token(metadata, what)

    def _method_metrics(self, method: MethodModel) -> metrics.MethodMetrics:
        bound = self._metrics.get(id(method))
        if bound is None:
            bound = self._metrics[id(method)] = metrics.method_metrics(
                method.service.name, method.name
            )
        return bound

    def method(self, service_name: str, method_name: str) -> MethodModel:
        method = self.model.method(service_name, method_name)
        if method is None:
            raise UnknownMethod(f"unknown method {service_name}/{method_name}")
        return method

    @property
    def async_effects_in_flight(self) -> int:
        """Asynchronous side effects running or waiting for a slot."""
        return len(self._async_effects)

    def _handler(self, method: MethodModel) -> EntityHandler:
        handler = self.handlers.get(method.service.name)
        if handler is None:
            raise UnknownMethod(
                f"{method.service.name} ({method.service.entity_type}) is not served by this proxy"
            )
        return handler

    async def call(
        self,
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        depth: int = 0,
        trace: tuple[str, ...] = (),
        *,
        internal: bool = False,
        traced: bool = False,
        hop: str = "",
    ) -> RouterReply:
        """Call the unary ``method`` with serialized request bytes; returns the serialized
        response (the empty output message if the component sent no reply).

        ``depth`` and ``trace`` (the hops so far) are for forwards and side effects, ``hop``
        says which (``forward``, ``effect``, ``async effect``; for the trace span);
        ``internal`` calls (eventing) skip client authentication. ``traced``: already inside
        this call's span (tracing.py)."""
        if self.tracing is not None and not traced:
            return await self.tracing.call(
                self.call, method, payload, metadata, depth, trace, internal, hop
            )
        if depth:
            return await self._call(method, payload, metadata, depth, trace)
        bound = self._method_metrics(method)
        if not internal and (method.internal or self.auth is not None):
            self._check_client_may_call(method, metadata, bound)
        if not self.admission.enter_now():
            await self._admit(method, bound)
        in_flight = self._in_flight
        in_flight.inc()
        start = metrics.now()
        status = "UNKNOWN"
        try:
            reply = await self._call(method, payload, metadata, depth, trace)
            status = "OK"
            return reply
        except ProxyError as error:
            status = error.status.name
            raise
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        finally:
            self.admission.leave()
            in_flight.dec()
            bound.record(status, metrics.now() - start)

    async def _admit(self, method: MethodModel, bound: metrics.MethodMetrics) -> None:
        """All slots taken: wait in line for one, or raise Overloaded with a retry hint."""
        refusal = await self.admission.wait()
        if refusal is None:
            return
        admission = self.admission
        name = f"{method.service.name}.{method.name}"
        if refusal == QUEUE_TIMEOUT:
            self._rejected_queued.inc()
            why = (
                f"it waited {admission.timeout:g}s (--queue-timeout) for one of the "
                f"{admission.limit} slots (--max-concurrent-requests)"
            )
        else:
            self._rejected_requests.inc()
            why = (
                f"the proxy is handling {admission.in_flight} requests, its limit "
                f"(--max-concurrent-requests), and {admission.queued} more wait "
                "(--max-queued-requests)"
            )
        bound.record("RESOURCE_EXHAUSTED", None)
        retry_after = retry_hint(admission.timeout)
        raise Overloaded(
            f"{name} refused: {why}; retry after {retry_after:.1f}s", retry_after=retry_after
        )

    async def _call(
        self,
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        depth: int,
        trace: tuple[str, ...],
    ) -> RouterReply:
        handler = self._handler(method)
        entity_id = method.entity_id(payload) if method.key_fields else ""
        if logs.tagging and not depth:
            request_id = logs.client_request_id(metadata) or logs.next_request_id()
            logs.set_request(method.service.name, method.name, entity_id, request_id)
        guard = self.idempotency
        keyed = None
        if guard is not None and getattr(handler, "idempotency", None) is None:
            keyed = guard.keyed_call(method, payload, metadata)
        chain = (*trace, f"{method.service.name}.{method.name}")
        if keyed is None:
            outcome = await handler.handle(method, entity_id, payload, metadata)
        else:  # actions, CRDT entities: the router stores their answers

            async def run_and_record_durable_calls() -> Outcome:
                # The durable calls are recorded before the key's answer: a crash between the
                # two lets a retry run the call again, never lose its durable calls.
                outcome = await handler.handle(method, entity_id, payload, metadata)
                ordinary, calls = split_side_effects(outcome.side_effects)
                if not calls or outcome.client_action.WhichOneof("action") == "failure":
                    return outcome
                await self._record_durable(calls, chain)
                return dataclasses.replace(outcome, side_effects=ordinary)

            assert guard is not None
            outcome = await guard.call_once(keyed, run_and_record_durable_calls)
        reply = await self._perform(method, outcome, metadata, depth, chain)
        if reply is not None and self.publish_reply is not None and not outcome.published:
            await self.publish_reply(method, reply)
        return _EMPTY_REPLY if reply is None else reply

    async def call_any(
        self, method: MethodModel, payload: any_pb2.Any, metadata: entity_pb2.Metadata | None
    ) -> RouterReply:
        """Call the unary ``method`` with a message that is already an ``Any`` (eventing: the
        consumed event itself). A method taking ``google.protobuf.Any`` gets exactly this ``Any``
        where its handler can pass one on (actions: ``handle_any``); otherwise the ``Any``'s bytes
        are the request (its type is the method's input type)."""
        handler = self._handler(method)
        handle_any = getattr(handler, "handle_any", None)
        if method.input_type.full_name != "google.protobuf.Any" or handle_any is None:
            data = payload.value
            if method.input_type.full_name == "google.protobuf.Any":
                data = payload.SerializeToString()
            return await self.call(method, data, metadata, internal=True)
        outcome: Outcome = await handle_any(method, payload, metadata)
        chain = (f"{method.service.name}.{method.name}",)
        reply = await self._perform(method, outcome, metadata, 0, chain)
        if reply is not None and self.publish_reply is not None and not outcome.published:
            await self.publish_reply(method, reply)
        return _EMPTY_REPLY if reply is None else reply

    async def stream(
        self,
        method: MethodModel,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
        *,
        internal: bool = False,
        traced: bool = False,
    ) -> AsyncGenerator[RouterReply, None]:
        """Call a streamed method; yields one RouterReply per message for the client.

        ``requests`` is the one request of a server-streaming call (bytes), or an async iterator
        of the requests of a client-streaming or duplex call (bytes are accepted there too, as a
        stream of one message). A client-streaming method yields exactly one reply; a unary
        method may be called this way too (one reply). Errors are raised as
        :class:`~cloudstate.proxy.errors.ProxyError` and end the stream. Closing the iterator
        early (``aclose()``, or cancelling the task consuming it) cancels the user function's
        stream::

            async with contextlib.aclosing(router.stream(method, body, metadata)) as replies:
                async for reply in replies:
                    send(reply.payload)
        """
        if not method.client_streaming and not method.server_streaming:
            if not isinstance(requests, bytes):
                raise TypeError(f"{method.service.name}.{method.name} is unary: pass one request")
            yield await self.call(method, requests, metadata, internal=internal)
            return
        if self.tracing is not None and not traced:
            spanned = self.tracing.stream(self.stream, method, requests, metadata, internal)
            async with contextlib.aclosing(spanned):
                async for reply in spanned:
                    yield reply
            return
        bound = self._method_metrics(method)
        if not internal and (method.internal or self.auth is not None):
            self._check_client_may_call(method, metadata, bound)
        if not self.admission.enter_now():
            await self._admit(method, bound)
        if self.max_streams and self.streams_open >= self.max_streams:
            self.admission.leave()
            self._rejected_streams.inc()
            bound.record("RESOURCE_EXHAUSTED", None)
            raise Overloaded(
                f"{method.service.name}.{method.name} refused: {self.streams_open} streamed "
                "calls are open, the limit (--max-streams); retry later or close streams"
            )
        self._in_flight.inc()
        self.streams_open += 1
        status = "UNKNOWN"
        try:
            async with contextlib.aclosing(self._stream(method, requests, metadata)) as replies:
                async for reply in replies:
                    yield reply
            status = "OK"
        except ProxyError as error:
            status = error.status.name
            raise
        except (asyncio.CancelledError, GeneratorExit):
            status = "CANCELLED"
            raise
        finally:
            self.admission.leave()
            self.streams_open -= 1
            self._in_flight.dec()
            bound.record(status, None)

    async def _stream(
        self,
        method: MethodModel,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncGenerator[RouterReply, None]:
        handler = self._handler(method)
        if self.idempotency is not None and idempotency_keys.request_key(metadata) is not None:
            raise BadRequest(
                f"{method.service.name}.{method.name} is a streamed method: idempotency keys "
                "are for unary calls only (a stream's answer cannot be stored and replayed); "
                f"send it without {idempotency_keys.METADATA_KEY}"
            )
        handle_streamed = getattr(handler, "handle_streamed", None)
        if handle_streamed is None:
            raise UnknownMethod(
                f"streamed method {method.service.name}.{method.name} cannot be served: "
                f"{method.service.entity_type} services only take unary calls here"
            )
        if method.client_streaming and isinstance(requests, bytes):
            requests = _one(requests)
        if not method.client_streaming and not isinstance(requests, bytes):
            raise TypeError(
                f"{method.service.name}.{method.name} is server-streaming: pass one request"
            )
        entity_id = ""
        if method.key_fields and isinstance(requests, bytes):
            entity_id = method.entity_id(requests)
        chain = (f"{method.service.name}.{method.name}",)
        outcomes: AsyncIterator[Outcome] = handle_streamed(method, entity_id, requests, metadata)
        replied = False
        try:
            async for outcome in outcomes:
                reply = await self._perform(method, outcome, metadata, 0, chain)
                if reply is None:
                    continue
                if replied and not method.server_streaming:
                    raise ProtocolError(
                        f"{method.service.name}.{method.name} is client-streaming but the user "
                        "function sent more than one reply"
                    )
                replied = True
                if self.publish_reply is not None and not outcome.published:
                    await self.publish_reply(method, reply)
                yield reply
        finally:
            aclose = getattr(outcomes, "aclose", None)
            if aclose is not None:
                await aclose()
        if not replied and not method.server_streaming:
            yield _EMPTY_REPLY

    async def run_side_effects(
        self, method: MethodModel, effects: list[entity_pb2.SideEffect]
    ) -> None:
        """Perform side effects that come with no reply (e.g. a cancelled CRDT stream's)."""
        chain = (f"{method.service.name}.{method.name}",)
        await self._perform(method, Outcome(entity_pb2.ClientAction(), effects), None, 0, chain)

    async def _perform(
        self,
        method: MethodModel,
        outcome: Outcome,
        metadata: entity_pb2.Metadata | None,
        depth: int,
        chain: tuple[str, ...],
    ) -> RouterReply | None:
        """Side effects, then the client action, then the asynchronous effects (module doc).
        Returns None when the component sent no reply."""
        action = outcome.client_action
        kind = action.WhichOneof("action")
        if kind == "failure":  # a failed command or action performs none of its side effects
            raise failure_error(action.failure, grpc.StatusCode.INVALID_ARGUMENT)
        ordinary, calls = split_side_effects(outcome.side_effects)
        effects = [
            await self._resolve_effect(effect, metadata, depth, chain)
            for effect in ([] if outcome.replayed else ordinary)
        ]
        if calls:  # actions, CRDT entities (entities record theirs with their write)
            await self._record_durable(calls, chain)
        for effect in effects:
            if effect.synchronous:
                await self._synchronous_effect(effect, depth, chain)
        reply: RouterReply | None = None
        if kind == "reply":
            reply = await self._reply(method, action.reply, chain)
        elif kind == "forward":
            reply = await self._forward(method, action.forward, metadata, depth, chain)
        for effect in effects:
            if not effect.synchronous:
                self._start_async_effect(effect, depth, chain)
        return reply

    async def _record_durable(
        self, calls: list[entity_pb2.SideEffect], chain: tuple[str, ...]
    ) -> None:
        """Record the durable side effects and timers of an action or CRDT entity's response in
        their own transaction, before its reply is released (docs/protocol-durable-calls.md)."""
        what = _describe(chain)
        if self.durable is None:
            await self._user_function_error(
                f"{what} asked for durable calls, which this proxy does not record"
            )
        try:
            changes = self.durable.changes(calls, Origin(what))
        except ProtocolError as error:
            await self._user_function_error(error.message)
        try:
            await self.durable.write(changes)
        except StoreError as error:
            log.error("could not record the durable calls of %s: %s", what, error)
            raise StoreUnavailable(
                f"could not record the durable calls of {what}: {error}; the reply was withheld "
                "(the call itself ran): retry"
            ) from error

    async def _reply(
        self, method: MethodModel, reply: entity_pb2.Reply, chain: tuple[str, ...]
    ) -> RouterReply:
        if reply.payload.type_url and reply.payload.type_url != method.output_type_url:
            problem = (
                f"{_describe(chain)} replied with {reply.payload.type_url} but "
                f"{method.service.name}.{method.name} returns {method.output_type.full_name}"
            )
            log.warning("%s", problem)
            await self.report_error("Warning: " + problem)
        return RouterReply(
            bytes(reply.payload.value), reply.metadata if reply.HasField("metadata") else None
        )

    async def _forward(
        self,
        method: MethodModel,
        forward: entity_pb2.Forward,
        metadata: entity_pb2.Metadata | None,
        depth: int,
        chain: tuple[str, ...],
    ) -> RouterReply:
        what = f"forward from {_describe(chain)}"
        target = await self._target(
            what, forward.service_name, forward.command_name, forward.payload.type_url
        )
        if target.output_type.full_name != method.output_type.full_name:
            await self._user_function_error(
                f"{what} to {target.service.name}.{target.name}: the target returns "
                f"{target.output_type.full_name} but {method.service.name}.{method.name} must "
                f"reply with {method.output_type.full_name}"
            )
        await self._check_depth("forward", target, depth, chain)
        own = forward.metadata if forward.HasField("metadata") else None
        forward_metadata = merge_metadata(metadata, own)
        key = idempotency_keys.request_key(metadata) if self.idempotency is not None else None
        if key is not None and idempotency_keys.request_key(own) is None:
            derived = idempotency_keys.derived_key(key, target)
            forward_metadata = idempotency_keys.with_key(forward_metadata, derived)
        return await self.call(
            target, bytes(forward.payload.value), forward_metadata, depth + 1, chain, hop="forward"
        )

    async def _resolve_effect(
        self,
        effect: entity_pb2.SideEffect,
        metadata: entity_pb2.Metadata | None,
        depth: int,
        chain: tuple[str, ...],
    ) -> _Effect:
        what = f"side effect of {_describe(chain)}"
        target = await self._target(
            what, effect.service_name, effect.command_name, effect.payload.type_url
        )
        await self._check_depth("side effect", target, depth, chain)
        if self.idempotency is not None:  # a side effect inherits no key (durable ones have own)
            metadata = idempotency_keys.without_key(metadata)
        return _Effect(
            target,
            bytes(effect.payload.value),
            merge_metadata(metadata, effect.metadata if effect.HasField("metadata") else None),
            effect.synchronous,
        )

    async def _target(
        self, what: str, service_name: str, command_name: str, type_url: str
    ) -> MethodModel:
        """The method a forward or side effect names; reported to the user function and raised
        as a ProtocolError if it does not exist, streams or takes another message type."""
        try:
            return self.model.target(what, service_name, command_name, type_url)
        except ProtocolError as error:
            await self._user_function_error(error.message)

    async def _check_depth(
        self, kind: str, target: MethodModel, depth: int, chain: tuple[str, ...]
    ) -> None:
        if depth < self.max_forward_depth:
            return
        hops = (*chain, f"{target.service.name}.{target.name}")
        if len(hops) > 2 * _CHAIN_SHOWN:
            shown = " -> ".join((*hops[:_CHAIN_SHOWN], "...", *hops[-_CHAIN_SHOWN:]))
        else:
            shown = " -> ".join(hops)
        problem = (
            f"{kind} from {chain[-1]} to {hops[-1]} cut off: the chain of forwards and side "
            f"effects is longer than {self.max_forward_depth} hops (--max-forward-depth), "
            f"probably a loop: {shown}. Break the loop, or raise --max-forward-depth if the "
            "chain is meant to be this long"
        )
        log.warning("%s", problem)
        with contextlib.suppress(Exception):
            await self.report_error(problem)
        raise ForwardLoop(problem)

    async def _user_function_error(self, problem: str) -> NoReturn:
        log.error("%s", problem)
        with contextlib.suppress(Exception):
            await self.report_error(problem)
        raise ProtocolError(problem)

    async def _synchronous_effect(
        self, effect: _Effect, depth: int, chain: tuple[str, ...]
    ) -> None:
        try:
            await self.call(
                effect.target, effect.payload, effect.metadata, depth + 1, chain, hop="effect"
            )
        except ProxyError as error:
            if isinstance(error, ForwardLoop):
                raise
            raise ProxyError(
                f"synchronous side effect {effect.target.service.name}.{effect.target.name} of "
                f"{_describe(chain)} failed: {error.message} (the command itself was applied; "
                "its state change is kept)",
                error.status,
            ) from error

    def _start_async_effect(self, effect: _Effect, depth: int, chain: tuple[str, ...]) -> None:
        name = f"{effect.target.service.name}.{effect.target.name}"
        if len(self._async_effects) >= self._async_backlog:
            log.error(
                "asynchronous side effect %s of %s dropped: %d are already running or waiting "
                "(raise --max-async-effects?)",
                name,
                _describe(chain),
                len(self._async_effects),
            )
            return
        task = asyncio.create_task(
            self._run_async_effect(effect, depth, chain), name=f"side effect {name}"
        )
        self._async_effects.add(task)
        task.add_done_callback(self._async_effects.discard)

    async def _run_async_effect(self, effect: _Effect, depth: int, chain: tuple[str, ...]) -> None:
        async with self._async_effect_slots:
            try:
                await self.call(
                    effect.target,
                    effect.payload,
                    effect.metadata,
                    depth + 1,
                    chain,
                    hop="async effect",
                )
            except ForwardLoop:
                pass  # logged where the chain was cut
            except ProxyError as error:
                log.warning(
                    "asynchronous side effect %s.%s of %s failed: %s",
                    effect.target.service.name,
                    effect.target.name,
                    _describe(chain),
                    error.message,
                )
            except Exception:
                log.exception(
                    "asynchronous side effect %s.%s of %s failed",
                    effect.target.service.name,
                    effect.target.name,
                    _describe(chain),
                )

    async def drain(self) -> None:
        """Wait for running asynchronous side effects (at shutdown)."""
        while self._async_effects:
            await asyncio.gather(*self._async_effects, return_exceptions=True)


def merge_metadata(
    base: entity_pb2.Metadata | None, extra: entity_pb2.Metadata | None
) -> entity_pb2.Metadata | None:
    """``base`` with the entries of ``extra`` replacing every entry of the same key
    (case-insensitive); None when both are None."""
    if extra is None or not extra.entries:
        return base if base is not None else extra
    if base is None or not base.entries:
        return extra
    replaced = {entry.key.lower() for entry in extra.entries}
    merged = entity_pb2.Metadata(
        entries=[entry for entry in base.entries if entry.key.lower() not in replaced]
    )
    merged.entries.extend(extra.entries)
    return merged


def _describe(chain: tuple[str, ...]) -> str:
    """``Svc.M`` for the first hop, ``Svc.M (via A.X -> B.Y)`` further down a chain (long chains
    abbreviated to their ends)."""
    if len(chain) <= 1:
        return chain[-1] if chain else "?"
    via = chain[:-1]
    if len(via) > 3:
        return f"{chain[-1]} (via {via[0]} -> ... -> {via[-1]}, {len(via)} hops)"
    return f"{chain[-1]} (via {' -> '.join(via)})"


async def _one(request: bytes) -> AsyncIterator[bytes]:
    yield request
