"""Topic retention (``--topic-retention AGE`` and/or ``--topic-retention-messages N``).

Every ``interval`` seconds each topic this proxy publishes or consumes from the embedded topic log
is trimmed: a message is deleted when it is older than the age **or** beyond the newest N of its
topic, **and** every reader of the topic known to this proxy has passed it — the consumer groups
its user function declares (their committed offsets) and, with ``--broker``, the relay to the
external broker. A consumer group that has never committed holds everything back (its offset is
0). Topics that only another deployment publishes and this proxy consumes through the external
broker are left alone (their relay runs elsewhere). Deletes are idempotent, so every node may
run this.

Example::

    retention = TopicRetention(store, max_age=7 * 86400, max_messages=100_000)
    retention.readers["orders"] = ["topic:orders:shop.OrderLog"]
    deleted = await retention.trim_once()
"""

from __future__ import annotations

import logging
import time

from cloudstate.proxy import durations
from cloudstate.proxy.periodic import Periodic
from cloudstate.proxy.stores.base import Store

log = logging.getLogger(__name__)


def parse_age(text: str) -> float:
    """Seconds of a ``--topic-retention`` age like ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` or
    plain seconds; ``0`` (or empty) means no age limit::

    >>> parse_age("12h")
    43200.0
    """
    return durations.parse_age(text, "--topic-retention", "keeps messages forever")


class TopicRetention:
    """Trims the embedded topic log (see the module doc)."""

    def __init__(
        self,
        store: Store,
        *,
        max_age: float = 0.0,
        max_messages: int = 0,
        interval: float = 60.0,
    ) -> None:
        self.store = store
        self.max_age = max_age
        self.max_messages = max_messages
        #: topic -> the consumer ids whose committed offsets hold its messages back.
        self.readers: dict[str, list[str]] = {}
        self.deleted = 0
        self._job = Periodic("topic retention: trimming", interval, self.trim_once)

    @property
    def enabled(self) -> bool:
        return self.max_age > 0 or self.max_messages > 0

    async def trim_once(self) -> int:
        """Trim every topic once; how many messages were deleted."""
        if not self.enabled:
            return 0
        deleted = 0
        for topic, readers in self.readers.items():
            if readers:
                up_to = min([await self.store.load_offset(reader) for reader in readers])
            else:
                up_to = await self.store.highest_topic_offset(topic)
            if up_to <= 0:
                continue
            count = await self.store.trim_topic(
                topic,
                up_to,
                older_than=time.time() - self.max_age if self.max_age > 0 else None,
                keep_last=self.max_messages if self.max_messages > 0 else None,
            )
            if count:
                log.info("topic retention: deleted %d messages of topic %r", count, topic)
            deleted += count
        self.deleted += deleted
        return deleted

    def start(self) -> None:
        if self.enabled and self.readers:
            self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
