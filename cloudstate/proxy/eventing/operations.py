"""Operating eventing consumers and views for years: their dead letters, replays and rebuilds.

Every operation works on the store alone, so it is the same whether the proxy runs (the consumer
picks the change up within a poll interval — at once when ``wake`` is given, as the proxy does)
or not (the CLI, ``cloudstate eventing ...``, against a stopped store). The admin API calls these
methods too.

Example::

    ops = EventingOperations(store)
    for message in await ops.dead_letters("event_log:ledger:evtest.Projection"):
        print(message.offset, message.what, message.last_error)
    await ops.redrive("event_log:ledger:evtest.Projection")          # every one of them
    await ops.discard("event_log:ledger:evtest.Projection", 5007)      # one, for good
    await ops.reset_to_time("event_log:ledger:evtest.Projection", time.time() - 3600)
    await ops.rebuild_view(["evtest.Balances/balances/1a2b3c"])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from cloudstate.proxy.eventing.subscriptions import EVENT_LOG, TOPIC, VALUE_ENTITY, change_topic
from cloudstate.proxy.stores.base import ConsumerPosition, ParkedMessage, Store

# The source inside a consumer id: "event_log:<pid>:<group>", "topic:<topic>:<group>",
# "value_entity:<type>:<group>", possibly after a view's "view:<service>:<signature>:".
_SOURCE = re.compile(rf"(?:^|:)({EVENT_LOG}|{TOPIC}|{VALUE_ENTITY}):(.+):[^:]*$")

#: Called with a consumer id after an operation changed what it should do.
Wake = Callable[[str], None]


class EventingOperations:
    """Dead letters, resets and rebuilds of the consumers of one store."""

    def __init__(self, store: Store, wake: Wake | None = None) -> None:
        self.store = store
        self.wake = wake

    # -- dead letters ---------------------------------------------------------------------------

    async def dead_letters(self, consumer_id: str = "", limit: int = 1000) -> list[ParkedMessage]:
        """The messages ``consumer_id`` parked ("": every consumer's), by consumer and offset.

        Example::

            [m.offset for m in await ops.dead_letters("topic:orders:shop.Log")]  # [12, 40]
        """
        return await self.store.list_parked(consumer_id, limit)

    async def dead_letter_counts(self) -> dict[str, int]:
        """How many parked messages each consumer has (the ``cloudstate_eventing_dead_letters``
        gauge)."""
        return await self.store.count_parked()

    async def redrive(self, consumer_id: str, offset: int | None = None) -> int:
        """Have the consumer deliver its parked message at ``offset`` (None: all of them) again,
        with a fresh set of attempts; handled, it is removed (a view applies it once, to the row
        as it is then); failing again, it is parked again. Returns how many were marked.

        Example::

            await ops.redrive("event_log:ledger:evtest.Projection", 5007)   # 1
        """
        marked = await self.store.redrive_parked(consumer_id, offset)
        if marked:
            self._wake(consumer_id)
        return marked

    async def discard(self, consumer_id: str, offset: int | None = None) -> int:
        """Delete the parked message at ``offset`` (None: all of them) for good; how many.

        Example::

            await ops.discard("event_log:ledger:evtest.Projection")   # all of them
        """
        return await self.store.drop_parked(consumer_id, offset)

    # -- replay and reset -----------------------------------------------------------------------

    async def position(self, consumer_id: str) -> ConsumerPosition:
        """The consumer's committed offset and reset generation."""
        return await self.store.load_position(consumer_id)

    async def reset_to_offset(self, consumer_id: str, offset: int) -> ConsumerPosition:
        """Move the consumer so that its next event is the first one after ``offset`` (back:
        a replay; forward: skip). A running consumer abandons the batch it is on and continues
        from there (its commit of the old position is refused). Not for a view's consumer (its
        rows would get the replayed events twice): rebuild the view instead.

        Example::

            await ops.reset_to_offset("event_log:ledger:evtest.Projection", 5000)
        """
        _check_resettable(consumer_id)
        if offset < 0:
            raise ValueError(f"reset of {consumer_id}: offset {offset} is negative")
        generation = await self.store.reset_offset(consumer_id, offset)
        self._wake(consumer_id)
        return ConsumerPosition(offset, generation)

    async def reset_to_beginning(self, consumer_id: str) -> ConsumerPosition:
        """Replay everything: the consumer's next event is the first of its source."""
        return await self.reset_to_offset(consumer_id, 0)

    async def reset_to_time(self, consumer_id: str, when: float) -> ConsumerPosition:
        """Replay from a point in time: the next event is the first one stored at or after
        ``when`` (seconds since the epoch).

        Example (the last hour again)::

            await ops.reset_to_time("topic:orders:shop.Log", time.time() - 3600)
        """
        kind, source = consumer_source(consumer_id)
        if kind == EVENT_LOG:
            offset = await self.store.event_offset_before(source, when)
        else:
            topic = change_topic(source) if kind == VALUE_ENTITY else source
            offset = await self.store.topic_offset_before(topic, when)
        return await self.reset_to_offset(consumer_id, offset)

    # -- view rebuilds --------------------------------------------------------------------------

    async def rebuild_view(self, table_ids: Sequence[str]) -> int:
        """Rebuild these view tables (their store ids, ``<service>/<table>/<signature>``) from the
        start of their source into a new generation, while the current rows keep answering;
        when the rebuild has caught up its rows replace the old ones in one step. Returns the
        new generation. In a running proxy, prefer ``Proxy.views.rebuild(consumer_id)``, which
        finds the tables of a view consumer.

        Example::

            await ops.rebuild_view(["evtest.Balances/balances/1a2b3c"])   # 1
        """
        if not table_ids:
            raise ValueError("rebuild_view needs the ids of the tables to rebuild")
        return await self.store.start_view_rebuild(list(table_ids))

    def _wake(self, consumer_id: str) -> None:
        if self.wake is not None:
            self.wake(consumer_id)


def consumer_source(consumer_id: str) -> tuple[str, str]:
    """``(kind, source)`` of a consumer id (``event_log``/``topic``/``value_entity``, and the
    persistence id or topic); ValueError for one that names no such source.

    Example::

        consumer_source("event_log:carts:shop.Log")   # ('event_log', 'carts')
    """
    match = _SOURCE.search(consumer_id)
    if match is None or consumer_id.startswith(("nats:", "nats-relay:")):
        raise ValueError(
            f"{consumer_id!r} is not the id of a consumer of an event log or topic of this store "
            "(event_log:<persistence id>:<group> or topic:<topic>:<group>, as "
            "cloudstate_eventing_pending_events labels them)"
        )
    return match.group(1), match.group(2)


def _check_resettable(consumer_id: str) -> None:
    if consumer_id.startswith("view:"):
        raise ValueError(
            f"{consumer_id} is a view's consumer: replaying into its rows would apply events "
            "twice; rebuild the view instead (cloudstate eventing rebuild)"
        )
    consumer_source(consumer_id)
