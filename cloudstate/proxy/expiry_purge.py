"""Purges expired value entities and CRDTs (``option (cloudstate.entity_ttl)``) from the store:
every ``--ttl-purge-interval`` (default 10 s), on one node at a time
(``Store.try_own("ttl-purge")``: on a shared PostgreSQL store the node that holds it purges, the
others try again each round; a store owned by one process always grants it).

A round purges batches of :data:`BATCH` rows until a batch comes back short, so an expired value
loses its payload within one interval plus the time of the round that finds it (10,000 rows in 10
batches: well under a second on SQLite). Purging only frees space: an expired value reads as
absent already (:meth:`~cloudstate.proxy.stores.base.Store.load_value`). A purged row stays as a
tombstone (no payload, its version kept) so that versions keep growing.

Example::

    purge = ExpiryPurge(store, interval=10.0)
    purged = await purge.purge_once()
    purge.start()        # every ``interval`` seconds, until ``await purge.stop()``
"""

from __future__ import annotations

import logging
import time

from cloudstate.proxy import durations, metrics
from cloudstate.proxy.periodic import OwnedPeriodic
from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)

#: The ownership a node needs to purge (one node purges at a time).
OWNER_NAME = "ttl-purge"
#: Rows purged per store transaction.
BATCH = 1000


def parse_interval(text: str) -> float:
    """Seconds of ``--ttl-purge-interval``: a number with an optional unit; ``0`` turns the
    purge off (expired values still read as absent, their rows stay).

    >>> parse_interval("10s")
    10.0
    """
    return durations.parse_age(text, "--ttl-purge-interval", "turns the purge off")


class ExpiryPurge:
    """The periodic purge of expired values (see the module doc). ``interval`` 0: off."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.purged = 0
        self._job = OwnedPeriodic(
            store, OWNER_NAME, "expiry: purging expired values", interval, self.purge_once
        )

    async def purge_once(self) -> int:
        """Purge every value expired by now, in batches; how many."""
        now = time.time()
        purged = 0
        while True:
            batch = await self.store.purge_expired_values(now, BATCH)
            purged += batch
            metrics.EXPIRED_VALUES_PURGED.inc(batch)
            if batch < BATCH:
                break
        if purged:
            log.info("expiry: purged %d expired values", purged)
        self.purged += purged
        return purged

    def start(self) -> None:
        if self.interval > 0:
            self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
