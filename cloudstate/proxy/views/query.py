"""The view query language: a tokenizer and a recursive-descent parser.

Grammar (keywords case-insensitive)::

    query      := SELECT "*" [AS name] FROM table [WHERE condition {AND condition}]
                  [ORDER BY order {"," order}] [LIMIT count] [OFFSET count]
    condition  := column op operand | column IN param | column LIKE prefix
    prefix     := 'text%' (a prefix: one % at the end, no other wildcard) | param (the prefix)
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    operand    := param | literal
    order      := column [ASC | DESC]
    count      := param | integer
    column     := name {"." name}          (a field path of the row message)
    param      := ":" name {"." name}      (a field path of the request message)
    literal    := 'text' ('' is a quote) | integer | decimal | TRUE | FALSE

Example::

    query = parse_query("SELECT * FROM carts WHERE owner = :user ORDER BY total DESC LIMIT 10")
    query.table, query.conditions[0].column, query.limit   # "carts", "owner", 10

A :class:`QuerySyntaxError` names the offending token and its position. Validation against the
row and request messages is :mod:`cloudstate.proxy.views.compile`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
IN = "IN"
LIKE = "LIKE"
KEYWORDS = frozenset(
    {
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
        "LIKE",
    }
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<param>:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[*,()])
    """,
    re.VERBOSE,
)


class QuerySyntaxError(ValueError):
    """The query text is not in the grammar; ``token`` is what was found, at ``position``."""

    def __init__(self, message: str, token: str, position: int) -> None:
        super().__init__(f"{message} at position {position} (found {token!r})")
        self.token = token
        self.position = position


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string, number, param, name, op, punct, end
    text: str
    position: int

    @property
    def keyword(self) -> str | None:
        upper = self.text.upper()
        return upper if self.kind == "name" and upper in KEYWORDS else None


@dataclass(frozen=True, slots=True)
class Param:
    """``:name``: a field path of the request message."""

    path: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int | float | bool


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    op: str  # one of COMPARISONS, IN or LIKE (operand: the prefix, without the %)
    operand: Param | Literal


@dataclass(frozen=True, slots=True)
class Order:
    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    table: str
    results_field: str | None = None  # SELECT * AS <field>
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[Order, ...] = ()
    limit: Param | int | None = None
    offset: Param | int | None = None

    @property
    def columns(self) -> list[str]:
        """Every column the query filters or sorts on, in order of appearance, once each."""
        found = [c.column for c in self.conditions] + [o.column for o in self.order_by]
        return list(dict.fromkeys(found))


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise QuerySyntaxError("unexpected character", text[position], position)
        kind = match.lastgroup or ""
        if kind == "op" and match.group() == "<>":
            tokens.append(Token("op", "!=", position))
        elif kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "end of query", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def fail(self, expected: str) -> QuerySyntaxError:
        token = self.current
        return QuerySyntaxError(f"expected {expected}", token.text, token.position)

    def accept(self, keyword: str) -> bool:
        if self.current.keyword == keyword:
            self.advance()
            return True
        return False

    def expect(self, keyword: str) -> None:
        if not self.accept(keyword):
            raise self.fail(keyword)

    def name(self, what: str) -> str:
        token = self.current
        if token.kind != "name" or token.keyword is not None:
            raise self.fail(what)
        return self.advance().text

    def parse(self) -> ParsedQuery:
        self.expect("SELECT")
        if self.current.text != "*":
            raise self.fail("'*' (views select whole rows)")
        self.advance()
        results_field = self.name("a field name after AS") if self.accept("AS") else None
        self.expect("FROM")
        table = self.name("a table name")
        conditions: list[Condition] = []
        if self.accept("WHERE"):
            conditions.append(self.condition())
            while self.accept("AND"):
                conditions.append(self.condition())
        order_by: list[Order] = []
        if self.accept("ORDER"):
            self.expect("BY")
            order_by.append(self.order())
            while self.current.text == ",":
                self.advance()
                order_by.append(self.order())
        limit = self.count("LIMIT") if self.accept("LIMIT") else None
        offset = self.count("OFFSET") if self.accept("OFFSET") else None
        if self.current.kind != "end":
            raise self.fail("end of query")
        return ParsedQuery(table, results_field, tuple(conditions), tuple(order_by), limit, offset)

    def condition(self) -> Condition:
        column = self.name("a column name")
        if self.accept("IN"):
            if self.current.kind != "param":
                raise self.fail("a :parameter after IN (a repeated field of the request)")
            return Condition(column, IN, Param(self.advance().text[1:]))
        if self.accept("LIKE"):
            token = self.current
            if token.kind == "param":
                return Condition(column, LIKE, Param(self.advance().text[1:]))
            text = token.text[1:-1].replace("''", "'") if token.kind == "string" else ""
            if token.kind != "string" or not text.endswith("%") or "%" in text[:-1] or "_" in text:
                raise self.fail("a prefix after LIKE: 'text%' (no other % or _) or a :parameter")
            self.advance()
            return Condition(column, LIKE, Literal(text[:-1]))
        if self.current.kind != "op":
            raise self.fail("a comparison (=, !=, <, <=, >, >=), IN or LIKE")
        op = self.advance().text
        return Condition(column, op, self.operand())

    def operand(self) -> Param | Literal:
        token = self.current
        if token.kind == "param":
            self.advance()
            return Param(token.text[1:])
        if token.kind == "string":
            self.advance()
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "number":
            self.advance()
            is_integer = re.fullmatch(r"-?\d+", token.text) is not None
            return Literal(int(token.text) if is_integer else float(token.text))
        if token.kind == "name" and token.text.upper() in ("TRUE", "FALSE"):
            self.advance()
            return Literal(token.text.upper() == "TRUE")
        raise self.fail("a :parameter or a literal ('text', number, TRUE, FALSE)")

    def order(self) -> Order:
        column = self.name("a column name")
        if self.accept("DESC"):
            return Order(column, True)
        self.accept("ASC")
        return Order(column, False)

    def count(self, clause: str) -> Param | int:
        token = self.current
        if token.kind == "param":
            self.advance()
            return Param(token.text[1:])
        if token.kind == "number" and re.fullmatch(r"\d+", token.text):
            self.advance()
            return int(token.text)
        raise self.fail(f"a :parameter or a non-negative integer after {clause}")


def parse_query(text: str) -> ParsedQuery:
    """Parse a view query; :class:`QuerySyntaxError` if it is not in the grammar."""
    return _Parser(text).parse()
