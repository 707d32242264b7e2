"""A step the proxy runs every few seconds or minutes in the background (retention trims): one
task, failures logged and retried at the next interval, stopped by cancelling it; and the same on
one node at a time (:class:`OwnedPeriodic`).

Example::

    job = Periodic("topic retention", 60.0, retention.trim_once)
    job.start()
    await job.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``step`` every ``interval`` seconds (the first run at once) until :meth:`stop`."""

    def __init__(self, name: str, interval: float, step: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self.interval = interval
        self.step = step
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("%s failed (%s); trying again in %gs", self.name, error, self.interval)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class OwnedPeriodic:
    """Runs ``step`` every ``interval`` seconds on one node at a time: the node that holds
    ``Store.try_own(owner)`` (on a shared PostgreSQL store; the others try again each round; a
    store owned by one process always grants it). :meth:`stop` gives the ownership back.

    Example::

        job = OwnedPeriodic(store, "ttl-purge", "expiry: purging expired values", 10.0, purge)
        job.start()
        await job.stop()
    """

    def __init__(
        self,
        store: Store,
        owner: str,
        name: str,
        interval: float,
        step: Callable[[], Awaitable[Any]],
    ) -> None:
        self.store = store
        self.owner = owner
        self.step = step
        self._job = Periodic(name, interval, self._owned_step)
        self._lost: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return self._job.running

    def start(self) -> None:
        self._job.start()

    async def _owned_step(self) -> None:
        if self._lost is None or self._lost.is_set():
            self._lost = await self.store.try_own(self.owner)
        if self._lost is not None:
            await self.step()

    async def stop(self) -> None:
        await self._job.stop()
        if self._lost is not None:
            self._lost = None
            with contextlib.suppress(Exception):
                await self.store.disown(self.owner)
