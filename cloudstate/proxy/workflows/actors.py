"""The actors of active workflows: one per workflow id on this node, with the lock that
serialises the workflow's commands, steps and wake-ups, and its cached record.

Idle actors are passivated (dropped with their cached record) after the passivation timeout,
and the oldest idle ones at once beyond :data:`CACHE_LIMIT`.

Example::

    actors = Actors(passivation_timeout=30.0)
    async with actors.use("t1") as actor:
        async with actor.lock:
            ...   # read actor.record / actor.version, write, update them
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from cloudstate.proxy.workflows.record import Record

#: Records kept in memory (idle actors beyond it are dropped, oldest first).
CACHE_LIMIT = 10_000


@dataclass(eq=False)
class WorkflowActor:
    """One active workflow: its lock, cached record and version, the step driven here."""

    workflow_id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    record: Record | None = None
    version: int = 0
    users: int = 0
    #: The task driving this workflow's steps on this node, if any.
    driving: asyncio.Task[None] | None = None
    idle_since: float = 0.0


class Actors:
    """The actors of one workflow service on this node."""

    def __init__(self, passivation_timeout: float, limit: int = CACHE_LIMIT) -> None:
        self.passivation_timeout = passivation_timeout
        self.limit = limit
        self._actors: dict[str, WorkflowActor] = {}

    def __len__(self) -> int:
        return len(self._actors)

    def __iter__(self) -> Iterator[WorkflowActor]:
        return iter(list(self._actors.values()))

    @contextlib.asynccontextmanager
    async def use(
        self, workflow_id: str, actor: WorkflowActor | None = None
    ) -> AsyncIterator[WorkflowActor]:
        """The actor of ``workflow_id`` (created on demand; ``actor``: that one), kept while in
        use."""
        if actor is None:
            actor = self._actors.get(workflow_id)
            if actor is None:
                actor = self._actors[workflow_id] = WorkflowActor(workflow_id)
                if len(self._actors) > self.limit:
                    self._passivate(beyond_limit=True)
        actor.users += 1
        try:
            yield actor
        finally:
            actor.users -= 1
            actor.idle_since = time.monotonic()
            if actor.users == 0:
                asyncio.get_running_loop().call_later(self.passivation_timeout, self._passivate)

    def _passivate(self, beyond_limit: bool = False) -> None:
        """Drop the actors idle for the passivation timeout (``beyond_limit``: the oldest idle
        ones beyond the limit)."""
        now = time.monotonic()
        idle = [a for a in self._actors.values() if a.users == 0]
        if beyond_limit:
            idle.sort(key=lambda a: a.idle_since)
            gone = idle[: max(0, len(self._actors) - self.limit)]
        else:
            gone = [a for a in idle if now - a.idle_since >= self.passivation_timeout - 0.01]
        for actor in gone:
            if self._actors.get(actor.workflow_id) is actor:
                del self._actors[actor.workflow_id]
