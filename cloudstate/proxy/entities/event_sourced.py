"""Event-sourced entities: one actor per active entity, owning one ``EventSourced.handle`` stream.

Life of an actor:

1. **Activation** — load the latest snapshot, open the stream, send ``init`` (with the snapshot)
   and replay every journaled event after it. Command ids restart at 1 on every stream.
2. **Commands**, strictly one at a time in arrival order. A reply's events (and snapshot) are
   committed to the journal — atomically, conditional on the expected sequence — *before* the
   outcome is handed back, so a client never sees a reply whose events could be lost.
3. **Restart** — a failure with ``restart``, a top-level failure, a broken stream, a timeout or a
   lost journal write ends the stream; the command in flight fails (nothing of it was persisted)
   and the next command replays into a fresh stream.
4. **Passivation** — after the idle timeout the actor unregisters itself (synchronously, so a new
   command always finds either this live actor or none) and half-closes the stream.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2

from cloudstate import entity_pb2, event_sourced_pb2, event_sourced_pb2_grpc
from cloudstate.proxy.entities.base import (
    _EOF,
    Outcome,
    PendingCommand,
    failure_error,
    finish_stream,
    rpc_failed,
)
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

StreamIn = event_sourced_pb2.EventSourcedStreamIn


@dataclass(frozen=True, slots=True)
class EntitySettings:
    """Tunables shared by the entity actors of one proxy."""

    passivation_timeout: float = 30.0  # seconds idle before an entity is passivated
    command_timeout: float = 30.0  # seconds a user function may take for one command
    failure_status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT  # for user failures


class _Next(enum.Enum):
    PASSIVATE = 1  # idle: stop the actor
    RESTART = 2  # the stream is unusable: open a new one if commands are waiting


class EventSourcedEntities:
    """Routes commands of one event-sourced service to its entity actors."""

    def __init__(
        self,
        service: ServiceModel,
        channel: grpc.aio.Channel,
        store: Store,
        settings: EntitySettings,
        report_error: Callable[[str], Awaitable[None]],
    ) -> None:
        self.service = service
        self.store = store
        self.settings = settings
        self.report_error = report_error
        self.stub = event_sourced_pb2_grpc.EventSourcedStub(channel)
        self.passivation_timeout = service.passivation_timeout or settings.passivation_timeout
        self._actors: dict[str, EventSourcedEntity] = {}
        self._closed = False

    @property
    def active_entities(self) -> int:
        return len(self._actors)

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        if self._closed:
            raise UserFunctionUnavailable("the proxy is shutting down")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        actor = self._actors.get(entity_id)
        if actor is None:
            actor = EventSourcedEntity(self, entity_id)
            self._actors[entity_id] = actor
        actor.enqueue(PendingCommand(method, payload, metadata, future))
        return await future

    def _unregister(self, actor: EventSourcedEntity) -> None:
        if self._actors.get(actor.entity_id) is actor:
            del self._actors[actor.entity_id]

    async def close(self) -> None:
        """Let every actor finish its queued commands, then close their streams."""
        self._closed = True
        actors = list(self._actors.values())
        for actor in actors:
            actor.stop()
        await asyncio.gather(*(a.task for a in actors), return_exceptions=True)


class EventSourcedEntity:
    """The actor of one active entity. Created by :class:`EventSourcedEntities`."""

    def __init__(self, manager: EventSourcedEntities, entity_id: str) -> None:
        self.manager = manager
        self.entity_id = entity_id
        self.persistence_id = manager.service.persistence_id
        self._queue: deque[PendingCommand] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._call: Any = None
        self._sequence = 0
        self._command_id = 0
        self.task = asyncio.create_task(
            self._run(), name=f"entity {self.persistence_id}|{entity_id}"
        )

    def enqueue(self, command: PendingCommand) -> None:
        self._queue.append(command)
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    def _describe(self) -> str:
        return f"entity {self.entity_id!r} of {self.manager.service.name}"

    async def _run(self) -> None:
        try:
            while True:
                try:
                    await self._activate()
                except ProxyError as error:
                    log.warning("could not activate %s: %s", self._describe(), error.message)
                    self._fail_queued(error)
                    return
                if await self._serve() is _Next.PASSIVATE or not self._queue:
                    return
        except Exception as error:  # a bug here must not leave clients waiting forever
            log.exception("%s crashed", self._describe())
            self._fail_queued(ProtocolError(f"{self._describe()} crashed: {error}"))
        finally:
            self.manager._unregister(self)
            self._fail_queued(UserFunctionUnavailable(f"{self._describe()} stopped"))
            if self._call is not None:
                await finish_stream(self._call)

    def _fail_queued(self, error: ProxyError) -> None:
        while self._queue:
            self._queue.popleft().fail(error)

    async def _activate(self) -> None:
        store = self.manager.store
        try:
            snapshot = await store.load_snapshot(self.persistence_id, self.entity_id)
        except StoreError as e:
            raise StoreUnavailable(f"cannot load {self._describe()}: {e}") from e
        init = event_sourced_pb2.EventSourcedInit(
            service_name=self.manager.service.name, entity_id=self.entity_id
        )
        self._sequence = 0
        if snapshot is not None:
            init.snapshot.snapshot_sequence = snapshot.sequence
            init.snapshot.snapshot.type_url = snapshot.payload.type_url
            init.snapshot.snapshot.value = snapshot.payload.value
            self._sequence = snapshot.sequence
        self._command_id = 0
        self._call = call = self.manager.stub.handle()
        try:
            await call.write(StreamIn(init=init))
            async for event in store.read_events(
                self.persistence_id, self.entity_id, after_sequence=self._sequence
            ):
                await call.write(
                    StreamIn(
                        event=event_sourced_pb2.EventSourcedEvent(
                            sequence=event.sequence,
                            payload=any_pb2.Any(
                                type_url=event.payload.type_url, value=event.payload.value
                            ),
                        )
                    )
                )
                self._sequence = event.sequence
        except StoreError as e:
            call.cancel()
            raise StoreUnavailable(f"cannot replay {self._describe()}: {e}") from e
        except Exception as e:
            if not rpc_failed(e):
                raise
            call.cancel()
            raise UserFunctionUnavailable(
                f"cannot open the stream for {self._describe()}: {_rpc_details(e)}"
            ) from e

    async def _serve(self) -> _Next:
        timeout = self.manager.passivation_timeout
        while True:
            if not self._queue:
                if self._stopping:
                    return _Next.PASSIVATE
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(timeout):
                        await self._wakeup.wait()
                except TimeoutError:
                    if not self._queue:
                        # Unregister before any await: new commands now start a new actor.
                        self.manager._unregister(self)
                        log.debug("passivating %s", self._describe())
                        return _Next.PASSIVATE
                continue
            command = self._queue.popleft()
            if command.future.cancelled():
                continue
            if not await self._process(command):
                return _Next.RESTART

    async def _process(self, command: PendingCommand) -> bool:
        """Run one command; False if the stream must be restarted."""
        self._command_id += 1
        command_id = self._command_id
        message = entity_pb2.Command(
            entity_id=self.entity_id,
            id=command_id,
            name=command.method.name,
            payload=command.payload_any(),
        )
        if command.metadata is not None:
            message.metadata.CopyFrom(command.metadata)
        call = self._call
        try:
            await call.write(StreamIn(command=message))
            async with asyncio.timeout(self.manager.settings.command_timeout):
                out = await call.read()
        except TimeoutError:
            command.fail(
                CommandTimeout(
                    f"{self._describe()} did not answer {command.method.name} within "
                    f"{self.manager.settings.command_timeout:g}s; the entity was restarted"
                )
            )
            call.cancel()
            return False
        except Exception as e:
            if not rpc_failed(e):
                raise
            command.fail(
                UserFunctionUnavailable(
                    f"the user function's stream for {self._describe()} broke during "
                    f"{command.method.name} ({_rpc_details(e)}); the command was not applied"
                )
            )
            call.cancel()
            return False
        if out is _EOF:
            command.fail(
                UserFunctionUnavailable(
                    f"the user function closed the stream of {self._describe()} during "
                    f"{command.method.name}; the command was not applied"
                )
            )
            return False
        kind = out.WhichOneof("message")
        if kind == "failure":
            description = out.failure.description or "no description"
            log.error(
                "user function failed %s during %s: %s",
                self._describe(),
                command.method.name,
                description,
            )
            command.fail(
                ProtocolError(
                    f"{self._describe()} failed while handling {command.method.name}: {description}"
                )
            )
            call.cancel()
            return False
        if kind != "reply" or out.reply.command_id != command_id:
            problem = (
                f"unexpected message for {self._describe()}: expected the reply to command "
                f"{command_id}, got {kind or 'an empty message'}"
                + (f" for command {out.reply.command_id}" if kind == "reply" else "")
            )
            await self.manager.report_error(problem)
            command.fail(ProtocolError(problem))
            call.cancel()
            return False
        return await self._apply_reply(command, out.reply)

    async def _apply_reply(
        self, command: PendingCommand, reply: event_sourced_pb2.EventSourcedReply
    ) -> bool:
        action = reply.client_action
        if action.WhichOneof("action") == "failure":
            command.fail(failure_error(action.failure, self.manager.settings.failure_status))
            if action.failure.restart:
                # The user function's state includes events it then discarded: replay.
                self._call.cancel()
                return False
            # A failed command changes nothing: any events sent with it are ignored.
            return True
        if reply.events:
            events = [Payload(e.type_url, e.value) for e in reply.events]
            snapshot = (
                Payload(reply.snapshot.type_url, reply.snapshot.value)
                if reply.HasField("snapshot")
                else None
            )
            try:
                self._sequence = await self.manager.store.append_events(
                    self.persistence_id, self.entity_id, self._sequence, events, snapshot
                )
            except ConcurrentWriteError as e:
                command.fail(
                    ProxyError(
                        f"{self._describe()} was changed concurrently elsewhere; retry ({e})",
                        grpc.StatusCode.ABORTED,
                    )
                )
                self._call.cancel()
                return False
            except StoreError as e:
                log.error("journal write failed for %s: %s", self._describe(), e)
                command.fail(
                    StoreUnavailable(
                        f"could not persist the events of {self._describe()}: {e}; "
                        "the command was not applied"
                    )
                )
                self._call.cancel()
                return False
        command.succeed(Outcome(action, list(reply.side_effects)))
        return True


def _rpc_details(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return str(error) or type(error).__name__
