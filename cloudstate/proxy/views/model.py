"""Which services are views: the ``(cloudstate.view)`` method options, read and checked at start.

A view service is reported by the user function as an **action** (so any protocol 0.2 language
support can implement its update handlers). Its methods carry either

* ``option (cloudstate.view).update = { table: "t" transform_updates: B key: "path" }`` together
  with ``(cloudstate.eventing).in`` (the source of the updates), or
* ``option (cloudstate.view).query = { query: "SELECT * FROM t ..." }``.

Everything is checked here, before the proxy serves anything; every problem is a
:class:`~cloudstate.proxy.errors.DiscoveryError` naming the service, the method and the offending
token. Example::

    views = discover_views(model)            # {service name: ViewService}
    view = views["shop.PopularProducts"]
    view.queries["Top"].compiled.bind(request)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cloudstate import view_pb2
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.eventing.subscriptions import method_eventing
from cloudstate.proxy.model import ACTION, MethodModel, UserFunctionModel, method_option
from cloudstate.proxy.views.compile import (
    CompiledQuery,
    FieldPath,
    TableLayout,
    compile_query,
    resolve_path,
)
from cloudstate.proxy.views.paging import Paging
from cloudstate.proxy.views.query import ParsedQuery, QuerySyntaxError, parse_query

ANY_TYPE = "google.protobuf.Any"
SINGLE = "single"  # the response is one row (NOT_FOUND without one)
STREAM = "stream"  # server-streamed rows
REPEATED = "repeated"  # a message with a repeated field of rows


@dataclass(slots=True)
class UpdateMethod:
    method: MethodModel
    table: str
    transform: bool
    key: FieldPath | None  # None: the source's subject (entity id)

    def row_key(self, event: Message | None, subject: str) -> str:
        if self.key is None or event is None:
            return subject
        value = self.key.value(event)
        return value if isinstance(value, str) else str(value)


@dataclass(slots=True)
class QueryMethod:
    method: MethodModel
    compiled: CompiledQuery
    mode: str
    results_field: FieldDescriptor | None = None
    paging: Paging | None = None  # token paging (response has next_page_token)


@dataclass(slots=True)
class ViewService:
    name: str
    layouts: dict[str, TableLayout] = field(default_factory=dict)
    updates: dict[str, UpdateMethod] = field(default_factory=dict)
    queries: dict[str, QueryMethod] = field(default_factory=dict)
    row_classes: dict[str, Any] = field(default_factory=dict)  # table -> message class

    def table_id(self, table: str) -> str:
        """Where the table's rows are stored: a new id (an empty table, rebuilt from the start of
        its sources) whenever the row type or the indexed columns change."""
        return f"{self.name}/{table}/{self.layouts[table].signature}"

    @property
    def signature(self) -> str:
        return "+".join(self.layouts[t].signature for t in sorted(self.layouts))

    def consumer_id(self, subscription_id: str) -> str:
        """The offset key of the view's consumer of one source (changes with the layouts)."""
        return f"view:{self.name}:{self.signature}:{subscription_id}"


def method_view(model: UserFunctionModel, method: MethodModel) -> Any | None:
    """The ``cloudstate.View`` option of a method, or None."""
    return method_option(model, method, view_pb2.view)


def discover_views(model: UserFunctionModel) -> dict[str, ViewService]:
    """Every view service of the user function; DiscoveryError listing every problem."""
    views: dict[str, ViewService] = {}
    problems: list[str] = []
    for service in model.services.values():
        options = {
            name: option
            for name, method in service.methods.items()
            if (option := method_view(model, method)) is not None
        }
        if not options:
            continue
        if service.entity_type != ACTION:
            problems.append(
                f"view {service.name}: a view service is reported as an action "
                f"(cloudstate.action.ActionProtocol), not {service.entity_type}"
            )
            continue
        try:
            views[service.name] = _view_service(model, service.name, options)
        except DiscoveryError as error:
            problems.append(str(error))
    if problems:
        raise DiscoveryError("views: " + "; ".join(problems))
    return views


