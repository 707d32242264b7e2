"""The store's purge and compaction, on every backend (memory, SQLite, PostgreSQL), checked
through the store and, for the SQL backends, with SQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from cloudstate.proxy.entities.deletion import delete_entity, is_tombstone, run_purge
from cloudstate.proxy.stores.base import Payload, Store
from cloudstate.proxy.stores.registry import open_store
from tests.lifecycle.sql import snapshot_rows, stored_sequences

EVENT = Payload("type.googleapis.com/t.E", b"x")


@pytest.fixture(params=["memory", "sql"])
def url(request: pytest.FixtureRequest, store_url: str) -> str:
    return "memory:" if request.param == "memory" else store_url


async def sequences(store: Store, entity_id: str) -> list[int]:
    return [e.sequence async for e in store.read_events("p", entity_id)]


async def test_an_operator_deletion_then_its_purge_leaves_nothing(url: str) -> None:
    store = await open_store(url)
    try:
        await store.append_events("p", "a", 0, [EVENT, EVENT], snapshot=EVENT)
        await store.append_events("p", "b", 0, [EVENT])
        assert await delete_entity(store, "p", "a", grace=0) == 3
        snapshot = await store.load_snapshot("p", "a")
        assert snapshot is not None and is_tombstone(snapshot.payload)
        [task] = await store.due_tasks(time.time() + 1, 10)
        assert await delete_entity(store, "p", "a", grace=0) == 3  # deleted already: no-op
        await run_purge(store, task)
        assert await sequences(store, "a") == []
        assert await store.load_snapshot("p", "a") is None
        assert await store.highest_sequence("p", "a") == 0
        assert await sequences(store, "b") == [1]
        assert [e.sequence async for _, e in store.read_all_events("p")] == [1]
        if url != "memory:":
            assert await asyncio.to_thread(stored_sequences, url, "p", "a") == []
            assert await asyncio.to_thread(snapshot_rows, url, "p", "a") == []
        with pytest.raises(LookupError, match=r"p\|a has no events"):
            await delete_entity(store, "p", "a")
    finally:
        await store.close()


async def test_a_purge_keeps_the_life_after_the_tombstone(url: str) -> None:
    store = await open_store(url)
    try:
        await store.append_events("p", "a", 0, [EVENT, EVENT])
        tombstone = await delete_entity(store, "p", "a", grace=0)
        await store.append_events("p", "a", tombstone, [EVENT])
        assert await store.purge_entity("p", "a", tombstone) == 2
        assert await sequences(store, "a") == [3, 4]
        snapshot = await store.load_snapshot("p", "a")
        assert snapshot is not None and snapshot.sequence == 3
    finally:
        await store.close()


async def test_compaction_stops_below_the_snapshot_and_the_offset(url: str) -> None:
    store = await open_store(url)
    try:
        for sequence in range(6):
            await store.append_events("p", "a", sequence, [EVENT])
        offsets = [e.offset async for e in store.read_events("p", "a")]
        # Readers have read up to event 2: only events 1 and 2 may go.
        assert await store.compact_journal("p", "a", 5, up_to_offset=offsets[1]) == 2
        assert await sequences(store, "a") == [3, 4, 5, 6]
        assert await store.compact_journal("p", "a", 5) == 2  # no readers: up to the snapshot
        assert await sequences(store, "a") == [5, 6]
        if url != "memory:":
            assert await asyncio.to_thread(stored_sequences, url, "p", "a") == [5, 6]
    finally:
        await store.close()
