"""How the proxy plugs its workflow engines in: definitions after discovery (and again after a
re-discovery), the router and durable tasks, and the scheduler's wake-up deliveries.

Example (what :class:`cloudstate.proxy.server.Proxy` does)::

    wiring = WorkflowWiring({"bank.Transfer": handler})
    await wiring.describe(channel, within=30.0)     # DiscoveryError on a refused definition
    wiring.attach(router, durable, delivery)
    engine = wiring.engine("bank.Transfer")          # operator controls: suspend, resume, ...
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import grpc

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.durable.delivery import Delivery, DeliveryFailed
from cloudstate.proxy.durable.tasks import DurableTasks
from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.stores.base import DurableTask, Store
from cloudstate.proxy.workflows.definition import StepDefaults, describe_all
from cloudstate.proxy.workflows.engine import WorkflowHandler
from cloudstate.proxy.workflows.record import DEADLINE_PREFIX, WAKE_PREFIX, workflow_of

if TYPE_CHECKING:
    from cloudstate.proxy.router import Router

log = logging.getLogger(__name__)


class WorkflowWiring:
    """The workflow engines of one proxy, by service name."""

    def __init__(self, handlers: Mapping[str, EntityHandler] | None = None) -> None:
        self.engines: dict[str, WorkflowHandler] = {
            name: handler
            for name, handler in (handlers or {}).items()
            if isinstance(handler, WorkflowHandler)
        }

    def engine(self, service: str) -> WorkflowHandler | None:
        """The engine of workflow service ``service`` (None: not a workflow service)."""
        return self.engines.get(service)

    async def describe(self, channel: grpc.aio.Channel, within: float) -> None:
        """Ask for and check every workflow's definition (DiscoveryError naming the service)."""
        if not self.engines:
            return
        defaults = StepDefaults(timeout=within)
        definitions = await describe_all(channel, self.engines, defaults, within)
        for name, definition in definitions.items():
            self.engines[name].definition = definition

    async def describe_again(self, channel: grpc.aio.Channel, within: float) -> None:
        """After the user function restarted: take its definitions again; a refused one is
        logged and the previous one kept."""
        try:
            await self.describe(channel, within)
        except DiscoveryError as error:
            log.error("%s; the previous definition is kept", error)

    def attach(self, router: Router, durable: DurableTasks, delivery: Delivery) -> None:
        """Give the engines the router and durable tasks; route wake-ups to them."""
        for engine in self.engines.values():
            engine.router = router
            engine.durable = durable
        if self.engines:
            delivery.internal[WAKE_PREFIX] = self.wake
            delivery.internal[DEADLINE_PREFIX] = self.wake

    async def resume_interrupted(self, store: Store, durable: DurableTasks) -> int:
        """At start, on a store no other node uses: the steps a crash interrupted run again now,
        not when their wake-ups fall due (the attempt's timeout plus a grace later): nothing
        else can be running them. Back-offs and pauses keep their time. Returns how many."""
        if not self.engines or store.shared:
            return 0
        now = time.time()
        interrupted = [
            dataclasses.replace(task, due=now)
            for task in await store.list_tasks(WAKE_PREFIX, limit=1_000_000)
            if task.method == "wake"
            and task.due > now
            and workflow_pb2.WorkflowView.FromString(task.payload.value).status
            == workflow_pb2.RUNNING
        ]
        if interrupted:
            await store.write_tasks(interrupted)
            durable.written(interrupted)
            log.info("%d workflow step(s) interrupted by a stop resume now", len(interrupted))
        return len(interrupted)

    async def wake(self, task: DurableTask) -> None:
        """Deliver a wake-up or deadline task to its engine."""
        engine = self.engines.get(task.service)
        if engine is None:
            raise DeliveryFailed(
                f"{task.name}: {task.service} is not a workflow service of the user function "
                "(any more); drop the task"
            )
        await engine.wake(task, workflow_of(task))
