"""A bad view annotation is a discovery-time error naming the service, the method and the
offending token; the proxy reports it to the user function and refuses to start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from cloudstate import eventing_pb2, view_pb2
from cloudstate.discovery import EntityDiscoveryServicer
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.errors import BadRequest, DiscoveryError
from cloudstate.proxy.model import UserFunctionModel, build_model
from cloudstate.proxy.server import SUPPORTED_ENTITY_TYPES, Proxy
from cloudstate.proxy.views.model import REPEATED, SINGLE, STREAM, discover_views
from tests.views.model import build, pb

VIEW_FILE = "viewtest/views.proto"

Change = Callable[[dict[str, descriptor_pb2.MethodDescriptorProto]], None]


def spec_with(change: Change | None = None, service: str = "Popularity") -> entity_pb2.EntitySpec:
    """The test user function's EntitySpec, with ``change`` applied to the methods of
    ``viewtest.<service>`` (by name) in its descriptor set."""
    spec = entity_pb2.EntitySpec()
    spec.CopyFrom(build().discovery_servicer().entity_spec())
    files = descriptor_pb2.FileDescriptorSet.FromString(spec.proto)
    for file in files.file:
        if file.name != VIEW_FILE:
            continue
        for proto in file.service:
            if proto.name == service and change is not None:
                change({m.name: m for m in proto.method})
    spec.proto = files.SerializeToString()
    return spec


def model_of(
    _file: Any = None, change: Change | None = None, service: str = "Popularity"
) -> UserFunctionModel:
    return build_model(spec_with(change, service), SUPPORTED_ENTITY_TYPES)


def set_query(method: str, query: str) -> Change:
    def change(methods: dict[str, descriptor_pb2.MethodDescriptorProto]) -> None:
        methods[method].options.Extensions[view_pb2.view].query.query = query

    return change


def discovery_error(change: Change, service: str = "Popularity") -> str:
    with pytest.raises(DiscoveryError) as error:
        discover_views(model_of(change=change, service=service))
    return str(error.value)


def test_the_test_model_is_valid() -> None:
    views = discover_views(model_of())
    assert set(views) == {"viewtest.Popularity", "viewtest.CatalogView", "viewtest.StockView"}
    popularity = views["viewtest.Popularity"]
    assert {n: q.mode for n, q in popularity.queries.items()} == {
        "GetProduct": SINGLE,
        "Top": REPEATED,
        "TopPages": REPEATED,
        "StreamTop": STREAM,
        "ByIds": REPEATED,
    }
    assert popularity.layouts["products"].slots == {
        "product_id": "s1",
        "quantity": "n1",
        "name": "s2",
    }
    catalog = views["viewtest.CatalogView"]
    assert catalog.layouts["catalog"].slots == {
        "details.category": "s1",
        "price": "n1",
        "name": "s2",
    }
    assert not catalog.updates["OnProduct"].transform


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        # syntax
        ("Top", "SELECT * FORM products", "syntax error in query 'SELECT * FORM products'"),
        ("Top", "SELECT name FROM products", "expected '*'"),
        ("Top", "SELECT * FROM products WHERE", "expected a column name at position 28"),
        ("Top", "SELECT * FROM products LIMIT -1", "found '-1'"),
        ("Top", "SELECT * FROM products ORDER quantity", "expected BY"),
        ("Top", "SELECT * FROM products WHERE name ~ 'x'", "unexpected character"),
        # unknown table
        ("Top", "SELECT * FROM prods", "unknown table 'prods' after FROM"),
        # unknown or unusable column
        ("Top", "SELECT * FROM products WHERE qty > 1", "unknown or unusable column 'qty'"),
        ("Top", "SELECT * FROM products ORDER BY details", "is of type viewtest.Details"),
        ("Top", "SELECT * FROM products WHERE details.colour = 'red'", "no field 'colour'"),
        # unknown parameter
        ("Top", "SELECT * FROM products WHERE name = :nam", "unknown or unusable parameter ':nam'"),
        ("Top", "SELECT * FROM products LIMIT :limit", "unknown or unusable parameter ':limit'"),
        # type mismatches
        (
            "Top",
            "SELECT * FROM products WHERE quantity = 'ten'",
            "type mismatch: column 'quantity'",
        ),
        ("Top", "SELECT * FROM products WHERE name = 3", "type mismatch: column 'name'"),
        ("Top", "SELECT * FROM products WHERE name = :count", "parameter ':count' is a number"),
        ("ByIds", "SELECT * FROM products WHERE product_id = :ids", "':ids' is repeated"),
        ("Top", "SELECT * FROM products WHERE name IN :count", "must be a repeated field"),
        # response shapes
        (
            "Top",
            "SELECT * AS items FROM products",
            "has no repeated viewtest.Product field 'items'",
        ),
        ("StreamTop", "SELECT * FROM products LIMIT 1", None),  # valid
        # token paging (the response has next_page_token)
        ("TopPages", "SELECT * FROM products", "a query paged with tokens needs a LIMIT"),
        ("TopPages", "SELECT * FROM products LIMIT 5 OFFSET 1", "cannot have an OFFSET"),
        ("TopPages", "SELECT * FROM products LIMIT 5", None),  # valid: a fixed page size
    ],
)
def test_bad_query_is_a_discovery_error(method: str, query: str, expected: str | None) -> None:
    change = set_query(method, query)
    if expected is None:
        discover_views(model_of(change=change))
        return
    message = discovery_error(change)
    assert f"viewtest.Popularity.{method}" in message, message
    assert expected in message, message


def test_bad_update_annotations_are_discovery_errors() -> None:
    def no_source(methods: dict[str, descriptor_pb2.MethodDescriptorProto]) -> None:
        methods["OnAdded"].options.ClearExtension(eventing_pb2.eventing)

    assert "viewtest.Popularity.OnAdded: a view update method needs a source" in discovery_error(
        no_source
    )

    def bad_key(methods: dict[str, descriptor_pb2.MethodDescriptorProto]) -> None:
        methods["OnAdded"].options.Extensions[view_pb2.view].update.key = "sku"

    assert "OnAdded: key 'sku': viewtest.ItemAdded has no field 'sku'" in discovery_error(bad_key)

    def no_table(methods: dict[str, descriptor_pb2.MethodDescriptorProto]) -> None:
        methods["OnRemoved"].options.Extensions[view_pb2.view].update.table = ""

    assert "OnRemoved: (cloudstate.view).update.table is empty" in discovery_error(no_table)

    def keyed_states(methods: dict[str, descriptor_pb2.MethodDescriptorProto]) -> None:
        methods["OnStock"].options.Extensions[view_pb2.view].update.key = "sku"

    assert (
        "viewtest.StockView.OnStock: key 'sku': the rows of a value entity's states are keyed"
        in (discovery_error(keyed_states, "StockView"))
    )

    def unknown_table(methods: dict[str, descriptor_pb2.MethodDescriptorProto]) -> None:
        methods["Top"].options.Extensions[view_pb2.view].query.query = "SELECT * FROM nothing"

    message = discovery_error(unknown_table)
    assert "unknown table 'nothing' after FROM (tables of viewtest.Popularity: products)" in message


def _paging_error(field_change: Callable[[descriptor_pb2.FileDescriptorProto], None]) -> str:
    spec = spec_with()
    files = descriptor_pb2.FileDescriptorSet.FromString(spec.proto)
    for file in files.file:
        if file.name == VIEW_FILE:
            field_change(file)
    spec.proto = files.SerializeToString()
    with pytest.raises(DiscoveryError) as error:
        discover_views(build_model(spec, SUPPORTED_ENTITY_TYPES))
    return str(error.value)


def _field(file: descriptor_pb2.FileDescriptorProto, message: str, name: str) -> Any:
    (found,) = [
        f for m in file.message_type if m.name == message for f in m.field if f.name == name
    ]
    return found


def test_token_paging_fields_are_checked_at_discovery() -> None:
    def token_is_a_number(file: descriptor_pb2.FileDescriptorProto) -> None:
        _field(
            file, "PageRequest", "page_token"
        ).type = descriptor_pb2.FieldDescriptorProto.TYPE_INT64

    message = _paging_error(token_is_a_number)
    assert "viewtest.Popularity.TopPages: viewtest.PageRequest.page_token must be a" in message

    def next_token_is_repeated(file: descriptor_pb2.FileDescriptorProto) -> None:
        label = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
        _field(file, "ProductPage", "next_page_token").label = label

    message = _paging_error(next_token_is_repeated)
    assert "TopPages: viewtest.ProductPage.next_page_token must be a (single) string" in message

    def no_page_token(file: descriptor_pb2.FileDescriptorProto) -> None:
        _field(file, "PageRequest", "page_token").name = "cursor"

    message = _paging_error(no_page_token)
    assert "the request viewtest.PageRequest needs a string field page_token" in message


async def test_proxy_reports_a_bad_query_and_refuses_to_start(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_with(set_query("Top", "SELECT * FROM products WHERE qty > 1"))
    # The user function reports the broken descriptor.
    monkeypatch.setattr(EntityDiscoveryServicer, "entity_spec", lambda self: spec)
    uf = await build().serve_async("127.0.0.1", 0)
    proxy = Proxy(ProxyConfig(user_function=uf.address, port=0, store="memory:", admin_port=-1))
    try:
        with caplog.at_level(logging.ERROR, logger="cloudstate.discovery"):
            with pytest.raises(DiscoveryError, match=r"viewtest\.Popularity\.Top.*'qty'"):
                await proxy.start()
        reported = [r.getMessage() for r in caplog.records if "Proxy reported" in r.getMessage()]
        assert any("unknown or unusable column 'qty'" in m for m in reported), reported
    finally:
        await proxy.stop(0.1)
        await uf.stop(0.1)


def test_a_page_token_belongs_to_its_query() -> None:
    """A token carries a check over the query's identity: the token of one query (or of the same
    method after its query text changed) is refused by another."""
    paging = discover_views(model_of())["viewtest.Popularity"].queries["TopPages"].paging
    assert paging is not None
    request = pb.PageRequest(page_size=2, min_quantity=5)
    token = paging.token_for(request, 4)
    assert paging.offset_of(pb.PageRequest(page_size=9, min_quantity=5, page_token=token)) == 4
    changed = replace(paging, identity=paging.identity + b" LIMIT 3")
    with pytest.raises(BadRequest, match="page_token: not a page token of this query"):
        changed.offset_of(pb.PageRequest(page_size=2, min_quantity=5, page_token=token))
