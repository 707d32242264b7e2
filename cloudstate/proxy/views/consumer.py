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
   updates land exactly once.

Example::

    consumer = ViewConsumer(view, subscription, store, router, action_handler)
    consumer.start()
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import EntityHandler, Outcome
from cloudstate.proxy.errors import ProtocolError, ProxyError
from cloudstate.proxy.eventing.event_log import Delivery, EventLogConsumer, retry_forever
from cloudstate.proxy.eventing.subscriptions import VALUE_ENTITY, Subscription
from cloudstate.proxy.model import TYPE_URL_PREFIX
from cloudstate.proxy.router import Router
from cloudstate.proxy.stores.base import Store, ViewRow
from cloudstate.proxy.views.model import ANY_TYPE, UpdateMethod, ViewService

log = logging.getLogger(__name__)

#: The metadata entry carrying the current row (bytes) to a transforming update handler.
ROW_METADATA = "cloudstate-view-row"
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
        **options: Any,
    ) -> None:
        super().__init__(subscription, store, router, **options)
        self.view = view
        self.user_function = user_function
        self._consumer_id = view.consumer_id(subscription.consumer_id)

    @property
    def consumer_id(self) -> str:
        return self._consumer_id

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
                    self.view.table_id(table), keys
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
                    new = await self._new_row(item, update, rows[row_key])
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
                    self.store.load_view_rows, self.view.table_id(update.table), [item.key]
                )
                rows[row_key] = (await self._retrying("read the view rows", load)).get(item.key)
            new = await self._new_row(item, update, rows[row_key])
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

    async def _write(self, changed: dict[_RowKey, bytes | None], offset: int) -> None:
        updates: dict[str, list[ViewRow]] = {}
        for (table, key), payload in changed.items():
            columns = {}
            if payload is not None and self.view.layouts[table].columns:
                row = self.view.row_classes[table].FromString(payload)
                columns = self.view.layouts[table].columns_of(row)
            updates.setdefault(self.view.table_id(table), []).append(ViewRow(key, payload, columns))
        # Every table's rows and the offset in one transaction, applied only if the offset moves
        # forward (a re-delivered batch finds it moved and writes nothing twice).
        await self._retrying(
            "write the view rows",
            lambda: self.store.apply_view_updates(updates, self.consumer_id, offset),
        )

    async def _new_row(
        self, item: Delivery, update: UpdateMethod, current: bytes | None
    ) -> bytes | object | None:
        if not update.transform:
            return item.payload.value
        method = update.method

        def failed(error: Exception, attempt: int, delay: float) -> None:
            self.failures += 1
            self.last_error = (
                f"view update {method.service.name}.{method.name} failed on {item.what} "
                f"(offset {item.offset}): {error}"
            )
            log.warning(
                "%s; attempt %d, retrying in %.1fs (the event is not skipped)",
                self.last_error,
                attempt,
                delay,
            )

        return await retry_forever(
            lambda: self._transform(item, update, current),
            self.min_backoff,
            self.max_backoff,
            failed,
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
