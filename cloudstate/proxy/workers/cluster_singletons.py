"""Singletons spread over the nodes of a cluster: eventing consumers (and the views and NATS
relay they feed), durable deliveries and timers (workflows' wake-ups among them), the
idempotency trim and the TTL purge each run on one node at a time.

``Store.try_own`` (a PostgreSQL advisory lock held by the node's session) keeps them exclusive,
but whoever asks first wins, so one node tends to collect them all. In a cluster each singleton
also has an owner by the same rendezvous hashing as the entities (``owner("singleton", name)``):
only that node asks for the lock. When a membership change gives a singleton to another node,
its lost-event is set, the job stops, and the lock is released at the job's next ``try_own``
(after it has stopped, never while it still runs), so the new owner takes it at its next try.
The lock stays the guarantee: two nodes that briefly disagree on the membership still cannot
run a singleton at once. Example::

    singletons = ClusterSingletons(store, ownership)  # store.try_own / disown now go through it
    ownership.on_change(lambda members: singletons.rebalance())
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from cloudstate.proxy.stores.base import Store
from cloudstate.proxy.workers.ownership import OwnerOf

log = logging.getLogger(__name__)

#: The "service" singletons are hashed under (entity services have dotted gRPC names).
SINGLETONS = "singleton"


class ClusterSingletons:
    """Wraps a store's ``try_own``/``disown`` (see the module docstring)."""

    def __init__(self, store: Store, ownership: Callable[[], OwnerOf]) -> None:
        self._ownership = ownership
        self._try_own: Callable[[str], Awaitable[asyncio.Event | None]] = store.try_own
        self._disown: Callable[[str], Awaitable[None]] = store.disown
        #: name -> (the event handed to the job, the task relaying the store's own loss)
        self._held: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        setattr(store, "try_own", self.try_own)  # noqa: B010 - on the instance, as workers do
        setattr(store, "disown", self.disown)  # noqa: B010

    def _mine(self, name: str) -> bool:
        ownership = self._ownership()
        if not ownership.me:
            return False  # not a member yet: the singletons wait for the membership
        try:
            return ownership.owner(SINGLETONS, name) == ownership.me
        except LookupError:
            return False

    async def try_own(self, name: str) -> asyncio.Event | None:
        """The store's lock for ``name`` if this node owns the singleton, else None (and the
        lock released if the job that held it has stopped: it is asking again)."""
        held = self._held.get(name)
        if not self._mine(name):
            if held is not None:
                await self.disown(name)
            return None
        if held is not None and not held[0].is_set():
            return held[0]
        lost = await self._try_own(name)
        if lost is None:
            return None
        if held is not None:
            held[1].cancel()  # stopped, then ours again before it asked: a fresh event
        mine = asyncio.Event()
        relay = asyncio.get_running_loop().create_task(_relay(lost, mine))
        self._held[name] = (mine, relay)
        return mine

    async def disown(self, name: str) -> None:
        held = self._held.pop(name, None)
        if held is not None:
            held[0].set()
            held[1].cancel()
        await self._disown(name)

    def rebalance(self) -> None:
        """After a membership change: tell the jobs of singletons this node no longer owns to
        stop (they release the lock when they ask again)."""
        for name, (mine, _) in self._held.items():
            if not mine.is_set() and not self._mine(name):
                log.info("cluster: singleton %s moves to another node; stopping it here", name)
                mine.set()

    @property
    def held(self) -> list[str]:
        """The singletons this node holds the lock of (running, or stopping)."""
        return sorted(self._held)


async def _relay(lost: asyncio.Event, mine: asyncio.Event) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await lost.wait()
        mine.set()
