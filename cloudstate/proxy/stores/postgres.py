"""Shared, durable store on PostgreSQL (asyncpg), for many proxy nodes on one database.

Design, mirroring the SQLite store where it can:

* **Group commit.** ``append_events`` and ``save_value`` queue a request and await a future. One
  writer task per store takes everything queued and commits it in one transaction: one commit (one
  WAL flush) serves many concurrent writers. Futures are resolved only after ``COMMIT`` returned.
* **Per-request isolation without savepoints.** Every request is one call of a server-side function
  (:mod:`postgres_schema`) that checks its condition and writes, or writes nothing and reports the
  actual sequence / version. A lost condition therefore never aborts the batch, and a batch of N
  requests is pipelined in one round trip per kind (``fetchmany``). Should a request fail
  unexpectedly (bad data), the batch is rolled back and re-run with one savepoint per request, so
  only the bad request fails.
* **Commit-ordered offsets.** A batch with journal appends first takes a transaction-level advisory
  lock (per schema). Offsets come from an identity column, so they are assigned while the lock is
  held and committed in the same order: a consumer that has read up to offset X never later finds
  an event below X. The same lock makes the sequence check exact, so two nodes never both commit
  sequence N (the primary key ``(persistence_id, entity_id, sequence)`` guarantees it too).
* **Lock order.** Within a batch, requests run sorted by kind then key, so two nodes' batches
  always take row locks in the same order and cannot deadlock.
* **Failures.** A connection lost before ``COMMIT`` was sent, a deadlock or a serialization failure
  re-runs the batch (nothing was committed); a connection lost during ``COMMIT`` fails the batch
  with an outcome-unknown :class:`StoreError`. Reads retry once on a fresh connection. An
  unreachable server fails requests quickly (connect timeout) and the pool reconnects by itself.
* **Migrations** run at start-up in one transaction under a transaction-level advisory lock, so
  several nodes starting at once apply each step exactly once. Before, a schema that holds
  tables but no cloudstate schema version is refused (unless ``adopt=true``), as is a newer
  version; after, every table must have exactly its columns (:data:`TABLE_COLUMNS`).

URL: ``postgresql://user:password@host:port/database?schema=NAME&pool_size=10&connect_timeout=5
&command_timeout=10&adopt=false``. Anything missing comes from the usual ``PG*`` environment
variables (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``, ``PGSSLMODE``,
...); other query parameters are passed to asyncpg (e.g. ``sslmode``).

One concern: the PostgreSQL backend of :class:`~cloudstate.proxy.stores.base.Store`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from cloudstate.proxy import metrics
from cloudstate.proxy.stores.base import (
    VIEW_SLOTS,
    ChangeCallback,
    ClusterMember,
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
    WriteOutcomeUnknown,
    view_generation_id,
)
from cloudstate.proxy.stores.postgres_schema import (
    JOURNAL_LOCK_NAME,
    KEY_TAKEN,
    MIGRATION_LOCK_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLE_COLUMNS,
    VERSION_TABLE,
)
from cloudstate.proxy.stores.postgres_session import NodeSession
from cloudstate.proxy.stores.view_sql import Placeholders, select_sql, upsert_sql

try:
    import asyncpg
except ImportError:  # pragma: no cover - depends on the installed extras
    asyncpg = None

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# SQLSTATEs after which a batch is simply run again: nothing of it was committed.
_RETRY_STATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_BATCH_ATTEMPTS = 3

_APPEND_SQL = "SELECT cloudstate_append_events($1, $2, $3, $4, $5, $6, $7)"
_SAVE_VALUE_SQL = "SELECT cloudstate_save_value($1, $2, $3, $4, $5)"
_APPEND_TOPIC_SQL = "SELECT cloudstate_append_topic($1, $2, $3, $4, $5, $6, $7, $8, $9)"
_APPEND_OUTBOX_SQL = (
    "SELECT cloudstate_append_events_outbox(" + ", ".join(f"${n}" for n in range(1, 17)) + ")"
)
_SAVE_VALUE_OUTBOX_SQL = (
    "SELECT cloudstate_save_value_outbox(" + ", ".join(f"${n}" for n in range(1, 15)) + ")"
)

# With tasks or an idempotency record: outbox arrays (9), then the record (4) and the task
# arrays (13), see postgres_schema._DURABLE_PARAMETERS.
_APPEND_DURABLE_SQL = (
    "SELECT cloudstate_append_events_durable(" + ", ".join(f"${n}" for n in range(1, 34)) + ")"
)
_SAVE_VALUE_DURABLE_SQL = (
    "SELECT cloudstate_save_value_durable(" + ", ".join(f"${n}" for n in range(1, 32)) + ")"
)


def _with_expiry(sql: str, count: int) -> str:
    """``sql`` (a value write with ``count`` arguments) setting ``expires_at`` (argument
    ``count + 1``) in the same statement when the write was applied."""
    call = sql.removeprefix("SELECT ")
    return f"SELECT cloudstate_value_expiry({call}, $1, $2, ${count + 1})"


_WRITE_TASKS_SQL = "SELECT cloudstate_write_tasks(" + ", ".join(f"${n}" for n in range(1, 14)) + ")"
_IDEMPOTENCY_COLUMNS = "key, fingerprint, response, created"


def _durable_args(
    tasks: TaskChanges, idempotency: IdempotencyRecord | None, now: float
) -> tuple[Any, ...]:
    """The record's four arguments and the thirteen task arrays of the ``*_durable`` functions.

    Only the last change of each name counts (they apply in order): the cancelled names are
    deleted, the started tasks upserted, each name once."""
    last: dict[str, DurableTask | TaskCancel] = {}
    for change in tasks:
        last.pop(change.name, None)
        last[change.name] = change
    started = [c for c in last.values() if isinstance(c, DurableTask)]
    rows = [task.to_row(now) for task in started]
    columns: list[list[Any]] = [[row[i] for row in rows] for i in range(12)]
    columns[6] = [float(due) for due in columns[6]]
    columns[11] = [float(created) for created in columns[11]]
    record = (
        (None, None, None, None)
        if idempotency is None
        else (
            idempotency.key,
            idempotency.fingerprint,
            idempotency.response,
            float(idempotency.created or now),
        )
    )
    cancelled = [name for name, c in last.items() if isinstance(c, TaskCancel)]
    return (*record, cancelled, *columns)


def _record(row: Any) -> IdempotencyRecord:
    return IdempotencyRecord(row[0], row[1], bytes(row[2]), float(row[3]))


class _KeyTaken(StoreError):
    """A write's idempotency key was taken; replaced by :class:`IdempotencyKeyTaken` with the
    stored record before the batch commits."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} is already used")
        self.key = key


def _outbox_args(outbox: Outbox) -> tuple[list[Any], ...]:
    """The nine array arguments of the ``*_outbox`` functions (one element per message)."""
    return (
        [topic for topic, _ in outbox],
        [m.payload.type_url for _, m in outbox],
        [m.payload.value for _, m in outbox],
        [m.id for _, m in outbox],
        [m.source for _, m in outbox],
        [m.type for _, m in outbox],
        [m.subject for _, m in outbox],
        [m.time for _, m in outbox],
        [m.content_type for _, m in outbox],
    )


