"""The store contract against SQLite, plus what only a durable, group-committing store has."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cloudstate.proxy.stores.base import ConcurrentWriteError, Store, StoreError
from cloudstate.proxy.stores.registry import open_store
from cloudstate.proxy.stores.sqlite import SCHEMA_VERSION, SqliteStore

from .contract import StoreContract, event, events_of, state

HELPER = Path(__file__).with_name("sqlite_writer.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


class TestSqliteStore(StoreContract):
    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
        assert isinstance(store, SqliteStore) and store.name == "sqlite"
        yield store
        await store.close()

    async def test_group_commit_batches_concurrent_writes(self, store: Store) -> None:
        assert isinstance(store, SqliteStore)
        commits, writes = store.commits, store.writes
        await asyncio.gather(
            *(store.append_events("batch", f"e{n}", 0, [event(n)]) for n in range(200))
        )
        assert store.writes - writes == 200
        # One fsync'd transaction served many writers.
        assert store.commits - commits < 200

    async def test_failed_request_does_not_fail_its_batch(self, store: Store) -> None:
        assert isinstance(store, SqliteStore)
        await store.append_events("batch", "alice", 0, [event(1)])
        await store.save_value("batch", "value", state(1))
        # Hold SQLite's write lock from another connection: the writer takes the first request,
        # then waits for the lock (busy_timeout) while everything else queues up behind it.
        blocker = sqlite3.connect(store.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            first = asyncio.ensure_future(store.append_events("batch", "first", 0, [event(0)]))
            for _ in range(1000):  # until the writer took it (peeking at a private: test only)
                await asyncio.sleep(0.01)
                if store._queue.empty():
                    break
            commits, writes = store.commits, store.writes
            good = [
                asyncio.ensure_future(store.append_events("batch", f"good{n}", 0, [event(n)]))
                for n in range(20)
            ]
            conflicting = asyncio.ensure_future(
                store.append_events("batch", "alice", 7, [event(99)], snapshot=state(99))
            )
            stale_value = asyncio.ensure_future(
                store.save_value("batch", "value", state(99), expected_version=5)
            )
            fresh_value = asyncio.ensure_future(
                store.save_value("batch", "value", state(2), expected_version=1)
            )
            await asyncio.sleep(0.1)
            # WAL: readers are not blocked by a writer; the loop is not blocked either.
            assert await store.highest_sequence("batch", "alice") == 1
            assert not first.done() and store.commits == commits
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        assert await first == 1
        assert await asyncio.gather(*good) == [1] * 20
        with pytest.raises(ConcurrentWriteError):
            await conflicting
        with pytest.raises(ConcurrentWriteError):
            await stale_value
        assert await fresh_value == 2
        # Two transactions: the first request, then all the others together (a racing writer may
        # already have drained some into the first one; either way they shared a transaction).
        assert store.commits - commits <= 2 and store.writes - writes == 24
        assert [e.sequence for e in await events_of(store, "batch", "alice")] == [1]
        assert await store.load_snapshot("batch", "alice") is None
        assert [e.payload for e in await events_of(store, "batch", "good7")] == [event(7)]
        value = await store.load_value("batch", "value")
        assert value is not None and (value.payload, value.version) == (state(2), 2)

    async def test_close_commits_queued_writes(self, store: Store, tmp_path: Path) -> None:
        tasks = [
            asyncio.ensure_future(store.append_events("close", f"e{n}", 0, [event(n)]))
            for n in range(50)
        ]
        await asyncio.sleep(0)  # let every task queue its request
        await store.close()
        assert await asyncio.gather(*tasks) == [1] * 50
        with pytest.raises(StoreError):
            await store.highest_sequence("close", "e1")
        reopened = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            assert len(await reopened.list_entity_ids("close")) == 50
        finally:
            await reopened.close()


async def test_reopen_sees_data(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    store = await open_store(f"sqlite:///{path}")
    await store.append_events("carts", "alice", 0, [event(1), event(2)], snapshot=state(2))
    await store.save_value("counters", "c1", state(1))
    await store.save_value("counters", "c2", state(1))
    await store.save_value("counters", "c2", None)
    await store.close()

    store = await open_store(f"sqlite:///{path}")
    try:
        assert [e.payload for e in await events_of(store, "carts", "alice")] == [event(1), event(2)]
        snapshot = await store.load_snapshot("carts", "alice")
        assert snapshot is not None and (snapshot.sequence, snapshot.payload) == (2, state(2))
        value = await store.load_value("counters", "c1")
        assert value is not None and value.version == 1
        assert await store.load_value("counters", "c2") is None
        # The tombstone survived, so the version keeps growing.
        assert await store.save_value("counters", "c2", state(3)) == 3
        assert await store.append_events("carts", "alice", 2, [event(3)]) == 3
    finally:
        await store.close()

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.close()


async def test_url_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = await open_store("sqlite:///data/nested/relative.db")
    await relative.close()
    assert (tmp_path / "data" / "nested" / "relative.db").is_file()

    absolute = tmp_path / "abs" / "dir" / "absolute.db"
    url = f"sqlite:///{absolute}"
    assert url.startswith("sqlite:////")
    store = SqliteStore.from_url(url)
    assert store.path == absolute
    await store.start()
    await store.close()
    assert absolute.is_file()

    for bad in ("sqlite://host.db", "sqlite:///", "sqlite:///dir/", "sqlite:///:memory:"):
        with pytest.raises(ValueError):
            SqliteStore.from_url(bad)


async def test_not_started_store_rejects_use(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "idle.db")
    with pytest.raises(StoreError):
        await store.append_events("carts", "alice", 0, [event(1)])
    with pytest.raises(StoreError):
        await store.highest_sequence("carts", "alice")
    await store.close()


async def test_close_while_starting(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "race.db")
    starting = asyncio.ensure_future(store.start())
    await asyncio.sleep(0)  # start() now waits for the writer thread to open the database
    await store.close()
    with pytest.raises(StoreError):
        await starting
    with pytest.raises(StoreError):
        await store.append_events("carts", "alice", 0, [event(1)])


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError, match="schema version"):
        await open_store(f"sqlite:///{path}")


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HELPER),
        str(path),
        "8",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    acked: dict[str, int] = {}

    def record(line: bytes) -> None:
        # A line cut short by the kill was never a complete acknowledgement.
        if line.endswith(b"\n") and line != b"ready\n":
            entity_id, sequence = line.decode().split()
            acked[entity_id] = max(acked.get(entity_id, 0), int(sequence))

    try:
        async with asyncio.timeout(60):
            count = 0
            while count < 400:
                line = await process.stdout.readline()
                if not line:
                    stderr = await process.stderr.read()
                    pytest.fail(f"writer exited early: {stderr.decode()}")
                record(line)
                count += 1
    finally:
        if process.returncode is None:
            process.kill()  # SIGKILL: no cleanup, no close(), mid-transaction
    await process.wait()
    assert process.returncode == -signal.SIGKILL
    for line in (await process.stdout.read()).splitlines(keepends=True):
        record(line)  # acknowledged before the kill, still in the pipe

    assert len(acked) == 8 and sum(acked.values()) >= 390
    store = await open_store(f"sqlite:///{path}")
    try:
        for entity_id, sequence in acked.items():
            stored = await events_of(store, "crash", entity_id)
            assert len(stored) >= sequence, f"{entity_id}: acked {sequence}, stored {len(stored)}"
            assert [e.sequence for e in stored] == list(range(1, len(stored) + 1))
            assert [e.payload.value for e in stored] == [
                f"{entity_id}:{n}".encode() for n in range(len(stored))
            ]
    finally:
        await store.close()