def _view_service(model: UserFunctionModel, name: str, options: dict[str, Any]) -> ViewService:
    service = model.services[name]
    view = ViewService(name)
    problems: list[str] = []
    row_types: dict[str, Descriptor] = {}
    updates: list[tuple[MethodModel, Any]] = []
    parsed: dict[str, tuple[str, ParsedQuery]] = {}
    for method_name, option in options.items():
        method = service.methods[method_name]
        where = f"{name}.{method_name}"
        kind = option.WhichOneof("kind")
        if kind == "update":
            updates.append((method, option.update))
        elif kind == "query":
            text = option.query.query
            try:
                parsed[method_name] = (text, parse_query(text))
            except QuerySyntaxError as error:
                problems.append(f"{where}: syntax error in query {text!r}: {error}")
        else:
            problems.append(f"{where}: (cloudstate.view) sets neither update nor query")
    for method, update in updates:
        where = f"{name}.{method.name}"
        table = update.table
        if not table:
            problems.append(f"{where}: (cloudstate.view).update.table is empty")
            continue
        eventing = method_eventing(model, method)
        if eventing is None or not eventing.HasField("in"):
            problems.append(
                f"{where}: a view update method needs a source: "
                "option (cloudstate.eventing).in = { event_log: ... }, { topic: ... } or "
                "{ value_entity: ... }"
            )
            continue
        if method.client_streaming or method.server_streaming:
            problems.append(f"{where}: a view update method must be unary")
            continue
        takes_any = method.input_type.full_name == ANY_TYPE
        if update.transform_updates:
            row_type = method.output_type
        elif takes_any:
            problems.append(
                f"{where}: with transform_updates false the input is the row, so it cannot be "
                "google.protobuf.Any (set transform_updates: true, or take the event's type)"
            )
            continue
        else:
            row_type = method.input_type
        if row_type.full_name in (ANY_TYPE, "google.protobuf.Empty"):
            problems.append(f"{where}: the rows of table {table!r} cannot be {row_type.full_name}")
            continue
        known = row_types.setdefault(table, row_type)
        if known.full_name != row_type.full_name:
            problems.append(
                f"{where}: table {table!r} has rows of {known.full_name} from another method; "
                f"this one gives {row_type.full_name}"
            )
            continue
        key: FieldPath | None = None
        if update.key and getattr(eventing, "in").WhichOneof("source") == "value_entity":
            problems.append(
                f"{where}: key {update.key!r}: the rows of a value entity's states are keyed by "
                "the entity id (a deleted entity deletes its row): leave key empty"
            )
            continue
        if update.key:
            if takes_any:
                problems.append(
                    f"{where}: key {update.key!r} needs a typed input (google.protobuf.Any has "
                    "no fields); leave key empty to key rows by the entity id"
                )
                continue
            try:
                key = resolve_path(method.input_type, update.key)
            except ValueError as error:
                problems.append(f"{where}: key {update.key!r}: {error}")
                continue
        view.updates[method.name] = UpdateMethod(method, table, update.transform_updates, key)
    if problems:
        raise DiscoveryError("; ".join(problems))
    by_table: dict[str, list[tuple[str, ParsedQuery]]] = {t: [] for t in row_types}
    for method_name, (_, query) in parsed.items():
        where = f"{name}.{method_name}"
        if query.table not in row_types:
            tables = ", ".join(sorted(row_types)) or "none: no method has (cloudstate.view).update"
            problems.append(
                f"{where}: unknown table {query.table!r} after FROM (tables of {name}: {tables})"
            )
            continue
        by_table[query.table].append((where, query))
    if problems:
        raise DiscoveryError("; ".join(problems))
    for table, row_type in row_types.items():
        view.layouts[table] = TableLayout.for_queries(table, row_type, by_table[table])
        view.row_classes[table] = message_factory.GetMessageClass(row_type)
    for method_name, (text, query) in parsed.items():
        method = service.methods[method_name]
        where = f"{name}.{method_name}"
        try:
            compiled = compile_query(
                text, query, view.layouts[query.table], method.input_type, where
            )
            view.queries[method_name] = _query_method(method, compiled, where)
        except DiscoveryError as error:
            problems.append(str(error))
    if problems:
        raise DiscoveryError("; ".join(problems))
    return view


def _query_method(method: MethodModel, compiled: CompiledQuery, where: str) -> QueryMethod:
    row_type = compiled.layout.row_type
    output = method.output_type
    results = compiled.parsed.results_field
    if method.client_streaming:
        raise DiscoveryError(f"{where}: a view query cannot be client-streaming")
    if method.server_streaming:
        if output.full_name != row_type.full_name:
            raise DiscoveryError(
                f"{where}: a streamed query streams rows of {row_type.full_name}, "
                f"not {output.full_name}"
            )
        return QueryMethod(method, compiled, STREAM)
    if results is None and output.full_name == row_type.full_name:
        return QueryMethod(method, compiled, SINGLE)
    candidates = [
        fd
        for fd in output.fields
        if fd.is_repeated
        and fd.message_type is not None
        and fd.message_type.full_name == row_type.full_name
        and (results is None or fd.name == results)
    ]
    if len(candidates) != 1:
        if results is not None:
            problem = f"{output.full_name} has no repeated {row_type.full_name} field {results!r}"
        elif candidates:
            problem = (
                f"{output.full_name} has several repeated {row_type.full_name} fields: name one "
                "with SELECT * AS <field>"
            )
        else:
            problem = (
                f"the response {output.full_name} is neither the row type "
                f"{row_type.full_name} nor a message with a repeated field of it"
            )
        raise DiscoveryError(f"{where}: {problem}")
    identity = f"{where}\0{compiled.text}\0{compiled.layout.signature}"
    paging = Paging.for_method(method.input_type, output, compiled.parsed, where, identity)
    return QueryMethod(method, compiled, REPEATED, candidates[0], paging)
