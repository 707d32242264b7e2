"""The view query language: parser, checks against descriptors, and translation to SQL."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2
from hypothesis import given
from hypothesis import strategies as st

from cloudstate.proxy.errors import BadRequest, DiscoveryError
from cloudstate.proxy.stores.base import ViewFilter, ViewSelect
from cloudstate.proxy.stores.view_sql import Placeholders, select_sql
from cloudstate.proxy.views.compile import TableLayout, compile_query
from cloudstate.proxy.views.query import (
    Condition,
    Literal,
    Order,
    Param,
    ParsedQuery,
    QuerySyntaxError,
    parse_query,
)
from tests.views.model import pb

PARSED = [
    ("SELECT * FROM t", ParsedQuery("t")),
    ("select * from t", ParsedQuery("t")),
    ("SELECT * AS rows FROM t", ParsedQuery("t", "rows")),
    (
        "SELECT * FROM t WHERE a = :x AND b.c != 'it''s' AND d <> 3 AND e < -1.5 AND f >= TRUE",
        ParsedQuery(
            "t",
            conditions=(
                Condition("a", "=", Param("x")),
                Condition("b.c", "!=", Literal("it's")),
                Condition("d", "!=", Literal(3)),
                Condition("e", "<", Literal(-1.5)),
                Condition("f", ">=", Literal(True)),
            ),
        ),
    ),
    (
        "SELECT * FROM t WHERE a IN :ids AND b <= :p.q",
        ParsedQuery(
            "t", conditions=(Condition("a", "IN", Param("ids")), Condition("b", "<=", Param("p.q")))
        ),
    ),
    (
        "SELECT * FROM t ORDER BY a DESC, b ASC, c LIMIT 10 OFFSET :skip",
        ParsedQuery(
            "t",
            order_by=(Order("a", True), Order("b", False), Order("c", False)),
            limit=10,
            offset=Param("skip"),
        ),
    ),
    ("SELECT * FROM t LIMIT :n", ParsedQuery("t", limit=Param("n"))),
    (
        "SELECT * FROM t WHERE a LIKE 'it''s%' AND b like :p",
        ParsedQuery(
            "t",
            conditions=(
                Condition("a", "LIKE", Literal("it's")),
                Condition("b", "LIKE", Param("p")),
            ),
        ),
    ),
    ("SELECT * FROM t OFFSET 5", ParsedQuery("t", offset=5)),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse(text: str, expected: ParsedQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "token", "position"),
    [
        ("", "end of query", 0),
        ("SELECT", "end of query", 6),
        ("SELECT a FROM t", "a", 7),
        ("SELECT * FROM", "end of query", 13),
        ("SELECT * FROM where", "where", 14),
        ("SELECT * FROM t WHERE a", "end of query", 23),
        ("SELECT * FROM t WHERE a = ", "end of query", 26),
        ("SELECT * FROM t WHERE a IN 'x'", "'x'", 27),
        ("SELECT * FROM t WHERE a = b", "b", 26),
        ("SELECT * FROM t ORDER a", "a", 22),
        ("SELECT * FROM t LIMIT 1.5", "1.5", 22),
        ("SELECT * FROM t LIMIT 1 LIMIT 2", "LIMIT", 24),
        ("SELECT * FROM t OFFSET 1 LIMIT 2", "LIMIT", 25),
        ("SELECT * FROM t WHERE a = 'open", "'", 26),
        ("SELECT * FROM t; DROP TABLE x", ";", 15),
        ("SELECT * FROM t WHERE a LIKE 'x'", "'x'", 29),
        ("SELECT * FROM t WHERE a LIKE '%x%'", "'%x%'", 29),
        ("SELECT * FROM t WHERE a LIKE 'x_%'", "'x_%'", 29),
        ("SELECT * FROM t WHERE a LIKE 3", "3", 29),
    ],
)
def test_syntax_errors_name_the_token_and_position(text: str, token: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        parse_query(text)
    assert (error.value.token, error.value.position) == (token, position)
    assert f"position {position}" in str(error.value)


names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: (
        n.upper()
        not in {
            "SELECT",
            "AS",
            "FROM",
            "WHERE",
            "AND",
            "ORDER",
            "BY",
            "ASC",
            "DESC",
            "LIMIT",
            "OFFSET",
            "IN",
            "TRUE",
            "FALSE",
        }
    )
)
literals = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
)


def render(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


@given(
    table=names,
    conditions=st.lists(
        st.tuples(
            names,
            st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
            st.one_of(names.map(Param), literals.map(Literal)),
        ),
        max_size=4,
    ),
    order=st.lists(st.tuples(names, st.booleans()), max_size=3),
    limit=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_rendered_queries_parse_back(
    table: str,
    conditions: list[tuple[str, str, Param | Literal]],
    order: list[tuple[str, bool]],
    limit: int | None,
) -> None:
    text = f"SELECT * FROM {table}"
    if conditions:
        parts = [
            f"{c} {op} " + (f":{o.path}" if isinstance(o, Param) else render(o.value))
            for c, op, o in conditions
        ]
        text += " WHERE " + " AND ".join(parts)
    if order:
        text += " ORDER BY " + ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in order)
    if limit is not None:
        text += f" LIMIT {limit}"
    parsed = parse_query(text)
    assert parsed.table == table
    assert [(c.column, c.op, c.operand) for c in parsed.conditions] == conditions
    assert [(o.column, o.descending) for o in parsed.order_by] == order
    assert parsed.limit == limit


def compiled(text: str):  # type: ignore[no-untyped-def]
    parsed = parse_query(text)
    layout = TableLayout.for_queries("products", pb.Product.DESCRIPTOR, [("q", parsed)])
    return compile_query(text, parsed, layout, pb.TopRequest.DESCRIPTOR, "q")


def test_binding_a_request() -> None:
    query = compiled(
        "SELECT * FROM products WHERE quantity >= :min_quantity AND name != 'x' "
        "AND details.organic = TRUE ORDER BY quantity DESC LIMIT :count OFFSET :skip"
    )
    select = query.bind(pb.TopRequest(count=5, skip=10, min_quantity=3))
    assert select == ViewSelect(
        (ViewFilter("n1", ">=", 3), ViewFilter("s1", "!=", "x"), ViewFilter("n2", "=", 1)),
        (("n1", True),),
        5,
        10,
    )
    assert query.bind(pb.TopRequest()).limit is None  # an unset (0) LIMIT parameter: no limit
    with pytest.raises(BadRequest, match="LIMIT must not be negative"):
        query.bind(pb.TopRequest(count=-1))
    with pytest.raises(BadRequest, match="OFFSET must not be negative"):
        query.bind(pb.TopRequest(skip=-1))
    assert compiled("SELECT * FROM products LIMIT 0").bind(pb.TopRequest()).limit == 0


def test_at_most_four_columns_of_a_kind_per_table() -> None:
    row = descriptor_pb2.FieldDescriptorProto.DESCRIPTOR  # five string fields
    four = parse_query(
        "SELECT * FROM t WHERE name = 'a' AND extendee = 'b' AND type_name = 'c' "
        "ORDER BY default_value"
    )
    assert len(TableLayout.for_queries("t", row, [("q1", four)]).slots) == 4
    five = parse_query("SELECT * FROM t ORDER BY json_name")
    with pytest.raises(DiscoveryError, match="q2: column 'json_name' is one text column too many"):
        TableLayout.for_queries("t", row, [("q1", four), ("q2", five)])


def test_layout_signature_changes_with_the_indexed_columns() -> None:
    a = TableLayout.for_queries(
        "t", pb.Product.DESCRIPTOR, [("q", parse_query("SELECT * FROM t ORDER BY name"))]
    )
    b = TableLayout.for_queries(
        "t", pb.Product.DESCRIPTOR, [("q", parse_query("SELECT * FROM t ORDER BY price"))]
    )
    same = TableLayout.for_queries(
        "t", pb.Product.DESCRIPTOR, [("x", parse_query("SELECT * FROM t ORDER BY name DESC"))]
    )
    assert a.signature != b.signature and a.signature == same.signature


# The view's active generation, resolved in the statement (a rebuild's swap is atomic for it).
QMARK_VIEW = (
    "SELECT payload FROM view_rows WHERE view_id = COALESCE((SELECT CASE WHEN active > 0 THEN "
    "view_id || '~g' || active END FROM view_generations WHERE view_id = ?), ?)"
)
DOLLAR_VIEW = (
    "SELECT payload FROM view_rows WHERE view_id = COALESCE((SELECT CASE WHEN active > 0 THEN "
    "view_id || '~g' || active END FROM view_generations WHERE view_id = $1), $1)"
)


@pytest.mark.parametrize(
    ("select", "style", "sql", "args"),
    [
        (
            ViewSelect(),
            Placeholders.QMARK,
            QMARK_VIEW + " ORDER BY row_key ASC",
            ["v", "v"],
        ),
        (
            ViewSelect(
                (ViewFilter("s1", "=", "a"), ViewFilter("n2", "IN", (1, 2))), (("n1", True),), 10, 5
            ),
            Placeholders.QMARK,
            QMARK_VIEW + " AND s1 = ? AND n2 IN (?, ?) "
            "ORDER BY n1 DESC, row_key ASC LIMIT ? OFFSET ?",
            ["v", "v", "a", 1, 2, 10, 5],
        ),
        (
            ViewSelect((ViewFilter("s1", "IN", ("a", "b")), ViewFilter("n1", "<", 3))),
            Placeholders.DOLLAR,
            DOLLAR_VIEW + " AND s1 = ANY($2::text[]) AND n1 < $3 ORDER BY row_key ASC",
            ["v", ["a", "b"], 3],
        ),
        (
            ViewSelect(offset=7),
            Placeholders.DOLLAR,
            DOLLAR_VIEW + " ORDER BY row_key ASC OFFSET $2",
            ["v", 7],
        ),
        (
            ViewSelect((ViewFilter("s1", "IN", ()),), limit=3),
            Placeholders.QMARK,
            QMARK_VIEW + " AND 0 = 1 ORDER BY row_key ASC LIMIT ? OFFSET ?",
            ["v", "v", 3, 0],
        ),
    ],
)
def test_translation_to_sql(
    select: ViewSelect, style: Placeholders, sql: str, args: list[object]
) -> None:
    assert select_sql(select, "v", style) == (sql, args)


def test_translation_refuses_unknown_slots_and_operators() -> None:
    with pytest.raises(ValueError):
        select_sql(ViewSelect((ViewFilter("payload", "=", 1),)), "v", Placeholders.QMARK)
    with pytest.raises(ValueError):
        select_sql(ViewSelect((ViewFilter("s1", "LIKE", "a%"),)), "v", Placeholders.QMARK)
    with pytest.raises(ValueError):
        select_sql(
            ViewSelect(order_by=(("s1; DROP TABLE view_rows", False),)), "v", Placeholders.QMARK
        )


@pytest.mark.parametrize(
    ("prefix", "bounds"),
    [
        ("ab", [(">=", "ab"), ("<", "ac")]),
        ("", []),
        ("a\U0010ffff", [(">=", "a\U0010ffff"), ("<", "b")]),
        ("\U0010ffff", [(">=", "\U0010ffff")]),
        ("a\ud7ff", [(">=", "a\ud7ff"), ("<", "a\ue000")]),
    ],
)
def test_like_is_a_prefix_range(prefix: str, bounds: list[tuple[str, str]]) -> None:
    query = compiled("SELECT * FROM products WHERE name LIKE 'x%'")
    query.filters[0] = (query.filters[0][0], query.filters[0][1], lambda _request: prefix)
    select = query.bind(pb.TopRequest())
    assert [(f.op, f.value) for f in select.filters] == bounds
    assert all(f.slot == "s1" for f in select.filters)


def test_like_needs_text() -> None:
    with pytest.raises(DiscoveryError, match="LIKE compares text, but column 'quantity'"):
        compiled("SELECT * FROM products WHERE quantity LIKE '1%'")
    with pytest.raises(DiscoveryError, match="LIKE compares text"):
        compiled("SELECT * FROM products WHERE name LIKE :count")


@given(st.text(max_size=6), st.text(max_size=8))
def test_prefix_range_matches_startswith(prefix: str, text: str) -> None:
    from cloudstate.proxy.views.compile import _prefix_range

    inside = all(
        (text >= f.value) if f.op == ">=" else (text < f.value) for f in _prefix_range("s1", prefix)
    )
    assert inside == text.startswith(prefix)
