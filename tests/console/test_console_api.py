"""The admin operations the console adds, over HTTP/JSON against ``cloudstate run`` of the views
example: ``DescribeServices`` (methods, routes, schemas), ``CallMethod`` (the client transcoding,
errors with their status, whole numbers in the NDJSON replies) and ``GetMetrics`` (requests,
errors and latency buckets per method, active entities, store commits)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.admin.harness import http
from tests.console.test_console import Running, run_views

CART = "cartviews.ShoppingCart"


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = run_views(tmp_path_factory.mktemp("console-api"))
    try:
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def admin(running: Running, path: str) -> str:
    return f"http://127.0.0.1:{running.admin_port}{path}"


def call(running: Running, service: str, method: str, request: Any) -> tuple[int, Any]:
    body = {"service": service, "method": method, "request": request}
    return http("POST", admin(running, "/v1/call"), body)


def raw_call(running: Running, service: str, method: str, request: Any) -> bytes:
    body = json.dumps({"service": service, "method": method, "request": request}).encode()
    sent = urllib.request.Request(admin(running, "/v1/call"), data=body, method="POST")
    with urllib.request.urlopen(sent, timeout=30) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return bytes(response.read())


def test_describe_services(views: Running) -> None:
    status, described = http("GET", admin(views, "/v1/describe"))
    assert status == 200, described
    services = {s["name"]: s for s in described["services"]}
    assert {name: (s["kind"], s["persistenceId"]) for name, s in services.items()} == {
        CART: ("event-sourced", "carts-with-views"),
        "cartviews.PopularProducts": ("view", ""),
        "cartviews.Confirmations": ("view", ""),
        "cartviews.ConfirmationLog": ("action", ""),
    }
    add_item = next(m for m in services[CART]["methods"] if m["name"] == "AddItem")
    assert add_item == {
        "name": "AddItem",
        "inputType": "cartviews.AddLineItem",
        "outputType": "google.protobuf.Empty",
        "clientStreaming": False,
        "serverStreaming": False,
        "httpRoutes": ["POST /carts/{cart_id}/items"],
    }
    messages = {m["name"]: m["fields"] for m in described["messages"]}
    assert [(f["name"], f["jsonName"], f["type"]) for f in messages["cartviews.AddLineItem"]] == [
        ("cart_id", "cartId", "string"),
        ("product_id", "productId", "string"),
        ("name", "name", "string"),
        ("quantity", "quantity", "int32"),
    ]
    items = next(f for f in messages["cartviews.Cart"] if f["name"] == "items")
    assert (items["type"], items["typeName"], items["repeated"]) == (
        "message",
        "cartviews.LineItem",
        True,
    )
    assert "cartviews.LineItem" in messages  # nested messages are described too


def test_call_method_transcodes_like_a_client(views: Running) -> None:
    request = {"cartId": "api", "productId": "fig", "name": "Fig", "quantity": 2}
    assert call(views, "ShoppingCart", "AddItem", request) == (200, {"reply": {}})
    # Proto field names are accepted as clients may send them; the reply is the client's JSON,
    # its int32 a whole number (not 2.0, as a google.protobuf.Value would print it).
    text = raw_call(views, CART, "GetCart", {"cart_id": "api"})
    assert text.endswith(b"\n") and text.count(b"\n") == 1, text  # one NDJSON line
    assert json.loads(text) == {
        "reply": {"items": [{"productId": "fig", "name": "Fig", "quantity": 2}]}
    }
    assert b'"quantity":2' in text and b"2.0" not in text, text
    status, cart = http("GET", f"http://127.0.0.1:{views.port}/carts/api")
    assert status == 200 and cart["items"][0]["quantity"] == 2  # the same cart clients see


@pytest.mark.parametrize(
    ("service", "method", "request_json", "status", "message"),
    [
        ("Nothing", "AddItem", {}, 404, "no service 'Nothing' (the services are: cartviews."),
        ("ShoppingCart", "Nope", {}, 404, "has no method 'Nope' (its methods: AddItem,"),
        (CART, "AddItem", {"cartId": "x", "quantity": "many"}, 400, "quantity"),
        (CART, "AddItem", {"cartId": "x", "colour": "red"}, 400, "colour"),
        (CART, "AddItem", {"cartId": "x", "quantity": 0}, 400, "cannot add 0 items"),
        ("", "", {}, 400, "give the service and the method"),
    ],
)
def test_call_method_errors_name_what_is_wrong(
    views: Running, service: str, method: str, request_json: Any, status: int, message: str
) -> None:
    got, reply = call(views, service, method, request_json)
    assert got == status and message in reply["message"], reply


def method_metrics(views: Running, method: str) -> dict[str, Any]:
    status, metrics = http("GET", admin(views, "/v1/metrics"))
    assert status == 200, metrics
    found = [m for m in metrics["methods"] if (m["service"], m["method"]) == (CART, method)]
    return found[0] if found else {"requests": "0", "errors": "0", "observed": "0", "latency": []}


def test_get_metrics_counts_requests_errors_and_latency(views: Running) -> None:
    before = method_metrics(views, "AddItem")
    for n in range(3):
        views.add_item("metrics", f"p{n}")
    assert call(views, CART, "AddItem", {"cartId": "metrics", "quantity": -1})[0] == 400
    after = method_metrics(views, "AddItem")
    assert int(after["requests"]) - int(before["requests"]) == 4
    assert int(after["errors"]) - int(before["errors"]) == 1
    observed = int(after["observed"]) - int(before["observed"])
    assert observed == 4
    bounds = [bucket["le"] for bucket in after["latency"]]
    assert bounds == sorted(bounds) and bounds[-1] == 10  # finite bounds, seconds
    assert int(after["latency"][-1]["count"]) == int(after["observed"])  # cumulative
    metrics = http("GET", admin(views, "/v1/metrics"))[1]
    active = {(e["service"], e["entityType"]): int(e["active"]) for e in metrics["entities"]}
    assert active[(CART, "EventSourced")] >= 1
    assert int(metrics["storeCommits"]) >= 3
    assert int(metrics["storeCommit"][-1]["count"]) == int(metrics["storeCommits"])
    assert metrics["time"].endswith("Z")
