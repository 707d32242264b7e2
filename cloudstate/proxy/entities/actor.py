"""The actor machinery shared by entity types with one user-function stream per active entity.

An entity type (event sourced, value entity, ...) subclasses two classes:

* :class:`EntityManager` — routes the commands of one service to its actors: get-or-create the
  actor of an entity id, hand it the command, close them all at shutdown.
* :class:`EntityActor` — one active entity: a queue of commands, a wakeup event and a loop that

  1. **activates** the entity (:meth:`EntityActor._activate`: load its state from the store, open
     the stream and send what must come before commands — :meth:`EntityActor._open_stream` does
     the error handling);
  2. feeds **commands one at a time** in arrival order (:meth:`EntityActor._process` sends the
     command and reads the matching reply; the subclass's :meth:`EntityActor._apply_reply` makes
     its state changes durable before the outcome is released);
  3. **restarts** on a broken stream, a command timeout, a top-level failure or a protocol
     violation: the command in flight fails, and if more are queued a fresh stream is opened
     (command ids restart at 1);
  4. **passivates** after the idle timeout: it unregisters itself *synchronously* (before any
     await, so a new command finds either this live actor or none) and half-closes the stream.
  5. **catches up** when the store is shared by several proxy nodes (``Store.shared``): a reply
     that writes is conditional on the state the actor holds, and a reply that writes nothing is
     released only after :meth:`EntityActor._is_current` confirmed that state is still the stored
     one. Otherwise another node changed the entity: the command goes back to the head of the
     queue and runs again on a fresh stream with the latest state (bounded, with jittered
     backoff; then ABORTED). See docs/scale-out.md.

A command with an **idempotency key** (:mod:`cloudstate.proxy.durable.idempotency`) looks its key
up first, in step 2 before it is sent: a stored answer is given again without running the
command (so retries with one key are serialised by the entity). Otherwise the subclass writes the
answer's record with the command's events or value (one transaction), or alone before releasing
an answer that writes nothing; a failure is an answer too. A write refused because the key was
taken meanwhile (another node) re-runs the command like a lost conditional write: the lookup then
finds the record.

A crash inside the loop fails every waiting command instead of leaving clients hanging.

One concern: the life of an entity actor, the five steps above.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import logs, metrics
from cloudstate.proxy.durable.tasks import DurableTasks, Origin, TaskChange
from cloudstate.proxy.entities.base import (
    _EOF,
    Outcome,
    PendingCommand,
    failure_error,
    finish_stream,
    rpc_failed,
    wait_until_reachable,
)
from cloudstate.proxy.errors import (
    CommandTimeout,
    DataLoss,
    Overloaded,
    ProtocolError,
    ProxyError,
    StoreUnavailable,
    UserFunctionUnavailable,
)
from cloudstate.proxy.model import MethodModel, ServiceModel
from cloudstate.proxy.stores.base import (
    ConcurrentWriteError,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    JournalDamaged,
    Store,
    StoreError,
    TopicMessage,
    WriteOutcomeUnknown,
)

if TYPE_CHECKING:
    from cloudstate.proxy.durable.idempotency import Idempotency
    from cloudstate.proxy.eventing.topics import TopicPublisher

log = logging.getLogger(__name__)

#: Times a command is re-run on the latest state after another node changed its entity first.
MAX_CONFLICT_RETRIES = 20

ReportError = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EntitySettings:
    """Tunables shared by the entity actors of one proxy."""

    passivation_timeout: float = 30.0  # seconds idle before an entity is passivated
    command_timeout: float = 30.0  # seconds a user function may take for one command
    failure_status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT  # for user failures
    #: Commands one entity may hold (running or waiting) before more are refused (0: no limit).
    max_requests_per_entity: int = 0


class Next(enum.Enum):
    """What the actor loop does when serving a stream ends."""

    PASSIVATE = 1  # idle or stopping: end the actor
    RESTART = 2  # the stream is unusable: open a new one if commands are waiting


ActorT = TypeVar("ActorT", bound="EntityActor[Any]")
ManagerT = TypeVar("ManagerT", bound="EntityManager[Any]")


class EntityManager(ABC, Generic[ActorT]):
    """Routes the commands of one entity service to its actors (one per active entity id).

    Subclasses create the protocol stub they need and implement :meth:`_new_actor`::

        class CounterEntities(EntityManager["CounterEntity"]):
            def __init__(self, service, channel, store, settings, report_error):
                super().__init__(service, channel, store, settings, report_error)
                self.stub = counter_pb2_grpc.CounterStub(channel)

            def _new_actor(self, entity_id):
                return CounterEntity(self, entity_id)
    """

    def __init__(
        self,
        service: ServiceModel,
        channel: grpc.aio.Channel,
        store: Store,
        settings: EntitySettings,
        report_error: ReportError,
    ) -> None:
        self.service = service
        self.channel = channel
        self.store = store
        self.settings = settings
        self.report_error = report_error
        self.passivation_timeout = service.passivation_timeout or settings.passivation_timeout
        self._actors: dict[str, ActorT] = {}
        self._closed = False
        self.metrics = metrics.EntityMetrics(service.entity_type, service.name)
        self.max_requests_per_entity = settings.max_requests_per_entity
        self._rejected = metrics.REJECTED.labels("per_entity")
        #: Records the durable side effects and timers of replies (docs/protocol-durable-calls.md);
        #: set by the proxy. None: a reply asking for one fails (protocol error).
        self.durable: DurableTasks | None = None
        #: Idempotency keys (set by the proxy): the actors answer keyed commands once.
        self.idempotency: Idempotency | None = None
        #: Entity ids whose stored state was found damaged (logged once; forgotten when one
        #: activates again, after a repair).
        self.damaged: set[str] = set()

    @abstractmethod
    def _new_actor(self, entity_id: str) -> ActorT:
        """Create (and thereby start) the actor of ``entity_id``."""

    @property
    def active_entities(self) -> int:
        return len(self._actors)

    def is_active(self, entity_id: str) -> bool:
        """Whether ``entity_id`` has an actor here now (else it is passivated or never was)."""
        return entity_id in self._actors

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        if self._closed:
            raise UserFunctionUnavailable("the proxy is shutting down")
        keyed = None
        if self.idempotency is not None:
            keyed = self.idempotency.keyed_call(method, payload, metadata)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        actor = self._actors.get(entity_id)
        if actor is None:
            actor = self._new_actor(entity_id)
            self._actors[entity_id] = actor
            self.metrics.active.inc()
        limit = self.max_requests_per_entity
        if limit and actor.pending >= limit:
            self._rejected.inc()
            raise entity_overloaded(self.service.name, method.name, entity_id, limit)
        actor.enqueue(PendingCommand(method, payload, metadata, future, keyed=keyed))
        actor.pending += 1
        try:
            return await future
        finally:
            actor.pending -= 1

    def note_damaged(self, entity_id: str, problem: str) -> None:
        """Log at ERROR, once per entity until it activates again, that its state is damaged:
        each of its commands fails with DATA_LOSS, which says why to the client anyway."""
        if entity_id not in self.damaged:
            self.damaged.add(entity_id)
            log.error("%s; its commands fail with DATA_LOSS until the store is repaired", problem)

    def _unregister(self, actor: ActorT) -> None:
        if self._actors.get(actor.entity_id) is actor:
            del self._actors[actor.entity_id]
            self.metrics.active.dec()

    def passivate_where(self, moved: Callable[[str], bool]) -> int:
        """Passivate the active entities whose id ``moved`` accepts (their owner is now another
        node: docs/scale-out.md); each finishes its queued commands first. Returns how many.

        Example::

            manager.passivate_where(lambda key: ownership.owner(service, key) != me)
        """
        actors = [actor for key, actor in self._actors.items() if moved(key)]
        for actor in actors:
            actor.stop()
        return len(actors)

    async def close(self) -> None:
        """Let every actor finish its queued commands, then close their streams."""
        self._closed = True
        actors = list(self._actors.values())
        for actor in actors:
            actor.stop()
        await asyncio.gather(*(a.task for a in actors), return_exceptions=True)


class EntityActor(ABC, Generic[ManagerT]):
    """The actor of one active entity; see the module docstring for its life.

    Subclasses implement :meth:`_activate`, :meth:`_command_in` and :meth:`_apply_reply`. The
    actor's task starts running at the first await after construction, so a subclass sets its own
    attributes in ``__init__`` (before or after calling ``super().__init__``) without racing it.
    """

    def __init__(self, manager: ManagerT, entity_id: str) -> None:
        self.manager = manager
        self.entity_id = entity_id
        self.persistence_id: str = manager.service.persistence_id
        self._queue: deque[PendingCommand] = deque()
        #: Commands accepted for this entity and not answered yet (running or queued).
        self.pending = 0
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._call: Any = None
        self._command_id = 0
        self._conflicts = 0  # consecutive catch-ups: the backoff before the next activation
        self.task = asyncio.create_task(
            self._run(), name=f"entity {self.persistence_id}|{entity_id}"
        )

    # -- what an entity type provides ---------------------------------------------------------

    @abstractmethod
    async def _activate(self) -> None:
        """Load the entity's state and open its stream (with :meth:`_open_stream`).

        Raise a :class:`ProxyError` (e.g. :class:`StoreUnavailable`) if that is impossible: the
        queued commands fail with it and the actor ends.
        """

    @abstractmethod
    def _command_in(self, command: entity_pb2.Command) -> Any:
        """The stream-in message that carries ``command``."""

    @abstractmethod
    async def _apply_reply(self, command: PendingCommand, reply: Any) -> bool:
        """Make the reply's state changes durable, then resolve ``command``.

        Returns False if the stream must be restarted (the subclass then cancels it).
        """

    async def _is_current(self) -> bool:
        """True if the state this actor's stream holds is still the latest stored one.

        Only asked when the store is shared by several nodes; entity types whose replies always
        write (conditionally) need not override it.
        """
        return True

    def _expired(self) -> bool:
        """True if the state this actor's stream holds has outlived its time-to-live: the next
        command then runs on a fresh stream activated from the store (where it reads as absent).
        Entity types without a TTL need not override it."""
        return False

    # -- the machinery ------------------------------------------------------------------------

    def enqueue(self, command: PendingCommand) -> None:
        self._queue.append(command)
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    def _describe(self) -> str:
        return f"entity {self.entity_id!r} of {self.manager.service.name}"

    async def _open_stream(
        self, stub_handle: Callable[[], Any], first: AsyncIterable[Any], store_problem: str
    ) -> None:
        """Open a stream with ``stub_handle()`` and write the ``first`` messages (init, replay).

        A store error while producing them becomes :class:`StoreUnavailable` ("cannot
        ``store_problem`` ..."); a broken stream :class:`UserFunctionUnavailable`. Command ids
        restart at 1 on every stream.
        """
        self._command_id = 0
        manager = self.manager
        await wait_until_reachable(
            manager.channel, manager.settings.command_timeout, self._describe()
        )
        self._call = call = stub_handle()
        try:
            async for message in first:
                await call.write(message)
        except JournalDamaged as e:
            call.cancel()  # the user function holds part of a history that cannot be trusted
            raise DataLoss(f"cannot {store_problem} {self._describe()}: {e}") from e
        except StoreError as e:
            call.cancel()
            raise StoreUnavailable(f"cannot {store_problem} {self._describe()}: {e}") from e
        except Exception as e:
            if not rpc_failed(e):
                raise
            call.cancel()
            raise UserFunctionUnavailable(
                f"cannot open the stream for {self._describe()}: {rpc_details(e)}"
            ) from e

    async def _run(self) -> None:
        try:
            while True:
                if self._conflicts:
                    # Lost a race with another node: let it finish before catching up.
                    await asyncio.sleep(random.uniform(0, 0.002 * min(self._conflicts, 10)))
                try:
                    await self._activate()
                except DataLoss as error:
                    self.manager.note_damaged(self.entity_id, error.message)
                    self._fail_queued(error)
                    return
                except ProxyError as error:
                    log.warning("could not activate %s: %s", self._describe(), error.message)
                    self._fail_queued(error)
                    return
                self.manager.damaged.discard(self.entity_id)
                entity_metrics = self.manager.metrics
                entity_metrics.activations.inc()
                if await self._serve() is Next.PASSIVATE:
                    return
                entity_metrics.restarts.inc()
                if not self._queue:
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

    async def _serve(self) -> Next:
        timeout = self.manager.passivation_timeout
        while True:
            if not self._queue:
                if self._stopping:
                    return Next.PASSIVATE
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(timeout):
                        await self._wakeup.wait()
                except TimeoutError:
                    if not self._queue:
                        # Unregister before any await: new commands now start a new actor.
                        self.manager._unregister(self)
                        log.debug("passivating %s", self._describe())
                        self.manager.metrics.passivations.inc()
                        return Next.PASSIVATE
                continue
            if self._call is not None and self._call.done():
                # The stream ended while the entity was idle (the user function restarted, say):
                # replay into a fresh stream before sending, instead of failing the command.
                log.info("stream of %s ended while idle; reactivating", self._describe())
                return Next.RESTART
            if self._expired():
                # Never serve an expired state from memory: start again from the store.
                log.debug("%s expired; reactivating", self._describe())
                self._call.cancel()
                return Next.RESTART
            command = self._queue.popleft()
            if command.future.cancelled():
                continue
            if not await self._process(command):
                return Next.RESTART
            self._conflicts = 0

    async def _process(self, command: PendingCommand) -> bool:
        """Run one command; False if the stream must be restarted."""
        if logs.tagging:
            logs.set_request(
                self.manager.service.name,
                command.method.name,
                self.entity_id,
                logs.client_request_id(command.metadata),
            )
        if command.keyed is not None and await self._answered_from_record(command):
            return True
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
            await call.write(self._command_in(message))
            async with asyncio.timeout(self.manager.settings.command_timeout):
                out = await call.read()
        except TimeoutError:
            timeout = self.manager.settings.command_timeout
            log.warning(
                "command timed out: %s did not answer %s (command %d) within %gs; nothing of "
                "it was persisted, the client got DEADLINE_EXCEEDED and the entity restarts",
                self._describe(),
                command.method.name,
                command_id,
                timeout,
            )
            command.fail(
                CommandTimeout(
                    f"{self._describe()} did not answer {command.method.name} within "
                    f"{timeout:g}s; the entity was restarted"
                )
            )
            call.cancel()
            return False
        except Exception as e:
            if not rpc_failed(e):
                raise
            self._log_broken(command, command_id, rpc_details(e))
            command.fail(
                UserFunctionUnavailable(
                    f"the user function's stream for {self._describe()} broke during "
                    f"{command.method.name} ({rpc_details(e)}); the command was not applied"
                )
            )
            call.cancel()
            return False
        if out is _EOF:
            self._log_broken(command, command_id, "the user function closed it")
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

    def _log_broken(self, command: PendingCommand, command_id: int, cause: str) -> None:
        log.warning(
            "the user function's stream for %s broke during %s (command %d): %s; the command "
            "was not applied (no reply came, so nothing of it was persisted) and the client got "
            "UNAVAILABLE",
            self._describe(),
            command.method.name,
            command_id,
            cause,
        )

    async def _confirm_current(self, command: PendingCommand) -> bool:
        """Before releasing a reply that writes nothing: on a shared store, check that the state
        it was computed from is still the latest. If not, ``command`` is queued to run again on
        the latest state and False is returned (restart); the caller then returns False."""
        if not self.manager.store.shared:
            return True
        try:
            current = await self._is_current()
        except StoreError as error:
            log.error("store read failed for %s: %s", self._describe(), error)
            command.fail(
                StoreUnavailable(
                    f"could not confirm the state of {self._describe()} is current: {error}; retry"
                )
            )
            self._call.cancel()
            return False
        if current:
            return True
        return self._retry_on_latest(command, "another node changed it")

    def _retry_on_latest(self, command: PendingCommand, why: str) -> bool:
        """Queue ``command`` to run again first, on a fresh stream with the latest state; fail it
        with ABORTED once it has lost :data:`MAX_CONFLICT_RETRIES` races. Returns False."""
        self._call.cancel()
        self._conflicts += 1
        self.manager.metrics.conflicts.inc()
        if command.attempts < MAX_CONFLICT_RETRIES:
            command.attempts += 1
            log.debug("%s: %s; re-running %s", self._describe(), why, command.method.name)
            self._queue.appendleft(command)
            return False
        command.fail(
            ProxyError(
                f"{self._describe()} was changed concurrently on other proxy nodes "
                f"{command.attempts + 1} times while {command.method.name} ran ({why}); "
                "nothing was applied, retry",
                grpc.StatusCode.ABORTED,
            )
        )
        return False

    def _write_failed(self, command: PendingCommand, error: StoreError, what: str) -> bool:
        """Fail ``command`` after a lost store write of ``what`` and cancel the stream (the user
        function's state now holds changes the store does not). Returns False (restart).

        A lost conditional write (another node wrote first), or a write whose idempotency key
        was taken meanwhile, re-runs the command on the latest state instead
        (:meth:`_retry_on_latest`; a re-run keyed command then finds its key's record)."""
        if isinstance(error, ConcurrentWriteError | IdempotencyKeyTaken):
            return self._retry_on_latest(command, str(error))
        log.error("store write failed for %s: %s", self._describe(), error)
        outcome = (
            "check whether the command took effect before retrying"
            if isinstance(error, WriteOutcomeUnknown)
            else "the command was not applied"
        )
        command.fail(
            StoreUnavailable(f"could not persist {what} of {self._describe()}: {error}; {outcome}")
        )
        self._call.cancel()
        return False

    def _reply_outbox(
        self,
        publisher: TopicPublisher | None,
        command: PendingCommand,
        action: entity_pb2.ClientAction,
    ) -> list[tuple[str, TopicMessage]] | None:
        """The ``(topic, message)`` the reply of ``command`` publishes (``out.topic``), to be
        written in the transaction of the entity's own write (the outbox); empty when nothing is
        published. None when the reply cannot be published: the command has failed, nothing was
        written and the stream is cancelled (the entity restarts from the store)."""
        if publisher is None or action.WhichOneof("action") != "reply":
            return []
        try:
            return publisher.outbox(command.method, action.reply, self.entity_id)
        except ProxyError as error:
            command.fail(error)
            self._call.cancel()
            return None

    async def _durable_changes(
        self,
        command: PendingCommand,
        calls: list[entity_pb2.SideEffect],
        sequence: int | None,
    ) -> list[TaskChange] | None:
        """The store changes of the reply's durable side effects (``sequence``: of the last
        event the reply journals, None when it journals none). None when one is invalid: it is
        reported to the user function, ``command`` fails and the stream is cancelled (the user
        function's state holds a change that is not written)."""
        if not calls:
            return []
        durable = self.manager.durable
        origin = Origin(
            f"{command.method.name} of {self._describe()}",
            self.persistence_id,
            self.entity_id,
            sequence,
        )
        try:
            if durable is None:
                raise ProtocolError(
                    f"{origin.what} asked for durable calls, which this proxy does not record here"
                )
            return durable.changes(calls, origin)
        except ProtocolError as error:
            log.error("%s", error.message)
            await self.manager.report_error(error.message)
            command.fail(error)
            self._call.cancel()
            return None

    def _write_arguments(
        self,
        command: PendingCommand,
        action: entity_pb2.ClientAction,
        outbox: list[tuple[str, TopicMessage]],
        tasks: list[TaskChange],
    ) -> dict[str, Any]:
        """The optional arguments of the entity's write (``append_events`` / ``save_value``),
        only those with something (test doubles override the writes): the outbox, the durable
        calls and the keyed command's record, all in the write's one transaction."""
        extra: dict[str, Any] = {"outbox": outbox} if outbox else {}
        if tasks:
            extra["tasks"] = tasks
        record = self._idempotency_record(command, action)
        if record is not None:
            extra["idempotency"] = record
        return extra

    def _written(self, extra: dict[str, Any]) -> None:
        """The write carrying ``extra`` (:meth:`_write_arguments`) committed: count its record."""
        if "idempotency" in extra and self.manager.idempotency is not None:
            self.manager.idempotency.recorded()

    async def _write_alone(
        self,
        command: PendingCommand,
        outbox: list[tuple[str, TopicMessage]],
        tasks: list[TaskChange],
    ) -> bool:
        """For a reply that writes no state: publish its outbox and record its durable calls,
        each in its own transaction. False when one failed (see :meth:`_write_failed`)."""
        if outbox and not await self._publish_alone(command, outbox):
            return False
        return not tasks or await self._write_tasks_alone(command, tasks)

    async def _write_tasks_alone(self, command: PendingCommand, tasks: list[TaskChange]) -> bool:
        """Record ``tasks`` for a reply that writes nothing else (their own transaction). False
        when the write failed (see :meth:`_write_failed`)."""
        assert self.manager.durable is not None  # tasks exist only when it is set
        try:
            await self.manager.store.write_tasks(tasks)
        except StoreError as e:
            return self._write_failed(command, e, "its durable calls")
        return True

    async def _publish_alone(
        self, command: PendingCommand, outbox: list[tuple[str, TopicMessage]]
    ) -> bool:
        """Publish ``outbox`` for a reply that writes nothing else (in its own transaction).
        False when the write failed (see :meth:`_write_failed`)."""
        try:
            for topic, message in outbox:
                await self.manager.store.append_topic(topic, [message])
        except StoreError as e:
            return self._write_failed(command, e, "the reply to its topic")
        return True

    # -- idempotency keys ----------------------------------------------------------------------

    async def _answered_from_record(self, command: PendingCommand) -> bool:
        """Before a keyed command is sent: answer it from its key's record, or fail it (the key
        belongs to another request, the store is down). False: no record, run it."""
        guard = self.manager.idempotency
        assert guard is not None and command.keyed is not None
        try:
            stored = await guard.lookup(command.keyed)
        except ProxyError as error:
            command.fail(error)
            return True
        if stored is None:
            return False
        self._replay(command, stored)
        return True

    def _replay(self, command: PendingCommand, action: entity_pb2.ClientAction) -> None:
        """Answer ``command`` with a stored answer: its client action only (no side effects)."""
        if action.WhichOneof("action") == "failure":
            command.fail(failure_error(action.failure, self.manager.settings.failure_status))
        else:
            command.succeed(Outcome(action, [], published=True, replayed=True))

    def _idempotency_record(
        self, command: PendingCommand, action: entity_pb2.ClientAction
    ) -> IdempotencyRecord | None:
        """The record a keyed command's write carries, in its transaction (None: no key)."""
        guard = self.manager.idempotency
        if command.keyed is None or guard is None:
            return None
        return guard.record_for(command.keyed, action, self.manager.settings.failure_status)

    async def _record_alone(self, command: PendingCommand, action: entity_pb2.ClientAction) -> bool:
        """For an answer that writes nothing else (a failure, a read): store a keyed command's
        record in its own transaction before the answer is released. True: release ``action``
        (no key, or this is the first answer). False: ``command`` was answered here, with the
        answer another call stored first, or failed (the store is down; nothing was applied)."""
        guard = self.manager.idempotency
        if command.keyed is None or guard is None:
            return True
        try:
            stored = await guard.save(command.keyed, action, self.manager.settings.failure_status)
        except ProxyError as error:
            command.fail(error)
            return False
        if stored is None:
            return True
        self._replay(command, stored)
        return False


def entity_overloaded(service: str, command: str, entity_id: str, limit: int) -> Overloaded:
    """The error for a command refused because its entity already holds ``limit`` commands."""
    return Overloaded(
        f"{service}.{command} refused: entity {entity_id!r} already has {limit} commands "
        "running or waiting (--max-requests-per-entity); retry later with backoff"
    )


def rpc_details(error: BaseException) -> str:
    """A short description of a gRPC stream error for messages."""
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return str(error) or type(error).__name__
