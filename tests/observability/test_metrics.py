"""Metrics under a scripted load: exact counter deltas, read from ``/metrics`` on the admin port."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.observability.scrape import Samples, scrape, value
from tests.processes import Process, free_port, proxy, shoppingcart_user_function, wait_serving

SERVICE = "com.example.shoppingcart.ShoppingCart"
ENTITY = ("entity_type", "EventSourced"), ("service", SERVICE)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, int]]:
    tmp: Path = tmp_path_factory.mktemp("metrics")
    uf = shoppingcart_user_function(tmp).start()
    admin = free_port()
    px = proxy(
        tmp,
        uf.port,
        f"sqlite:///{tmp}/metrics.db",
        "--admin-port",
        str(admin),
        "--passivation-timeout",
        "0.5",
    ).start()
    try:
        wait_serving(px.port)
        yield px, admin
    finally:
        px.terminate()
        uf.terminate()


def entity(samples: Samples, name: str) -> float:
    return value(samples, name, **dict(ENTITY))


def test_scripted_load_moves_metrics_by_exact_amounts(running: tuple[Process, int]) -> None:
    px, admin = running
    user = f"metrics-{time.monotonic_ns()}"
    before = scrape(admin)
    with grpc.insecure_channel(f"127.0.0.1:{px.port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        for i in range(3):
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(
                    user_id=user, product_id=f"p{i}", name="P", quantity=1
                ),
                timeout=10,
            )
        with pytest.raises(grpc.RpcError) as refused:
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(user_id=user, product_id="x", name="X", quantity=-1),
                timeout=10,
            )
        failed_status = refused.value.code().name
        stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10)
        after = scrape(admin)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        add = {"service": SERVICE, "method": "AddItem"}
        get = {"service": SERVICE, "method": "GetCart"}
        assert delta("cloudstate_requests_total", **add, status="OK") == 3
        assert delta("cloudstate_requests_total", **add, status=failed_status) == 1
        assert delta("cloudstate_requests_total", **get, status="OK") == 1
        assert delta("cloudstate_request_duration_seconds_count", **add) == 4
        assert delta("cloudstate_request_duration_seconds_count", **get) == 1
        assert delta("cloudstate_request_duration_seconds_sum", **add) > 0
        assert value(after, "cloudstate_requests_in_flight") == 0
        # Three events written (the failed command writes nothing, GetCart reads only): the
        # batch sizes of the store's transactions add up to exactly three write requests.
        assert delta("cloudstate_store_write_batch_size_sum", store="sqlite") == 3
        assert 1 <= delta("cloudstate_store_write_batch_size_count", store="sqlite") <= 3
        assert delta("cloudstate_store_commit_duration_seconds_count", store="sqlite") >= 1
        assert entity(after, "cloudstate_entity_activations_total") > entity(
            before, "cloudstate_entity_activations_total"
        )

        # Let every active entity passivate, then activate the cart again: one activation, one
        # replay of exactly its three events.
        deadline = time.monotonic() + 20
        while entity(scrape(admin), "cloudstate_entities_active") != 0:
            assert time.monotonic() < deadline, "entities never passivated"
            time.sleep(0.2)
        idle = scrape(admin)
        assert (
            entity(idle, "cloudstate_entity_passivations_total")
            >= entity(before, "cloudstate_entity_passivations_total") + 1
        )
        cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10)
        assert len(cart.items) == 3
        again = scrape(admin)

    def since_idle(name: str, **labels: str) -> float:
        return value(again, name, **labels) - value(idle, name, **labels)

    assert (
        entity(again, "cloudstate_entity_activations_total")
        - entity(idle, "cloudstate_entity_activations_total")
        == 1
    )
    assert entity(again, "cloudstate_entities_active") == 1
    assert since_idle("cloudstate_replayed_events_total", service=SERVICE) == 3
    assert since_idle("cloudstate_replay_duration_seconds_count", service=SERVICE) == 1
    assert since_idle("cloudstate_requests_total", **get, status="OK") == 1
    assert entity(again, "cloudstate_entity_stream_restarts_total") == entity(
        before, "cloudstate_entity_stream_restarts_total"
    )


def test_admin_port_serves_metrics_only(running: tuple[Process, int]) -> None:
    px, admin = running
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as reply:
        assert reply.headers["content-type"].startswith("text/plain")
        assert b"cloudstate_requests_in_flight" in reply.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{admin}/health/live", timeout=10)
    assert missing.value.code == 404
    # ... and the client port does not expose the metrics.
    with pytest.raises(urllib.error.HTTPError) as absent:
        urllib.request.urlopen(f"http://127.0.0.1:{px.port}/metrics", timeout=10)
    assert absent.value.code == 404
