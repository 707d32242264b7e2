"""CRDT entities: per active entity a replica of the merged state and one ``Crdt.handle`` stream.

Unlike event-sourced and value entities, CRDT commands are not serialized: several may be in
flight at the user function at once and replies may come back in any order. The actor therefore
has a reader task that dispatches every message of the stream by command id.

* **State** is the proxy's CRDT (:mod:`cloudstate.proxy.crdt.types`), loaded from the store on
  activation and sent to the user function as the ``init`` delta. A reply's ``update`` delta is
  applied to it and the whole state is written to the store — durable before the reply is released,
  whatever the write consistency (on one node LOCAL, MAJORITY and ALL all mean "committed to the
  store"; the PostgreSQL store extends the same rule to several nodes).
* **Remote changes** (another node's state, merged with :meth:`CrdtActor.merge_remote`) are pushed
  to the user function as deltas only while none of its mutations is outstanding ("taking turns",
  §1.5); meanwhile they wait.
* **Streamed commands**: a reply with ``streamed`` keeps the client's stream open; every
  ``CrdtStreamedMessage`` for that command id goes to it, ``end_stream`` closes it, and a client
  cancellation sends ``StreamCancelled`` and applies the user function's cancel response.
* **Delete** removes the stored state and ends the stream; the next command starts a new, empty
  entity. **Passivation** happens only when no command and no streamed call is open.
* **Time-to-live** (``option (cloudstate.entity_ttl)``): every write sets the state's expiry (the
  write's time plus the TTL). An idle replica passivates at its expiry and a command for an
  expired idle replica starts a fresh one (the store reads it as absent). A replica busy at its
  expiry (a command in flight, a streamed call open) keeps serving until it is idle; an update
  it writes meanwhile makes the state live again.

One concern: the CRDT entity kind in the proxy, handler and actor (its commands are not
serialized, so it does not build on :class:`~cloudstate.proxy.entities.actor.EntityActor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from cloudstate.protocol import crdt_pb2, entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.crdt import codec, protocol00
from cloudstate.proxy.crdt.types import Crdt, IncompatibleDelta
from cloudstate.proxy.crdt.wire import apply_delta, diff, full_delta, now_millis, view
from cloudstate.proxy.entities.actor import entity_overloaded, rpc_details
from cloudstate.proxy.entities.base import (
    _EOF,
    Outcome,
    failure_error,
    finish_stream,
    rpc_failed,
    wait_until_reachable,
)
from cloudstate.proxy.entities.event_sourced import EntitySettings
from cloudstate.proxy.errors import (
    CommandTimeout,
    ProtocolError,
    ProxyError,
    StoreUnavailable,
    UserFunctionUnavailable,
)
from cloudstate.proxy.model import MethodModel, ServiceModel
from cloudstate.proxy.stores.base import ConcurrentWriteError, Payload, Store, StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

StreamIn = crdt_pb2.CrdtStreamIn
#: CRDT state lives in the value table under this prefix of the service's persistence id.
STORE_PREFIX = "crdt:"
#: Replica id in CRDT states of a proxy that owns its store alone (SQLite): stable across
#: restarts, so a restarted proxy continues its own counts and votes.
SOLE_NODE = "node-1"
#: Replica id of this process on a store shared by several proxies: unique, so that nodes never
#: write each other's entries (a restarted proxy is a new replica).
PROCESS_NODE = f"proxy-{uuid.uuid4().hex[:12]}"


@dataclass(slots=True)
class _Stream:
    """A client's streamed call: messages for it, and whether the user function keeps it open."""

    queue: asyncio.Queue[Outcome | BaseException | None] = field(default_factory=asyncio.Queue)
    open: bool = True


