"""A store checks itself at start (issue 22): an empty, foreign, damaged or unknown store is
refused with a message naming it and the option that overrides the check, instead of being
served as a new, empty store; a missing store is still created, whole.

SQLite files are damaged with the ``sqlite3`` module and plain file writes; the PostgreSQL
equivalents (a schema of another application, version rows wiped, our table with other
columns) with asyncpg."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from cloudstate.proxy.stores import sqlite_checks
from cloudstate.proxy.stores.base import StoreRefused
from cloudstate.proxy.stores.contract import event, state
from cloudstate.proxy.stores.postgres import PostgresStore
from cloudstate.proxy.stores.postgres_schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from cloudstate.proxy.stores.postgres_schema import VERSION_TABLE
from cloudstate.proxy.stores.registry import open_store
from cloudstate.proxy.stores.sqlite import SCHEMA_VERSION, SqliteStore


async def refused(url: str) -> str:
    """The message of the StoreRefused that opening ``url`` raises."""
    with pytest.raises(StoreRefused) as error:
        store = await open_store(url)
        await store.close()
    return str(error.value)


async def write_a_cart(url: str, entity_id: str = "alice") -> None:
    store = await open_store(url)
    try:
        await store.append_events("carts", entity_id, 0, [event(1), event(2)], snapshot=state(2))
    finally:
        await store.close()


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def damage_pages(path: Path, table: str, count: int = 2) -> list[int]:
    """Overwrite ``count`` pages of ``table``'s b-tree (not its root) with random bytes, as a
    failing disk or a bad copy would; the file header and schema stay intact."""
    with sqlite3.connect(path) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = [
            row[0]
            for row in connection.execute(
                "SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,)
            )
        ][1 : count + 1]
    connection.close()
    assert len(pages) == count, f"{table} has too few pages to damage"
    noise = random.Random(22)
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * page_size)
            file.write(bytes(noise.randrange(256) for _ in range(page_size)))
    return pages


# -- SQLite ------------------------------------------------------------------------------------


async def test_a_missing_file_is_created_whole(tmp_path: Path) -> None:
    path = tmp_path / "new" / "store.db"
    await write_a_cart(f"sqlite:///{path}")
    # Built beside it and linked into place: nothing else is left in the directory.
    assert files_in(path.parent) == ["store.db"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.close()


async def test_a_failed_creation_leaves_no_file(tmp_path: Path) -> None:
    # A crash during the first start must not leave an empty file the next start would refuse.
    path = tmp_path / "store.db"

    def crash(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE half (x)")
        raise RuntimeError("crashed while creating")

    with pytest.raises(RuntimeError):
        sqlite_checks.create_database(path, crash)
    assert files_in(tmp_path) == []
    await write_a_cart(f"sqlite:///{path}")


async def test_stores_starting_together_on_a_new_file_share_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    stores = await asyncio.gather(*(open_store(url) for _ in range(4)))
    try:
        await stores[0].append_events("carts", "alice", 0, [event(1)])
        for store in stores:
            assert await store.highest_sequence("carts", "alice") == 1
    finally:
        for store in stores:
            await store.close()


async def test_a_zero_byte_file_is_refused_unless_adopted(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await write_a_cart(f"sqlite:///{path}")
    path.write_bytes(b"")  # truncated: a bad copy, a failed restore
    message = await refused(f"sqlite:///{path}")
    assert message.startswith(f"{path} is empty (0 bytes), not a cloudstate store"), message
    assert "add ?adopt=true to the store URL" in message
    assert path.stat().st_size == 0  # nothing was created over it
    # Told to: a new, empty store in that file.
    store = await open_store(f"sqlite:///{path}?adopt=true")
    try:
        assert await store.highest_sequence("carts", "alice") == 0
    finally:
        await store.close()
    await write_a_cart(f"sqlite:///{path}", "bob")  # and from then on it is a cloudstate store


async def test_a_file_that_is_not_sqlite_is_refused_even_when_adopted(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"not a database\n" * 100)
    for url in (f"sqlite:///{path}", f"sqlite:///{path}?adopt=true"):
        message = await refused(url)
        assert message.startswith(f"{path} is not an SQLite database"), message
    assert path.read_bytes() == b"not a database\n" * 100


async def test_another_applications_database_is_refused_unless_adopted(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO customers (name) VALUES ('Ada')")
    connection.close()
    message = await refused(f"sqlite:///{path}")
    assert message.startswith(f"{path} is an SQLite database but not a cloudstate store"), message
    assert "(customers)" in message and "add ?adopt=true" in message
    await write_a_cart(f"sqlite:///{path}?adopt=1")  # adopted: our tables beside theirs
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM customers").fetchall() == [("Ada",)]
        assert connection.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2
    connection.close()


async def test_an_empty_sqlite_database_is_refused_unless_adopted(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE scratch (x)")
        connection.execute("DROP TABLE scratch")
    connection.close()
    assert path.stat().st_size > 0
    message = await refused(f"sqlite:///{path}")
    assert "is an empty SQLite database without a cloudstate schema" in message, message
    await write_a_cart(f"sqlite:///{path}?adopt=true")


@pytest.mark.parametrize(
    ("mode", "pragma"), [("quick", "quick_check"), ("full", "integrity_check")]
)
async def test_a_file_with_damaged_pages_is_refused(tmp_path: Path, mode: str, pragma: str) -> None:
    path = tmp_path / "store.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        for n in range(60):  # enough events for the table to span several pages
            await store.append_events("carts", f"user-{n}", 0, [event(i) for i in range(5)])
    finally:
        await store.close()
    damage_pages(path, "events")
    suffix = "" if mode == "quick" else "?integrity=full"
    message = await refused(f"sqlite:///{path}{suffix}")
    assert message.startswith(f"{path} is damaged: PRAGMA {pragma} reports "), message
    assert "restore it from a backup" in message and "?integrity=off" in message
    # Told to, the proxy serves what is left (the operator's choice, e.g. to salvage it).
    store = await open_store(f"sqlite:///{path}?integrity=off")
    await store.close()


async def test_a_table_with_other_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await write_a_cart(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE snapshots RENAME COLUMN payload TO data")
        connection.execute("DROP TABLE idempotency")
    connection.close()
    message = await refused(f"sqlite:///{path}")
    assert message == (
        f"{path} has cloudstate schema version {SCHEMA_VERSION} but table idempotency is "
        "missing; table snapshots has the wrong columns (missing payload) (unknown data): it "
        "was changed by something other than cloudstate. Stop and restore it from a backup"
    )


async def test_a_newer_schema_version_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await write_a_cart(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    connection.close()
    message = await refused(f"sqlite:///{path}?adopt=true")
    assert f"schema version {SCHEMA_VERSION + 3}, newer than this proxy's {SCHEMA_VERSION}" in (
        message
    )


def test_sqlite_url_options() -> None:
    store = SqliteStore.from_url("sqlite:///data/cs.db?adopt=true&integrity=full")
    assert (str(store.path), store.adopt, store.integrity) == ("data/cs.db", True, "full")
    store = SqliteStore.from_url("sqlite:////abs/cs.db")
    assert (str(store.path), store.adopt, store.integrity) == ("/abs/cs.db", False, "quick")
    with pytest.raises(ValueError, match="integrity='fast': one of quick, full, off"):
        SqliteStore.from_url("sqlite:///cs.db?integrity=fast")
    with pytest.raises(ValueError, match="bad option create='yes'"):
        SqliteStore.from_url("sqlite:///cs.db?create=yes")
    with pytest.raises(ValueError, match="bad option adopt='maybe'"):
        SqliteStore.from_url("sqlite:///cs.db?adopt=maybe")


# -- PostgreSQL ----------------------------------------------------------------------------------


async def admin(url: str) -> tuple[asyncpg.Connection, str]:
    """A raw connection to the server of ``url`` and the quoted schema name."""
    target = PostgresStore.from_url(url)
    return await asyncpg.connect(target.dsn), f'"{target.schema}"'


async def test_pg_an_empty_existing_schema_is_initialized(fresh_postgres_url: str) -> None:
    # Operators often create the schema (and its grants) before the first start.
    connection, schema = await admin(fresh_postgres_url)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
    finally:
        await connection.close()
    await write_a_cart(fresh_postgres_url)


async def test_pg_a_schema_of_another_application_is_refused_unless_adopted(
    fresh_postgres_url: str,
) -> None:
    connection, schema = await admin(fresh_postgres_url)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        await connection.execute(f"CREATE TABLE {schema}.customers (id INT, name TEXT)")
        await connection.execute(f"INSERT INTO {schema}.customers VALUES (1, 'Ada')")
        message = await refused(fresh_postgres_url)
        assert f"the database schema {schema.strip(chr(34))!r} holds tables (customers)" in (
            message
        ), message
        assert "add adopt=true to the store URL" in message
        await write_a_cart(fresh_postgres_url + "&adopt=true")
        assert await connection.fetchval(f"SELECT name FROM {schema}.customers") == "Ada"
        assert await connection.fetchval(f"SELECT COUNT(*) FROM {schema}.events") == 2
    finally:
        await connection.close()


async def test_pg_a_store_whose_version_rows_were_wiped_is_refused(
    fresh_postgres_url: str,
) -> None:
    # The equivalent of a 0-byte file: the data is there, what says it is ours is not. Not a new
    # store: refused (and adopting it fails on our own tables, which exist already).
    await write_a_cart(fresh_postgres_url)
    connection, schema = await admin(fresh_postgres_url)
    try:
        await connection.execute(f"TRUNCATE {schema}.{VERSION_TABLE}")
    finally:
        await connection.close()
    message = await refused(fresh_postgres_url)
    assert "but no cloudstate schema version" in message and "events" in message, message


async def test_pg_a_table_with_other_columns_is_refused(fresh_postgres_url: str) -> None:
    await write_a_cart(fresh_postgres_url)
    connection, schema = await admin(fresh_postgres_url)
    try:
        await connection.execute(f"ALTER TABLE {schema}.snapshots RENAME COLUMN payload TO data")
        await connection.execute(f"ALTER TABLE {schema}.events ADD COLUMN note TEXT")
    finally:
        await connection.close()
    message = await refused(fresh_postgres_url)
    assert (
        f"has cloudstate schema version {PG_SCHEMA_VERSION} but table events has the wrong "
        "columns (unknown note); table snapshots has the wrong columns (missing payload) "
        "(unknown data): it was changed by something other than cloudstate"
    ) in message, message


async def test_pg_a_newer_schema_version_is_refused_naming_both(fresh_postgres_url: str) -> None:
    await write_a_cart(fresh_postgres_url)
    connection, schema = await admin(fresh_postgres_url)
    try:
        await connection.execute(
            f"INSERT INTO {schema}.{VERSION_TABLE} (version) VALUES ($1)", PG_SCHEMA_VERSION + 2
        )
    finally:
        await connection.close()
    message = await refused(fresh_postgres_url)
    assert (
        f"has schema version {PG_SCHEMA_VERSION + 2}, newer than this proxy's "
        f"{PG_SCHEMA_VERSION}: it was written by a later version of cloudstate; upgrade the proxy"
    ) in message, message


def test_pg_url_adopt_option() -> None:
    assert PostgresStore.from_url("postgresql://h/db?schema=s&adopt=true").adopt is True
    store = PostgresStore.from_url("postgresql://h/db?adopt=0&sslmode=disable")
    assert store.adopt is False and store.dsn == "postgresql://h/db?sslmode=disable"
    with pytest.raises(ValueError, match="bad adopt='perhaps'"):
        PostgresStore.from_url("postgresql://h/db?adopt=perhaps")
