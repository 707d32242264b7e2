"""How the proxy plugs its workflow engines in: definitions after discovery (and again after a
re-discovery), the router and durable tasks, and the scheduler's wake-up deliveries.

Example (what :class:`cloudstate.proxy.server.Proxy` does)::

    wiring = WorkflowWiring({"bank.Transfer": handler})
    await wiring.describe(channel, within=30.0)     # DiscoveryError on a refused definition
    wiring.attach(router, durable, delivery)
    engine = wiring.engine("bank.Transfer")          # operator controls: suspend, resume, ...
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import grpc

from cloudstate.proxy.durable.delivery import Delivery, DeliveryFailed
from cloudstate.proxy.durable.tasks import DurableTasks
from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.stores.base import DurableTask
from cloudstate.proxy.workflows.definition import StepDefaults, describe_all
from cloudstate.proxy.workflows.engine import WorkflowHandler
from cloudstate.proxy.workflows.record import workflow_of

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
            delivery.wake_workflow = self.wake

    async def wake(self, task: DurableTask) -> None:
        """Deliver a wake-up or deadline task to its engine."""
        engine = self.engines.get(task.service)
        if engine is None:
            raise DeliveryFailed(
                f"{task.name}: {task.service} is not a workflow service of the user function "
                "(any more); drop the task"
            )
        await engine.wake(task, workflow_of(task))
