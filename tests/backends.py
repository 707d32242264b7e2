"""Store backends the end-to-end tests run on, and fresh stores of each (see tests/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BACKENDS = tuple(
    name.strip()
    for name in os.environ.get("CLOUDSTATE_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if name.strip()
)


def schema_url(base: str, schema: str) -> str:
    """``base`` (a PostgreSQL URL) with ``schema`` selected: a private, empty store."""
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def new_store_url(backend: str, directory: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of ``backend``: a SQLite file in ``directory`` or a new PostgreSQL
    schema. For fixtures of any scope (module-scoped ones parametrise with ``BACKENDS``)."""
    if backend == "sqlite":
        return f"sqlite:///{directory}/proxy.db"
    if backend == "postgresql":
        return schema_url(
            str(request.getfixturevalue("postgres_url")), f"t_{uuid.uuid4().hex[:16]}"
        )
    raise ValueError(f"unknown store backend {backend!r} in CLOUDSTATE_TEST_BACKENDS")


@contextlib.contextmanager
def sqlite_writes_held(store_url: str, committed: Callable[[], bool]) -> Iterator[None]:
    """Hold the write lock of the SQLite store at ``store_url`` from outside its proxy: the
    proxy's commits wait (up to the store's busy timeout, 5 s) until the block ends, then go
    through. Reads are not blocked (WAL).

    ``committed`` says whether the store already holds what the test wrote before: the lock is
    taken only then. A proxy that releases replies before committing (what these tests look for)
    may still be writing the previous reply's state, and holding the lock then would stall its
    entity on that write instead of showing the early reply."""
    prefix = "sqlite:///"
    assert store_url.startswith(prefix), store_url
    deadline = time.monotonic() + 10
    while not committed():
        assert time.monotonic() < deadline, "the previous write was never committed"
        time.sleep(0.02)
    connection = sqlite3.connect(store_url[len(prefix) :], isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def run_sql(store_url: str, sql: str, *args: object) -> int:
    """Run one statement on the store at ``store_url`` behind its proxy's back (to damage it as
    a hand edit or a bad restore would) and return the rows it changed. ``sql`` uses ``?``
    placeholders on both backends; on PostgreSQL it runs in the URL's schema."""
    if store_url.startswith("sqlite:///"):
        with sqlite3.connect(store_url[len("sqlite:///") :].partition("?")[0]) as connection:
            changed = connection.execute(sql, args).rowcount
        connection.close()
        return int(changed)
    import asyncio
    import re

    import asyncpg

    from cloudstate.proxy.stores.postgres import PostgresStore

    target = PostgresStore.from_url(store_url)
    numbered = iter(range(1, sql.count("?") + 1))
    statement = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)

    async def run() -> int:
        connection = await asyncpg.connect(target.dsn)
        try:
            await connection.execute(f'SET search_path TO "{target.schema}"')
            status = await connection.execute(statement, *args)
        finally:
            await connection.close()
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    return asyncio.run(run())
