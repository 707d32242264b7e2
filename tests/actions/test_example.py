"""The actions example (``examples/actions``) end to end: its user function (actions + the
shopping cart) and a proxy as subprocesses, called over gRPC and HTTP/JSON as its README shows."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tests.processes import ROOT, Process, free_port, proxy, wait_serving

EXAMPLE = ROOT / "examples" / "actions"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

import cartactions  # noqa: E402  (puts examples/shoppingcart on the path)
from cartactions import cart_actions_pb2 as api  # noqa: E402
from cartactions import cart_actions_pb2_grpc  # noqa: E402
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    tmp = tmp_path_factory.mktemp("actions-example")
    port = free_port()
    uf = Process(
        "actions example",
        [sys.executable, "-m", "cartactions.main"],
        port,
        tmp / "uf.log",
        cwd=EXAMPLE,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    ).start()
    px = proxy(tmp, port, f"sqlite:///{tmp}/actions.db").start()
    try:
        wait_serving(px.port)
        yield px
    finally:
        px.terminate()
        uf.terminate()


@pytest.fixture(scope="module")
def channel(example: Process) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{example.port}") as ch:
        yield ch


def cart_of(channel: grpc.Channel, user: str) -> list[tuple[str, str, int]]:
    cart = shoppingcart_pb2_grpc.ShoppingCartStub(channel).GetCart(
        shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=10
    )
    return [(i.product_id, i.name, i.quantity) for i in cart.items]


def test_add_item_validates_then_forwards_to_the_cart(channel: grpc.Channel) -> None:
    actions = cart_actions_pb2_grpc.ShoppingCartActionsStub(channel)
    actions.AddItem(api.AddRequest(user_id="alice", product_id="apple", quantity=3), timeout=10)
    assert cart_of(channel, "alice") == [("apple", "Red apple", 3)]
    with pytest.raises(grpc.RpcError) as error:
        actions.AddItem(api.AddRequest(user_id="alice", product_id="pear", quantity=1))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "'pear' is not in the catalog"
    assert cart_of(channel, "alice") == [("apple", "Red apple", 3)]


def test_add_items_are_in_the_carts_when_the_summary_arrives(channel: grpc.Channel) -> None:
    actions = cart_actions_pb2_grpc.ShoppingCartActionsStub(channel)
    requests = [
        api.AddRequest(user_id="bulk", product_id="banana", quantity=2),
        api.AddRequest(user_id="bulk", product_id="pear", quantity=1),
        api.AddRequest(user_id="bulk2", product_id="bread", quantity=1),
        api.AddRequest(user_id="bulk", product_id="coffee", quantity=0),
    ]
    summary = actions.AddItems(iter(requests), timeout=10)
    assert summary.added == 2
    assert list(summary.rejected) == [
        "'pear' is not in the catalog",
        "quantity for coffee must be between 1 and 99",
    ]
    assert cart_of(channel, "bulk") == [("banana", "Banana", 2)]
    assert cart_of(channel, "bulk2") == [("bread", "Sourdough bread", 1)]


def test_catalog_and_quote_streams(channel: grpc.Channel) -> None:
    actions = cart_actions_pb2_grpc.ShoppingCartActionsStub(channel)
    products = actions.Catalog(api.CatalogRequest(prefix="b"), timeout=10)
    assert [p.product_id for p in products] == ["banana", "bread"]
    lines = actions.Quote(
        iter([api.AddRequest(product_id="apple", quantity=3), api.AddRequest(product_id="coffee")]),
        timeout=10,
    )
    assert [(q.line_cents, q.total_cents) for q in lines] == [(135, 135), (0, 135)]
    with pytest.raises(grpc.RpcError) as error:
        list(actions.Quote(iter([api.AddRequest(product_id="caviar", quantity=1)]), timeout=10))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_over_http_json(example: Process, channel: grpc.Channel) -> None:
    base = f"http://127.0.0.1:{example.port}"
    with httpx.Client(base_url=base, timeout=10) as http:
        added = http.post("/actions/carts/bob/items", json={"productId": "cheese", "quantity": 2})
        assert (added.status_code, added.json()) == (200, {})
        refused = http.post("/actions/carts/bob/items", json={"productId": "cheese"})
        assert refused.status_code == 400
        assert refused.json()["message"] == "quantity for cheese must be between 1 and 99"
        assert cart_of(channel, "bob") == [("cheese", "Comté, 200 g", 2)]

        ndjson = http.get("/actions/catalog", params={"prefix": "ap", "delayMs": 1})
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        assert [json.loads(line)["productId"] for line in ndjson.text.splitlines()] == [
            "apple",
            "apricot",
        ]
        with http.stream("GET", "/actions/catalog", headers={"Accept": "text/event-stream"}) as sse:
            assert sse.headers["content-type"].startswith("text/event-stream")
            events = [line[len("data: ") :] for line in sse.iter_lines() if line]
        assert [json.loads(e)["productId"] for e in events] == list(
            ["apple", "apricot", "banana", "bread", "cheese", "coffee"]
        )


def test_the_readme_commands_work(example: Process) -> None:
    client = [sys.executable, str(EXAMPLE / "client.py"), "--port", str(example.port)]
    import subprocess

    def run(*args: str) -> str:
        done = subprocess.run([*client, *args], capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr

    assert run("add", "carol", "apple", "3") == "added 3 x apple to carol's cart\n"
    assert "refused: 'nope' is not in the catalog" in run("add-many", "carol", "banana:2", "nope")
    assert run("cart", "carol").splitlines() == [
        "  3 x apple      Red apple",
        "  2 x banana     Banana",
    ]
    assert "total    1285 c" in run("quote", "apple:3", "coffee:1")
    assert "error: INVALID_ARGUMENT" in run("add", "carol", "apple", "0")


def test_example_files_exist() -> None:
    for name in ("README.md", "client.py", "cartactions/actions.py", "cartactions/main.py"):
        assert (EXAMPLE / name).is_file(), name
    assert Path(cartactions.__file__).parent == EXAMPLE / "cartactions"
