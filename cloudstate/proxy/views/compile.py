"""Checks a parsed view query against the row and request messages and binds it to requests.

Columns are field paths of the row message (``owner``, ``address.city``); parameters are field
paths of the request message. Each column a table's queries filter or sort on gets an indexed
slot of the ``view_rows`` table (text columns ``s1..s4``, numeric ones ``n1..n4``); the row's
values for them are extracted on every update (:meth:`TableLayout.columns_of`). Example::

    layout = TableLayout.for_queries("products", row_type, [parsed, ...], where="shop.Top")
    compiled = compile_query(parsed, layout, request_type, where="shop.Top.ByQuantity")
    select = compiled.bind(request_message)          # a ViewSelect for the store
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cloudstate.proxy.errors import BadRequest, DiscoveryError
from cloudstate.proxy.stores.base import (
    VIEW_NUMBER_SLOTS,
    VIEW_TEXT_SLOTS,
    ViewFilter,
    ViewSelect,
    ViewValue,
)
from cloudstate.proxy.views.query import IN, LIKE, Literal, Param, ParsedQuery

TEXT = "text"
NUMBER = "number"

_NUMBER_TYPES = {
    FieldDescriptor.TYPE_DOUBLE,
    FieldDescriptor.TYPE_FLOAT,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_ENUM,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
}
_INTEGER_TYPES = _NUMBER_TYPES - {
    FieldDescriptor.TYPE_DOUBLE,
    FieldDescriptor.TYPE_FLOAT,
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_ENUM,
}


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A resolved field path: the fields from the outer message in, and the leaf's kind."""

    path: str
    fields: tuple[FieldDescriptor, ...]
    kind: str  # TEXT or NUMBER
    repeated: bool = False

    @property
    def leaf(self) -> FieldDescriptor:
        return self.fields[-1]

    def value(self, message: Message) -> Any:
        """The leaf's value in ``message`` (proto3 defaults through unset sub-messages)."""
        value: Any = message
        for fd in self.fields:
            value = getattr(value, fd.name)
        if self.repeated:
            return tuple(_scalar(v) for v in value)
        return _scalar(value)


def _scalar(value: Any) -> ViewValue:
    if isinstance(value, bool):
        return int(value)
    return value  # type: ignore[no-any-return]


def _type_name(fd: FieldDescriptor) -> str:
    if fd.message_type is not None:
        return str(fd.message_type.full_name)
    if fd.enum_type is not None:
        return str(fd.enum_type.full_name)
    names = {getattr(FieldDescriptor, n): n[5:].lower() for n in dir(FieldDescriptor)}
    return str(names.get(fd.type, fd.type))


def resolve_path(message: Descriptor, path: str, *, allow_repeated: bool = False) -> FieldPath:
    """The scalar field at ``path`` of ``message``; ValueError saying what is wrong."""
    fields: list[FieldDescriptor] = []
    current = message
    parts = path.split(".")
    for index, part in enumerate(parts):
        fd = current.fields_by_name.get(part)
        if fd is None:
            known = ", ".join(f.name for f in current.fields) or "none"
            raise ValueError(f"{current.full_name} has no field {part!r} (its fields: {known})")
        fields.append(fd)
        last = index == len(parts) - 1
        repeated = bool(fd.is_repeated)
        if not last:
            if fd.message_type is None or repeated:
                raise ValueError(
                    f"{path}: {current.full_name}.{part} is not a (singular) message field"
                )
            current = fd.message_type
            continue
        if repeated and not allow_repeated:
            raise ValueError(f"{path} is a repeated field: only single values can be compared")
        if fd.type == FieldDescriptor.TYPE_STRING:
            kind = TEXT
        elif fd.type in _NUMBER_TYPES:
            kind = NUMBER
        else:
            raise ValueError(
                f"{path} is of type {_type_name(fd)}: only strings, numbers, booleans and enums "
                "can be compared or sorted"
            )
        return FieldPath(path, tuple(fields), kind, repeated)
    raise ValueError(f"empty field path {path!r}")  # pragma: no cover - the parser forbids it


