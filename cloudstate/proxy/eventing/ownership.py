"""One node at a time runs each eventing consumer.

On a store shared by several proxy nodes (PostgreSQL) every node declares the same consumers, but
only the node holding a consumer's ownership (:meth:`~cloudstate.proxy.stores.base.Store.try_own`,
a session-level advisory lock) runs it; the others try again every ``takeover_interval`` seconds.
When the owner dies, its lock goes with its database connection and another node starts the
consumer at the committed offset: nothing is lost, and the batch the dead owner had not committed
is delivered again (at-least-once, as after any crash). On a store owned by one process (SQLite,
memory) ownership is granted at once and never lost: the consumer simply runs.

Example::

    owned = OwnedConsumer(consumer, store)
    owned.start()
    owned.notify()          # events were journaled here: wake the consumer if this node owns it
    await owned.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from cloudstate.proxy.eventing.event_log import ConsumerStatus
from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)


class Runnable(Protocol):
    """What runs on one node at a time: an eventing consumer or a broker relay."""

    committed_offset: int

    @property
    def consumer_id(self) -> str: ...

    def describe(self) -> str: ...

    def start(self) -> None: ...

    def notify(self) -> None: ...

    async def stop(self) -> None: ...

    async def status(self) -> ConsumerStatus: ...


class OwnedConsumer:
    """Runs ``consumer`` while this node owns it."""

    def __init__(self, consumer: Runnable, store: Store, *, takeover_interval: float = 1.0) -> None:
        self.consumer = consumer
        self.store = store
        self.takeover_interval = takeover_interval
        self.name = f"eventing-consumer:{consumer.consumer_id}"
        self.owned = False
        self._task: asyncio.Task[None] | None = None

    @property
    def consumer_id(self) -> str:
        return self.consumer.consumer_id

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"owner of {self.name}")

    def notify(self) -> None:
        self.consumer.notify()

    async def status(self) -> ConsumerStatus:
        if not self.owned:  # another node advances the offset: show where it stands
            with contextlib.suppress(Exception):
                self.consumer.committed_offset = await self.store.load_offset(self.consumer_id)
        return await self.consumer.status()

    async def _run(self) -> None:
        while True:
            try:
                lost = await self.store.try_own(self.name)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("eventing: cannot claim %s: %s", self.consumer_id, error)
                lost = None
            if lost is None:
                await asyncio.sleep(self.takeover_interval)
                continue
            self.owned = True
            if self.store.shared:
                log.info("eventing: this node now runs %s", self.consumer.describe())
            self.consumer.start()
            try:
                await lost.wait()
            finally:
                self.owned = False
                await self.consumer.stop()
            log.warning(
                "eventing: this node lost %s (database session ended); another node takes over",
                self.consumer.describe(),
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.consumer.stop()
        if self.owned or self.store.shared:
            with contextlib.suppress(Exception):
                await self.store.disown(self.name)
        self.owned = False
