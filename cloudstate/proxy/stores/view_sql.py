"""SQL for view queries, shared by the SQLite and PostgreSQL stores.

A :class:`~cloudstate.proxy.stores.base.ViewSelect` becomes one parameterised ``SELECT`` on the
``view_rows`` table: slot names and operators come from fixed lists (checked), every value is a
parameter. Example::

    sql, args = select_sql(ViewSelect((ViewFilter("s1", "=", "alice"),), (("n1", True),), 10),
                           "carts-v1", Placeholders.QMARK)
    # SELECT payload FROM view_rows WHERE view_id = <active generation of ?> AND s1 = ?
    #   ORDER BY n1 DESC, row_key LIMIT ? OFFSET ?
    # with args ["carts-v1", "carts-v1", "alice", 10, 0]
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from cloudstate.proxy.stores.base import ViewSelect


class Placeholders(enum.Enum):
    QMARK = "?"  # sqlite3
    DOLLAR = "$"  # asyncpg: $1, $2, ...


def select_sql(
    select: ViewSelect,
    view: str,
    style: Placeholders,
    number: Callable[[Any], Any] = lambda value: value,
) -> tuple[str, list[Any]]:
    """The statement and its arguments for ``select`` on ``view``; ``number`` converts the
    values compared with numeric slots (asyncpg wants Decimal for NUMERIC)."""
    select.check()
    args: list[Any] = []

    def param(value: Any) -> str:
        args.append(value)
        return "?" if style is Placeholders.QMARK else f"${len(args)}"

    # The active generation's rows (base.view_generation_id), resolved in this very statement so
    # a query never straddles a rebuild's swap.
    named = param(view)
    fallback = named if style is Placeholders.DOLLAR else param(view)
    resolved = (
        "COALESCE((SELECT CASE WHEN active > 0 THEN view_id || '~g' || active END "
        f"FROM view_generations WHERE view_id = {named}), {fallback})"
    )
    where = [f"view_id = {resolved}"]
    for f in select.filters:
        convert = number if f.slot.startswith("n") else _same
        if f.op == "IN":
            values = [convert(v) for v in (f.value if isinstance(f.value, tuple) else [f.value])]
            if style is Placeholders.DOLLAR:
                cast = "numeric[]" if f.slot.startswith("n") else "text[]"
                where.append(f"{f.slot} = ANY({param(values)}::{cast})")
            elif values:
                where.append(f"{f.slot} IN ({', '.join(param(v) for v in values)})")
            else:
                where.append("0 = 1")
        else:
            where.append(f"{f.slot} {f.op} {param(convert(f.value))}")
    order = [f"{slot} {'DESC' if descending else 'ASC'}" for slot, descending in select.order_by]
    order.append("row_key ASC")
    sql = f"SELECT payload FROM view_rows WHERE {' AND '.join(where)} ORDER BY {', '.join(order)}"
    if select.limit is not None or select.offset:
        limit = select.limit if select.limit is not None else -1
        if style is Placeholders.DOLLAR and limit < 0:
            sql += f" OFFSET {param(select.offset)}"
        else:
            sql += f" LIMIT {param(limit)} OFFSET {param(select.offset)}"
    return sql, args


def upsert_sql(style: Placeholders) -> str:
    """Insert or replace one row: (view_id, row_key, payload, s1..s4, n1..n4)."""
    names = "view_id, row_key, payload, s1, s2, s3, s4, n1, n2, n3, n4"
    if style is Placeholders.QMARK:
        values = ", ".join("?" * 11)
    else:
        values = ", ".join(f"${i}" for i in range(1, 12))
    updates = ", ".join(f"{c} = excluded.{c}" for c in names.split(", ")[2:])
    return (
        f"INSERT INTO view_rows ({names}) VALUES ({values}) "
        f"ON CONFLICT (view_id, row_key) DO UPDATE SET {updates}"
    )


def _same(value: Any) -> Any:
    return value
