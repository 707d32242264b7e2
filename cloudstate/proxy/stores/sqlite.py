"""Embedded, durable store on SQLite (stdlib ``sqlite3``), for single-node proxies.

Threading model, chosen so that the event loop never blocks on the database:

* **One writer thread** owns the only write connection. ``append_events`` and ``save_value`` put a
  request on a queue and await a future. The writer takes everything that is queued and commits it
  in one transaction (group commit): one fsync serves many concurrent writers. Each request runs in
  its own ``SAVEPOINT`` so that a request that fails (e.g. a lost conditional write) is rolled back
  alone. Futures are resolved only after ``COMMIT`` returned, so an acknowledged write is durable.
* **Readers** run on a small thread pool, each thread with its own connection. WAL mode lets them
  read committed data while the writer writes.

The database runs with ``journal_mode=WAL`` and ``synchronous=FULL`` (fsync on every commit). The
schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` lists the steps to reach the
current version, so later versions only append to it. Before use the file is checked
(:mod:`~cloudstate.proxy.stores.sqlite_checks`): an empty, foreign or damaged file is refused
rather than served as a new store.

One concern: the SQLite backend of :class:`~cloudstate.proxy.stores.base.Store`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from cloudstate.proxy import metrics
from cloudstate.proxy.stores.base import (
    VIEW_SLOTS,
    ConcurrentWriteError,
    ConsumerPosition,
    DeadLetter,
    DurableTask,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    OffsetWasReset,
    Outbox,
    ParkedMessage,
    Payload,
    Store,
    StoredEvent,
    StoredSnapshot,
    StoredValue,
    StoreError,
    StoreRefused,
    TaskCancel,
    TaskChanges,
    TopicMessage,
    ViewGeneration,
    ViewRow,
    ViewSelect,
    view_generation_id,
)
from cloudstate.proxy.stores.sqlite_checks import (
    INTEGRITY_CHECKS,
    check_file,
    check_integrity,
    check_not_foreign,
    check_schema,
    create_database,
)
from cloudstate.proxy.stores.view_sql import Placeholders, select_sql, upsert_sql

_T = TypeVar("_T")

#: Schema migrations: ``MIGRATIONS[n]`` takes the database from ``user_version`` n to n + 1.
#: Never edit a released step; append new ones (CRDT state, eventing offsets, topics, ...).
#: ``offset`` and ``values`` are SQL keywords, hence quoted.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE events (
            "offset" INTEGER PRIMARY KEY AUTOINCREMENT,
            persistence_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            type_url TEXT NOT NULL,
            payload BLOB NOT NULL,
            timestamp REAL NOT NULL,
            UNIQUE (persistence_id, entity_id, sequence)
        )
        """,
        'CREATE INDEX events_by_offset ON events (persistence_id, "offset")',
        """
        CREATE TABLE snapshots (
            persistence_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            type_url TEXT NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (persistence_id, entity_id)
        ) WITHOUT ROWID
        """,
        # A delete keeps the row (deleted = 1, no payload) so that the version keeps growing.
        """
        CREATE TABLE "values" (
            persistence_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            type_url TEXT,
            payload BLOB,
            version INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (persistence_id, entity_id)
        ) WITHOUT ROWID
        """,
    ),
    # 2: offsets of event-log consumers (eventing, projections).
    (
        """
        CREATE TABLE consumer_offsets (
            consumer_id TEXT PRIMARY KEY,
            "offset" INTEGER NOT NULL,
            updated REAL NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    # 3: the embedded topic log (eventing.in.topic / eventing.out.topic).
    (
        """
        CREATE TABLE topic_messages (
            "offset" INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BLOB NOT NULL,
            ce_id TEXT NOT NULL,
            ce_source TEXT NOT NULL,
            ce_type TEXT NOT NULL,
            ce_subject TEXT NOT NULL,
            ce_time TEXT NOT NULL,
            content_type TEXT NOT NULL,
            timestamp REAL NOT NULL
        )
        """,
        'CREATE INDEX topic_messages_by_offset ON topic_messages (topic, "offset")',
    ),
    # 4: view rows (cloudstate.view): the row message's bytes and its indexed columns (s1..s4
    # text, n1..n4 numbers), one index per slot so queries run as indexed SQL.
    (
        """
        CREATE TABLE view_rows (
            view_id TEXT NOT NULL,
            row_key TEXT NOT NULL,
            payload BLOB NOT NULL,
            s1 TEXT, s2 TEXT, s3 TEXT, s4 TEXT,
            n1 NUMERIC, n2 NUMERIC, n3 NUMERIC, n4 NUMERIC,
            PRIMARY KEY (view_id, row_key)
        ) WITHOUT ROWID
        """,
        *(f"CREATE INDEX view_rows_{slot} ON view_rows (view_id, {slot})" for slot in VIEW_SLOTS),
    ),
    # 5: durable calls (cloudstate.proxy.durable): pending tasks by name (due first), their dead
    # letters, and the idempotency records of keyed calls.
    (
        """
        CREATE TABLE durable_tasks (
            name TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            service TEXT NOT NULL,
            method TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BLOB NOT NULL,
            due REAL NOT NULL,
            metadata BLOB NOT NULL,
            attempts INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            created REAL NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX durable_tasks_by_due ON durable_tasks (due, name)",
        """
        CREATE TABLE dead_letters (
            name TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            service TEXT NOT NULL,
            method TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BLOB NOT NULL,
            due REAL NOT NULL,
            metadata BLOB NOT NULL,
            attempts INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            created REAL NOT NULL,
            failed_at REAL NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX dead_letters_by_failed_at ON dead_letters (failed_at)",
        """
        CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            response BLOB NOT NULL,
            created REAL NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX idempotency_by_created ON idempotency (created)",
    ),
    # 6: running it for years. Value expiry (TTL): expires_at, seconds since the epoch (NULL:
    # never), indexed for the purge. Consumer offsets get a reset generation (a running consumer
    # notices a reset). Parked messages: the dead letters of eventing consumers and views. View
    # generations: which generation of a view's rows answers queries, and which one a rebuild
    # fills (rows of generation n > 0 live under view id "<view>~g<n>").
    (
        'ALTER TABLE "values" ADD COLUMN expires_at REAL',
        'CREATE INDEX values_by_expiry ON "values" (expires_at) WHERE expires_at IS NOT NULL',
        "ALTER TABLE consumer_offsets ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
        """
        CREATE TABLE parked_messages (
            consumer_id TEXT NOT NULL,
            "offset" INTEGER NOT NULL,
            key TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BLOB NOT NULL,
            metadata BLOB NOT NULL,
            what TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            failed_at REAL NOT NULL,
            redrive INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (consumer_id, "offset")
        ) WITHOUT ROWID
        """,
        "CREATE INDEX parked_messages_to_redrive ON parked_messages (consumer_id) "
        "WHERE redrive = 1",
        """
        CREATE TABLE view_generations (
            view_id TEXT PRIMARY KEY,
            active INTEGER NOT NULL,
            building INTEGER
        ) WITHOUT ROWID
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

# An operation of a write request: runs on the writer connection inside a savepoint and gets the
# batch's commit timestamp.
_Operation = Callable[[sqlite3.Connection, float], int]


@dataclass(slots=True)
class _WriteRequest:
    operation: _Operation
    future: asyncio.Future[int]


def _settle(future: asyncio.Future[int], result: int | BaseException) -> None:
    # Runs on the event loop. The caller may have been cancelled meanwhile; the write stands anyway.
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _insert_topic_messages(connection: sqlite3.Connection, outbox: Outbox, now: float) -> int:
    """Append ``(topic, message)`` pairs on the writer connection; the offset of the last one."""
    last = 0
    for topic, m in outbox:
        cursor = connection.execute(
            "INSERT INTO topic_messages (topic, type_url, payload, ce_id, ce_source, "
            "ce_type, ce_subject, ce_time, content_type, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                topic,
                m.payload.type_url,
                m.payload.value,
                m.id,
                m.source,
                m.type,
                m.subject,
                m.time,
                m.content_type,
                now,
            ),
        )
        last = int(cursor.lastrowid or 0)
    return last


_TASK_MARKS = ", ".join("?" * len(DurableTask.COLUMNS.split(",")))


def _check_generation(
    connection: sqlite3.Connection, consumer_id: str, generation: int | None
) -> None:
    """OffsetWasReset unless the consumer's stored reset generation is ``generation``."""
    if generation is None:
        return
    row = connection.execute(
        "SELECT generation FROM consumer_offsets WHERE consumer_id = ?", (consumer_id,)
    ).fetchone()
    actual = 0 if row is None else int(row[0])
    if actual != generation:
        raise OffsetWasReset(consumer_id, generation, actual)


def _write_view_rows(connection: sqlite3.Connection, batch: list[tuple[str, ViewRow]]) -> None:
    upsert = upsert_sql(Placeholders.QMARK)
    for view, row in batch:
        if row.payload is None:
            connection.execute(
                "DELETE FROM view_rows WHERE view_id = ? AND row_key = ?", (view, row.key)
            )
        else:
            slots = tuple(row.columns.get(slot) for slot in VIEW_SLOTS)
            connection.execute(upsert, (view, row.key, row.payload, *slots))


def _view_generation(connection: sqlite3.Connection, view: str) -> ViewGeneration:
    row = connection.execute(
        "SELECT active, building FROM view_generations WHERE view_id = ?", (view,)
    ).fetchone()
    if row is None:
        return ViewGeneration()
    return ViewGeneration(int(row[0]), None if row[1] is None else int(row[1]))


def _write_task_changes(connection: sqlite3.Connection, changes: TaskChanges, now: float) -> None:
    """Start (insert or replace by name) and cancel tasks, in order, on the writer connection."""
    for change in changes:
        if isinstance(change, TaskCancel):
            connection.execute("DELETE FROM durable_tasks WHERE name = ?", (change.name,))
        else:
            connection.execute(
                f"INSERT OR REPLACE INTO durable_tasks ({DurableTask.COLUMNS}) "
                f"VALUES ({_TASK_MARKS})",
                change.to_row(now),
            )


def _select_idempotency(connection: sqlite3.Connection, key: str) -> IdempotencyRecord | None:
    row = connection.execute(
        "SELECT key, fingerprint, response, created FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else IdempotencyRecord(row[0], row[1], bytes(row[2]), row[3])


def _insert_idempotency(
    connection: sqlite3.Connection, record: IdempotencyRecord | None, now: float
) -> None:
    """Insert ``record`` on the writer connection; :class:`IdempotencyKeyTaken` if its key is
    stored (the request's savepoint then rolls back everything it wrote)."""
    if record is None:
        return
    cursor = connection.execute(
        "INSERT INTO idempotency (key, fingerprint, response, created) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        (record.key, record.fingerprint, record.response, record.created or now),
    )
    if cursor.rowcount == 0:
        existing = _select_idempotency(connection, record.key)
        if existing is None:  # pragma: no cover - the conflict row is in this transaction
            raise StoreError(f"idempotency key {record.key!r} conflicts but is not stored")
        raise IdempotencyKeyTaken(existing)


class SqliteStore(Store):
    """A :class:`Store` in one SQLite database file."""

    name = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        readers: int = 4,
        page_size: int = 256,
        max_batch: int = 1000,
        adopt: bool = False,
        integrity: str = "quick",
    ) -> None:
        if str(path) in ("", ":memory:"):
            # Every connection would get its own private database; use the memory store instead.
            raise ValueError("SqliteStore needs a file path (use the memory: store for tests)")
        if integrity not in INTEGRITY_CHECKS:
            raise ValueError(
                f"integrity={integrity!r}: one of {', '.join(INTEGRITY_CHECKS)} (the check of "
                "the SQLite file at start)"
            )
        self.path = Path(path)
        #: Use an existing file that is empty or has no cloudstate schema (creating ours in it).
        self.adopt = adopt
        #: The integrity check at start: quick (PRAGMA quick_check), full or off.
        self.integrity = integrity
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._page_size = page_size
        self._max_batch = max_batch
        #: Held by the writer thread around every transaction. Proxy workers sharing the file
        #: (--workers) set a cross-process lock here: the other writers then wait in the kernel
        #: and start the moment it is free, instead of sleeping in SQLite's busy handler.
        self.commit_guard: AbstractContextManager[object] = nullcontext()
        self._metrics = metrics.StoreMetrics("sqlite")
        #: Transactions committed by the writer and write requests they carried (group commit).
        self.commits = 0
        self.writes = 0
        self._queue: queue.Queue[_WriteRequest | None] = queue.Queue()
        # Guards the accepting flag together with queue puts, so nothing is queued after the stop
        # sentinel and nothing is left in the queue when the writer exits.
        self._submit_lock = threading.Lock()
        self._accepting = False
        self._started = False
        self._ready = False  # opened and migrated: reads may run
        self._closed = False
        self._writer: threading.Thread | None = None
        self._writer_done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._reader_count = readers
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SqliteStore:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, optionally with
        ``?adopt=true`` (use an empty or foreign existing file) and ``integrity=quick|full|off``
        (the check at start; see :mod:`~cloudstate.proxy.stores.sqlite_checks`)."""
        prefix = "sqlite:///"
        location, _, query = url.partition("?")
        if not location.startswith(prefix) or len(location) == len(prefix) or url.endswith("/"):
            raise ValueError(
                f"bad SQLite store URL {url!r}: use sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db"
            )
        own: dict[str, Any] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "adopt" and value.lower() in _BOOLEANS:
                own["adopt"] = _BOOLEANS[value.lower()]
            elif key == "integrity":
                own["integrity"] = value
            else:
                raise ValueError(
                    f"bad option {key}={value!r} in the SQLite store URL {url!r}: the options "
                    f"are adopt=true|false and integrity={'|'.join(INTEGRITY_CHECKS)}"
                )
        return cls(location[len(prefix) :], **{**own, **options})

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self._closed:
            raise StoreError("the SQLite store is closed")
        self._started = True
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._reader_count, thread_name_prefix="sqlite-reader"
        )
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer = threading.Thread(
            target=self._writer_main, args=(ready,), name=f"sqlite-writer:{self.path}", daemon=True
        )
        self._writer.start()
        await asyncio.wrap_future(ready)  # raises if the database could not be opened or migrated
        with self._submit_lock:
            if self._closed:  # close() ran while we were starting
                raise StoreError("the SQLite store is closed")
            self._accepting = self._ready = True

    async def close(self) -> None:
        with self._submit_lock:
            self._accepting = False
            if self._writer is not None and not self._closed:
                # FIFO: the writer commits every request queued before this sentinel, then exits.
                self._queue.put(None)
            self._closed = True
        if self._writer is not None:
            await asyncio.wrap_future(self._writer_done)
        readers = self._readers
        if readers is not None:
            # Waits for reads in progress; their connections are closed only after.
            await asyncio.to_thread(readers.shutdown, True)
        with self._reader_lock:
            connections, self._reader_connections = self._reader_connections, []
        for connection in connections:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions, the writer issues BEGIN/COMMIT itself and
        # every reader SELECT sees the latest commit. check_same_thread=False only so that close()
        # can close reader connections; each connection is used by one thread at a time.
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        return connection

    # -- writer thread ------------------------------------------------------------------------

    def _open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            check_file(self.path, self.adopt)
        else:  # a new deployment: create it whole (a crash leaves no empty file behind)
            create_database(self.path, functools.partial(self._prepare, adopt=True))
        connection = self._connect()
        try:
            self._prepare(connection, self.adopt)
        except BaseException:
            connection.close()
            raise
        return connection

    def _prepare(self, connection: sqlite3.Connection, adopt: bool) -> None:
        """Set the journal mode and durability, check the file and migrate its schema."""
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot enable WAL journal mode (got {mode})")
        connection.execute("PRAGMA synchronous = FULL")
        check_integrity(connection, self.path, self.integrity)
        self._migrate(connection, adopt)
        check_schema(connection, self.path, MIGRATIONS)

    def _migrate(self, connection: sqlite3.Connection, adopt: bool) -> None:
        # IMMEDIATE takes the write lock first, so two processes starting at once migrate in turn.
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreRefused(
                    f"{self.path} has schema version {version}, newer than this proxy's "
                    f"{SCHEMA_VERSION}: it was written by a later version of cloudstate; "
                    "upgrade the proxy"
                )
            if version == 0:
                check_not_foreign(connection, self.path, adopt)
            for step in MIGRATIONS[version:]:
                for statement in step:
                    connection.execute(statement)
            if version != SCHEMA_VERSION:
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise

    def _writer_main(self, ready: concurrent.futures.Future[None]) -> None:
        connection: sqlite3.Connection | None = None
        try:
            try:
                connection = self._open_writer()
            except sqlite3.Error as error:
                damaged = type(error) is sqlite3.DatabaseError  # "malformed", "not a database"
                ready.set_exception(
                    StoreRefused(
                        f"cannot open {self.path}, it is damaged: {error}; restore it from a backup"
                    )
                    if damaged
                    else StoreError(f"cannot open {self.path}: {error}")
                )
                return
            except OSError as error:  # the file or its directory: permissions, a directory, ...
                ready.set_exception(StoreError(f"cannot open {self.path}: {error}"))
                return
            except BaseException as error:
                ready.set_exception(error)
                return
            ready.set_result(None)
            stop = False
            while not stop:
                request = self._queue.get()
                if request is None:
                    break
                batch = [request]
                while len(batch) < self._max_batch:
                    try:
                        request = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if request is None:
                        stop = True
                        break
                    batch.append(request)
                self._commit_batch(connection, batch)
        finally:
            # Normally the queue is empty here; if the writer died, fail whoever still waits.
            with self._submit_lock:
                self._accepting = False
            while True:
                try:
                    leftover = self._queue.get_nowait()
                except queue.Empty:
                    break
                if leftover is not None:
                    self._resolve(leftover, StoreError("the SQLite store writer stopped"))
            if connection is not None:
                connection.close()
            self._writer_done.set_result(None)

    def _commit_batch(self, connection: sqlite3.Connection, batch: list[_WriteRequest]) -> None:
        results: list[int | BaseException] = []
        store_metrics = self._metrics
        start = metrics.now()
        guard = self.commit_guard
        guard.__enter__()
        try:
            connection.execute("BEGIN IMMEDIATE")
            now = time.time()
            for request in batch:
                connection.execute("SAVEPOINT request")
                try:
                    results.append(request.operation(connection, now))
                except (StoreError, ValueError) as error:
                    connection.execute("ROLLBACK TO request")
                    results.append(error)
                except sqlite3.Error as error:
                    # If SQLite rolled back the whole transaction, ROLLBACK TO raises and the
                    # batch fails below, as it must.
                    connection.execute("ROLLBACK TO request")
                    failure = StoreError(f"write to {self.path} failed: {error}")
                    failure.__cause__ = error
                    results.append(failure)
                connection.execute("RELEASE request")
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                with suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            failure = StoreError(f"commit to {self.path} failed: {error}")
            failure.__cause__ = error
            store_metrics.errors.inc()
            for request in batch:
                self._resolve(request, failure)
            return
        finally:
            guard.__exit__(None, None, None)
        store_metrics.commit.observe(metrics.now() - start)
        store_metrics.batch.observe(len(batch))
        self.commits += 1
        self.writes += len(batch)
        for request, result in zip(batch, results, strict=True):
            self._resolve(request, result)

    @staticmethod
    def _resolve(request: _WriteRequest, result: int | BaseException) -> None:
        with suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            request.future.get_loop().call_soon_threadsafe(_settle, request.future, result)

    async def _submit(self, operation: _Operation) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        with self._submit_lock:
            if not self._accepting:
                state = "closed" if self._closed else "not started"
                raise StoreError(f"the SQLite store is {state}")
            self._queue.put(_WriteRequest(operation, future))
        return await future

    # -- readers ------------------------------------------------------------------------------

    def _reader_connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
            self._local.connection = connection
            with self._reader_lock:
                self._reader_connections.append(connection)
        return connection

    async def _read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        def run() -> _T:
            try:
                return query(self._reader_connection())
            except sqlite3.Error as error:
                raise StoreError(f"read from {self.path} failed: {error}") from error

        if self._closed or not self._ready or self._readers is None:
            state = "closed" if self._closed else "not started"
            raise StoreError(f"the SQLite store is {state}")
        try:
            pending = asyncio.get_running_loop().run_in_executor(self._readers, run)
        except RuntimeError as error:  # the pool was shut down by close()
            raise StoreError("the SQLite store is closed") from error
        return await pending

    # -- journal ------------------------------------------------------------------------------

    async def append_events(
        self,
        persistence_id: str,
        entity_id: str,
        expected_sequence: int,
        events: Sequence[Payload],
        snapshot: Payload | None = None,
        outbox: Outbox = (),
        tasks: TaskChanges = (),
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        if not events:
            raise ValueError("append_events needs at least one event")
        if expected_sequence < 0:
            raise ValueError(f"expected_sequence must be >= 0, not {expected_sequence}")
        batch = tuple(events)  # the caller may mutate its list while the writer works
        messages = tuple(outbox)
        changes = tuple(tasks)

        def append(connection: sqlite3.Connection, now: float) -> int:
            actual = int(
                connection.execute(
                    "SELECT COALESCE(MAX(sequence), 0) FROM events "
                    "WHERE persistence_id = ? AND entity_id = ?",
                    (persistence_id, entity_id),
                ).fetchone()[0]
            )
            if actual != expected_sequence:
                raise ConcurrentWriteError(persistence_id, entity_id, expected_sequence, actual)
            _insert_idempotency(connection, idempotency, now)
            connection.executemany(
                "INSERT INTO events "
                "(persistence_id, entity_id, sequence, type_url, payload, timestamp) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (persistence_id, entity_id, expected_sequence + i, p.type_url, p.value, now)
                    for i, p in enumerate(batch, start=1)
                ],
            )
            highest = expected_sequence + len(batch)
            if snapshot is not None:
                connection.execute(
                    "INSERT INTO snapshots "
                    "(persistence_id, entity_id, sequence, type_url, payload) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (persistence_id, entity_id) DO UPDATE SET "
                    "sequence = excluded.sequence, type_url = excluded.type_url, "
                    "payload = excluded.payload",
                    (persistence_id, entity_id, highest, snapshot.type_url, snapshot.value),
                )
            _insert_topic_messages(connection, messages, now)
            _write_task_changes(connection, changes, now)
            return highest

        return await self._submit(append)

    async def purge_entity(
        self, persistence_id: str, entity_id: str, tombstone_sequence: int
    ) -> int:
        def purge(connection: sqlite3.Connection, now: float) -> int:
            where = "WHERE persistence_id = ? AND entity_id = ?"
            highest = int(
                connection.execute(
                    f"SELECT COALESCE(MAX(sequence), 0) FROM events {where}",
                    (persistence_id, entity_id),
                ).fetchone()[0]
            )
            # The tombstone goes too unless the entity was used again after it.
            keep_from = (
                tombstone_sequence + 1 if highest <= tombstone_sequence else tombstone_sequence
            )
            removed = connection.execute(
                f"DELETE FROM events {where} AND sequence < ?",
                (persistence_id, entity_id, keep_from),
            ).rowcount
            connection.execute(
                f"DELETE FROM snapshots {where} AND sequence < ?",
                (persistence_id, entity_id, keep_from),
            )
            return int(removed)

        return await self._submit(purge)

    async def compact_journal(
        self,
        persistence_id: str,
        entity_id: str,
        before_sequence: int,
        up_to_offset: int | None = None,
    ) -> int:
        def compact(connection: sqlite3.Connection, now: float) -> int:
            return int(
                connection.execute(
                    "DELETE FROM events WHERE persistence_id = ? AND entity_id = ? "
                    'AND sequence < ? AND "offset" <= ?',
                    (
                        persistence_id,
                        entity_id,
                        before_sequence,
                        2**63 - 1 if up_to_offset is None else up_to_offset,
                    ),
                ).rowcount
            )

        return await self._submit(compact)

    async def read_events(
        self, persistence_id: str, entity_id: str, after_sequence: int = 0
    ) -> AsyncIterator[StoredEvent]:
        page_size = self._page_size

        def fetch(connection: sqlite3.Connection, after: int) -> list[StoredEvent]:
            return [
                StoredEvent(sequence, Payload(type_url, payload), offset, timestamp)
                for sequence, type_url, payload, offset, timestamp in connection.execute(
                    'SELECT sequence, type_url, payload, "offset", timestamp FROM events '
                    "WHERE persistence_id = ? AND entity_id = ? AND sequence > ? "
                    "ORDER BY sequence LIMIT ?",
                    (persistence_id, entity_id, after, page_size),
                )
            ]

        after = after_sequence
        while True:
            events = await self._read(functools.partial(fetch, after=after))
            for event in events:
                yield event
            if len(events) < page_size:
                return
            after = events[-1].sequence

    async def highest_sequence(self, persistence_id: str, entity_id: str) -> int:
        def query(connection: sqlite3.Connection) -> int:
            return int(
                connection.execute(
                    "SELECT COALESCE(MAX(sequence), 0) FROM events "
                    "WHERE persistence_id = ? AND entity_id = ?",
                    (persistence_id, entity_id),
                ).fetchone()[0]
            )

        return await self._read(query)

    async def load_snapshot(self, persistence_id: str, entity_id: str) -> StoredSnapshot | None:
        def query(connection: sqlite3.Connection) -> StoredSnapshot | None:
            row = connection.execute(
                "SELECT sequence, type_url, payload FROM snapshots "
                "WHERE persistence_id = ? AND entity_id = ?",
                (persistence_id, entity_id),
            ).fetchone()
            return None if row is None else StoredSnapshot(row[0], Payload(row[1], row[2]))

        return await self._read(query)

    async def read_all_events(
        self, persistence_id: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[tuple[str, StoredEvent]]:
        def fetch(
            connection: sqlite3.Connection, after: int, count: int
        ) -> list[tuple[str, StoredEvent]]:
            return [
                (entity_id, StoredEvent(sequence, Payload(type_url, payload), offset, timestamp))
                for entity_id, sequence, type_url, payload, offset, timestamp in connection.execute(
                    'SELECT entity_id, sequence, type_url, payload, "offset", timestamp '
                    'FROM events WHERE persistence_id = ? AND "offset" > ? '
                    'ORDER BY "offset" LIMIT ?',
                    (persistence_id, after, count),
                )
            ]

        after, remaining = after_offset, limit
        while remaining > 0:
            count = min(remaining, self._page_size)
            rows = await self._read(functools.partial(fetch, after=after, count=count))
            for row in rows:
                yield row
            if len(rows) < count:
                return
            remaining -= len(rows)
            after = rows[-1][1].offset

    async def highest_offset(self, persistence_id: str) -> int:
        def query(connection: sqlite3.Connection) -> int:
            return int(
                connection.execute(
                    'SELECT COALESCE(MAX("offset"), 0) FROM events WHERE persistence_id = ?',
                    (persistence_id,),
                ).fetchone()[0]
            )

        return await self._read(query)

    # -- eventing offsets ---------------------------------------------------------------------

    async def load_offset(self, consumer_id: str) -> int:
        def query(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                'SELECT "offset" FROM consumer_offsets WHERE consumer_id = ?', (consumer_id,)
            ).fetchone()
            return 0 if row is None else int(row[0])

        return await self._read(query)

    async def save_offset(
        self, consumer_id: str, offset: int, generation: int | None = None
    ) -> None:
        def save(connection: sqlite3.Connection, now: float) -> int:
            _check_generation(connection, consumer_id, generation)
            connection.execute(
                'INSERT INTO consumer_offsets (consumer_id, "offset", updated) VALUES (?, ?, ?) '
                'ON CONFLICT (consumer_id) DO UPDATE SET "offset" = excluded."offset", '
                'updated = excluded.updated WHERE excluded."offset" > consumer_offsets."offset"',
                (consumer_id, offset, now),
            )
            return offset

        await self._submit(save)

    async def load_position(self, consumer_id: str) -> ConsumerPosition:
        def query(connection: sqlite3.Connection) -> ConsumerPosition:
            row = connection.execute(
                'SELECT "offset", generation FROM consumer_offsets WHERE consumer_id = ?',
                (consumer_id,),
            ).fetchone()
            return (
                ConsumerPosition(0) if row is None else ConsumerPosition(int(row[0]), int(row[1]))
            )

        return await self._read(query)

    async def reset_offset(self, consumer_id: str, offset: int) -> int:
        def reset(connection: sqlite3.Connection, now: float) -> int:
            row = connection.execute(
                'INSERT INTO consumer_offsets (consumer_id, "offset", updated, generation) '
                "VALUES (?, ?, ?, 1) ON CONFLICT (consumer_id) DO UPDATE SET "
                '"offset" = excluded."offset", updated = excluded.updated, '
                "generation = consumer_offsets.generation + 1 RETURNING generation",
                (consumer_id, offset, now),
            ).fetchone()
            return int(row[0])

        return await self._submit(reset)

    async def event_offset_before(self, persistence_id: str, timestamp: float) -> int:
        return await self._offset_before("events", "persistence_id", persistence_id, timestamp)

    async def topic_offset_before(self, topic: str, timestamp: float) -> int:
        return await self._offset_before("topic_messages", "topic", topic, timestamp)

    async def _offset_before(self, table: str, column: str, source: str, timestamp: float) -> int:
        def query(connection: sqlite3.Connection) -> int:
            # Offsets and timestamps grow together (one writer stamps each batch at commit).
            row = connection.execute(
                f'SELECT COALESCE(MAX("offset"), 0) FROM {table} '
                f"WHERE {column} = ? AND timestamp < ?",
                (source, timestamp),
            ).fetchone()
            return int(row[0])

        return await self._read(query)

    # -- parked messages ----------------------------------------------------------------------

    async def park_message(self, message: ParkedMessage) -> None:
        values = message.to_row()

        def park(connection: sqlite3.Connection, now: float) -> int:
            connection.execute(
                f"INSERT OR REPLACE INTO parked_messages ({ParkedMessage.COLUMNS}) "
                f"VALUES ({', '.join('?' * len(values))})",
                values,
            )
            return 1

        await self._submit(park)

    async def list_parked(
        self, consumer_id: str = "", limit: int = 1000, *, redrive_only: bool = False
    ) -> list[ParkedMessage]:
        where = ["(? = '' OR consumer_id = ?)"] + (["redrive = 1"] if redrive_only else [])

        def query(connection: sqlite3.Connection) -> list[ParkedMessage]:
            return [
                ParkedMessage.from_row(row)
                for row in connection.execute(
                    f"SELECT {ParkedMessage.COLUMNS} FROM parked_messages "
                    f'WHERE {" AND ".join(where)} ORDER BY consumer_id, "offset" LIMIT ?',
                    (consumer_id, consumer_id, max(limit, 0)),
                )
            ]

        return await self._read(query)

    async def count_parked(self) -> dict[str, int]:
        def query(connection: sqlite3.Connection) -> dict[str, int]:
            return {
                str(consumer): int(count)
                for consumer, count in connection.execute(
                    "SELECT consumer_id, COUNT(*) FROM parked_messages GROUP BY consumer_id"
                )
            }

        return await self._read(query)

    async def redrive_parked(self, consumer_id: str, offset: int | None = None) -> int:
        mark = "UPDATE parked_messages SET redrive = 1"
        return await self._change_parked(mark, consumer_id, offset)

    async def drop_parked(self, consumer_id: str, offset: int | None = None) -> int:
        return await self._change_parked("DELETE FROM parked_messages", consumer_id, offset)

    async def _change_parked(self, sql: str, consumer_id: str, offset: int | None) -> int:
        def change(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                sql + ' WHERE consumer_id = ? AND (? IS NULL OR "offset" = ?)',
                (consumer_id, offset, offset),
            )
            return int(cursor.rowcount)

        return await self._submit(change)

    async def finish_parked(
        self, consumer_id: str, offset: int, updates: Mapping[str, Sequence[ViewRow]] = {}
    ) -> bool:
        batch = [(view, row) for view, rows in updates.items() for row in rows]

        def finish(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                'DELETE FROM parked_messages WHERE consumer_id = ? AND "offset" = ?',
                (consumer_id, offset),
            )
            if cursor.rowcount == 0:
                return 0
            _write_view_rows(connection, batch)
            return 1

        return bool(await self._submit(finish))

    # -- topic log ----------------------------------------------------------------------------

    async def append_topic(self, topic: str, messages: Sequence[TopicMessage]) -> int:
        if not messages:
            raise ValueError("append_topic needs at least one message")
        batch = tuple(messages)

        def append(connection: sqlite3.Connection, now: float) -> int:
            return _insert_topic_messages(connection, [(topic, m) for m in batch], now)

        return await self._submit(append)

    async def read_topic(
        self, topic: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[TopicMessage]:
        def fetch(connection: sqlite3.Connection, after: int, count: int) -> list[TopicMessage]:
            return [
                TopicMessage.from_row(row[:-1], row[-1])
                for row in connection.execute(
                    f"SELECT {TopicMessage.COLUMNS}, timestamp FROM topic_messages "
                    'WHERE topic = ? AND "offset" > ? ORDER BY "offset" LIMIT ?',
                    (topic, after, count),
                )
            ]

        after, remaining = after_offset, limit
        while remaining > 0:
            count = min(remaining, self._page_size)
            rows = await self._read(functools.partial(fetch, after=after, count=count))
            for row in rows:
                yield row
            if len(rows) < count:
                return
            remaining -= len(rows)
            after = rows[-1].offset

    async def highest_topic_offset(self, topic: str) -> int:
        def query(connection: sqlite3.Connection) -> int:
            return int(
                connection.execute(
                    'SELECT COALESCE(MAX("offset"), 0) FROM topic_messages WHERE topic = ?',
                    (topic,),
                ).fetchone()[0]
            )

        return await self._read(query)

    async def trim_topic(
        self,
        topic: str,
        up_to_offset: int,
        *,
        older_than: float | None = None,
        keep_last: int | None = None,
    ) -> int:
        if older_than is None and keep_last is None:
            return 0
        reasons: list[str] = []
        args: list[Any] = [topic, up_to_offset]
        if older_than is not None:
            reasons.append("timestamp < ?")
            args.append(older_than)
        if keep_last is not None:
            # Offsets at or below the newest message that is not among the last keep_last.
            reasons.append(
                '"offset" <= (SELECT "offset" FROM topic_messages WHERE topic = ? '
                'ORDER BY "offset" DESC LIMIT 1 OFFSET ?)'
            )
            args.extend([topic, max(0, keep_last)])

        def trim(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                'DELETE FROM topic_messages WHERE topic = ? AND "offset" <= ? AND ('
                + " OR ".join(reasons)
                + ")",
                args,
            )
            return int(cursor.rowcount)

        return await self._submit(trim)

    # -- views ----------------------------------------------------------------------------------

    async def load_view_rows(self, view: str, keys: Sequence[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(keys))

        def query(connection: sqlite3.Connection) -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for start in range(0, len(wanted), 500):  # SQLite's limit on parameters
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for key, payload in connection.execute(
                    f"SELECT row_key, payload FROM view_rows WHERE view_id = ? "
                    f"AND row_key IN ({marks})",
                    (view, *chunk),
                ):
                    found[key] = bytes(payload)
            return found

        return await self._read(query) if wanted else {}

    async def apply_view_updates(
        self,
        updates: Mapping[str, Sequence[ViewRow]],
        consumer_id: str,
        offset: int,
        generation: int | None = None,
    ) -> bool:
        batch = [(view, row) for view, rows in updates.items() for row in rows]

        def apply(connection: sqlite3.Connection, now: float) -> int:
            _check_generation(connection, consumer_id, generation)
            stored = connection.execute(
                'SELECT "offset" FROM consumer_offsets WHERE consumer_id = ?', (consumer_id,)
            ).fetchone()
            if stored is not None and int(stored[0]) >= offset:
                return 0
            _write_view_rows(connection, batch)
            connection.execute(
                'INSERT INTO consumer_offsets (consumer_id, "offset", updated) VALUES (?, ?, ?) '
                'ON CONFLICT (consumer_id) DO UPDATE SET "offset" = excluded."offset", '
                "updated = excluded.updated",
                (consumer_id, offset, now),
            )
            return 1

        return bool(await self._submit(apply))

    async def load_view_generations(self, views: Sequence[str]) -> dict[str, ViewGeneration]:
        wanted = list(dict.fromkeys(views))

        def query(connection: sqlite3.Connection) -> dict[str, ViewGeneration]:
            return {view: _view_generation(connection, view) for view in wanted}

        return await self._read(query)

    async def start_view_rebuild(self, views: Sequence[str]) -> int:
        wanted = list(dict.fromkeys(views))

        def start(connection: sqlite3.Connection, now: float) -> int:
            states = [_view_generation(connection, view) for view in wanted]
            generation = 1 + max(max(g.active, g.building or 0) for g in states)
            for view, state in zip(wanted, states, strict=True):
                for stale in {state.building, generation} - {None}:
                    connection.execute(
                        "DELETE FROM view_rows WHERE view_id = ?",
                        (view_generation_id(view, stale or 0),),
                    )
                connection.execute(
                    "INSERT OR REPLACE INTO view_generations (view_id, active, building) "
                    "VALUES (?, ?, ?)",
                    (view, state.active, generation),
                )
            return generation

        return await self._submit(start)

    async def swap_view_generation(
        self,
        views: Sequence[str],
        generation: int,
        consumer_id: str,
        rebuild_consumer_id: str,
    ) -> bool:
        wanted = list(dict.fromkeys(views))

        def swap(connection: sqlite3.Connection, now: float) -> int:
            states = [_view_generation(connection, view) for view in wanted]
            if any(state.building != generation for state in states):
                return 0
            for view, state in zip(wanted, states, strict=True):
                connection.execute(
                    "DELETE FROM view_rows WHERE view_id = ?",
                    (view_generation_id(view, state.active),),
                )
                connection.execute(
                    "UPDATE view_generations SET active = ?, building = NULL WHERE view_id = ?",
                    (generation, view),
                )
            row = connection.execute(
                'SELECT "offset" FROM consumer_offsets WHERE consumer_id = ?',
                (rebuild_consumer_id,),
            ).fetchone()
            connection.execute(
                'INSERT INTO consumer_offsets (consumer_id, "offset", updated, generation) '
                "VALUES (?, ?, ?, 1) ON CONFLICT (consumer_id) DO UPDATE SET "
                '"offset" = excluded."offset", updated = excluded.updated, '
                "generation = consumer_offsets.generation + 1",
                (consumer_id, 0 if row is None else int(row[0]), now),
            )
            connection.execute(
                "DELETE FROM consumer_offsets WHERE consumer_id = ?", (rebuild_consumer_id,)
            )
            return 1

        return bool(await self._submit(swap))

    async def query_view(self, view: str, select: ViewSelect) -> list[bytes]:
        sql, args = select_sql(select, view, Placeholders.QMARK)

        def query(connection: sqlite3.Connection) -> list[bytes]:
            return [bytes(row[0]) for row in connection.execute(sql, args)]

        return await self._read(query)

    # -- value entities -----------------------------------------------------------------------

    async def load_value(self, persistence_id: str, entity_id: str) -> StoredValue | None:
        def query(connection: sqlite3.Connection) -> StoredValue | None:
            row = connection.execute(
                'SELECT type_url, payload, version, expires_at FROM "values" '
                "WHERE persistence_id = ? AND entity_id = ? AND deleted = 0 "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (persistence_id, entity_id, time.time()),
            ).fetchone()
            return None if row is None else StoredValue(Payload(row[0], row[1]), row[2], row[3])

        return await self._read(query)

    async def save_value(
        self,
        persistence_id: str,
        entity_id: str,
        value: Payload | None,
        expected_version: int | None = None,
        outbox: Outbox = (),
        tasks: TaskChanges = (),
        idempotency: IdempotencyRecord | None = None,
        expires_at: float | None = None,
    ) -> int:
        messages = tuple(outbox)
        changes = tuple(tasks)

        def save(connection: sqlite3.Connection, now: float) -> int:
            # An expired value counts as deleted (the clock now, not the batch's commit stamp,
            # which may be older than a load that already found it expired).
            row = connection.execute(
                "SELECT version, deleted OR (expires_at IS NOT NULL AND expires_at <= ?) "
                'FROM "values" WHERE persistence_id = ? AND entity_id = ?',
                (time.time(), persistence_id, entity_id),
            ).fetchone()
            version, deleted = (int(row[0]), bool(row[1])) if row is not None else (0, True)
            # A deleted value matches 0 (writer saw None) and its tombstone version (the deleter).
            if expected_version is not None and not (
                expected_version == version or (deleted and expected_version == 0)
            ):
                raise ConcurrentWriteError(persistence_id, entity_id, expected_version, version)
            _insert_idempotency(connection, idempotency, now)
            connection.execute(
                'INSERT INTO "values" '
                "(persistence_id, entity_id, type_url, payload, version, deleted, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (persistence_id, entity_id) DO UPDATE SET "
                "type_url = excluded.type_url, payload = excluded.payload, "
                "version = excluded.version, deleted = excluded.deleted, "
                "expires_at = excluded.expires_at",
                (
                    persistence_id,
                    entity_id,
                    None if value is None else value.type_url,
                    None if value is None else value.value,
                    version + 1,
                    int(value is None),
                    None if value is None else expires_at,
                ),
            )
            _insert_topic_messages(connection, messages, now)
            _write_task_changes(connection, changes, now)
            return version + 1

        return await self._submit(save)

    async def purge_expired_values(self, now: float, limit: int = 1000) -> int:
        def purge(connection: sqlite3.Connection, stamp: float) -> int:
            cursor = connection.execute(
                'UPDATE "values" SET type_url = NULL, payload = NULL, deleted = 1, '
                "expires_at = NULL WHERE (persistence_id, entity_id) IN ("
                'SELECT persistence_id, entity_id FROM "values" '
                "WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)",
                (now, max(limit, 0)),
            )
            return int(cursor.rowcount)

        return await self._submit(purge)

    # -- durable tasks ------------------------------------------------------------------------

    async def write_tasks(self, changes: TaskChanges) -> None:
        batch = tuple(changes)

        def write(connection: sqlite3.Connection, now: float) -> int:
            _write_task_changes(connection, batch, now)
            return len(batch)

        await self._submit(write)

    async def _select_tasks(self, where: str, args: Sequence[Any]) -> list[DurableTask]:
        sql = f"SELECT {DurableTask.COLUMNS} FROM durable_tasks {where}"

        def query(connection: sqlite3.Connection) -> list[DurableTask]:
            return [DurableTask.from_row(row) for row in connection.execute(sql, args)]

        return await self._read(query)

    async def due_tasks(self, now: float, limit: int) -> list[DurableTask]:
        return await self._select_tasks(
            "WHERE due <= ? ORDER BY due, name LIMIT ?", (now, max(limit, 0))
        )

    async def next_due(self) -> float | None:
        def query(connection: sqlite3.Connection) -> float | None:
            due = connection.execute("SELECT MIN(due) FROM durable_tasks").fetchone()[0]
            return None if due is None else float(due)

        return await self._read(query)

    async def finish_task(self, name: str, key: str) -> bool:
        def finish(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                "DELETE FROM durable_tasks WHERE name = ? AND key = ?", (name, key)
            )
            return int(cursor.rowcount)

        return bool(await self._submit(finish))

    async def retry_task(self, name: str, key: str, due: float, error: str) -> bool:
        def retry(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                "UPDATE durable_tasks SET attempts = attempts + 1, last_error = ?, due = ? "
                "WHERE name = ? AND key = ?",
                (error, due, name, key),
            )
            return int(cursor.rowcount)

        return bool(await self._submit(retry))

    async def dead_letter_task(self, name: str, key: str, error: str) -> bool:
        def bury(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                f"INSERT OR REPLACE INTO dead_letters ({DurableTask.COLUMNS}, failed_at) "
                "SELECT name, key, service, method, type_url, payload, due, metadata, "
                "attempts + 1, max_attempts, ?, created, ? "
                "FROM durable_tasks WHERE name = ? AND key = ?",
                (error, now, name, key),
            )
            if cursor.rowcount == 0:
                return 0
            connection.execute("DELETE FROM durable_tasks WHERE name = ?", (name,))
            return 1

        return bool(await self._submit(bury))

    async def list_tasks(self, prefix: str = "", limit: int = 1000) -> list[DurableTask]:
        # substr, not LIKE: "%" and "_" in a prefix are plain characters.
        return await self._select_tasks(
            "WHERE substr(name, 1, ?) = ? ORDER BY due, name LIMIT ?",
            (len(prefix), prefix, max(limit, 0)),
        )

    async def count_tasks(self, now: float) -> tuple[int, int]:
        def query(connection: sqlite3.Connection) -> tuple[int, int]:
            pending, overdue = connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(due < ?), 0) FROM durable_tasks", (now,)
            ).fetchone()
            return int(pending), int(overdue)

        return await self._read(query)

    async def list_dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        def query(connection: sqlite3.Connection) -> list[DeadLetter]:
            return [
                DeadLetter(DurableTask.from_row(row[:-1]), float(row[-1]))
                for row in connection.execute(
                    f"SELECT {DurableTask.COLUMNS}, failed_at FROM dead_letters "
                    "ORDER BY failed_at DESC, name LIMIT ?",
                    (max(limit, 0),),
                )
            ]

        return await self._read(query)

    async def redrive_dead_letter(self, name: str, due: float) -> bool:
        def redrive(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(
                f"INSERT OR REPLACE INTO durable_tasks ({DurableTask.COLUMNS}) "
                "SELECT name, key, service, method, type_url, payload, ?, metadata, 0, "
                "max_attempts, last_error, created FROM dead_letters WHERE name = ?",
                (due, name),
            )
            if cursor.rowcount == 0:
                return 0
            connection.execute("DELETE FROM dead_letters WHERE name = ?", (name,))
            return 1

        return bool(await self._submit(redrive))

    async def drop_dead_letter(self, name: str) -> bool:
        def drop(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute("DELETE FROM dead_letters WHERE name = ?", (name,))
            return int(cursor.rowcount)

        return bool(await self._submit(drop))

    # -- idempotency records --------------------------------------------------------------------

    async def load_idempotency(self, key: str) -> IdempotencyRecord | None:
        return await self._read(functools.partial(_select_idempotency, key=key))

    async def save_idempotency(self, record: IdempotencyRecord) -> IdempotencyRecord:
        stored: list[IdempotencyRecord] = []  # set by the writer; read after the commit

        def save(connection: sqlite3.Connection, now: float) -> int:
            stored.clear()
            try:
                _insert_idempotency(connection, record, now)
            except IdempotencyKeyTaken as taken:
                stored.append(taken.existing)
                return 0
            stored.append(dataclasses.replace(record, created=record.created or now))
            return 1

        await self._submit(save)
        return stored[0]

    async def trim_idempotency(self, older_than: float) -> int:
        def trim(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute("DELETE FROM idempotency WHERE created < ?", (older_than,))
            return int(cursor.rowcount)

        return await self._submit(trim)

    # -- inspection ---------------------------------------------------------------------------

    async def list_persistence_ids(self) -> list[str]:
        def query(connection: sqlite3.Connection) -> list[str]:
            return [
                row[0]
                for row in connection.execute(
                    "SELECT persistence_id FROM events "
                    "UNION SELECT persistence_id FROM snapshots "
                    'UNION SELECT persistence_id FROM "values" WHERE deleted = 0 '
                    "ORDER BY 1"
                )
            ]

        return await self._read(query)

    async def list_entity_ids(
        self, persistence_id: str, *, prefix: str = "", after: str = "", limit: int | None = None
    ) -> list[str]:
        # TEXT compares by its UTF-8 bytes (BINARY collation); substr counts characters.
        where = "persistence_id = ?1 AND entity_id > ?2 AND substr(entity_id, 1, ?3) = ?4"

        def query(connection: sqlite3.Connection) -> list[str]:
            return [
                row[0]
                for row in connection.execute(
                    f"SELECT entity_id FROM events WHERE {where} "
                    f"UNION SELECT entity_id FROM snapshots WHERE {where} "
                    f'UNION SELECT entity_id FROM "values" WHERE {where} '
                    "AND deleted = 0 ORDER BY 1 LIMIT ?5",
                    (persistence_id, after, len(prefix), prefix, -1 if limit is None else limit),
                )
            ]

        return await self._read(query)
