"""The workflow engine of one workflow service: commands, steps, wake-ups, operator controls.

One **actor** per active workflow id (an asyncio lock and the cached record with its version)
serialises the workflow's commands, steps and wake-ups in arrival order. Every change is one
``save_value`` of the record, conditional on the version read, carrying the wake-up tasks (and a
command's durable side effects): a stale writer (another node) gets ConcurrentWriteError, reads
again and re-runs (a command) or steps down (a step whose transition was made elsewhere).

* **Commands** (:meth:`WorkflowHandler.handle`): ``handleCommand`` with the view; the effect is
  checked against the status rules, written, then the reply is released; a transition into
  ``RUNNING`` starts the step on this node at once.
* **Steps**: one attempt (:mod:`.steps`); done → its transition is written (the next step runs
  at once); failed → attempt + 1 and the wake-up at the back-off's end are written (the wake-up
  runs it), or, attempts exhausted, the recover step / FAILED; unreachable → the wake-up is moved
  to the back-off's end, the attempt not counted.
* **Wake-ups** (:meth:`WorkflowHandler.wake`, from the durable scheduler): read the record fresh;
  a wake-up of the current transition runs the step (or times the pause out); a stale one ends
  quietly. This resumes workflows after a crash, on any node.

One concern: driving the workflows of one service (the module doc's three paths and the
operator controls), persisting each change once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2

from cloudstate.protocol import entity_pb2, workflow_pb2, workflow_pb2_grpc
from cloudstate.proxy import crashpoints, metrics
from cloudstate.proxy.durable.idempotency import Idempotency, replayed
from cloudstate.proxy.durable.keys import KeyedCall
from cloudstate.proxy.durable.tasks import DurableTasks, Origin, split_side_effects
from cloudstate.proxy.entities.actor import MAX_CONFLICT_RETRIES, EntitySettings
from cloudstate.proxy.entities.base import Outcome, wait_until_reachable
from cloudstate.proxy.errors import (
    CommandTimeout,
    ProtocolError,
    ProxyError,
    StoreUnavailable,
    UserFunctionUnavailable,
)
from cloudstate.proxy.model import MethodModel, ServiceModel
from cloudstate.proxy.stores.base import (
    ConcurrentWriteError,
    DurableTask,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    Store,
    StoreError,
)
from cloudstate.proxy.workflows.actors import Actors, WorkflowActor
from cloudstate.proxy.workflows.definition import Definition, Step
from cloudstate.proxy.workflows.record import (
    ENDED,
    Record,
    add_history,
    decode,
    encode,
    status_name,
)
from cloudstate.proxy.workflows.steps import AttemptResult, run_attempt
from cloudstate.proxy.workflows.transitions import (
    TaskChange,
    TransitionRefused,
    apply_effect,
    attempt_failed,
    cancel,
    check_effect,
    describe,
    end,
    record_tasks,
    resume,
    suspend,
    time_out,
)

if TYPE_CHECKING:
    from cloudstate.proxy.router import Router

log = logging.getLogger(__name__)

ReportError = Callable[[str], Awaitable[None]]
_COUNTED = (workflow_pb2.RUNNING, workflow_pb2.WAITING, workflow_pb2.SUSPENDED)


class WorkflowHandler:
    """Commands, steps and wake-ups of one workflow service (an entity handler of the router).

    Example (what the proxy does for every discovered workflow service)::

        handler = WorkflowHandler(service, channel, store, EntitySettings(), report_error)
        handler.definition = definitions[service.name]   # from describe
        handler.router, handler.durable = router, durable
        outcome = await handler.handle(method, "t1", request_bytes, None)
        record = await handler.read("t1")
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
        self.stub = workflow_pb2_grpc.WorkflowsStub(channel)
        #: Set by the proxy after ``describe`` (and again after a re-discovery).
        self.definition = Definition(service.name)
        #: Set by the proxy: step calls and side effects go through it.
        self.router: Router | None = None
        #: Set by the proxy: records durable side effects; ``notify`` wakes the scheduler.
        self.durable: DurableTasks | None = None
        #: Idempotency keys (set by the proxy): commands with a key are answered once, their
        #: answer stored with the record's write (the router then leaves keys to this engine).
        self.idempotency: Idempotency | None = None
        self.clock: Callable[[], float] = time.time
        self.passivation_timeout = service.passivation_timeout or settings.passivation_timeout
        self._actors = Actors(self.passivation_timeout)
        self._listeners: dict[str, set[asyncio.Queue[Record]]] = {}
        #: The status each workflow is counted under in the ``cloudstate_workflows`` gauge.
        self._counted: dict[str, int] = {}
        self._command_id = 0
        self._closed = False

    # -- commands -----------------------------------------------------------------------------

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        """Handle one command of workflow ``entity_id`` (docs/protocol-workflows.md, Commands)."""
        if self._closed:
            raise UserFunctionUnavailable("the proxy is shutting down")
        keyed = None
        if self.idempotency is not None:
            keyed = self.idempotency.keyed_call(method, payload, metadata)
        async with self._actors.use(entity_id) as actor:
            for _ in range(MAX_CONFLICT_RETRIES + 1):
                async with actor.lock:
                    outcome, running = await self._command(actor, method, payload, metadata, keyed)
                if outcome is None:
                    continue  # another node wrote first: run it again on the latest record
                if running:
                    self._drive(actor)
                return outcome
        raise ProxyError(
            f"{describe(self.service.name, entity_id)} was changed concurrently on other proxy "
            f"nodes {MAX_CONFLICT_RETRIES + 1} times while {method.name} ran; nothing was "
            "applied, retry",
            grpc.StatusCode.ABORTED,
        )

    async def _command(
        self,
        actor: WorkflowActor,
        method: MethodModel,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
        keyed: KeyedCall | None = None,
    ) -> tuple[Outcome | None, bool]:
        """One run of a command under the actor's lock: ``(outcome, runs a step now)``; outcome
        None when the write lost to another node (re-run it).

        A command with an idempotency key (``keyed``) is answered from its key's record when
        there is one; otherwise its answer is stored with the record's write (one transaction),
        or on its own before it is released when nothing else is written."""
        guard = self.idempotency
        if keyed is not None and guard is not None:
            stored = await guard.lookup(keyed)
            if stored is not None:
                return replayed(stored), False
        record = await self._load(actor)
        who = describe(self.service.name, actor.workflow_id)
        self._command_id += 1
        command = entity_pb2.Command(
            entity_id=actor.workflow_id,
            id=self._command_id,
            name=method.name,
            payload=any_pb2.Any(type_url=method.input_type_url, value=payload),
        )
        if metadata is not None:
            command.metadata.CopyFrom(metadata)
        request = workflow_pb2.WorkflowCommand(
            service_name=self.service.name, command=command, workflow=record.view
        )
        reply = await self._handle_command(request, f"{method.name} of {who}")
        action = reply.client_action
        if action.WhichOneof("action") == "failure":
            return await self._answer_alone(keyed, Outcome(action)), False  # changes nothing
        effect = reply.effect
        try:
            check_effect(self.definition, record, effect, method.name)
        except TransitionRefused:
            raise
        except ProxyError as error:
            await self.report_error(error.message)
            raise
        ordinary, calls = split_side_effects(reply.side_effects)
        tasks = self._durable_calls(calls, f"{method.name} of {who}", actor.workflow_id)
        changed = reply.HasField("effect") and (
            effect.HasField("state") or effect.WhichOneof("transition") is not None
        )
        if not changed and not tasks:
            return await self._answer_alone(keyed, Outcome(action, ordinary)), False
        new = Record()
        new.CopyFrom(record)
        now = self.clock()
        was = record.view.status
        moved = apply_effect(self.definition, new, effect, now)
        if moved and was == workflow_pb2.RUNNING:
            add_history(
                new, record.view.step, now, now, record.attempt, "abandoned: " + method.name
            )
        if moved:
            tasks = record_tasks(self.definition, new, now, started=not record.started_at) + tasks
        answer = None
        if keyed is not None and guard is not None:
            answer = guard.record_for(keyed, action, self.settings.failure_status)
        if not await self._write(actor, new, tasks, "command", answer):
            return None, False
        return Outcome(action, ordinary), new.view.status == workflow_pb2.RUNNING and moved

    async def _answer_alone(self, keyed: KeyedCall | None, outcome: Outcome) -> Outcome:
        """For an answer that writes nothing else: store a keyed command's answer first; the
        answer stored first under its key (another node's) when there is one."""
        guard = self.idempotency
        if keyed is None or guard is None:
            return outcome
        stored = await guard.save(keyed, outcome.client_action, self.settings.failure_status)
        return outcome if stored is None else replayed(stored)

    async def _handle_command(
        self, request: workflow_pb2.WorkflowCommand, what: str
    ) -> workflow_pb2.WorkflowCommandReply:
        timeout = self.settings.command_timeout
        await wait_until_reachable(self.channel, timeout, what)
        try:
            reply: workflow_pb2.WorkflowCommandReply = await self.stub.handleCommand(
                request, timeout=timeout
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CommandTimeout(
                    f"the user function did not answer {what} within {timeout:g}s; nothing was "
                    "applied"
                ) from None
            if code == grpc.StatusCode.UNAVAILABLE:
                raise UserFunctionUnavailable(
                    f"the user function is unreachable ({error.details()}); {what} was not applied"
                ) from None
            raise ProtocolError(
                f"the user function failed {what}: {code.name}: {error.details()}"
            ) from None
        return reply

    def _durable_calls(
        self, calls: list[entity_pb2.SideEffect], what: str, workflow_id: str
    ) -> list[TaskChange]:
        if not calls:
            return []
        if self.durable is None:
            raise ProtocolError(f"{what} asked for durable calls, which this proxy does not record")
        return self.durable.changes(calls, Origin(what, self.service.persistence_id, workflow_id))

    # -- persistence ----------------------------------------------------------------------------

    async def _load(self, actor: WorkflowActor, fresh: bool = False) -> Record:
        """The actor's record: cached, or read from the store (always when ``fresh`` or the
        store is shared by several nodes)."""
        if actor.record is None or fresh or self.store.shared:
            try:
                stored = await self.store.load_value(self.service.persistence_id, actor.workflow_id)
            except StoreError as error:
                raise StoreUnavailable(
                    f"cannot load {describe(self.service.name, actor.workflow_id)}: {error}"
                ) from error
            actor.record, actor.version = decode(actor.workflow_id, stored)
        return actor.record

    async def _write(
        self,
        actor: WorkflowActor,
        record: Record,
        tasks: list[TaskChange],
        outcome: str,
        answer: IdempotencyRecord | None = None,
    ) -> bool:
        """Write ``record`` with ``tasks`` (and a keyed command's ``answer``), conditional on the
        actor's version. False when another node wrote first, or took the key (the cache is
        dropped: the caller reads again)."""
        old = actor.record.view.status if actor.record is not None else workflow_pb2.NOT_STARTED
        if crashpoints.ARMED:
            label = f"{status_name(record.view.status)}:{record.view.step}"
            crashpoints.reach(f"workflow.before-write:{label}")
        extra: dict[str, Any] = {} if answer is None else {"idempotency": answer}
        try:
            actor.version = await self.store.save_value(
                self.service.persistence_id,
                actor.workflow_id,
                encode(record),
                expected_version=actor.version,
                tasks=tasks,
                **extra,
            )
        except (ConcurrentWriteError, IdempotencyKeyTaken):
            actor.record = None
            return False
        except StoreError as error:
            actor.record = None
            raise StoreUnavailable(
                f"could not write {describe(self.service.name, actor.workflow_id)}: {error}; "
                "nothing was applied, retry"
            ) from error
        if crashpoints.ARMED:
            crashpoints.reach(f"workflow.after-write:{label}")
        actor.record = record
        if answer is not None and self.idempotency is not None:
            self.idempotency.recorded()
        if self.durable is not None:
            self.durable.written(tasks)
        self._count(old, record, outcome)
        for queue in self._listeners.get(actor.workflow_id, ()):
            queue.put_nowait(record)
        return True

    def _count(self, old: int, record: Record, outcome: str) -> None:
        """Metrics of one write. The ``cloudstate_workflows`` gauge counts the workflows whose
        last write was this node's, by status (never below zero after a restart)."""
        service = self.service.name
        new = record.view.status
        metrics.WORKFLOW_TRANSITIONS.labels(service, outcome).inc()
        workflow_id = record.view.workflow_id
        counted = self._counted.pop(workflow_id, None)
        if counted is not None:
            metrics.WORKFLOWS.labels(service, status_name(counted).lower()).dec()
        if new in _COUNTED:
            self._counted[workflow_id] = new
            metrics.WORKFLOWS.labels(service, status_name(new).lower()).inc()
        if old != new and new in ENDED:
            metrics.WORKFLOWS_ENDED.labels(service, status_name(new)).inc()

    # -- steps ----------------------------------------------------------------------------------

    def _drive(self, actor: WorkflowActor) -> None:
        """Run the current step of ``actor``'s workflow now (unless already driven here)."""
        if actor.driving is not None and not actor.driving.done():
            return
        actor.driving = asyncio.create_task(
            self._drive_steps(actor), name=f"workflow {self.service.name}/{actor.workflow_id}"
        )

    async def _drive_steps(self, actor: WorkflowActor) -> None:
        async with self._actors.use(actor.workflow_id, actor):
            try:
                while not self._closed:
                    async with actor.lock:
                        if not await self._step(actor):
                            return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the wake-up retries it
                log.warning(
                    "%s: step not run now (%s); its wake-up runs it later",
                    describe(self.service.name, actor.workflow_id),
                    error,
                )

    async def _step(self, actor: WorkflowActor, fresh: bool = False) -> bool:
        """Run one attempt of the current step and write its outcome (under the lock). True
        when the workflow moved on to a step to run now."""
        for _ in range(MAX_CONFLICT_RETRIES + 1):
            record = await self._load(actor, fresh)
            view = record.view
            if view.status != workflow_pb2.RUNNING:
                return False
            step = self.definition.steps.get(view.step)
            if step is None:
                return await self._unknown_step(actor, record)
            attempt = max(1, record.attempt)
            assert self.router is not None, "set by the proxy"
            started = self.clock()
            result = await run_attempt(
                self.stub, self.router, self.channel, self.service.name, record, step, attempt
            )
            written = await self._after_attempt(actor, record, step, attempt, result, started)
            if written is not None:
                return written
            fresh = True
            # Lost to another node: step down if it made the transition, else run again.
            latest = await self._load(actor, True)
            if latest.view.transitions != view.transitions:
                return False
        return False

    async def _after_attempt(
        self,
        actor: WorkflowActor,
        record: Record,
        step: Step,
        attempt: int,
        result: AttemptResult,
        started: float,
    ) -> bool | None:
        """Write the outcome of an attempt. True: a new step is due now; False: nothing to run
        now; None: the write lost to another node."""
        new = Record()
        new.CopyFrom(record)
        now = self.clock()
        service = self.service.name
        due: float | None = None
        outcome = "step"
        side_effects: list[entity_pb2.SideEffect] = []
        tasks: list[TaskChange] = []
        effect = result.effect
        if result.kind == "done" and effect is not None:
            try:
                check_effect(self.definition, record, effect, f"step {step.name!r}")
                side_effects, calls = split_side_effects(result.side_effects)
                tasks = self._durable_calls(calls, f"step {step.name!r}", actor.workflow_id)
            except ProxyError as error:
                await self.report_error(error.message)
                result = AttemptResult("failed", error=error.message)
            else:
                add_history(new, step.name, started, now, attempt, "ok")
                apply_effect(self.definition, new, effect, now)
        if result.kind == "unreachable":
            # Not counted: the same attempt after a back-off.
            due = now + step.backoff(attempt)
            outcome = "unreachable"
            log.info(
                "%s: step %r not run (%s); trying again in %.1fs",
                describe(service, actor.workflow_id),
                step.name,
                result.error,
                due - now,
            )
        elif result.kind == "failed":
            due, outcome = attempt_failed(
                self.definition, new, step, attempt, result.error, started, now
            )
            who = describe(service, actor.workflow_id)
            if due is not None:
                metrics.WORKFLOW_STEP_RETRIES.labels(service, step.name).inc()
                log.info(
                    "%s: attempt %d of step %r failed (%s); attempt %d in %.1fs",
                    who,
                    attempt,
                    step.name,
                    result.error,
                    attempt + 1,
                    due - now,
                )
            else:
                log.warning(
                    "%s: step %r failed %d times (%s); %s",
                    who,
                    step.name,
                    attempt,
                    result.error,
                    f"recovering with step {step.recover_step!r}"
                    if step.recover_step
                    else "the workflow failed",
                )
        tasks = record_tasks(self.definition, new, now, due=due) + tasks
        if not await self._write(actor, new, tasks, outcome):
            return None
        if side_effects:
            await self._perform(side_effects)
        return due is None and new.view.status == workflow_pb2.RUNNING

    async def _perform(self, side_effects: list[entity_pb2.SideEffect]) -> None:
        """A step's ordinary side effects, after its transition was written."""
        if self.router is None or not self.service.methods:
            return
        method = next(iter(self.service.methods.values()))
        try:
            await self.router.run_side_effects(method, side_effects)
        except ProxyError as error:
            log.warning("a side effect of a step of %s failed: %s", self.service.name, error)

    async def _unknown_step(self, actor: WorkflowActor, record: Record) -> bool:
        """The definition lost the current step (a new version of the user function)."""
        new = Record()
        new.CopyFrom(record)
        now = self.clock()
        end(
            self.definition,
            new,
            workflow_pb2.FAILED,
            f"step {record.view.step!r} is not defined any more",
            now,
        )
        await self._write(actor, new, record_tasks(self.definition, new, now), "step")
        return False

    # -- wake-ups -------------------------------------------------------------------------------

    async def wake(self, task: DurableTask, workflow_id: str) -> None:
        """A wake-up or deadline task of ``workflow_id`` is due (from the durable scheduler).

        Returns once its work is written (a stale wake-up returns at once); raises when the
        store fails (the scheduler delivers it again)."""
        async with self._actors.use(workflow_id) as actor:
            driving = actor.driving
            if driving is not None and not driving.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(driving)  # the step runs here: its write replaces us
            async with actor.lock:
                record = await self._load(actor, fresh=True)
                marker = workflow_pb2.WorkflowView.FromString(task.payload.value)
                if task.method == "deadline":
                    await self._deadline(actor, record)
                    return
                if record.view.transitions != marker.transitions:
                    return  # stale: another transition was made since it was written
                if record.view.status == workflow_pb2.WAITING:
                    await self._pause_timeout(actor, record)
                    return
                running = await self._step(actor, fresh=False)
            if running:
                self._drive(actor)

    async def _pause_timeout(self, actor: WorkflowActor, record: Record) -> None:
        now = self.clock()
        if not record.pause_until or now < record.pause_until:
            return
        new = Record()
        new.CopyFrom(record)
        time_out(
            self.definition,
            new,
            record.pause_timeout_step,
            f"the pause of step {record.view.step!r} timed out",
            now,
        )
        if await self._write(actor, new, record_tasks(self.definition, new, now), "timeout"):
            if new.view.status == workflow_pb2.RUNNING:
                self._drive(actor)

    async def _deadline(self, actor: WorkflowActor, record: Record) -> None:
        now = self.clock()
        if record.view.status in ENDED or not record.deadline or now < record.deadline:
            return
        new = Record()
        new.CopyFrom(record)
        timeout = self.definition.timeout
        time_out(
            self.definition,
            new,
            self.definition.timeout_step,
            f"the workflow timed out ({timeout:g}s)",
            now,
        )
        new.deadline = 0.0  # once
        if await self._write(actor, new, record_tasks(self.definition, new, now), "timeout"):
            if new.view.status == workflow_pb2.RUNNING:
                self._drive(actor)

    # -- operators and reads -----------------------------------------------------------------------

    async def read(self, workflow_id: str) -> Record | None:
        """The stored record of ``workflow_id`` (view, input, attempt, history), None if no
        command ever wrote one.

        Example::

            record = await handler.read("t1")
            record.view.status, record.view.step, record.attempt
        """
        stored = await self.store.load_value(self.service.persistence_id, workflow_id)
        return None if stored is None else decode(workflow_id, stored)[0]

    async def list(self, after: str = "", limit: int = 100) -> tuple[list[str], str]:
        """A page of this service's workflow ids (sorted) after ``after``, and the ``after`` of
        the next page ("" when this is the last).

        Example::

            ids, more = await handler.list(limit=50)
            while more: ids, more = await handler.list(after=more, limit=50)
        """
        ids = [
            i for i in await self.store.list_entity_ids(self.service.persistence_id) if i > after
        ]
        page = ids[:limit]
        return page, (page[-1] if len(ids) > limit and page else "")

    async def suspend(self, workflow_id: str, reason: str = "") -> Record:
        """Suspend a RUNNING or WAITING workflow: no step runs and transitions by commands are
        refused until :meth:`resume` (its timeout keeps running). TransitionRefused otherwise.

        Example::

            record = await handler.suspend("t1", "investigating a stuck payment")
        """
        return await self._operate(
            workflow_id, lambda record, now: suspend(record, reason, self.service.name)
        )

    async def resume(self, workflow_id: str) -> Record:
        """Resume a SUSPENDED workflow where it was (a RUNNING one runs its step at once).

        Example::

            record = await handler.resume("t1")
        """
        return await self._operate(
            workflow_id, lambda record, now: resume(record, self.service.name)
        )

    async def cancel(self, workflow_id: str, reason: str = "") -> Record:
        """Cancel a workflow that has not ended (CANCELLED; no compensation runs).

        Example::

            record = await handler.cancel("t1", "customer asked")
        """
        definition = self.definition
        return await self._operate(
            workflow_id, lambda record, now: cancel(definition, record, reason, now)
        )

    async def _operate(self, workflow_id: str, change: Callable[[Record, float], None]) -> Record:
        async with self._actors.use(workflow_id) as actor:
            for _ in range(MAX_CONFLICT_RETRIES + 1):
                async with actor.lock:
                    record = await self._load(actor, fresh=True)
                    new = Record()
                    new.CopyFrom(record)
                    now = self.clock()
                    change(new, now)
                    tasks = record_tasks(self.definition, new, now)
                    if not await self._write(actor, new, tasks, "operator"):
                        continue
                if new.view.status == workflow_pb2.RUNNING:
                    self._drive(actor)
                return new
        raise ProxyError(
            f"{describe(self.service.name, workflow_id)} kept changing on other nodes; retry",
            grpc.StatusCode.ABORTED,
        )

    # -- progress feed (SSE) -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def changes(self, workflow_id: str) -> AsyncIterator[asyncio.Queue[Record]]:
        """A queue of every record this node writes for ``workflow_id`` while the context is
        open (the SSE feed reads the current record first, then these)."""
        queue: asyncio.Queue[Record] = asyncio.Queue()
        listeners = self._listeners.setdefault(workflow_id, set())
        listeners.add(queue)
        try:
            yield queue
        finally:
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(workflow_id, None)

    # -- actors ---------------------------------------------------------------------------------

    @property
    def active_workflows(self) -> int:
        """Workflows with an actor on this node."""
        return len(self._actors)

    async def close(self) -> None:
        """Stop driving steps (their wake-ups run them again on the next start or another
        node)."""
        self._closed = True
        driving = [a.driving for a in self._actors if a.driving is not None]
        for task in driving:
            task.cancel()
        await asyncio.gather(*driving, return_exceptions=True)
