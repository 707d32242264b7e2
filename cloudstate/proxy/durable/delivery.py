"""One delivery of a durable task: an ordinary command through the router, with the delivery
metadata of docs/protocol-durable-calls.md (``idempotency-key``, ``cloudstate-attempt``,
``cloudstate-timer``, ``cloudstate-schedule``) added to the side effect's own metadata.

Example::

    deliver = Delivery(router, timeout=60.0)
    await deliver(task, attempt=1)      # returns when the target succeeded; raises otherwise
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.durable.keys import ATTEMPT_KEY, METADATA_KEY
from cloudstate.proxy.durable.tasks import SCHEDULE_PREFIX, TIMER_PREFIX
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.router import Router
from cloudstate.proxy.stores.base import DurableTask
from cloudstate.proxy.workflows.record import DEADLINE_PREFIX, WAKE_PREFIX

IDEMPOTENCY_KEY = METADATA_KEY
ATTEMPT = ATTEMPT_KEY
TIMER = "cloudstate-timer"
SCHEDULE = "cloudstate-schedule"
#: Kept in a schedule task's stored metadata (what the schedule was written from); never sent.
SCHEDULE_SPEC = "cloudstate-schedule-spec"
_RESERVED = frozenset({IDEMPOTENCY_KEY, ATTEMPT, TIMER, SCHEDULE, SCHEDULE_SPEC})


def rfc3339(seconds: float) -> str:
    """``2026-12-07T21:39:20.500Z`` for seconds since the epoch."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def delivery_metadata(task: DurableTask, attempt: int) -> entity_pb2.Metadata:
    """The metadata a delivery of ``task`` carries: the side effect's own entries (without the
    delivery keys, which the proxy alone sets), then the delivery entries."""
    stored = entity_pb2.Metadata.FromString(task.metadata) if task.metadata else None
    metadata = entity_pb2.Metadata()
    if stored is not None:
        metadata.entries.extend(e for e in stored.entries if e.key.lower() not in _RESERVED)
    entries = [(IDEMPOTENCY_KEY, task.key), (ATTEMPT, str(attempt))]
    if task.name.startswith(TIMER_PREFIX):
        entries.append((TIMER, task.name.removeprefix(TIMER_PREFIX)))
    elif task.name.startswith(SCHEDULE_PREFIX):
        # The tick is in the key (``schedule:<svc>.<method>@<tick>``): ``due`` moves on retries.
        tick = task.key.rsplit("@", 1)[-1] if "@" in task.key else rfc3339(task.due)
        entries.append((SCHEDULE, tick))
    metadata.entries.extend(entity_pb2.MetadataEntry(key=k, string_value=v) for k, v in entries)
    return metadata


class DeliveryFailed(Exception):
    """A delivery did not succeed; the message says why (stored as the task's last error)."""


class Delivery:
    """Delivers tasks through ``router`` (internal calls: no client authentication). A delivery
    that has not succeeded within ``timeout`` seconds (queueing at the entity, the command, its
    forwards and synchronous side effects) is cancelled and counts as failed."""

    def __init__(self, router: Router, timeout: float) -> None:
        self.router = router
        self.timeout = timeout
        #: Set by the proxy when it serves workflows: their wake-up and deadline tasks go to the
        #: workflow engine (which bounds them by the step's timeout), not to the router.
        self.wake_workflow: Callable[[DurableTask], Awaitable[None]] | None = None

    async def __call__(self, task: DurableTask, attempt: int) -> None:
        if self.wake_workflow is not None and task.name.startswith((WAKE_PREFIX, DEADLINE_PREFIX)):
            await self.wake_workflow(task)
            return
        method = self.router.model.method(task.service, task.method)
        if method is None:
            raise DeliveryFailed(
                f"UNIMPLEMENTED: {task.service}.{task.method} is not a method of the user "
                "function (any more); redrive it once it is, or drop it"
            )
        metadata = delivery_metadata(task, attempt)
        try:
            async with asyncio.timeout(self.timeout):
                await self.router.call(method, task.payload.value, metadata, internal=True)
        except TimeoutError:
            raise DeliveryFailed(
                f"DEADLINE_EXCEEDED: {task.service}.{task.method} did not answer within "
                f"{self.timeout:g}s"
            ) from None
        except ProxyError as error:
            raise DeliveryFailed(f"{error.status.name}: {error.message}") from None
