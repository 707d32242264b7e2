"""Reading a store's tables with SQL behind the proxy's back (SQLite or PostgreSQL), to check
what is physically stored."""

from __future__ import annotations

import asyncio
import re
import sqlite3


def query(store_url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """The rows of ``sql`` (``?`` placeholders on both backends) on the store at ``store_url``."""
    if store_url.startswith("sqlite:///"):
        connection = sqlite3.connect(store_url[len("sqlite:///") :].partition("?")[0])
        try:
            return [tuple(row) for row in connection.execute(sql, args)]
        finally:
            connection.close()
    import asyncpg

    from cloudstate.proxy.stores.postgres import PostgresStore

    target = PostgresStore.from_url(store_url)
    numbered = iter(range(1, sql.count("?") + 1))
    statement = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)

    async def run() -> list[tuple[object, ...]]:
        connection = await asyncpg.connect(target.dsn)
        try:
            await connection.execute(f'SET search_path TO "{target.schema}"')
            return [tuple(row) for row in await connection.fetch(statement, *args)]
        finally:
            await connection.close()

    return asyncio.run(run())


def stored_sequences(store_url: str, persistence_id: str, entity_id: str) -> list[int]:
    """The sequences of the entity's rows in the events table, in order."""
    rows = query(
        store_url,
        "SELECT sequence FROM events WHERE persistence_id = ? AND entity_id = ? ORDER BY sequence",
        persistence_id,
        entity_id,
    )
    return [int(str(row[0])) for row in rows]


def snapshot_rows(store_url: str, persistence_id: str, entity_id: str) -> list[tuple[object, ...]]:
    """The entity's rows in the snapshots table: ``(sequence, type_url)``."""
    return query(
        store_url,
        "SELECT sequence, type_url FROM snapshots WHERE persistence_id = ? AND entity_id = ?",
        persistence_id,
        entity_id,
    )