def _boolean(text: str) -> bool:
    booleans = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if text.lower() not in booleans:
        raise ValueError("true or false")
    return booleans[text.lower()]


def lock_key(name: str, schema: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` within ``schema``."""
    digest = hashlib.blake2b(f"{name}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_connection_error(error: BaseException) -> bool:
    """True if ``error`` means the connection (or server) is gone, not that the SQL was wrong."""
    if isinstance(error, OSError | TimeoutError | ConnectionError):
        return True
    if asyncpg is None:
        return False
    if isinstance(error, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        # ConnectionDoesNotExistError, or a connection left in a broken state by the server
        # closing it while idle (e.g. pg_terminate_backend).
        return True
    if isinstance(error, asyncpg.PostgresError):
        state = getattr(error, "sqlstate", "") or ""
        # 08: connection exception; 57P0x: admin shutdown / crash / cannot connect now.
        return state.startswith("08") or state.startswith("57P")
    return False


@dataclass(slots=True)
class _Request:
    """One queued write: a server-side function call and how to read its result."""

    kind: int  # execution order of kinds within a batch (appends first)
    sql: str
    args: tuple[Any, ...]
    journal: bool  # needs the journal lock
    conflict: Callable[[int], ConcurrentWriteError]  # built from the actual sequence / version
    future: asyncio.Future[int]
    key: tuple[str, str] = field(default=("", ""))
    idempotency_key: str = ""  # the key of the record the write carries, if any

    def result_of(self, value: int) -> int | BaseException:
        if value == KEY_TAKEN:
            return _KeyTaken(self.idempotency_key)
        return value if value >= 0 else self.conflict(-1 - value)


class PostgresStore(Store):
    """A :class:`Store` in a PostgreSQL database, safe to share between proxy nodes.

    Example::

        store = PostgresStore.from_url("postgresql://cloudstate@db/cloudstate?schema=shop")
        await store.start()          # connects and migrates the schema
        await store.append_events("carts", "alice", 0, [Payload(url, data)])
        await store.close()
    """

    name = "postgresql"
    shared = True

    def __init__(
        self,
        dsn: str = "",
        *,
        schema: str = "public",
        pool_size: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        page_size: int = 500,
        max_batch: int = 1000,
        adopt: bool = False,
    ) -> None:
        if asyncpg is None:
            raise StoreError(
                "the PostgreSQL store needs asyncpg: pip install asyncpg (the postgresql extra)"
            )
        if not schema:
            raise ValueError("the PostgreSQL schema name must not be empty")
        self.dsn = dsn
        self.schema = schema
        #: Create the tables in a schema that holds others but no cloudstate schema version.
        self.adopt = adopt
        self._pool_size = max(2, pool_size)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._page_size = page_size
        self._max_batch = max_batch
        self._metrics = metrics.StoreMetrics("postgresql")
        self._journal_lock = lock_key(JOURNAL_LOCK_NAME, schema)
        #: Transactions committed by the writer and write requests they carried (group commit).
        self.commits = 0
        self.writes = 0
        self._pool: Any = None
        #: Ownership locks and change notices between nodes (a dedicated connection, opened on
        #: first use).
        self.session = NodeSession(dsn, schema=schema, connect_timeout=connect_timeout)
        self._pending: list[_Request] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._started = False
        self._accepting = False
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """Build a store from ``postgresql://...`` (or ``postgres://``); see the module docs."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL: {url!r}")
        own: dict[str, Any] = {}
        passed: list[tuple[str, str]] = []
        conversions: dict[str, Callable[[str], Any]] = {
            "schema": str,
            "pool_size": int,
            "connect_timeout": float,
            "command_timeout": float,
            "adopt": _boolean,
        }
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in conversions:
                try:
                    own[key] = conversions[key](value)
                except ValueError as error:
                    raise ValueError(f"bad {key}={value!r} in the store URL: {error}") from None
            else:
                passed.append((key, value))
        # Built by hand: urlunsplit drops the "//" of an empty host, which libpq URLs need.
        query = urlencode(passed)
        dsn = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
        return cls(dsn, **{**own, **options})

    def __repr__(self) -> str:
        parts = urlsplit(self.dsn)
        host = parts.hostname or "(PGHOST)"
        return f"PostgresStore({host}{parts.path or ''}, schema={self.schema!r})"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self._closed:
            raise StoreError("the PostgreSQL store is closed")
        self._started = True
        try:
            await self._migrate()
            self._pool = await asyncpg.create_pool(
                self.dsn or None,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
                server_settings={"search_path": self.schema},
            )
        except Exception as error:
            self._closed = True
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"cannot open the PostgreSQL store {self!r}: {error}") from error
        if self._closed:  # close() ran while we were connecting
            await self._pool.close()
            raise StoreError("the PostgreSQL store was closed while starting")
        self._accepting = True
        self._writer = asyncio.create_task(self._writer_main(), name=f"{self!r} writer")

    async def _migrate(self) -> None:
        connection = await asyncpg.connect(
            self.dsn or None, timeout=self._connect_timeout, command_timeout=60
        )
        try:
            schema = _quote_ident(self.schema)
            async with connection.transaction():
                # Nodes starting together queue here; each step is applied exactly once.
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1)", lock_key(MIGRATION_LOCK_NAME, self.schema)
                )
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                await connection.execute(f"SET LOCAL search_path TO {schema}")
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
                    "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                version = int(
                    await connection.fetchval(
                        f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}"
                    )
                )
                if version > SCHEMA_VERSION:
                    raise StoreRefused(
                        f"the database schema {self.schema!r} has schema version {version}, newer "
                        f"than this proxy's {SCHEMA_VERSION}: it was written by a later version "
                        "of cloudstate; upgrade the proxy"
                    )
                if version == 0 and not self.adopt:
                    await self._refuse_foreign(connection)
                for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in step:
                        await connection.execute(statement)
                    await connection.execute(
                        f"INSERT INTO {VERSION_TABLE} (version) VALUES ($1)", number
                    )
                    log.info("migrated %r to schema version %d", self, number)
                await self._check_columns(connection)
        finally:
            await connection.close()

    async def _refuse_foreign(self, connection: Any) -> None:
        """At schema version 0: refuse a schema that holds tables (another application's, or
        ours with the version rows wiped) instead of creating ours among them."""
        tables = [
            str(row[0])
            for row in await connection.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "AND c.relname <> $2 ORDER BY 1 LIMIT 6",
                self.schema,
                VERSION_TABLE,
            )
        ]
        if tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreRefused(
                f"the database schema {self.schema!r} holds tables ({shown}) but no cloudstate "
                f"schema version ({VERSION_TABLE} is missing or empty): it belongs to another "
                "application, or its version rows were lost. Point the store URL at the "
                "cloudstate schema (?schema=NAME) or restore it from a backup; to create "
                "cloudstate's tables among these, add adopt=true to the store URL"
            )

    async def _check_columns(self, connection: Any) -> None:
        """Every table of the schema exists with exactly its columns (:data:`TABLE_COLUMNS`)."""
        found: dict[str, frozenset[str]] = {
            str(row[0]): frozenset(row[1])
            for row in await connection.fetch(
                "SELECT c.relname, array_agg(a.attname::text) FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) "
                "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
                "GROUP BY c.relname",
                self.schema,
                list(TABLE_COLUMNS),
            )
        }
        problems = []
        for table, columns in TABLE_COLUMNS.items():
            actual = found.get(table)
            if actual is None:
                problems.append(f"table {table} is missing")
            elif actual != columns:
                missing, extra = sorted(columns - actual), sorted(actual - columns)
                problems.append(
                    f"table {table} has the wrong columns"
                    + (f" (missing {', '.join(missing)})" if missing else "")
                    + (f" (unknown {', '.join(extra)})" if extra else "")
                )
        if problems:
            raise StoreRefused(
                f"the database schema {self.schema!r} has cloudstate schema version "
                f"{SCHEMA_VERSION} but " + "; ".join(problems) + ": it was changed by something "
                "other than cloudstate (or holds another application's tables under cloudstate's "
                "names). Restore it from a backup, or point the store URL at another schema"
            )

    async def close(self) -> None:
        if self._closed and self._pool is None:
            return
        self._closed = True
        self._accepting = False
        self._wakeup.set()
        if self._writer is not None:
            # The writer commits what is queued, then exits.
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.session.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=self._command_timeout)
            except Exception:  # a dead server must not hang shutdown
                pool.terminate()

    # -- the writer ---------------------------------------------------------------------------

    async def _submit(self, request: _Request) -> int:
        if not self._accepting:
            state = "closed" if self._closed else "not started"
            raise StoreError(f"the PostgreSQL store is {state}")
        self._pending.append(request)
        self._wakeup.set()
        return await request.future

    async def _writer_main(self) -> None:
        batch: list[_Request] = []
        try:
            while True:
                if not self._pending:
                    if not self._accepting:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)
        except BaseException as error:
            self._accepting = False
            failure = StoreError(f"the PostgreSQL store writer stopped: {error}")
            for request in [*batch, *self._pending]:
                _settle(request.future, failure)  # no-op for requests already settled
            self._pending.clear()
            if not isinstance(error, Exception):
                raise

    async def _commit(self, batch: list[_Request]) -> None:
        ordered = sorted(batch, key=lambda r: (r.kind, r.key))
        isolated = False
        attempt = 0
        store_metrics = self._metrics
        start = metrics.now()
        while True:
            attempt += 1
            committing = False
            try:
                async with self._pool.acquire() as connection:
                    # BEGIN and the journal lock in one round trip (simple query protocol).
                    begin = "BEGIN"
                    if any(r.journal for r in ordered):
                        begin += f"; SELECT pg_advisory_xact_lock({int(self._journal_lock)})"
                    await connection.execute(begin)
                    try:
                        if isolated:
                            results = await self._run_isolated(connection, ordered)
                        else:
                            results = await self._run_pipelined(connection, ordered)
                        results = await self._taken_records(connection, results)
                    except BaseException:
                        if not connection.is_closed():
                            with suppress(Exception):
                                await connection.execute("ROLLBACK")
                        raise
                    committing = True
                    await connection.execute("COMMIT")
            except Exception as error:
                retry = False
                failure: StoreError
                if committing and _is_connection_error(error):
                    failure = WriteOutcomeUnknown(
                        f"the connection to PostgreSQL broke while committing ({error}); "
                        "the write may or may not have been applied"
                    )
                elif _is_connection_error(error) or getattr(error, "sqlstate", None) in (
                    _RETRY_STATES
                ):
                    retry = attempt < _BATCH_ATTEMPTS
                    failure = StoreError(f"write to PostgreSQL failed: {_describe(error)}")
                elif (
                    not isolated
                    and asyncpg is not None
                    and isinstance(error, asyncpg.PostgresError)
                ):
                    # Something in one request is wrong (e.g. bad text): find it with savepoints.
                    isolated = True
                    attempt -= 1  # not a failed attempt: the next run tells which request
                    continue
                else:
                    failure = StoreError(f"write to PostgreSQL failed: {_describe(error)}")
                if _is_connection_error(error):
                    await self._expire_connections()
                if retry:
                    log.info("retrying a write batch after: %s", _describe(error))
                    await asyncio.sleep(0.05 * attempt)
                    continue
                failure.__cause__ = error
                store_metrics.errors.inc()
                for request in batch:
                    _settle(request.future, failure)
                return
            store_metrics.commit.observe(metrics.now() - start)
            store_metrics.batch.observe(len(batch))
            self.commits += 1
            self.writes += len(batch)
            for request, result in zip(ordered, results, strict=True):
                _settle(request.future, result)
            return

    @staticmethod
    async def _taken_records(
        connection: Any, results: list[int | BaseException]
    ) -> list[int | BaseException]:
        """Replace every :class:`_KeyTaken` by :class:`IdempotencyKeyTaken` with the record that
        holds the key, read in the batch's transaction (it may be one of the batch's own)."""
        keys = list({r.key for r in results if isinstance(r, _KeyTaken)})
        if not keys:
            return results
        rows = await connection.fetch(
            f"SELECT {_IDEMPOTENCY_COLUMNS} FROM idempotency WHERE key = ANY($1::text[])", keys
        )
        stored = {row[0]: _record(row) for row in rows}

        def resolved(result: int | BaseException) -> int | BaseException:
            if not isinstance(result, _KeyTaken):
                return result
            record = stored.get(result.key)
            if record is None:  # trimmed meanwhile: the caller may simply try again
                return StoreError(f"idempotency key {result.key!r} was taken, then removed")
            return IdempotencyKeyTaken(record)

        return [resolved(result) for result in results]

    async def _expire_connections(self) -> None:
        """After a lost connection the pool's other idle connections are likely dead too (server
        restart, failover): have them all replaced on their next use."""
        if self._pool is not None:
            await self._pool.expire_connections()

    async def _run_pipelined(
        self, connection: Any, ordered: list[_Request]
    ) -> list[int | BaseException]:
        results: list[int | BaseException] = []
        start = 0
        while start < len(ordered):
            end = start
            while end < len(ordered) and ordered[end].sql == ordered[start].sql:
                end += 1
            group = ordered[start:end]
            rows = await connection.fetchmany(group[0].sql, [r.args for r in group])
            results.extend(r.result_of(int(row[0])) for r, row in zip(group, rows, strict=True))
            start = end
        return results

    async def _run_isolated(
        self, connection: Any, ordered: list[_Request]
    ) -> list[int | BaseException]:
        results: list[int | BaseException] = []
        for request in ordered:
            await connection.execute("SAVEPOINT request")
            try:
                value = int(await connection.fetchval(request.sql, *request.args))
                await connection.execute("RELEASE SAVEPOINT request")
                results.append(request.result_of(value))
            except asyncpg.PostgresError as error:
                if _is_connection_error(error):
                    raise
                await connection.execute("ROLLBACK TO SAVEPOINT request")
                failure = StoreError(
                    f"PostgreSQL refused the write to {request.key[0]}|{request.key[1]}: "
                    f"{_describe(error)}"
                )
                failure.__cause__ = error
                results.append(failure)
        return results

    # -- readers ------------------------------------------------------------------------------

    async def _read(self, query: Callable[[Any], Awaitable[_T]]) -> _T:
        if self._closed or self._pool is None:
            state = "closed" if self._closed else "not started"
            raise StoreError(f"the PostgreSQL store is {state}")
        for attempt in (1, 2):
            try:
                async with self._pool.acquire() as connection:
                    return await query(connection)
            except StoreError:
                raise  # raised by the query itself (e.g. OffsetWasReset): already explained
            except Exception as error:
                if _is_connection_error(error):
                    await self._expire_connections()
                    if attempt == 1 and not self._closed:
                        continue  # the pool's connections were stale: once more on a fresh one
                raise StoreError(f"read from PostgreSQL failed: {_describe(error)}") from error
        raise AssertionError("unreachable")  # pragma: no cover

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
        loop = asyncio.get_running_loop()
        durable = bool(tasks) or idempotency is not None
        if durable:
            sql = _APPEND_DURABLE_SQL
            extra = (*_outbox_args(outbox), *_durable_args(tasks, idempotency, time.time()))
        elif outbox:
            sql, extra = _APPEND_OUTBOX_SQL, _outbox_args(outbox)
        else:
            sql, extra = _APPEND_SQL, ()
        return await self._submit(
            _Request(
                kind=0,
                sql=sql,
                args=(
                    persistence_id,
                    entity_id,
                    expected_sequence,
                    [p.type_url for p in events],
                    [p.value for p in events],
                    None if snapshot is None else snapshot.type_url,
                    None if snapshot is None else snapshot.value,
                    *extra,
                ),
                journal=True,
                conflict=lambda actual: ConcurrentWriteError(
                    persistence_id, entity_id, expected_sequence, actual
                ),
                future=loop.create_future(),
                key=(persistence_id, entity_id),
                idempotency_key="" if idempotency is None else idempotency.key,
            )
        )

    async def purge_entity(
        self, persistence_id: str, entity_id: str, tombstone_sequence: int
    ) -> int:
        # Under the appends' journal lock: an append cannot slip in between the check of the
        # latest sequence and the delete. Idempotent, so _read may run it again.
        async def purge(connection: Any) -> int:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", self._journal_lock)
                highest = int(
                    await connection.fetchval(
                        "SELECT COALESCE(MAX(sequence), 0) FROM events "
                        "WHERE persistence_id = $1 AND entity_id = $2",
                        persistence_id,
                        entity_id,
                    )
                )
                # The tombstone goes too unless the entity was used again after it.
                keep_from = tombstone_sequence + (1 if highest <= tombstone_sequence else 0)
                status = await connection.execute(
                    "DELETE FROM events WHERE persistence_id = $1 AND entity_id = $2 "
                    "AND sequence < $3",
                    persistence_id,
                    entity_id,
                    keep_from,
                )
                await connection.execute(
                    "DELETE FROM snapshots WHERE persistence_id = $1 AND entity_id = $2 "
                    "AND sequence < $3",
                    persistence_id,
                    entity_id,
                    keep_from,
                )
                return int(status.rsplit(" ", 1)[-1])

        return await self._read(purge)

    async def compact_journal(
        self,
        persistence_id: str,
        entity_id: str,
        before_sequence: int,
        up_to_offset: int | None = None,
    ) -> int:
        async def compact(connection: Any) -> int:
            status = await connection.execute(
                "DELETE FROM events WHERE persistence_id = $1 AND entity_id = $2 "
                'AND sequence < $3 AND "offset" <= $4',
                persistence_id,
                entity_id,
                before_sequence,
                2**63 - 1 if up_to_offset is None else up_to_offset,
            )
            return int(status.rsplit(" ", 1)[-1])

        return await self._read(compact)

    async def read_events(
        self, persistence_id: str, entity_id: str, after_sequence: int = 0
    ) -> AsyncIterator[StoredEvent]:
        after = after_sequence
        while True:

            async def fetch(connection: Any, after: int = after) -> list[Any]:
                return list(
                    await connection.fetch(
                        'SELECT sequence, type_url, payload, "offset", '
                        "extract(epoch FROM written_at)::float8 FROM events "
                        "WHERE persistence_id = $1 AND entity_id = $2 AND sequence > $3 "
                        "ORDER BY sequence LIMIT $4",
                        persistence_id,
                        entity_id,
                        after,
                        self._page_size,
                    )
                )

            rows = await self._read(fetch)
            for sequence, type_url, payload, offset, timestamp in rows:
                yield StoredEvent(sequence, Payload(type_url, bytes(payload)), offset, timestamp)
            if len(rows) < self._page_size:
                return
            after = rows[-1][0]

    async def highest_sequence(self, persistence_id: str, entity_id: str) -> int:
        async def query(connection: Any) -> int:
            return int(
                await connection.fetchval(
                    "SELECT COALESCE(MAX(sequence), 0) FROM events "
                    "WHERE persistence_id = $1 AND entity_id = $2",
                    persistence_id,
                    entity_id,
                )
            )

        return await self._read(query)

    async def load_snapshot(self, persistence_id: str, entity_id: str) -> StoredSnapshot | None:
        async def query(connection: Any) -> StoredSnapshot | None:
            row = await connection.fetchrow(
                "SELECT sequence, type_url, payload FROM snapshots "
                "WHERE persistence_id = $1 AND entity_id = $2",
                persistence_id,
                entity_id,
            )
            return None if row is None else StoredSnapshot(row[0], Payload(row[1], bytes(row[2])))

        return await self._read(query)

    async def read_all_events(
        self, persistence_id: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[tuple[str, StoredEvent]]:
        after, remaining = after_offset, limit
        while remaining > 0:
            count = min(remaining, self._page_size)

            async def fetch(connection: Any, after: int = after, count: int = count) -> list[Any]:
                return list(
                    await connection.fetch(
                        'SELECT entity_id, sequence, type_url, payload, "offset", '
                        "extract(epoch FROM written_at)::float8 FROM events "
                        'WHERE persistence_id = $1 AND "offset" > $2 ORDER BY "offset" LIMIT $3',
                        persistence_id,
                        after,
                        count,
                    )
                )

            rows = await self._read(fetch)
            for entity_id, sequence, type_url, payload, offset, timestamp in rows:
                yield (
                    entity_id,
                    StoredEvent(sequence, Payload(type_url, bytes(payload)), offset, timestamp),
                )
            if len(rows) < count:
                return
            remaining -= len(rows)
            after = rows[-1][4]

    async def highest_offset(self, persistence_id: str) -> int:
        async def query(connection: Any) -> int:
            return int(
                await connection.fetchval(
                    'SELECT COALESCE(MAX("offset"), 0) FROM events WHERE persistence_id = $1',
                    persistence_id,
                )
            )

        return await self._read(query)

    # -- eventing offsets ---------------------------------------------------------------------

    async def load_offset(self, consumer_id: str) -> int:
        async def query(connection: Any) -> int:
            value = await connection.fetchval(
                'SELECT "offset" FROM consumer_offsets WHERE consumer_id = $1', consumer_id
            )
            return 0 if value is None else int(value)

        return await self._read(query)

    async def save_offset(
        self, consumer_id: str, offset: int, generation: int | None = None
    ) -> None:
        # One autocommitted, idempotent upsert (not the group-commit writer: offsets need no
        # journal lock); _read retries it once on a fresh connection, which is safe.
        async def upsert(connection: Any) -> None:
            if generation is not None:
                async with connection.transaction():
                    await _check_generation(connection, consumer_id, generation)
                    await connection.execute(_SAVE_OFFSET_SQL, consumer_id, offset)
                return
            await connection.execute(_SAVE_OFFSET_SQL, consumer_id, offset)

        await self._read(upsert)

    async def load_position(self, consumer_id: str) -> ConsumerPosition:
        async def query(connection: Any) -> ConsumerPosition:
            row = await connection.fetchrow(
                'SELECT "offset", generation FROM consumer_offsets WHERE consumer_id = $1',
                consumer_id,
            )
            return (
                ConsumerPosition(0) if row is None else ConsumerPosition(int(row[0]), int(row[1]))
            )

        return await self._read(query)

    async def reset_offset(self, consumer_id: str, offset: int) -> int:
        async def reset(connection: Any) -> int:
            return int(
                await connection.fetchval(
                    'INSERT INTO consumer_offsets (consumer_id, "offset", generation) '
                    "VALUES ($1, $2, 1) ON CONFLICT (consumer_id) DO UPDATE SET "
                    '"offset" = excluded."offset", updated_at = now(), '
                    "generation = consumer_offsets.generation + 1 RETURNING generation",
                    consumer_id,
                    offset,
                )
            )

        return await self._read(reset)

    async def event_offset_before(self, persistence_id: str, timestamp: float) -> int:
        return await self._offset_before("events", "persistence_id", persistence_id, timestamp)

    async def topic_offset_before(self, topic: str, timestamp: float) -> int:
        return await self._offset_before("topic_messages", "topic", topic, timestamp)

    async def _offset_before(self, table: str, column: str, source: str, timestamp: float) -> int:
        async def query(connection: Any) -> int:
            # Offsets are committed in order under the journal lock; written_at grows with them
            # closely enough for "from this time on" (a few milliseconds of commit latency).
            value = await connection.fetchval(
                f'SELECT COALESCE(MAX("offset"), 0) FROM {table} '
                f"WHERE {column} = $1 AND written_at < to_timestamp($2)",
                source,
                float(timestamp),
            )
            return int(value)

        return await self._read(query)

    # -- parked messages ----------------------------------------------------------------------

    async def park_message(self, message: ParkedMessage) -> None:
        names = ParkedMessage.COLUMNS.split(", ")
        updates = ", ".join(f"{name} = excluded.{name}" for name in names[2:])
        values = ", ".join(f"${n}" for n in range(1, len(names) + 1))

        async def park(connection: Any) -> None:
            await connection.execute(
                f"INSERT INTO parked_messages ({ParkedMessage.COLUMNS}) VALUES ({values}) "
                f'ON CONFLICT (consumer_id, "offset") DO UPDATE SET {updates}',
                *message.to_row(),
            )

        await self._read(park)

    async def list_parked(
        self, consumer_id: str = "", limit: int = 1000, *, redrive_only: bool = False
    ) -> list[ParkedMessage]:
        where = "($1 = '' OR consumer_id = $1)" + (" AND redrive" if redrive_only else "")

        async def query(connection: Any) -> list[ParkedMessage]:
            rows = await connection.fetch(
                f"SELECT {ParkedMessage.COLUMNS} FROM parked_messages WHERE {where} "
                'ORDER BY consumer_id, "offset" LIMIT $2',
                consumer_id,
                max(limit, 0),
            )
            return [ParkedMessage.from_row(row) for row in rows]

        return await self._read(query)

    async def count_parked(self) -> dict[str, int]:
        async def query(connection: Any) -> dict[str, int]:
            rows = await connection.fetch(
                "SELECT consumer_id, count(*) FROM parked_messages GROUP BY consumer_id"
            )
            return {str(row[0]): int(row[1]) for row in rows}

        return await self._read(query)

    async def redrive_parked(self, consumer_id: str, offset: int | None = None) -> int:
        mark = "UPDATE parked_messages SET redrive = TRUE"
        return await self._change_parked(mark, consumer_id, offset)

    async def drop_parked(self, consumer_id: str, offset: int | None = None) -> int:
        return await self._change_parked("DELETE FROM parked_messages", consumer_id, offset)

    async def _change_parked(self, sql: str, consumer_id: str, offset: int | None) -> int:
        async def change(connection: Any) -> int:
            status = await connection.execute(
                sql + ' WHERE consumer_id = $1 AND ($2::bigint IS NULL OR "offset" = $2)',
                consumer_id,
                offset,
            )
            return int(str(status).rsplit(" ", 1)[-1])  # "UPDATE n" / "DELETE n"

        return await self._read(change)

    async def finish_parked(
        self, consumer_id: str, offset: int, updates: Mapping[str, Sequence[ViewRow]] = {}
    ) -> bool:
        async def finish(connection: Any) -> bool:
            async with connection.transaction():
                found = await connection.fetchval(
                    'DELETE FROM parked_messages WHERE consumer_id = $1 AND "offset" = $2 '
                    "RETURNING 1",
                    consumer_id,
                    offset,
                )
                if found is None:
                    return False
                await _write_view_rows(connection, updates)
                return True

        return await self._read(finish)

    # -- topic log ----------------------------------------------------------------------------

    async def append_topic(self, topic: str, messages: Sequence[TopicMessage]) -> int:
        if not messages:
            raise ValueError("append_topic needs at least one message")
        loop = asyncio.get_running_loop()

        def never_conflicts(actual: int) -> ConcurrentWriteError:  # pragma: no cover
            raise AssertionError(f"cloudstate_append_topic returned {-1 - actual}")

        # Through the writer under the journal lock: offsets are committed in assignment order.
        return await self._submit(
            _Request(
                kind=2,
                sql=_APPEND_TOPIC_SQL,
                args=(
                    topic,
                    [m.payload.type_url for m in messages],
                    [m.payload.value for m in messages],
                    [m.id for m in messages],
                    [m.source for m in messages],
                    [m.type for m in messages],
                    [m.subject for m in messages],
                    [m.time for m in messages],
                    [m.content_type for m in messages],
                ),
                journal=True,
                conflict=never_conflicts,
                future=loop.create_future(),
                key=(topic, ""),
            )
        )

    async def read_topic(
        self, topic: str, after_offset: int = 0, limit: int = 1000
    ) -> AsyncIterator[TopicMessage]:
        after, remaining = after_offset, limit
        while remaining > 0:
            count = min(remaining, self._page_size)

            async def fetch(connection: Any, after: int = after, count: int = count) -> list[Any]:
                return list(
                    await connection.fetch(
                        'SELECT "offset", type_url, payload, ce_id, ce_source, ce_type, '
                        "ce_subject, ce_time, content_type, "
                        "extract(epoch FROM written_at)::float8 FROM topic_messages "
                        'WHERE topic = $1 AND "offset" > $2 ORDER BY "offset" LIMIT $3',
                        topic,
                        after,
                        count,
                    )
                )

            rows = await self._read(fetch)
            for (
                offset,
                type_url,
                payload,
                id_,
                source,
                type_,
                subject,
                time_,
                content_type,
                timestamp,
            ) in rows:
                yield TopicMessage(
                    Payload(type_url, bytes(payload)),
                    id_,
                    source,
                    type_,
                    subject,
                    time_,
                    content_type,
                    offset=offset,
                    timestamp=timestamp,
                )
            if len(rows) < count:
                return
            remaining -= len(rows)
            after = rows[-1][0]

    async def highest_topic_offset(self, topic: str) -> int:
        async def query(connection: Any) -> int:
            return int(
                await connection.fetchval(
                    'SELECT COALESCE(MAX("offset"), 0) FROM topic_messages WHERE topic = $1',
                    topic,
                )
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
            args.append(older_than)
            reasons.append(f"written_at < to_timestamp(${len(args)})")
        if keep_last is not None:
            args.append(max(0, keep_last))
            # Offsets at or below the newest message that is not among the last keep_last.
            reasons.append(
                '"offset" <= (SELECT "offset" FROM topic_messages WHERE topic = $1 '
                f'ORDER BY "offset" DESC LIMIT 1 OFFSET ${len(args)})'
            )
        sql = (
            'DELETE FROM topic_messages WHERE topic = $1 AND "offset" <= $2 AND ('
            + " OR ".join(reasons)
            + ")"
        )

        async def trim(connection: Any) -> int:
            status = await connection.execute(sql, *args)
            return int(str(status).rsplit(" ", 1)[-1])  # "DELETE n"

        return await self._read(trim)

    # -- views ----------------------------------------------------------------------------------

    async def load_view_rows(self, view: str, keys: Sequence[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        async def query(connection: Any) -> dict[str, bytes]:
            rows = await connection.fetch(
                "SELECT row_key, payload FROM view_rows WHERE view_id = $1 "
                "AND row_key = ANY($2::text[])",
                view,
                wanted,
            )
            return {row[0]: bytes(row[1]) for row in rows}

        return await self._read(query)

    async def apply_view_updates(
        self,
        updates: Mapping[str, Sequence[ViewRow]],
        consumer_id: str,
        offset: int,
        generation: int | None = None,
    ) -> bool:
        # The offset moves first, conditionally: a retry after a lost connection (or a stale
        # owner on another node) finds it moved and writes nothing, so no update applies twice.
        async def apply(connection: Any) -> bool:
            async with connection.transaction():
                if generation is not None:
                    await _check_generation(connection, consumer_id, generation)
                moved = await connection.fetchval(
                    'INSERT INTO consumer_offsets (consumer_id, "offset") VALUES ($1, $2) '
                    'ON CONFLICT (consumer_id) DO UPDATE SET "offset" = excluded."offset", '
                    'updated_at = now() WHERE excluded."offset" > consumer_offsets."offset" '
                    "RETURNING 1",
                    consumer_id,
                    offset,
                )
                if moved is None:
                    return False
                await _write_view_rows(connection, updates)
                return True

        return await self._read(apply)

    async def load_view_generations(self, views: Sequence[str]) -> dict[str, ViewGeneration]:
        async def query(connection: Any) -> dict[str, ViewGeneration]:
            rows = await connection.fetch(
                "SELECT view_id, active, building FROM view_generations "
                "WHERE view_id = ANY($1::text[])",
                list(views),
            )
            found = {row[0]: ViewGeneration(int(row[1]), row[2]) for row in rows}
            return {view: found.get(view, ViewGeneration()) for view in views}

        return await self._read(query)

    async def start_view_rebuild(self, views: Sequence[str]) -> int:
        wanted = sorted(set(views))

        async def start(connection: Any) -> int:
            async with connection.transaction():
                states = await _lock_view_generations(connection, wanted)
                generation = 1 + max(max(g.active, g.building or 0) for g in states.values())
                for view, state in states.items():
                    stale = [view_generation_id(view, generation)]
                    if state.building is not None:
                        stale.append(view_generation_id(view, state.building))
                    await connection.execute(
                        "DELETE FROM view_rows WHERE view_id = ANY($1::text[])", stale
                    )
                    await connection.execute(
                        "UPDATE view_generations SET building = $2 WHERE view_id = $1",
                        view,
                        generation,
                    )
                return generation

        return await self._read(start)

    async def swap_view_generation(
        self,
        views: Sequence[str],
        generation: int,
        consumer_id: str,
        rebuild_consumer_id: str,
    ) -> bool:
        wanted = sorted(set(views))

        async def swap(connection: Any) -> bool:
            async with connection.transaction():
                states = await _lock_view_generations(connection, wanted)
                if any(state.building != generation for state in states.values()):
                    return False
                for view, state in states.items():
                    await connection.execute(
                        "DELETE FROM view_rows WHERE view_id = $1",
                        view_generation_id(view, state.active),
                    )
                    await connection.execute(
                        "UPDATE view_generations SET active = $2, building = NULL "
                        "WHERE view_id = $1",
                        view,
                        generation,
                    )
                offset = await connection.fetchval(
                    'DELETE FROM consumer_offsets WHERE consumer_id = $1 RETURNING "offset"',
                    rebuild_consumer_id,
                )
                await connection.execute(
                    'INSERT INTO consumer_offsets (consumer_id, "offset", generation) '
                    "VALUES ($1, $2, 1) ON CONFLICT (consumer_id) DO UPDATE SET "
                    '"offset" = excluded."offset", updated_at = now(), '
                    "generation = consumer_offsets.generation + 1",
                    consumer_id,
                    int(offset or 0),
                )
                return True

        return await self._read(swap)

    async def query_view(self, view: str, select: ViewSelect) -> list[bytes]:
        sql, args = select_sql(select, view, Placeholders.DOLLAR, _numeric)

        async def query(connection: Any) -> list[bytes]:
            return [bytes(row[0]) for row in await connection.fetch(sql, *args)]

        return await self._read(query)

    # -- value entities -----------------------------------------------------------------------

    async def load_value(self, persistence_id: str, entity_id: str) -> StoredValue | None:
        async def query(connection: Any) -> StoredValue | None:
            row = await connection.fetchrow(
                'SELECT type_url, payload, version, expires_at FROM "values" '
                "WHERE persistence_id = $1 AND entity_id = $2 AND NOT deleted "
                "AND (expires_at IS NULL OR expires_at > $3)",
                persistence_id,
                entity_id,
                time.time(),
            )
            if row is None:
                return None
            return StoredValue(Payload(row[0], bytes(row[1])), row[2], row[3])

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
        loop = asyncio.get_running_loop()
        durable = bool(tasks) or idempotency is not None
        if durable:
            sql = _SAVE_VALUE_DURABLE_SQL
            extra = (*_outbox_args(outbox), *_durable_args(tasks, idempotency, time.time()))
        elif outbox:
            sql, extra = _SAVE_VALUE_OUTBOX_SQL, _outbox_args(outbox)
        else:
            sql, extra = _SAVE_VALUE_SQL, ()
        if expires_at is not None and value is not None:
            sql = _with_expiry(sql, 5 + len(extra))
            extra = (*extra, float(expires_at))
        return await self._submit(
            _Request(
                kind=1,
                sql=sql,
                args=(
                    persistence_id,
                    entity_id,
                    None if value is None else value.type_url,
                    None if value is None else value.value,
                    expected_version,
                    *extra,
                ),
                # Topic messages take offsets: under the journal lock, like topic appends.
                journal=bool(outbox),
                conflict=lambda actual: ConcurrentWriteError(
                    persistence_id, entity_id, expected_version or 0, actual
                ),
                future=loop.create_future(),
                key=(persistence_id, entity_id),
                idempotency_key="" if idempotency is None else idempotency.key,
            )
        )

    async def purge_expired_values(self, now: float, limit: int = 1000) -> int:
        async def purge(connection: Any) -> int:
            status = await connection.execute(
                'UPDATE "values" SET type_url = NULL, payload = NULL, deleted = TRUE, '
                "expires_at = NULL WHERE (persistence_id, entity_id) IN ("
                'SELECT persistence_id, entity_id FROM "values" WHERE expires_at <= $1 '
                "LIMIT $2 FOR UPDATE SKIP LOCKED)",
                float(now),
                max(limit, 0),
            )
            return int(str(status).rsplit(" ", 1)[-1])  # "UPDATE n"

        return await self._read(purge)

    # -- durable tasks ------------------------------------------------------------------------

    async def write_tasks(self, changes: TaskChanges) -> None:
        if not changes:
            return
        args = _durable_args(changes, None, time.time())[4:]

        # One autocommitted statement; writing the same changes twice (a retry after a lost
        # connection) leaves the same tasks.
        async def write(connection: Any) -> None:
            await connection.execute(_WRITE_TASKS_SQL, *args)

        await self._read(write)

    async def _select_tasks(self, where: str, *args: Any) -> list[DurableTask]:
        sql = f"SELECT {DurableTask.COLUMNS} FROM durable_tasks {where}"

        async def query(connection: Any) -> list[DurableTask]:
            return [DurableTask.from_row(row) for row in await connection.fetch(sql, *args)]

        return await self._read(query)

    async def due_tasks(self, now: float, limit: int) -> list[DurableTask]:
        return await self._select_tasks(
            "WHERE due <= $1 ORDER BY due, name LIMIT $2", float(now), max(limit, 0)
        )

    async def next_due(self) -> float | None:
        async def query(connection: Any) -> float | None:
            due = await connection.fetchval("SELECT MIN(due) FROM durable_tasks")
            return None if due is None else float(due)

        return await self._read(query)

    async def _changed(self, sql: str, *args: Any) -> bool:
        """Run one statement that reports its rows (``... RETURNING 1``): True if any."""

        async def change(connection: Any) -> bool:
            return await connection.fetchval(sql, *args) is not None

        return await self._read(change)

    async def finish_task(self, name: str, key: str) -> bool:
        return await self._changed(
            "DELETE FROM durable_tasks WHERE name = $1 AND key = $2 RETURNING 1", name, key
        )

    async def retry_task(self, name: str, key: str, due: float, error: str) -> bool:
        return await self._changed(
            "UPDATE durable_tasks SET attempts = attempts + 1, last_error = $3, due = $4 "
            "WHERE name = $1 AND key = $2 RETURNING 1",
            name,
            key,
            error,
            float(due),
        )

    async def dead_letter_task(self, name: str, key: str, error: str) -> bool:
        # One statement: the task leaves the pending ones and becomes a dead letter, or neither.
        return await self._changed(
            "WITH moved AS (DELETE FROM durable_tasks WHERE name = $1 AND key = $2 "
            f"RETURNING {DurableTask.COLUMNS}) "
            f"INSERT INTO dead_letters ({DurableTask.COLUMNS}, failed_at) "
            "SELECT name, key, service, method, type_url, payload, due, metadata, attempts + 1, "
            "max_attempts, $3, created, $4 FROM moved "
            "ON CONFLICT (name) DO UPDATE SET key = excluded.key, service = excluded.service, "
            "method = excluded.method, type_url = excluded.type_url, payload = excluded.payload, "
            "due = excluded.due, metadata = excluded.metadata, attempts = excluded.attempts, "
            "max_attempts = excluded.max_attempts, last_error = excluded.last_error, "
            "created = excluded.created, failed_at = excluded.failed_at RETURNING 1",
            name,
            key,
            error,
            time.time(),
        )

    async def list_tasks(self, prefix: str = "", limit: int = 1000) -> list[DurableTask]:
        # left(), not LIKE: "%" and "_" in a prefix are plain characters.
        return await self._select_tasks(
            "WHERE left(name, char_length($1)) = $1 ORDER BY due, name LIMIT $2",
            prefix,
            max(limit, 0),
        )

    async def count_tasks(self, now: float) -> tuple[int, int]:
        async def query(connection: Any) -> tuple[int, int]:
            row = await connection.fetchrow(
                "SELECT count(*), count(*) FILTER (WHERE due < $1) FROM durable_tasks",
                float(now),
            )
            return int(row[0]), int(row[1])

        return await self._read(query)

    async def list_dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        async def query(connection: Any) -> list[DeadLetter]:
            rows = await connection.fetch(
                f"SELECT {DurableTask.COLUMNS}, failed_at FROM dead_letters "
                "ORDER BY failed_at DESC, name LIMIT $1",
                max(limit, 0),
            )
            return [DeadLetter(DurableTask.from_row(row[:-1]), float(row[-1])) for row in rows]

        return await self._read(query)

    async def redrive_dead_letter(self, name: str, due: float) -> bool:
        return await self._changed(
            f"WITH moved AS (DELETE FROM dead_letters WHERE name = $1 "
            f"RETURNING {DurableTask.COLUMNS}) "
            f"INSERT INTO durable_tasks ({DurableTask.COLUMNS}) "
            "SELECT name, key, service, method, type_url, payload, $2, metadata, 0, "
            "max_attempts, last_error, created FROM moved "
            "ON CONFLICT (name) DO UPDATE SET key = excluded.key, service = excluded.service, "
            "method = excluded.method, type_url = excluded.type_url, payload = excluded.payload, "
            "due = excluded.due, metadata = excluded.metadata, attempts = excluded.attempts, "
            "max_attempts = excluded.max_attempts, last_error = excluded.last_error, "
            "created = excluded.created RETURNING 1",
            name,
            float(due),
        )

    async def drop_dead_letter(self, name: str) -> bool:
        return await self._changed("DELETE FROM dead_letters WHERE name = $1 RETURNING 1", name)

    # -- idempotency records --------------------------------------------------------------------

    async def load_idempotency(self, key: str) -> IdempotencyRecord | None:
        async def query(connection: Any) -> IdempotencyRecord | None:
            row = await connection.fetchrow(
                f"SELECT {_IDEMPOTENCY_COLUMNS} FROM idempotency WHERE key = $1", key
            )
            return None if row is None else _record(row)

        return await self._read(query)

    async def save_idempotency(self, record: IdempotencyRecord) -> IdempotencyRecord:
        created = float(record.created or time.time())

        async def save(connection: Any) -> IdempotencyRecord:
            row = await connection.fetchrow(
                f"INSERT INTO idempotency ({_IDEMPOTENCY_COLUMNS}) VALUES ($1, $2, $3, $4) "
                f"ON CONFLICT (key) DO NOTHING RETURNING {_IDEMPOTENCY_COLUMNS}",
                record.key,
                record.fingerprint,
                record.response,
                created,
            )
            if row is None:  # taken: a new statement sees the record that won
                row = await connection.fetchrow(
                    f"SELECT {_IDEMPOTENCY_COLUMNS} FROM idempotency WHERE key = $1", record.key
                )
            if row is None:
                raise StoreError(f"idempotency key {record.key!r} was taken, then removed")
            return _record(row)

        return await self._read(save)

    async def trim_idempotency(self, older_than: float) -> int:
        async def trim(connection: Any) -> int:
            status = await connection.execute(
                "DELETE FROM idempotency WHERE created < $1", float(older_than)
            )
            return int(str(status).rsplit(" ", 1)[-1])  # "DELETE n"

        return await self._read(trim)

    # -- several nodes ------------------------------------------------------------------------

    async def try_own(self, name: str) -> asyncio.Event | None:
        if not self._accepting:
            return None
        return await self.session.try_own(name)

    async def disown(self, name: str) -> None:
        await self.session.disown(name)

    def publish_change(self, store_id: str, entity_id: str) -> None:
        if self._accepting:
            self.session.publish(self._pool, store_id, entity_id)

    async def subscribe_changes(self, callback: ChangeCallback) -> Callable[[], Awaitable[None]]:
        return await self.session.subscribe(callback)

    # -- cluster membership -------------------------------------------------------------------

    async def cluster_join(self, node_id: str, address: str) -> int:
        async def join(connection: Any) -> int:
            return int(
                await connection.fetchval(
                    """
                    INSERT INTO cluster_members AS m
                        (node_id, address, incarnation, heartbeat_at, joined_at)
                    VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp())
                    ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address,
                        incarnation = m.incarnation + 1, heartbeat_at = clock_timestamp(),
                        joined_at = clock_timestamp()
                    RETURNING incarnation
                    """,
                    node_id,
                    address,
                )
            )

        return await self._read(join)

    async def cluster_heartbeat(self, node_id: str, incarnation: int) -> bool:
        async def beat(connection: Any) -> bool:
            status = await connection.execute(
                "UPDATE cluster_members SET heartbeat_at = clock_timestamp() "
                "WHERE node_id = $1 AND incarnation = $2",
                node_id,
                incarnation,
            )
            return str(status) == "UPDATE 1"

        return await self._read(beat)

    async def cluster_leave(self, node_id: str, incarnation: int) -> None:
        async def leave(connection: Any) -> None:
            await connection.execute(
                "DELETE FROM cluster_members WHERE node_id = $1 AND incarnation = $2",
                node_id,
                incarnation,
            )

        await self._read(leave)

    async def cluster_members(self, ttl: float) -> list[ClusterMember]:
        async def members(connection: Any) -> list[ClusterMember]:
            rows = await connection.fetch(
                """
                SELECT node_id, address, incarnation,
                       EXTRACT(EPOCH FROM clock_timestamp() - heartbeat_at)::float8 AS age
                FROM cluster_members
                WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $1)
                ORDER BY node_id
                """,
                float(ttl),
            )
            return [ClusterMember(row[0], row[1], int(row[2]), float(row[3])) for row in rows]

        return await self._read(members)

    # -- inspection ---------------------------------------------------------------------------

    async def list_persistence_ids(self) -> list[str]:
        async def query(connection: Any) -> list[str]:
            rows = await connection.fetch(
                "SELECT persistence_id FROM events "
                "UNION SELECT persistence_id FROM snapshots "
                'UNION SELECT persistence_id FROM "values" WHERE NOT deleted '
                "ORDER BY 1"
            )
            return [row[0] for row in rows]

        return await self._read(query)

    async def list_entity_ids(
        self, persistence_id: str, *, prefix: str = "", after: str = "", limit: int | None = None
    ) -> list[str]:
        # COLLATE "C": byte order, as the other backends sort (and as keyset paging needs one
        # order whatever the database's locale).
        where = (
            'persistence_id = $1 AND entity_id COLLATE "C" > $2 '
            "AND left(entity_id, char_length($3)) = $3"
        )

        async def query(connection: Any) -> list[str]:
            rows = await connection.fetch(
                f'SELECT entity_id COLLATE "C" FROM events WHERE {where} '
                f"UNION SELECT entity_id FROM snapshots WHERE {where} "
                f'UNION SELECT entity_id FROM "values" WHERE {where} AND NOT deleted '
                "ORDER BY 1 LIMIT $4",
                persistence_id,
                after,
                prefix,
                limit,
            )
            return [row[0] for row in rows]

        return await self._read(query)


_SAVE_OFFSET_SQL = (
    'INSERT INTO consumer_offsets (consumer_id, "offset") VALUES ($1, $2) '
    'ON CONFLICT (consumer_id) DO UPDATE SET "offset" = excluded."offset", '
    'updated_at = now() WHERE excluded."offset" > consumer_offsets."offset"'
)


async def _check_generation(connection: Any, consumer_id: str, generation: int) -> None:
    """In a transaction: OffsetWasReset unless the stored reset generation is ``generation``
    (the row stays locked until commit, so a reset waits for this write)."""
    actual = await connection.fetchval(
        "SELECT generation FROM consumer_offsets WHERE consumer_id = $1 FOR UPDATE", consumer_id
    )
    actual = 0 if actual is None else int(actual)
    if actual != generation:
        raise OffsetWasReset(consumer_id, generation, actual)


async def _write_view_rows(connection: Any, updates: Mapping[str, Sequence[ViewRow]]) -> None:
    upserts = [
        (view, row.key, row.payload, *(_numeric(row.columns.get(slot)) for slot in VIEW_SLOTS))
        for view, rows in updates.items()
        for row in rows
        if row.payload is not None
    ]
    deletes = [
        (view, row.key) for view, rows in updates.items() for row in rows if row.payload is None
    ]
    if deletes:
        await connection.executemany(
            "DELETE FROM view_rows WHERE view_id = $1 AND row_key = $2", deletes
        )
    if upserts:
        await connection.executemany(upsert_sql(Placeholders.DOLLAR), upserts)


async def _lock_view_generations(connection: Any, views: list[str]) -> dict[str, ViewGeneration]:
    """In a transaction: the generations of ``views`` (sorted), their rows created if missing
    and locked until commit (a rebuild's start and its swap run one at a time)."""
    await connection.execute(
        "INSERT INTO view_generations (view_id, active) SELECT unnest($1::text[]), 0 "
        "ON CONFLICT (view_id) DO NOTHING",
        views,
    )
    rows = await connection.fetch(
        "SELECT view_id, active, building FROM view_generations "
        "WHERE view_id = ANY($1::text[]) ORDER BY view_id FOR UPDATE",
        views,
    )
    return {row[0]: ViewGeneration(int(row[1]), row[2]) for row in rows}


def _settle(future: asyncio.Future[int], result: int | BaseException) -> None:
    # The caller may have been cancelled meanwhile; the write stands anyway.
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    state = getattr(error, "sqlstate", None)
    return f"{text} (SQLSTATE {state})" if state else text


def _numeric(value: Any) -> Any:
    """NUMERIC parameters as Decimal (asyncpg's numeric codec); text and None unchanged."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return value
