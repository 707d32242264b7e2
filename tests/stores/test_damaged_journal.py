"""A damaged journal is refused by the checked replay (cloudstate/proxy/stores/replay.py) on every
backend, naming the entity and the gap, instead of being replayed as a wrong state (issue 22):
the journal is damaged the way a hand edit or a bad restore would, in the backend's own tables."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from cloudstate.proxy.stores.base import JournalDamaged, Store, StoredSnapshot
from cloudstate.proxy.stores.contract import event, state
from cloudstate.proxy.stores.memory import MemoryStore
from cloudstate.proxy.stores.registry import open_store
from cloudstate.proxy.stores.replay import replay_events
from tests.backends import BACKENDS

PID = "carts"


@dataclass
class Damage:
    """A started store and two ways to damage an entity's journal behind its back."""

    store: Store
    delete_event: Callable[[str, int], Awaitable[None]]  # (entity id, sequence)
    move_snapshot: Callable[[str, int], Awaitable[None]]  # (entity id, new snapshot sequence)


def _memory_damage(store: MemoryStore) -> Damage:
    async def delete_event(entity_id: str, sequence: int) -> None:
        journal = store._journals[(PID, entity_id)]
        journal[:] = [e for e in journal if e.sequence != sequence]

    async def move_snapshot(entity_id: str, sequence: int) -> None:
        old = store._snapshots[(PID, entity_id)]
        store._snapshots[(PID, entity_id)] = StoredSnapshot(sequence, old.payload)

    return Damage(store, delete_event, move_snapshot)


def _sqlite_damage(store: Store, path: Path) -> Damage:
    def run(sql: str, *args: object) -> None:
        with sqlite3.connect(path) as connection:
            assert connection.execute(sql, args).rowcount == 1
        connection.close()

    async def delete_event(entity_id: str, sequence: int) -> None:
        run(
            "DELETE FROM events WHERE persistence_id = ? AND entity_id = ? AND sequence = ?",
            PID,
            entity_id,
            sequence,
        )

    async def move_snapshot(entity_id: str, sequence: int) -> None:
        run(
            "UPDATE snapshots SET sequence = ? WHERE persistence_id = ? AND entity_id = ?",
            sequence,
            PID,
            entity_id,
        )

    return Damage(store, delete_event, move_snapshot)


def _postgres_damage(store: Store, url: str) -> Damage:
    import asyncpg

    from cloudstate.proxy.stores.postgres import PostgresStore

    target = PostgresStore.from_url(url)

    async def run(sql: str, *args: object) -> None:
        connection = await asyncpg.connect(target.dsn)
        try:
            await connection.execute(f'SET search_path TO "{target.schema}"')
            assert await connection.execute(sql, *args) in ("DELETE 1", "UPDATE 1")
        finally:
            await connection.close()

    async def delete_event(entity_id: str, sequence: int) -> None:
        await run(
            "DELETE FROM events WHERE persistence_id = $1 AND entity_id = $2 AND sequence = $3",
            PID,
            entity_id,
            sequence,
        )

    async def move_snapshot(entity_id: str, sequence: int) -> None:
        await run(
            "UPDATE snapshots SET sequence = $1 WHERE persistence_id = $2 AND entity_id = $3",
            sequence,
            PID,
            entity_id,
        )

    return Damage(store, delete_event, move_snapshot)


@pytest_asyncio.fixture(params=("memory", *BACKENDS))
async def damage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Damage]:
    backend = str(request.param)
    if backend == "memory":
        store: Store = await open_store("memory:")
        assert isinstance(store, MemoryStore)
        damaged = _memory_damage(store)
    elif backend == "sqlite":
        store = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
        damaged = _sqlite_damage(store, tmp_path / "store.db")
    else:
        url = str(request.getfixturevalue("fresh_postgres_url"))
        store = await open_store(url)
        damaged = _postgres_damage(store, url)
    yield damaged
    await store.close()


async def replayed(store: Store, entity_id: str) -> list[int]:
    """The sequences an activation replays (after the snapshot, as the entity actor does)."""
    snapshot = await store.load_snapshot(PID, entity_id)
    after = snapshot.sequence if snapshot is not None else 0
    return [e.sequence async for e in replay_events(store, PID, entity_id, after)]


async def write(store: Store, entity_id: str, count: int, snapshot_at: int = 0) -> None:
    """``count`` events, one per append, with a snapshot saved with event ``snapshot_at``."""
    for n in range(1, count + 1):
        await store.append_events(
            PID, entity_id, n - 1, [event(n)], snapshot=state(n) if n == snapshot_at else None
        )


async def test_an_event_missing_from_the_middle_fails_the_replay(damage: Damage) -> None:
    store = damage.store
    await write(store, "gap", 4)
    await write(store, "sound", 4)
    await damage.delete_event("gap", 2)
    with pytest.raises(JournalDamaged) as refused:
        await replayed(store, "gap")
    assert str(refused.value) == (
        "the journal of carts|gap is damaged: expected sequence 2, found 3 (event 2 is missing)"
    )
    assert (refused.value.persistence_id, refused.value.entity_id) == (PID, "gap")
    assert await replayed(store, "sound") == [1, 2, 3, 4]  # the others replay as before


async def test_missing_first_events_and_runs_of_events_are_named(damage: Damage) -> None:
    store = damage.store
    await write(store, "first", 3)
    await damage.delete_event("first", 1)
    with pytest.raises(JournalDamaged, match=r"expected sequence 1, found 2 \(event 1 is"):
        await replayed(store, "first")
    await write(store, "run", 8, snapshot_at=2)
    for sequence in (4, 5, 6):
        await damage.delete_event("run", sequence)
    with pytest.raises(JournalDamaged, match=r"expected sequence 4, found 7 \(events 4 to 6 are"):
        await replayed(store, "run")


async def test_a_snapshot_past_the_journal_fails_the_replay(damage: Damage) -> None:
    store = damage.store
    await write(store, "ahead", 12, snapshot_at=10)
    assert await replayed(store, "ahead") == [11, 12]
    await damage.move_snapshot("ahead", 13)
    with pytest.raises(JournalDamaged) as refused:
        await replayed(store, "ahead")
    assert str(refused.value) == (
        "the journal of carts|ahead is damaged: the snapshot is at sequence 13 but the journal "
        "ends at 12: the snapshot is ahead of the events"
    )


async def test_a_snapshot_whose_event_is_missing_fails_the_replay(damage: Damage) -> None:
    store = damage.store
    await write(store, "lost", 6, snapshot_at=4)
    await damage.delete_event("lost", 4)
    with pytest.raises(JournalDamaged, match="the snapshot at sequence 4 has no event"):
        await replayed(store, "lost")


async def test_a_gap_before_the_snapshot_is_not_read(damage: Damage) -> None:
    # What replay reads is checked: history before the snapshot changes nothing the entity sees.
    store = damage.store
    await write(store, "old-gap", 6, snapshot_at=4)
    await damage.delete_event("old-gap", 2)
    assert await replayed(store, "old-gap") == [5, 6]
