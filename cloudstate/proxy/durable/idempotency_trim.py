"""Deletes idempotency records older than ``--idempotency-retention``, every few minutes, on one
node at a time (``Store.try_own("idempotency-trim")``: on a shared PostgreSQL store the node that
holds it trims, the others try again each round; a store owned by one process always grants it).

Trimming only frees space: a record older than the retention counts as absent already when it is
looked up (:class:`~cloudstate.proxy.durable.idempotency.Idempotency`).

Example::

    trim = IdempotencyTrim(store, retention=86400)
    deleted = await trim.trim_once()
    trim.start()        # every ``interval`` seconds, until ``await trim.stop()``
"""

from __future__ import annotations

import logging
import time

from cloudstate.proxy import durations
from cloudstate.proxy.periodic import OwnedPeriodic
from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)

#: The ownership a node needs to trim (one node trims at a time).
OWNER_NAME = "idempotency-trim"
#: Seconds between two trims.
DEFAULT_INTERVAL = 300.0


def parse_retention(text: str) -> float:
    """Seconds of ``--idempotency-retention``: a number with an optional unit; ``0`` keeps
    records forever.

    >>> parse_retention("24h")
    86400.0
    """
    return durations.parse_age(text, "--idempotency-retention", "keeps keys forever")


class IdempotencyTrim:
    """The periodic trim of idempotency records (see the module doc). ``retention`` 0: off."""

    def __init__(self, store: Store, retention: float, interval: float = DEFAULT_INTERVAL) -> None:
        self.store = store
        self.retention = retention
        self.deleted = 0
        self._job = OwnedPeriodic(
            store, OWNER_NAME, "idempotency: trimming keys", interval, self.trim_once
        )

    async def trim_once(self) -> int:
        """Delete the records older than the retention, now; how many."""
        if self.retention <= 0:
            return 0
        deleted = await self.store.trim_idempotency(time.time() - self.retention)
        if deleted:
            log.info("idempotency: deleted %d keys older than the retention", deleted)
        self.deleted += deleted
        return deleted

    def start(self) -> None:
        if self.retention > 0:
            self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