@dataclass(slots=True)
class TableLayout:
    """A view table: its row type and the slot of every indexed column."""

    name: str
    row_type: Descriptor
    columns: dict[str, FieldPath] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)  # column path -> slot

    @classmethod
    def for_queries(
        cls, name: str, row_type: Descriptor, queries: Sequence[tuple[str, ParsedQuery]]
    ) -> TableLayout:
        """The layout serving every query (``(where, query)``); DiscoveryError naming the method
        and the column if a column is unknown or not comparable, or too many are used."""
        layout = cls(name, row_type)
        problems: list[str] = []
        for where, query in queries:
            for column in query.columns:
                if column in layout.columns:
                    continue
                try:
                    resolved = resolve_path(row_type, column)
                except ValueError as error:
                    problems.append(f"{where}: unknown or unusable column {column!r}: {error}")
                    continue
                slots = VIEW_TEXT_SLOTS if resolved.kind == TEXT else VIEW_NUMBER_SLOTS
                taken = {s for s in layout.slots.values() if s in slots}
                free = [s for s in slots if s not in taken]
                if not free:
                    problems.append(
                        f"{where}: column {column!r} is one {resolved.kind} column too many for "
                        f"table {name!r}: the queries of a table can filter and sort on at most "
                        f"{len(slots)} {resolved.kind} columns"
                    )
                    continue
                layout.columns[column] = resolved
                layout.slots[column] = free[0]
        if problems:
            raise DiscoveryError("; ".join(problems))
        return layout

    @property
    def signature(self) -> str:
        """Changes whenever the stored form of rows changes (then the view is rebuilt)."""
        text = (
            self.row_type.full_name
            + ";"
            + ";".join(f"{column}={slot}" for column, slot in sorted(self.slots.items()))
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def columns_of(self, row: Message) -> dict[str, ViewValue]:
        """The indexed values of one row, by slot."""
        return {self.slots[c]: path.value(row) for c, path in self.columns.items()}


Getter = Callable[[Message], Any]


@dataclass(slots=True)
class CompiledQuery:
    """A query checked against its table and request type, ready to bind to requests."""

    text: str
    parsed: ParsedQuery
    layout: TableLayout
    filters: list[tuple[str, str, Getter]]  # slot, op, value of a request
    order_by: tuple[tuple[str, bool], ...]
    limit: Getter | None
    offset: Getter | None

    def bind(self, request: Message) -> ViewSelect:
        """The store query for one request; BadRequest for a negative LIMIT or OFFSET."""
        filters: list[ViewFilter] = []
        for slot, op, get in self.filters:
            value = get(request)
            _refuse_nul(self.text, value)
            if op == LIKE:  # a prefix: the range [prefix, next string after every extension)
                filters.extend(_prefix_range(slot, str(value)))
            else:
                filters.append(ViewFilter(slot, op, value))
        limit = None
        if self.limit is not None:
            limit = int(self.limit(request))
            if limit < 0:
                raise BadRequest(f"LIMIT must not be negative, the request gives {limit}")
            if limit == 0 and isinstance(self.parsed.limit, Param):
                limit = None  # an unset (0) limit parameter means no limit
        offset = 0
        if self.offset is not None:
            offset = int(self.offset(request))
            if offset < 0:
                raise BadRequest(f"OFFSET must not be negative, the request gives {offset}")
        return ViewSelect(tuple(filters), self.order_by, limit, offset)


def _refuse_nul(query: str, value: object) -> None:
    """BadRequest if a parameter's text (or one of a list's) holds NUL: PostgreSQL cannot compare
    text with it, so every backend refuses it as the client's error."""
    texts: Sequence[object] = (
        [value] if isinstance(value, str) else value if isinstance(value, Sequence) else ()
    )
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise BadRequest(
            f"a parameter of the view query {query!r} contains a NUL character (\\0), which "
            "view keys and columns cannot hold"
        )


def _prefix_range(slot: str, prefix: str) -> list[ViewFilter]:
    """``slot LIKE 'prefix%'`` as an index range: >= prefix and < the prefix with its last
    character incremented (dropping characters that cannot be incremented)."""
    if not prefix:
        return []
    bounds = [ViewFilter(slot, ">=", prefix)]
    upper = prefix
    while upper and ord(upper[-1]) >= 0x10FFFF:
        upper = upper[:-1]
    if upper:
        following = ord(upper[-1]) + 1
        if 0xD800 <= following <= 0xDFFF:  # surrogates are not text: skip past them
            following = 0xE000
        bounds.append(ViewFilter(slot, "<", upper[:-1] + chr(following)))
    return bounds


def _constant(value: Any) -> Getter:
    return lambda _request: value


def compile_query(
    text: str, parsed: ParsedQuery, layout: TableLayout, request_type: Descriptor, where: str
) -> CompiledQuery:
    """Check ``parsed`` against the table layout (whose columns it uses) and the request type;
    DiscoveryError naming ``where`` and the offending parameter or literal."""
    problems: list[str] = []
    filters: list[tuple[str, str, Getter]] = []
    for condition in parsed.conditions:
        column = layout.columns[condition.column]
        slot = layout.slots[condition.column]
        operand = condition.operand
        if isinstance(operand, Param):
            try:
                param = resolve_path(request_type, operand.path, allow_repeated=True)
            except ValueError as error:
                problems.append(
                    f"{where}: unknown or unusable parameter ':{operand.path}': {error}"
                )
                continue
            if condition.op == LIKE and (
                param.repeated or param.kind != TEXT or column.kind != TEXT
            ):
                problems.append(
                    f"{where}: LIKE compares text: column {condition.column!r} and parameter "
                    f"':{operand.path}' must both be single strings"
                )
                continue
            if condition.op == IN and not param.repeated:
                problems.append(
                    f"{where}: ':{operand.path}' after IN must be a repeated field of "
                    f"{request_type.full_name}"
                )
                continue
            if condition.op != IN and param.repeated:
                problems.append(
                    f"{where}: ':{operand.path}' is repeated: compare it with IN, not "
                    f"{condition.op}"
                )
                continue
            if param.kind != column.kind:
                problems.append(
                    f"{where}: type mismatch: column {condition.column!r} is a {column.kind} "
                    f"but parameter ':{operand.path}' is a {param.kind}"
                )
                continue
            filters.append((slot, condition.op, param.value))
        else:
            assert isinstance(operand, Literal)
            kind = TEXT if isinstance(operand.value, str) else NUMBER
            if condition.op == LIKE and column.kind != TEXT:
                problems.append(
                    f"{where}: LIKE compares text, but column {condition.column!r} is a "
                    f"{column.kind}"
                )
                continue
            if kind != column.kind:
                problems.append(
                    f"{where}: type mismatch: column {condition.column!r} is a {column.kind} "
                    f"but {operand.value!r} is a {kind}"
                )
                continue
            filters.append((slot, condition.op, _constant(_scalar(operand.value))))
    counts: list[Getter | None] = []
    for clause, count in (("LIMIT", parsed.limit), ("OFFSET", parsed.offset)):
        if count is None:
            counts.append(None)
        elif isinstance(count, int):
            counts.append(_constant(count))
        else:
            try:
                param = resolve_path(request_type, count.path)
            except ValueError as error:
                problems.append(f"{where}: unknown or unusable parameter ':{count.path}': {error}")
                counts.append(None)
                continue
            if param.leaf.type not in _INTEGER_TYPES:
                problems.append(
                    f"{where}: {clause} parameter ':{count.path}' must be an integer field, "
                    f"not {_type_name(param.leaf)}"
                )
            counts.append(param.value)
    if problems:
        raise DiscoveryError("; ".join(problems))
    order_by = tuple((layout.slots[o.column], o.descending) for o in parsed.order_by)
    return CompiledQuery(text, parsed, layout, filters, order_by, counts[0], counts[1])
