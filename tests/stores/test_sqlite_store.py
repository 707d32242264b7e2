"""The store contract against SQLite, plus what only a durable, group-committing store has."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cloudstate.proxy.stores.base import (
    ConcurrentWriteError,
    ConsumerPosition,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    Store,
    StoreError,
    StoreRefused,
    TaskCancel,
    TopicMessage,
    ViewRow,
    ViewSelect,
)
from cloudstate.proxy.stores.contract import StoreContract, event, events_of, record, state, task
from cloudstate.proxy.stores.contract_operations import parked
from cloudstate.proxy.stores.registry import open_store
from cloudstate.proxy.stores.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore

HELPER = Path(__file__).with_name("sqlite_writer.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


def refuse_inserts(path: Path, table: str, condition: str) -> None:
    """A trigger in the database at ``path`` that fails every insert into ``table`` matching
    ``condition`` (on ``NEW``): one write of a transaction fails, on the writer's own connection."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {condition} "
            f"BEGIN SELECT RAISE(ABORT, 'insert into {table} refused by the test'); END"
        )
    connection.close()


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

    async def test_the_writer_commits_with_synchronous_full(self, store: Store) -> None:
        """An acknowledged write survives a power cut: every commit is fsync'd. In WAL mode,
        synchronous=NORMAL would not sync at commit (a crash of the process alone loses nothing,
        so no kill test can see the difference). The setting belongs to the connection: it is read
        on the writer's own, inside a write."""
        assert isinstance(store, SqliteStore)

        def synchronous(connection: sqlite3.Connection, now: float) -> int:
            return int(connection.execute("PRAGMA synchronous").fetchone()[0])

        assert await store._submit(synchronous) == 2  # FULL (NORMAL is 1)
        journal = await store._submit(
            lambda connection, now: connection.execute("PRAGMA journal_mode").fetchone()[0]
        )
        assert str(journal).lower() == "wal"

    async def test_view_rows_and_their_offset_are_one_transaction(self, store: Store) -> None:
        """A view's rows are written with its consumer's offset or not at all: when the offset
        write fails, no row may stay (else the re-delivered events count twice)."""
        assert isinstance(store, SqliteStore)
        refuse_inserts(store.path, "consumer_offsets", "NEW.consumer_id = 'view:refused'")
        update = {"products": [ViewRow("apple", b"A", {"s1": "fruit"}), ViewRow("eel", b"E")]}
        with pytest.raises(StoreError, match="refused by the test"):
            await store.apply_view_updates(update, "view:refused", 7)
        assert await store.load_view_rows("products", ["apple", "eel"]) == {}
        assert await store.load_offset("view:refused") == 0
        # Another consumer's update, in the same database, is not affected.
        assert await store.apply_view_updates(update, "view:other", 7)
        assert await store.load_view_rows("products", ["apple"]) == {"apple": b"A"}

    async def test_events_and_their_outbox_are_one_transaction(self, store: Store) -> None:
        """The messages a reply publishes (the outbox) are written with its events or not at
        all: when a message cannot be written, the events are not journaled either."""
        assert isinstance(store, SqliteStore)
        refuse_inserts(store.path, "topic_messages", "NEW.topic = 'refused'")
        outbox = [("orders", TopicMessage(state(1), id="o-1")), ("refused", TopicMessage(state(2)))]
        with pytest.raises(StoreError, match="refused by the test"):
            await store.append_events("carts", "alice", 0, [event(1)], None, outbox)
        assert await events_of(store, "carts", "alice") == []
        assert [m async for m in store.read_topic("orders")] == []
        with pytest.raises(StoreError, match="refused by the test"):
            await store.save_value("counters", "c1", state(1), 0, outbox)
        assert await store.load_value("counters", "c1") is None
        assert [m async for m in store.read_topic("orders")] == []

    async def test_tasks_and_record_are_in_the_entity_transaction(self, store: Store) -> None:
        """Durable tasks and the idempotency record are written with the events (or value) and
        the outbox, or not at all: when any of them cannot be written, none is."""
        assert isinstance(store, SqliteStore)
        refuse_inserts(store.path, "durable_tasks", "NEW.name = 'timer:refused'")
        outbox = [("orders", TopicMessage(state(1), id="o-1"))]
        refused = [task("timer:ok"), task("timer:refused")]
        with pytest.raises(StoreError, match="refused by the test"):
            await store.append_events(
                "carts", "alice", 0, [event(1)], state(1), outbox, refused, record("k1")
            )
        with pytest.raises(StoreError, match="refused by the test"):
            await store.save_value("counters", "c1", state(1), 0, outbox, refused, record("k2"))
        assert await events_of(store, "carts", "alice") == []
        assert await store.load_snapshot("carts", "alice") is None
        assert await store.load_value("counters", "c1") is None
        assert [m async for m in store.read_topic("orders")] == []
        assert await store.list_tasks() == []
        assert await store.load_idempotency("k1") is None
        assert await store.load_idempotency("k2") is None
        # A failing outbox message takes the tasks and the record down with it.
        refuse_inserts(store.path, "topic_messages", "NEW.topic = 'refused'")
        with pytest.raises(StoreError, match="refused by the test"):
            await store.append_events(
                "carts",
                "alice",
                0,
                [event(1)],
                None,
                [("refused", TopicMessage(state(2)))],
                [task("timer:ok")],
                record("k3"),
            )
        assert await store.list_tasks() == []
        assert await store.load_idempotency("k3") is None
        # And the entity can still write.
        assert await store.append_events("carts", "alice", 0, [event(1)], tasks=[task("t")]) == 1
        assert [t.name for t in await store.list_tasks()] == ["t"]

    async def test_taken_key_fails_only_its_write_in_a_batch(self, store: Store) -> None:
        """In one group-commit transaction, the write whose idempotency key is taken fails alone
        (its savepoint is rolled back); the others, before and after it, commit."""
        assert isinstance(store, SqliteStore)
        await store.save_idempotency(record("taken", "f", b"first"))
        blocker = sqlite3.connect(store.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            first = asyncio.ensure_future(store.append_events("batch", "first", 0, [event(0)]))
            for _ in range(1000):  # until the writer took it (peeking at a private: test only)
                await asyncio.sleep(0.01)
                if store._queue.empty():
                    break
            commits, writes = store.commits, store.writes

            def write(n: int, key: str) -> asyncio.Future[int]:
                outbox = [("t", TopicMessage(state(n), id=f"m{n}"))]
                changes = [task(f"effect:{n}"), TaskCancel("effect:none")]
                if n % 2:
                    return asyncio.ensure_future(
                        store.append_events(
                            "batch", f"e{n}", 0, [event(n)], None, outbox, changes, record(key)
                        )
                    )
                return asyncio.ensure_future(
                    store.save_value("batch", f"v{n}", state(n), 0, outbox, changes, record(key))
                )

            before = [write(n, f"k{n}") for n in range(10)]
            taken = write(11, "taken")
            # Two writes of one batch with the same new key: the second loses to the first.
            twice = [write(20, "twice"), write(22, "twice")]
            after = [write(n, f"k{n}") for n in range(30, 40)]
            await asyncio.sleep(0.1)
            assert not first.done() and store.commits == commits
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        assert await first == 1
        assert await asyncio.gather(*before, *after, twice[0]) == [1] * 21
        with pytest.raises(IdempotencyKeyTaken) as caught:
            await taken
        assert caught.value.existing.response == b"first"
        with pytest.raises(IdempotencyKeyTaken) as caught:
            await twice[1]
        assert caught.value.existing.key == "twice"
        assert store.commits - commits <= 2 and store.writes - writes == 24
        names = {t.name for t in await store.list_tasks()}
        assert names == {f"effect:{n}" for n in [*range(10), 20, *range(30, 40)]}
        assert await store.highest_sequence("batch", "e11") == 0
        assert await store.load_value("batch", "v22") is None
        assert len([m async for m in store.read_topic("t")]) == 21
        stored = await store.load_idempotency("taken")
        assert stored is not None and stored.response == b"first"

    async def test_a_write_is_acknowledged_only_after_its_commit(self, store: Store) -> None:
        """Group commit resolves a request only after COMMIT returned, never when its own
        statements ran: a later request of the same transaction is held in the writer thread
        while the test checks that the earlier one is still unacknowledged."""
        assert isinstance(store, SqliteStore)
        loop = asyncio.get_running_loop()
        release_first, release_last = threading.Event(), threading.Event()
        last_started: asyncio.Future[None] = loop.create_future()

        def hold_first(connection: sqlite3.Connection, now: float) -> int:
            release_first.wait(30)  # keeps the writer busy while the batch queues up
            return 0

        def hold_last(connection: sqlite3.Connection, now: float) -> int:
            # Queued behind the acknowledgement of the append if it were made before COMMIT.
            loop.call_soon_threadsafe(last_started.set_result, None)
            release_last.wait(30)
            return 0

        first = asyncio.ensure_future(store._submit(hold_first))
        await asyncio.sleep(0.05)
        append = asyncio.ensure_future(store.append_events("acks", "alice", 0, [event(1)]))
        last = asyncio.ensure_future(store._submit(hold_last))
        await asyncio.sleep(0)  # both requests are queued: the writer takes them as one batch
        release_first.set()
        try:
            await asyncio.wait_for(asyncio.shield(last_started), 30)
            await asyncio.sleep(0.05)
            assert not append.done(), "acknowledged before its transaction committed"
        finally:
            release_last.set()
        assert await append == 1
        assert await asyncio.gather(first, last) == [0, 0]
        assert [e.sequence for e in await events_of(store, "acks", "alice")] == [1]

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


async def test_reopen_sees_tasks_dead_letters_and_records(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    store = await open_store(f"sqlite:///{path}")
    await store.write_tasks([task("timer:a", "a#1", 10.0, metadata=b"m", max_attempts=3)])
    await store.write_tasks([task("effect:b", "b#1", 20.0)])
    await store.dead_letter_task("effect:b", "b#1", "boom")
    await store.append_events("carts", "alice", 0, [event(1)], idempotency=record("k", "f", b"r"))
    tasks, letters = await store.list_tasks(), await store.list_dead_letters()
    saved = await store.load_idempotency("k")
    await store.close()

    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.list_tasks() == tasks and len(tasks) == 1
        assert await store.list_dead_letters() == letters and letters[0].task.attempts == 1
        assert saved is not None and await store.load_idempotency("k") == saved
        assert await store.next_due() == 10.0
    finally:
        await store.close()


async def test_a_database_of_the_previous_version_gains_the_durable_tables(
    tmp_path: Path,
) -> None:
    """A file written before durable calls (schema 4) opens, keeps its data and gets the
    tables of tasks, dead letters and idempotency records."""
    path = tmp_path / "v4.db"
    with sqlite3.connect(path) as connection:
        for step in MIGRATIONS[:4]:
            for statement in step:
                connection.execute(statement)
        connection.execute(
            "INSERT INTO events (persistence_id, entity_id, sequence, type_url, payload, "
            "timestamp) VALUES ('carts', 'alice', 1, ?, ?, 1.0)",
            (event(1).type_url, event(1).value),
        )
        connection.execute("PRAGMA user_version = 4")
    connection.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert [e.payload for e in await events_of(store, "carts", "alice")] == [event(1)]
        assert (
            await store.append_events(
                "carts", "alice", 1, [event(2)], tasks=[task("timer:t")], idempotency=record("k")
            )
            == 2
        )
        assert [t.name for t in await store.list_tasks()] == ["timer:t"]
        assert await store.dead_letter_task("timer:t", "timer:t#1", "boom")
        assert len(await store.list_dead_letters()) == 1
        assert await store.save_idempotency(IdempotencyRecord("k", "other", b"")) == (
            await store.load_idempotency("k")
        )
    finally:
        await store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        assert {"durable_tasks_by_due", "idempotency_by_created"} <= indexes
    connection.close()


async def test_a_database_of_version_5_gains_expiry_parking_and_generations(
    tmp_path: Path,
) -> None:
    """A file of schema 5 (before dead letters, resets, rebuilds and TTL) opens as 6: its
    values, offsets and view rows stay; expiry, resets, parking and rebuilds work."""
    path = tmp_path / "v5.db"
    with sqlite3.connect(path) as connection:
        for step in MIGRATIONS[:5]:
            for statement in step:
                connection.execute(statement)
        connection.execute(
            'INSERT INTO "values" (persistence_id, entity_id, type_url, payload, version) '
            "VALUES ('c', '1', ?, ?, 1)",
            (state(1).type_url, state(1).value),
        )
        connection.execute(
            "INSERT INTO consumer_offsets (consumer_id, \"offset\", updated) VALUES ('k', 42, 1)"
        )
        connection.execute(
            "INSERT INTO view_rows (view_id, row_key, payload) VALUES ('v', 'a', X'41')"
        )
        connection.execute("PRAGMA user_version = 5")
    connection.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        value = await store.load_value("c", "1")
        assert value is not None and value.payload == state(1) and value.version == 1
        assert await store.load_position("k") == ConsumerPosition(42, 0)
        assert await store.query_view("v", ViewSelect()) == [b"A"]
        assert await store.reset_offset("k", 0) == 1
        await store.save_value("c", "1", state(2), 1, expires_at=time.time() - 1)
        assert await store.load_value("c", "1") is None
        assert await store.purge_expired_values(time.time()) == 1
        await store.park_message(parked("k", 7))
        assert await store.count_parked() == {"k": 1}
        assert await store.start_view_rebuild(["v"]) == 1
    finally:
        await store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        assert {"values_by_expiry", "parked_messages_to_redrive"} <= indexes
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

    def acknowledged(line: bytes) -> None:
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
                acknowledged(line)
                count += 1
    finally:
        if process.returncode is None:
            process.kill()  # SIGKILL: no cleanup, no close(), mid-transaction
    await process.wait()
    assert process.returncode == -signal.SIGKILL
    for line in (await process.stdout.read()).splitlines(keepends=True):
        acknowledged(line)  # acknowledged before the kill, still in the pipe

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


async def test_sqlite_holds_no_cluster_membership_and_says_what_to_use(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/one-node.db")
    try:
        with pytest.raises(StoreRefused, match="PostgreSQL store"):
            await store.cluster_join("n1", "127.0.0.1:9100")
    finally:
        await store.close()