class CrdtHandler:
    """Routes the commands of one CRDT service to its entity replicas."""

    def __init__(
        self,
        service: ServiceModel,
        channel: grpc.aio.Channel,
        store: Store,
        settings: EntitySettings,
        report_error: Callable[[str], Awaitable[None]],
        node: str | None = None,
    ) -> None:
        self.service = service
        self.store = store
        self.settings = settings
        self.report_error = report_error
        self.node = node or (PROCESS_NODE if store.shared else store.replica_id or SOLE_NODE)
        self.channel = channel
        #: Opens one ``Crdt.handle`` stream in the CRDT format of the user function's protocol.
        self.open_stream = protocol00.stream_factory(channel, service.protocol)
        self.passivation_timeout = service.passivation_timeout or settings.passivation_timeout
        self.store_id = STORE_PREFIX + service.persistence_id
        self._actors: dict[str, CrdtActor] = {}
        self._closed = False
        self.metrics = metrics.EntityMetrics(service.entity_type, service.name)
        self._rejected = metrics.REJECTED.labels("per_entity")
        #: Runs the side effects of a cancelled stream's response (set once the router exists).
        self.on_cancel_effects: Callable[[list[entity_pb2.SideEffect]], Awaitable[None]] | None = (
            None
        )
        # Change notices from the other nodes of a shared store (see :meth:`on_remote_change`).
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._subscribing: asyncio.Task[None] | None = None
        if store.shared or store.replica_id:  # other nodes, or other workers, write it too
            self._subscribing = asyncio.get_running_loop().create_task(self._subscribe())

    async def _subscribe(self) -> None:
        self._unsubscribe = await self.store.subscribe_changes(self.on_remote_change)

    def on_remote_change(self, store_id: str, entity_id: str) -> None:
        """Another node committed ``entity_id``'s state (``("", "")``: anything may have
        changed): the active replica re-reads it and merges it in."""
        if store_id == "" and entity_id == "":
            for actor in list(self._actors.values()):
                actor.refresh_from_store()
        elif store_id == self.store_id:
            changed = self._actors.get(entity_id)
            if changed is not None:
                changed.refresh_from_store()

    @property
    def active_entities(self) -> int:
        return len(self._actors)

    def is_active(self, entity_id: str) -> bool:
        """Whether ``entity_id`` has a replica here now (else it is passivated or never was)."""
        return entity_id in self._actors

    def _actor(self, entity_id: str) -> CrdtActor:
        if self._closed:
            raise UserFunctionUnavailable("the proxy is shutting down")
        actor = self._actors.get(entity_id)
        if actor is not None and actor.expired_and_idle():
            # Its state outlived its time-to-live: a new replica starts from the store (absent).
            self._unregister(actor)
            actor.stop()
            actor = None
        if actor is None:
            actor = CrdtActor(self, entity_id)
            self._actors[entity_id] = actor
            self.metrics.active.inc()
        return actor

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        actor = self._actor(entity_id)
        self._check_limit(actor, method, entity_id)
        return await actor.command(method, payload, metadata)

    def _check_limit(self, actor: CrdtActor, method: MethodModel, entity_id: str) -> None:
        limit = self.settings.max_requests_per_entity
        if limit and len(actor._pending) >= limit:
            self._rejected.inc()
            raise entity_overloaded(self.service.name, method.name, entity_id, limit)

    async def handle_streamed(
        self,
        method: MethodModel,
        entity_id: str,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[Outcome]:
        if not isinstance(requests, bytes):
            raise ProtocolError(
                f"{method.service.name}.{method.name}: client streaming is not "
                "allowed on CRDT entities"
            )
        actor = self._actor(entity_id)
        self._check_limit(actor, method, entity_id)
        streamed = actor.streamed_command(method, requests, metadata)
        async with contextlib.aclosing(streamed) as outcomes:  # a client leaving closes it now
            async for outcome in outcomes:
                yield outcome

    def _unregister(self, actor: CrdtActor) -> None:
        if self._actors.get(actor.entity_id) is actor:
            del self._actors[actor.entity_id]
            self.metrics.active.dec()

    async def close(self) -> None:
        self._closed = True
        if self._subscribing is not None:
            self._subscribing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._subscribing
        if self._unsubscribe is not None:
            await self._unsubscribe()
        actors = list(self._actors.values())
        for actor in actors:
            actor.stop()
        await asyncio.gather(*(a.task for a in actors), return_exceptions=True)


class CrdtActor:
    """The replica and user-function stream of one active CRDT entity."""

    def __init__(self, manager: CrdtHandler, entity_id: str) -> None:
        self.manager = manager
        self.entity_id = entity_id
        self.state: Crdt | None = None
        self._version = 0  # stored version of the state
        self._expires_at: float | None = None  # when the stored state expires (None: never)
        self._uf_view: Any = None  # what the user function holds (None: nothing yet)
        self._call: Any = None
        self._command_id = 0
        self._pending: dict[int, asyncio.Future[crdt_pb2.CrdtReply]] = {}
        self._cancels: dict[int, asyncio.Future[crdt_pb2.CrdtStreamCancelledResponse]] = {}
        self._streams: dict[int, _Stream] = {}
        self._outstanding = 0  # mutations (commands, cancellations) at the user function
        # The state as the user function knows it: its own deltas, plus remote changes only
        # once pushed to it. ``state`` holds everything (and is what gets persisted).
        self._uf_state: Crdt | None = None
        self._unpushed = False  # state holds remote changes the user function has not seen
        self._write_lock = asyncio.Lock()  # store writes
        # grpc.aio allows one write in flight per call: commands, cancellations and remote
        # deltas come from different tasks, so their writes to the stream take turns.
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()  # see _detach
        self._dirty = False
        self._refreshing: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._activity = asyncio.Event()
        self._stopping = False
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(
            self._run(), name=f"crdt {manager.service.name}|{entity_id}"
        )

    def _describe(self) -> str:
        return f"CRDT entity {self.entity_id!r} of {self.manager.service.name}"

    def stop(self) -> None:
        self._stopping = True
        self._activity.set()

    def _expired(self) -> bool:
        return self._expires_at is not None and self._expires_at <= time.time()

    def expired_and_idle(self) -> bool:
        """True if the state outlived its time-to-live and no command or stream is open."""
        return self._expired() and not self._pending and not self._streams and not self._cancels

    # -- lifecycle ----------------------------------------------------------------------------

    async def _run(self) -> None:
        error: ProxyError = UserFunctionUnavailable(f"{self._describe()} stopped")
        try:
            await self._activate()
            self.manager.metrics.activations.inc()
            self._ready.set_result(None)
            reader = asyncio.create_task(self._read())
            idle = asyncio.create_task(self._idle())
            done, _ = await asyncio.wait({reader, idle}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, idle):
                task.cancel()
            for task in done:
                if not task.cancelled() and isinstance(task.exception(), ProxyError):
                    error = task.exception()  # type: ignore[assignment]
        except ProxyError as e:
            error = e
            log.warning("%s: %s", self._describe(), e.message)
        except Exception as e:  # a bug here must not leave clients waiting forever
            log.exception("%s crashed", self._describe())
            error = ProtocolError(f"{self._describe()} crashed: {e}")
        finally:
            self.manager._unregister(self)
            if not self._ready.done():
                self._ready.set_exception(error)
                self._ready.exception()  # retrieved: no "never retrieved" warning
            self._fail_all(error)
            if self._call is not None:
                await finish_stream(self._call)

    def _fail_all(self, error: ProxyError) -> None:
        futures: list[asyncio.Future[Any]] = [*self._pending.values(), *self._cancels.values()]
        for future in futures:
            if not future.done():
                future.set_exception(error)
        for stream in self._streams.values():
            stream.queue.put_nowait(error)
        self._pending.clear()
        self._cancels.clear()
        self._streams.clear()

    async def _activate(self) -> None:
        manager = self.manager
        try:
            stored = await manager.store.load_value(manager.store_id, self.entity_id)
        except StoreError as e:
            raise StoreUnavailable(f"cannot load {self._describe()}: {e}") from e
        init = crdt_pb2.CrdtInit(service_name=manager.service.name, entity_id=self.entity_id)
        if stored is not None:
            self.state = codec.decode(stored.payload.value)
            self._version = stored.version
            self._expires_at = stored.expires_at
            init.delta.CopyFrom(full_delta(self.state, manager.node))
            self._uf_view = view(self.state, manager.node)
            self._uf_state = self.state.copy()
        await wait_until_reachable(
            manager.channel, manager.settings.command_timeout, self._describe()
        )
        self._call = manager.open_stream()
        try:
            await self._call.write(StreamIn(init=init))
        except Exception as e:
            if not rpc_failed(e):
                raise
            raise UserFunctionUnavailable(
                f"cannot open the stream for {self._describe()}: {e}"
            ) from e

    async def _idle(self) -> None:
        """Return when the entity should passivate (idle, no open streams) or stop."""
        timeout = self.manager.passivation_timeout
        while True:
            self._activity.clear()
            if self._stopping and not self._pending and not self._cancels:
                return
            wait = timeout
            if self._expires_at is not None:  # passivate at expiry, not later
                left = self._expires_at - time.time()
                if left <= 0 and self.expired_and_idle():
                    self.manager._unregister(self)
                    self.manager.metrics.passivations.inc()
                    return
                if left > 0:
                    wait = left if wait is None else min(wait, left)
            try:
                async with asyncio.timeout(wait):
                    await self._activity.wait()
            except TimeoutError:
                if not self._pending and not self._streams and not self._cancels:
                    self.manager._unregister(self)  # before any await: new commands start anew
                    self.manager.metrics.passivations.inc()
                    return

    async def _read(self) -> None:
        """Dispatch every message from the user function; raises ProxyError when the stream ends."""
        while True:
            try:
                out = await self._call.read()
            except Exception as e:
                if not rpc_failed(e):
                    raise
                self._log_broken(rpc_details(e))
                raise UserFunctionUnavailable(
                    f"the user function's stream for {self._describe()} broke: {e}"
                ) from e
            if out is _EOF:
                if self._pending or self._streams:
                    self._log_broken("the user function closed it")
                    raise UserFunctionUnavailable(
                        f"the user function closed the stream of {self._describe()}"
                    )
                return
            kind = out.WhichOneof("message")
            if kind == "reply":
                await self._resolve(self._pending, out.reply.command_id, out.reply)
            elif kind == "streamed_message":
                await self._on_streamed_message(out.streamed_message)
            elif kind == "stream_cancelled_response":
                response = out.stream_cancelled_response
                await self._resolve(self._cancels, response.command_id, response)
            elif kind == "failure":
                await self._on_failure(out.failure)
            else:
                await self._protocol_violation("an empty CrdtStreamOut message")

    def _log_broken(self, cause: str) -> None:
        """Say what a broken stream did to the commands in flight (nothing if there are none:
        the entity is activated again by its next command)."""
        unanswered = sorted(self._pending)
        streaming = sorted(i for i in self._streams if i not in self._pending)
        outcome = []
        if unanswered:
            outcome.append(
                f"{_commands(unanswered)} not applied (no reply came, so nothing of it was "
                "persisted), the client got UNAVAILABLE"
            )
        if streaming:
            outcome.append(
                f"streamed {_commands(streaming)} ended with UNAVAILABLE (what was changed "
                "before is persisted)"
            )
        if outcome:
            log.warning(
                "the user function's stream for %s broke: %s; %s",
                self._describe(),
                cause,
                "; ".join(outcome),
            )

    async def _resolve(self, futures: dict[int, Any], command_id: int, message: Any) -> None:
        future = futures.pop(command_id, None)
        if future is None:
            await self._protocol_violation(f"a reply for unknown command id {command_id}")
            return
        if not future.done():
            future.set_result(message)

    async def _on_failure(self, failure: entity_pb2.Failure) -> None:
        description = failure.description or "no description"
        log.error("user function failed %s: %s", self._describe(), description)
        raise ProtocolError(f"{self._describe()} failed: {description}")

    async def _protocol_violation(self, what: str) -> None:
        problem = f"unexpected message for {self._describe()}: {what}"
        await self.manager.report_error(problem)
        log.error("%s", problem)
        if self._call is not None:
            self._call.cancel()

    # -- commands -----------------------------------------------------------------------------

    def _register(
        self, stream: _Stream | None = None
    ) -> tuple[int, asyncio.Future[crdt_pb2.CrdtReply]]:
        """Register a new command (and, for a streamed call, its stream) before anything awaits.

        Called in the same step that found this actor, so a command is never lost between the
        lookup and a passivation; the reader can never see a reply it cannot place.
        """
        self._command_id += 1
        command_id = self._command_id
        future: asyncio.Future[crdt_pb2.CrdtReply] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        if stream is not None:
            self._streams[command_id] = stream
        self._outstanding += 1
        self._activity.set()
        return command_id, future

    async def _send(
        self,
        command_id: int,
        future: asyncio.Future[crdt_pb2.CrdtReply],
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        streamed: bool = False,
    ) -> None:
        """Send a registered command once the stream is open; unregister it if that fails."""
        try:
            await asyncio.shield(self._ready)
            command = entity_pb2.Command(
                entity_id=self.entity_id, id=command_id, name=method.name, streamed=streamed
            )
            command.payload.type_url = method.input_type_url
            command.payload.value = payload
            if metadata is not None:
                command.metadata.CopyFrom(metadata)
            await self._write(StreamIn(command=command))
        except BaseException as e:
            self._pending.pop(command_id, None)
            self._streams.pop(command_id, None)
            self._outstanding -= 1
            if future.done() and not future.cancelled():
                future.exception()  # failed by _fail_all; the error raised here says it all
            if isinstance(e, ProxyError) or not rpc_failed(e):
                raise
            raise UserFunctionUnavailable(f"cannot send to {self._describe()}: {e}") from e

    async def _write(self, message: StreamIn) -> None:
        async with self._send_lock:
            await self._call.write(message)

    def _detach(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coroutine`` in its own task, kept (and its outcome retrieved) until it ends.

        What the user function has done must reach the replica whatever happens to the client's
        call: a command it applied is applied here too, a cancellation is completed. The client's
        task therefore waits for these tasks with :func:`asyncio.shield` and may be cancelled
        without cutting them short (which would leave the user function's value ahead of the
        replica and the store, and a pending command that blocks passivation forever).
        """
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its waiter may be gone; errors reach it otherwise

    async def command(
        self, method: MethodModel, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> Outcome:
        command_id, future = self._register()
        running = self._command(command_id, future, method, payload, metadata)
        return await asyncio.shield(self._detach(running))

    async def _command(
        self,
        command_id: int,
        future: asyncio.Future[crdt_pb2.CrdtReply],
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        await self._send(command_id, future, method, payload, metadata)
        try:
            reply = await self._pending_reply(command_id, method.name, future)
            if reply.streamed:
                await self._protocol_violation(
                    f"reply to unary command {command_id} asked to stream"
                )
                raise ProtocolError(f"{self._describe()} tried to stream a unary reply")
            return await self._apply_reply(reply)
        finally:
            await self._mutation_done()

    async def _pending_reply(
        self, command_id: int, command_name: str, future: asyncio.Future[crdt_pb2.CrdtReply]
    ) -> crdt_pb2.CrdtReply:
        timeout = self.manager.settings.command_timeout
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            self._pending.pop(command_id, None)
            log.warning(
                "command timed out: %s did not answer %s (command %d) within %gs; the client "
                "got DEADLINE_EXCEEDED and nothing of it is persisted (a late reply restarts the "
                "entity)",
                self._describe(),
                command_name,
                command_id,
                timeout,
            )
            raise CommandTimeout(
                f"{self._describe()} did not answer command {command_id} within {timeout:g}s"
            ) from None

    async def streamed_command(
        self, method: MethodModel, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> AsyncGenerator[Outcome, None]:
        stream = _Stream()
        command_id, future = self._register(stream)
        start = self._detach(
            self._start_streamed(command_id, future, method, payload, metadata, stream)
        )
        try:
            reply, outcome = await asyncio.shield(start)
        except asyncio.CancelledError:
            # The client left while the command ran: cancel the stream once it exists.
            self._detach(self._cancel_after(start, command_id, stream))
            raise
        try:
            yield outcome
            if not reply.streamed:
                return
            while True:
                item = await stream.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if self._streams.pop(command_id, None) is not None and stream.open:
                await asyncio.shield(self._detach(self._cancel(command_id)))
            self._activity.set()

    async def _start_streamed(
        self,
        command_id: int,
        future: asyncio.Future[crdt_pb2.CrdtReply],
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        stream: _Stream,
    ) -> tuple[crdt_pb2.CrdtReply, Outcome]:
        """Send a streamed command and apply its reply; ``stream`` receives what follows."""
        await self._send(command_id, future, method, payload, metadata, streamed=True)
        try:
            try:
                reply = await self._pending_reply(command_id, method.name, future)
                if not reply.streamed:
                    stream.open = False  # a plain reply: the user function keeps no stream
                outcome = await self._apply_reply(reply)
            finally:
                await self._mutation_done()
        except BaseException:
            if self._streams.pop(command_id, None) is not None and stream.open:
                await self._cancel(command_id)
            raise
        return reply, outcome

    async def _cancel_after(
        self, start: asyncio.Task[Any], command_id: int, stream: _Stream
    ) -> None:
        """Cancel a streamed command whose client left before its reply was applied."""
        with contextlib.suppress(Exception):
            await start
            if self._streams.pop(command_id, None) is not None and stream.open:
                await self._cancel(command_id)
        self._activity.set()

    async def _on_streamed_message(self, message: crdt_pb2.CrdtStreamedMessage) -> None:
        stream = self._streams.get(message.command_id)
        if stream is None:
            # The client went away already: cancellation is on its way.
            return
        if message.HasField("client_action") or message.side_effects:
            stream.queue.put_nowait(Outcome(message.client_action, list(message.side_effects)))
        if message.end_stream:
            stream.open = False
            stream.queue.put_nowait(None)

    async def _cancel(self, command_id: int) -> None:
        """The client cancelled its stream: tell the user function and apply its answer."""
        if self._call is None or self.task.done():
            return
        future: asyncio.Future[crdt_pb2.CrdtStreamCancelledResponse] = (
            asyncio.get_running_loop().create_future()
        )
        self._cancels[command_id] = future
        self._outstanding += 1
        try:
            await self._write(
                StreamIn(
                    stream_cancelled=entity_pb2.StreamCancelled(
                        entity_id=self.entity_id,
                        id=command_id,
                    )
                )
            )
            async with asyncio.timeout(self.manager.settings.command_timeout):
                response = await future
            if response.HasField("state_action"):
                await self._apply_state_action(response.state_action)
            if response.side_effects and self.manager.on_cancel_effects is not None:
                await self.manager.on_cancel_effects(list(response.side_effects))
        except (ProxyError, TimeoutError, grpc.aio.AioRpcError, asyncio.InvalidStateError) as e:
            log.warning("cancelling stream %d of %s failed: %s", command_id, self._describe(), e)
        finally:
            self._cancels.pop(command_id, None)
            await self._mutation_done()

    async def _apply_reply(self, reply: crdt_pb2.CrdtReply) -> Outcome:
        action = reply.client_action
        if action.WhichOneof("action") == "failure":
            raise failure_error(action.failure, self.manager.settings.failure_status)
        if reply.HasField("state_action"):
            await self._apply_state_action(reply.state_action)
        return Outcome(action, list(reply.side_effects))

    async def _apply_state_action(self, state_action: crdt_pb2.CrdtStateAction) -> None:
        which = state_action.WhichOneof("action")
        if which == "update":
            try:
                clock = now_millis()
                node = self.manager.node
                self.state = apply_delta(self.state, state_action.update, node, clock)
                self._uf_state = apply_delta(self._uf_state, state_action.update, node, clock)
            except IncompatibleDelta as e:
                problem = f"{self._describe()} sent an incompatible delta: {e}"
                await self.manager.report_error(problem)
                raise ProtocolError(problem) from e
            # The user function applied its own delta; remote changes reach it at its turn.
            self._uf_view = view(self._uf_state, self.manager.node)
            await self._persist()
        elif which == "delete":
            await self._delete()

    async def _persist(self) -> None:
        """Write the current state; concurrent callers share one write (durable on return).

        The write is conditional on the version last read. If another proxy node wrote the
        entity meanwhile, its state is read back and merged in (CRDT merge never loses an
        update), the merged state is written, and the remote part reaches the user function at
        its next turn (:meth:`merge_remote` semantics).
        """
        self._dirty = True
        async with self._write_lock:
            if not self._dirty or self.state is None:
                return
            self._dirty = False
            store, store_id = self.manager.store, self.manager.store_id
            try:
                for _ in range(16):
                    payload = Payload(codec.TYPE_URL, codec.encode(self.state))
                    ttl = self.manager.service.entity_ttl
                    expires_at = None if ttl is None else time.time() + ttl
                    try:
                        self._version = await store.save_value(
                            store_id,
                            self.entity_id,
                            payload,
                            expected_version=self._version,
                            expires_at=expires_at,
                        )
                        self._expires_at = expires_at
                        store.publish_change(store_id, self.entity_id)
                        return
                    except ConcurrentWriteError:
                        stored = await store.load_value(store_id, self.entity_id)
                        self._version = stored.version if stored is not None else 0
                        if stored is not None:
                            self.state.merge(codec.decode(stored.payload.value))
                            self._unpushed = True
                raise StoreError("too many concurrent writers")
            except StoreError as e:
                self._dirty = True
                raise StoreUnavailable(
                    f"could not persist {self._describe()}: {e}; the update was not applied"
                ) from e

    async def _delete(self) -> None:
        try:
            async with self._write_lock:
                await self.manager.store.save_value(self.manager.store_id, self.entity_id, None)
        except StoreError as e:
            raise StoreUnavailable(f"could not delete {self._describe()}: {e}") from e
        self.state = None
        self._uf_state = None
        self._uf_view = None
        # The entity is gone: a new command starts a fresh one. End this stream after the reply.
        self.manager._unregister(self)
        self.stop()
        asyncio.get_running_loop().call_soon(self._end_after_delete)

    def _end_after_delete(self) -> None:
        for stream in self._streams.values():
            stream.open = False
            stream.queue.put_nowait(None)

    # -- replication --------------------------------------------------------------------------

    async def merge_remote(self, remote: Crdt) -> None:
        """Merge another replica's state; pushed to the user function when it is our turn."""
        if self.state is None:
            self.state = remote.copy()
        else:
            self.state.merge(remote)
        self._unpushed = True
        if self._outstanding == 0:
            await self._push_remote()

    def refresh_from_store(self) -> None:
        """Another node changed this entity: load the stored state and merge it in (at most one
        load at a time; notices arriving meanwhile cause one more)."""
        if self._stopping:
            return
        if self._refreshing is not None and not self._refreshing.done():
            self._refresh_again = True
            return
        self._refreshing = self._detach(self._refresh())

    async def _refresh(self) -> None:
        while True:
            self._refresh_again = False
            try:
                await asyncio.shield(self._ready)
            except Exception:
                return
            manager = self.manager
            async with self._write_lock:  # no write of ours in flight: the version is exact
                try:
                    stored = await manager.store.load_value(manager.store_id, self.entity_id)
                except StoreError as e:
                    log.warning("%s: cannot load a remote change: %s", self._describe(), e)
                    return
                changed = stored is not None and stored.version > self._version
                if stored is not None and changed and not self._stopping:
                    # Merged under the write lock: a write after this one contains the remote
                    # state, so taking its version as the expected one loses nothing.
                    remote = codec.decode(stored.payload.value)
                    if self.state is None:
                        self.state = remote
                    else:
                        self.state.merge(remote)
                    self._version = stored.version
                    self._expires_at = stored.expires_at
                    self._unpushed = True
            if self._unpushed and self._outstanding == 0:
                await self._push_remote()
            if not self._refresh_again:
                return

    async def _mutation_done(self) -> None:
        self._outstanding -= 1
        self._activity.set()
        if self._outstanding == 0 and self._unpushed:
            await self._push_remote()

    async def _push_remote(self) -> None:
        self._unpushed = False
        if self.state is None:
            return
        delta = diff(self._uf_view, self.state, self.manager.node)
        self._uf_state = self.state.copy()
        self._uf_view = view(self.state, self.manager.node)
        if delta is None:
            return
        with contextlib.suppress(Exception):
            await self._write(StreamIn(delta=delta))


def _commands(ids: list[int]) -> str:
    """``command 3`` or ``commands 3, 4``."""
    return ("command " if len(ids) == 1 else "commands ") + ", ".join(map(str, ids))
