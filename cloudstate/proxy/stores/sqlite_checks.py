"""Start-up checks of an SQLite store file: is it a sound cloudstate database, or a new one?

A SQLite file opened blindly turns damage into wrong answers: a 0-byte file (a truncated copy, a
failed restore) becomes a new, empty store and every entity answers as if it had never been
written; a file of another application gains our tables; a file with damaged pages serves what
is left of them. So :class:`~cloudstate.proxy.stores.sqlite.SqliteStore` checks, before use:

* **a missing file** is created — whole, or not at all: the schema is built in a temporary file
  next to it that is then linked into place (:func:`create_database`), so a crash during the
  first start never leaves a 0-byte or half-made file that the next start would have to refuse;
* **an existing file** must start with the SQLite header (:func:`check_file`); a 0-byte file is
  refused unless the URL says ``adopt=true``;
* **its pages** pass ``PRAGMA quick_check`` (``integrity=quick``, the default; ``full`` runs
  ``integrity_check``, which also compares every index with its table; ``off`` skips it), see
  :func:`check_integrity`. Both read the whole file: 0.8 s (quick) and 1.7-2.7 s (full) for a
  424 MB file in the page cache on the development machine (docs/proxy-configuration.md);
* **its schema**: a file without a cloudstate schema version (``PRAGMA user_version`` 0) is
  refused unless ``adopt=true`` (:func:`check_not_foreign`); one newer than this proxy knows is
  refused; after migrating, every table of the schema has exactly its columns
  (:func:`check_schema`).

Every refusal is a :class:`~cloudstate.proxy.stores.base.StoreRefused` naming the file, what was
found and what to do.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

from cloudstate.proxy.stores.base import StoreRefused

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"

#: ``integrity=`` URL values and the PRAGMA each runs at start ("" runs none).
INTEGRITY_CHECKS = {"quick": "quick_check", "full": "integrity_check", "off": ""}

#: Problems an integrity check reports at most (the first few say enough).
_MAX_PROBLEMS = 10

_RESTORE = "restore it from a backup"
_ADOPT = "add ?adopt=true to the store URL"


def check_file(path: Path, adopt: bool) -> None:
    """Refuse an existing file at ``path`` that is empty (unless ``adopt``) or not SQLite."""
    size = path.stat().st_size
    if size == 0:
        if adopt:
            return
        raise StoreRefused(
            f"{path} is empty (0 bytes), not a cloudstate store: an empty file where a store "
            f"was expected usually means its data was lost (a truncated copy, a failed "
            f"restore). Stop and {_RESTORE}; to start a new, empty store in this file, "
            f"{_ADOPT}"
        )
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise StoreRefused(
            f"{path} is not an SQLite database (it does not start with the SQLite header; "
            f"{size} bytes): point the store URL at the cloudstate database, or if this is it, "
            f"its first page is damaged: {_RESTORE}"
        )


def check_integrity(connection: sqlite3.Connection, path: Path, mode: str) -> None:
    """Run the PRAGMA of ``mode`` (:data:`INTEGRITY_CHECKS`); refuse a file that fails it."""
    pragma = INTEGRITY_CHECKS[mode]
    if not pragma:
        return
    try:
        problems = [str(row[0]) for row in connection.execute(f"PRAGMA {pragma}({_MAX_PROBLEMS})")]
    except sqlite3.OperationalError:
        raise  # busy, locked, I/O: not a verdict on the file
    except sqlite3.DatabaseError as error:  # so damaged that the check itself fails
        problems = [str(error)]
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
        raise StoreRefused(
            f"{path} is damaged: PRAGMA {pragma} reports {shown}. Stop and {_RESTORE} (or "
            f"salvage what is readable with `sqlite3 {path} .recover`); to serve it anyway, "
            "add ?integrity=off to the store URL"
        )


def check_not_foreign(connection: sqlite3.Connection, path: Path, adopt: bool) -> None:
    """At schema version 0 (``user_version`` unset): refuse the file unless ``adopt``. The
    proxy never leaves such a file itself (:func:`create_database`), so it is another
    application's database, or an empty one where a store was expected."""
    if adopt:
        return
    tables = [
        str(row[0])
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
    ]
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreRefused(
            f"{path} is an SQLite database but not a cloudstate store: it has no cloudstate "
            f"schema version (PRAGMA user_version is 0) and holds other tables ({shown}). "
            f"Point the store URL at the cloudstate database; to add cloudstate's tables to "
            f"this one, {_ADOPT}"
        )
    raise StoreRefused(
        f"{path} is an empty SQLite database without a cloudstate schema (PRAGMA user_version "
        f"is 0, no tables): an empty file where a store was expected usually means its data "
        f"was lost. Stop and {_RESTORE}; to start a new, empty store in this file, {_ADOPT}"
    )


@functools.cache
def expected_columns(migrations: tuple[tuple[str, ...], ...]) -> dict[str, frozenset[str]]:
    """The columns of every table ``migrations`` create (built once, in memory)."""
    connection = sqlite3.connect(":memory:")
    try:
        for step in migrations:
            for statement in step:
                connection.execute(statement)
        return _columns(connection, [str(row[0]) for row in _tables(connection)])
    finally:
        connection.close()


def check_schema(
    connection: sqlite3.Connection, path: Path, migrations: tuple[tuple[str, ...], ...]
) -> None:
    """After migrating: every table of the schema exists with exactly its columns."""
    expected = expected_columns(migrations)
    actual = _columns(connection, list(expected))
    problems = []
    for table, columns in expected.items():
        found = actual[table]
        if not found:
            problems.append(f"table {table} is missing")
        elif found != columns:
            missing, extra = sorted(columns - found), sorted(found - columns)
            problems.append(
                f"table {table} has the wrong columns"
                + (f" (missing {', '.join(missing)})" if missing else "")
                + (f" (unknown {', '.join(extra)})" if extra else "")
            )
    if problems:
        raise StoreRefused(
            f"{path} has cloudstate schema version {len(migrations)} but "
            + "; ".join(problems)
            + f": it was changed by something other than cloudstate. Stop and {_RESTORE}"
        )


def _tables(connection: sqlite3.Connection) -> sqlite3.Cursor:
    return connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )


def _columns(connection: sqlite3.Connection, tables: list[str]) -> dict[str, frozenset[str]]:
    quoted = {table: '"' + table.replace('"', '""') + '"' for table in tables}
    return {
        table: frozenset(str(row[1]) for row in connection.execute(f"PRAGMA table_info({name})"))
        for table, name in quoted.items()
    }


def create_database(path: Path, initialize: Callable[[sqlite3.Connection], None]) -> None:
    """Create the store file at ``path`` whole: ``initialize`` builds the schema in a temporary
    file beside it, which is then hard-linked to ``path`` (never replacing a file another
    process created meanwhile: that one is used instead) and fsync'd with its directory."""
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            initialize(connection)
        finally:
            connection.close()  # the last connection: its WAL is checkpointed and removed
        with temporary.open("rb") as file:
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return  # another process created it first
        except OSError:  # no hard links here (some network or FAT file systems): rename
            if path.exists():
                return
            os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        for leftover in [temporary.with_name(temporary.name + end) for end in ("", "-wal", "-shm")]:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
