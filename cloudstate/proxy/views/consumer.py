"""Keeps a view's tables up to date from one source (an event log or a topic).

A :class:`ViewConsumer` is an eventing consumer (same reading, retries, ownership across nodes and
lag status) that handles a batch differently:

1. the updates of one row are applied in offset order, one after the other (rows are keyed by a
   field of the event, so events of different entities may update the same row); updates of
   different rows run concurrently (at most ``parallelism`` at once);
2. for each item: its row key (the update method's ``key`` field of the event, else the entity id /
   subject), the current row (from the batch's earlier updates, else the store), then the new row:
   the event itself (``transform_updates: false``) or what the update method of the user function
   returns when called with the event and the current row (metadata ``cloudstate-view-row``,
   bytes; absent when there is no row yet). A reply of the row type is the new row, a reply of
   ``google.protobuf.Empty`` deletes it, no reply leaves it unchanged;
3. the batch's rows and the consumer's offset are written **in one transaction**, which the store
   applies only if the offset moves forward: after a crash the batch is handled again, but its
   updates land exactly once;
4. an update handler that fails ``max_attempts`` times for one event parks it (the row is left
   as it was) and the consumer moves on; a redrive applies it to the row as it is then, once;
5. **rebuilds**: when the store says its tables are being rebuilt into generation *g*
   (:meth:`~cloudstate.proxy.stores.base.Store.start_view_rebuild`), the consumer runs a second
   loop from offset 0 writing generation *g* (view ids ``<table id>~g<g>``) while it keeps the live
   rows up to date; once that loop has read everything it swaps *g* in (one transaction), and the
   live loop, its next commit refused, carries on in generation *g* from where the rebuild got.

Example::

    consumer = ViewConsumer(view, subscription, store, router, action_handler)
    consumer.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import EntityHandler, Outcome
from cloudstate.proxy.errors import ProtocolError, ProxyError
from cloudstate.proxy.eventing.attempts import GaveUp, retry
from cloudstate.proxy.eventing.event_log import ConsumerStatus, Delivery, EventLogConsumer
from cloudstate.proxy.eventing.subscriptions import VALUE_ENTITY, Subscription
from cloudstate.proxy.model import TYPE_URL_PREFIX
from cloudstate.proxy.router import Router
from cloudstate.proxy.stores.base import Store, ViewRow, view_generation_id
from cloudstate.proxy.views.model import ANY_TYPE, UpdateMethod, ViewService

log = logging.getLogger(__name__)

#: The metadata entry carrying the current row (bytes) to a transforming update handler.
ROW_METADATA = "cloudstate-view-row"
#: The suffix of a rebuild loop's offset key (after its view consumer's), before the generation
#: it builds: a superseded rebuild's offset is never taken for a new one's.
REBUILD_SUFFIX = "~rebuild-g"
#: The metadata entry naming the table the update is for.
TABLE_METADATA = "cloudstate-view-table"
DELETE_TYPE_URL = TYPE_URL_PREFIX + "google.protobuf.Empty"

_RowKey = tuple[str, str]  # (table, row key)


class ViewConsumer(EventLogConsumer):
    """Feeds one source to the update methods of one view service (module doc)."""

    def __init__(
        self,
        view: ViewService,
        subscription: Subscription,
        store: Store,
        router: Router,
        user_function: EntityHandler,
        *,
        rebuild_generation: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(subscription, store, router, **options)
        self.view = view
        self.user_function = user_function
        self.options = options
        self._live_id = view.consumer_id(subscription.consumer_id)
        #: Set for the loop that rebuilds the tables into this generation.
        self.rebuild_generation = rebuild_generation
        suffix = "" if rebuild_generation is None else f"{REBUILD_SUFFIX}{rebuild_generation}"
        self._consumer_id = self._live_id + suffix
        self.tables = sorted(
            {view.updates[m.name].table for m in subscription.methods if m.name in view.updates}
        )
        #: The generation each table's rows are written to.
        self._generations = dict.fromkeys(self.tables, rebuild_generation or 0)
        self.rebuild: ViewConsumer | None = None
        #: A rebuild loop's live consumer (woken when the rebuild swapped in).
        self.live: ViewConsumer | None = None
        self._rebuild_task: asyncio.Task[None] | None = None
        self._rebuild_checked = 0.0
        #: When this loop was made (for a rebuild loop: when this proxy started the rebuild).
        self.created = time.time()

    @property
    def consumer_id(self) -> str:
        return self._consumer_id

    @property
    def parked_id(self) -> str:
        return self._live_id

    def table_ids(self) -> list[str]:
        """The store ids of this consumer's tables (generation 0: queries resolve the active
        generation from them)."""
        return [self.view.table_id(table) for table in self.tables]

    def notify_rebuild(self) -> None:
        """A rebuild was requested: look for it now rather than at the next poll."""
        self._rebuild_checked = 0.0
        self._wakeup.set()

    def _table_id(self, table: str) -> str:
        """Where this loop reads and writes ``table``'s rows: its generation's view id."""
        return view_generation_id(self.view.table_id(table), self._generations.get(table, 0))

    async def stop(self) -> None:
        await self._stop_rebuild()
        await super().stop()

    async def rebuild_status(self) -> ConsumerStatus | None:
        """The running rebuild's progress (its offset against the head), None if none runs."""
        if self.rebuild is None or self._rebuild_task is None or self._rebuild_task.done():
            return None
        return await self.rebuild.status()

    # -- generations and rebuilds ---------------------------------------------------------------

    async def _load_position(self) -> None:
        await super()._load_position()
        await self._load_generations()

    async def _position_changed(self) -> None:
        await self._load_generations()

    async def _load_generations(self) -> None:
        if self.rebuild_generation is not None:
            return
        ids = dict(zip(self.table_ids(), self.tables, strict=True))
        found = await self._retrying(
            "read the view generations",
            functools.partial(self.store.load_view_generations, list(ids)),
        )
        self._generations = {ids[view]: state.active for view, state in found.items()}

    async def _follow_resets(self) -> None:
        await super()._follow_resets()
        if self.rebuild_generation is not None:
            return
        now = time.monotonic()
        if now - self._rebuild_checked < self.poll_interval:
            return
        self._rebuild_checked = now
        found = await self._retrying(
            "read the view generations",
            functools.partial(self.store.load_view_generations, self.table_ids()),
        )
        building = {state.building for state in found.values()}
        if len(building) != 1 or None in building:
            return
        generation = building.pop()
        assert generation is not None
        running = self._rebuild_task is not None and not self._rebuild_task.done()
        if running and self.rebuild is not None and self.rebuild.rebuild_generation == generation:
            return
        await self._stop_rebuild()
        log.info(
            "view %s: rebuilding %s into generation %d from the start of %s",
            self.view.name,
            ", ".join(self.tables),
            generation,
            self.subscription.describe(),
        )
        self.rebuild = ViewConsumer(
            self.view,
            self.subscription,
            self.store,
            self.router,
            self.user_function,
            rebuild_generation=generation,
            **self.options,
        )
        self.rebuild.live = self
        self.rebuild.batch_size = self.batch_size
        self._rebuild_task = asyncio.create_task(
            self.rebuild._run(), name=f"view rebuild {self.rebuild.consumer_id}"
        )

    async def _stop_rebuild(self) -> None:
        task, self._rebuild_task = self._rebuild_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _caught_up(self) -> bool:
        """The rebuild loop read everything: swap its generation in and end."""
        if self.rebuild_generation is None:
            return False
        swapped = await self._retrying(
            "swap the rebuilt view in",
            functools.partial(
                self.store.swap_view_generation,
                self.table_ids(),
                self.rebuild_generation,
                self._live_id,
                self.consumer_id,
            ),
        )
        if swapped:
            log.info(
                "view %s: generation %d of %s is caught up at offset %d and answers queries now",
                self.view.name,
                self.rebuild_generation,
                ", ".join(self.tables),
                self.committed_offset,
            )
        else:
            log.info("view %s: rebuild %d was superseded", self.view.name, self.rebuild_generation)
        if self.live is not None:
            self.live.notify()
        return True

    async def _redrive_requested(self) -> None:
        if self.rebuild_generation is None:  # the live loop redrives, into the live generation
            await super()._redrive_requested()

    async def _attempt(self, item: Delivery) -> dict[str, list[Any]]:
        """A redriven event: its update applied to the row as it is now (what to write)."""
        method = self.subscription.route(item.payload.type_url)
        update = None if method is None else self.view.updates.get(method.name)
        if update is None:
            return {}
        event = None if update.key is None else update.method.parse(item.payload.value)
        key = update.row_key(event, item.key)
        found = await self._retrying(
            "read the view rows",
            functools.partial(self.store.load_view_rows, self._table_id(update.table), [key]),
        )
        new = await self._new_row(item, update, found.get(key))
        if new is _UNCHANGED:
            return {}
        return self._rows({(update.table, key): new})  # type: ignore[dict-item]

    async def _deliver_batch(self, batch: list[Delivery]) -> None:
        planned: list[tuple[Delivery, UpdateMethod, Message | None, _RowKey]] = []
        deletes: list[tuple[Delivery, str]] = []  # (item, table): a value entity was deleted
        for item in batch:
            if self.subscription.kind == VALUE_ENTITY and item.payload.type_url == DELETE_TYPE_URL:
                tables = {self.view.updates[m.name].table for m in self.subscription.methods}
                deletes.extend((item, table) for table in sorted(tables))
                continue
            method = self.subscription.route(item.payload.type_url)
            update = None if method is None else self.view.updates.get(method.name)
            if update is None:
                self._pass_over(item)
                continue
            event = None
            if update.key is not None:
                event = update.method.parse(item.payload.value)
            planned.append((item, update, event, (update.table, update.row_key(event, item.key))))
        rows: dict[_RowKey, bytes | None] = {}
        if deletes:
            # Updates and deletes of a value entity's row keep their order: apply one by one.
            return await self._deliver_in_order(batch, deletes)
        for table in {key[0] for *_, key in planned}:
            keys = [key[1] for *_, key in planned if key[0] == table]
            found = await self._retrying(
                "read the view rows",
                lambda table=table, keys=keys: self.store.load_view_rows(  # type: ignore[misc]
                    self._table_id(table), keys
                ),
            )
            for key in keys:
                rows[(table, key)] = found.get(key)
        # A row's updates depend only on that row: the updates of one row run in offset order,
        # different rows concurrently (at most ``parallelism`` at once).
        by_row: dict[_RowKey, list[tuple[Delivery, UpdateMethod]]] = {}
        for item, update, _, row_key in planned:
            by_row.setdefault(row_key, []).append((item, update))
        changed: dict[_RowKey, bytes | None] = {}
        slots = asyncio.Semaphore(self.parallelism)

        async def apply(row_key: _RowKey, updates: list[tuple[Delivery, UpdateMethod]]) -> None:
            async with slots:
                for item, update in updates:
                    new = await self._new_row_or_park(item, update, rows[row_key])
                    if new is not _UNCHANGED:
                        rows[row_key] = changed[row_key] = new  # type: ignore[assignment]
                    self.delivered += 1

        async with asyncio.TaskGroup() as group:
            for row_key, updates in by_row.items():
                group.create_task(apply(row_key, updates))
        await self._write(changed, batch[-1].offset)

    async def _deliver_in_order(
        self, batch: list[Delivery], deletes: list[tuple[Delivery, str]]
    ) -> None:
        """A batch with deleted value entities: every item in offset order, then one write."""
        deleted: dict[int, list[str]] = {}
        for item, table in deletes:
            deleted.setdefault(id(item), []).append(table)
        rows: dict[_RowKey, bytes | None] = {}
        changed: dict[_RowKey, bytes | None] = {}
        for item in batch:
            for table in deleted.get(id(item), ()):
                rows[(table, item.key)] = changed[(table, item.key)] = None
            if id(item) in deleted:
                self.delivered += 1
                continue
            method = self.subscription.route(item.payload.type_url)
            update = None if method is None else self.view.updates.get(method.name)
            if update is None:
                self._pass_over(item)
                continue
            row_key = (update.table, item.key)
            if row_key not in rows:
                load = functools.partial(
                    self.store.load_view_rows, self._table_id(update.table), [item.key]
                )
                rows[row_key] = (await self._retrying("read the view rows", load)).get(item.key)
            new = await self._new_row_or_park(item, update, rows[row_key])
            if new is not _UNCHANGED:
                rows[row_key] = changed[row_key] = new  # type: ignore[assignment]
            self.delivered += 1
        await self._write(changed, batch[-1].offset)

    async def _commit(self, offset: int) -> None:
        """Nothing to do: :meth:`_write` moved the offset with the rows."""

    def _pass_over(self, item: Delivery) -> None:
        self.ignored += 1
        if item.payload.type_url not in self._ignored_types:
            self._ignored_types.add(item.payload.type_url)
            log.info(
                "view %s: no update method for %s from %s: passed over",
                self.view.name,
                item.payload.type_url,
                self.subscription.describe(),
            )

    def _rows(self, changed: dict[_RowKey, bytes | None]) -> dict[str, list[ViewRow]]:
        updates: dict[str, list[ViewRow]] = {}
        for (table, key), payload in changed.items():
            columns = {}
            if payload is not None and self.view.layouts[table].columns:
                row = self.view.row_classes[table].FromString(payload)
                columns = self.view.layouts[table].columns_of(row)
            updates.setdefault(self._table_id(table), []).append(ViewRow(key, payload, columns))
        return updates

    async def _write(self, changed: dict[_RowKey, bytes | None], offset: int) -> None:
        updates = self._rows(changed)
        # Every table's rows and the offset in one transaction, applied only if the offset moves
        # forward (a re-delivered batch finds it moved and writes nothing twice) and was not
        # reset meanwhile (OffsetWasReset: the loop re-reads its position).
        await self._retrying(
            "write the view rows",
            lambda: self.store.apply_view_updates(
                updates, self.consumer_id, offset, self.generation
            ),
        )

    async def _new_row_or_park(
        self, item: Delivery, update: UpdateMethod, current: bytes | None
    ) -> bytes | object | None:
        """The new row; if the handler gave up on it, the event is parked and the row left."""
        try:
            return await self._new_row(item, update, current)
        except GaveUp as gave_up:
            await self._park(item, gave_up)
            return _UNCHANGED

    async def _new_row(
        self, item: Delivery, update: UpdateMethod, current: bytes | None
    ) -> bytes | object | None:
        if not update.transform:
            return item.payload.value
        method = update.method
        what = (
            f"view update {method.service.name}.{method.name} failed on {item.what} "
            f"(offset {item.offset})"
        )
        return await retry(
            lambda: self._transform(item, update, current),
            self.min_backoff,
            self.max_backoff,
            self._failed_attempt(what),
            self.max_attempts,
        )

    async def _transform(
        self, item: Delivery, update: UpdateMethod, current: bytes | None
    ) -> bytes | object | None:
        method = update.method
        metadata = entity_pb2.Metadata()
        metadata.CopyFrom(item.metadata)
        metadata.entries.add(key=TABLE_METADATA, string_value=update.table)
        if current is not None:
            metadata.entries.add(key=ROW_METADATA, bytes_value=current)
        outcome: Outcome
        handle_any = getattr(self.user_function, "handle_any", None)
        if method.input_type.full_name == ANY_TYPE and handle_any is not None:
            payload = any_pb2.Any(type_url=item.payload.type_url, value=item.payload.value)
            outcome = await handle_any(method, payload, metadata)
        else:
            outcome = await self.user_function.handle(method, "", item.payload.value, metadata)
        action = outcome.client_action
        kind = action.WhichOneof("action")
        if kind is None:
            return _UNCHANGED
        if kind == "failure":
            raise ProxyError(f"the update handler failed: {action.failure.description}")
        if kind != "reply":
            raise ProtocolError(
                f"a view update handler must reply (the new row, or google.protobuf.Empty to "
                f"delete it) or send nothing; it sent a {kind}"
            )
        type_url = action.reply.payload.type_url
        if type_url == DELETE_TYPE_URL:
            return None
        row_url = TYPE_URL_PREFIX + self.view.layouts[update.table].row_type.full_name
        if type_url and type_url != row_url:
            raise ProtocolError(f"the update handler replied with {type_url}, not {row_url}")
        return bytes(action.reply.payload.value)


_UNCHANGED = object()
