"""``cloudstate call`` and ``cloudstate inspect`` against a real ``cloudstate run``: a cart is
created through the proxy with ``call``, and ``inspect`` shows its journal decoded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudstate.cli import build_parser
from tests.processes import SHOPPINGCART_DIR, Process, free_port, wait_serving

ADD = "com.example.shoppingcart.ShoppingCart/AddItem"


def cloudstate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cloudstate.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same command in this process (faster, for the variants)."""
    parsed = build_parser().parse_args(args)
    code = parsed.func(parsed)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``cloudstate run`` of the shopping cart on a SQLite store: (proxy address, store URL)."""
    tmp = tmp_path_factory.mktemp("cli")
    store = f"sqlite:///{tmp}/carts.db"
    port = free_port()
    process = Process(
        "cloudstate run",
        [
            sys.executable,
            "-m",
            "cloudstate.cli",
            "run",
            "shoppingcart.shopping_cart",
            "--path",
            str(SHOPPINGCART_DIR),
            "--port",
            str(port),
            "--store",
            store,
        ],
        port,
        tmp / "run.log",
    ).start()
    try:
        wait_serving(port)
        yield f"127.0.0.1:{port}", store
    finally:
        assert process.terminate() == 0, process.log()


def test_call_adds_an_item_and_inspect_shows_the_journal(service: tuple[str, str]) -> None:
    proxy, store = service
    for product, quantity in (("apple", 3), ("pear", 1)):
        request = {
            "user_id": "carol",
            "product_id": product,
            "name": product.title(),
            "quantity": quantity,
        }
        added = cloudstate("call", "--proxy", proxy, ADD, json.dumps(request))
        assert (added.returncode, added.stdout.strip()) == (0, "{}"), added.stderr
    cart = cloudstate("call", "--proxy", proxy, "GetCart", '{"user_id": "carol"}', "--compact")
    assert json.loads(cart.stdout) == {
        "items": [
            {"product_id": "apple", "name": "Apple", "quantity": 3},
            {"product_id": "pear", "name": "Pear", "quantity": 1},
        ]
    }
    shown = cloudstate(
        "inspect",
        "--store",
        store,
        "--module",
        "shoppingcart.shopping_cart",
        "--path",
        str(SHOPPINGCART_DIR),
        "shopping-cart",
        "carol",
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "shopping-cart / carol"
    assert lines[1] == "journal: 2 events"
    assert lines[2].startswith("  #1  ")
    assert lines[2].endswith(
        "com.example.shoppingcart.persistence.ItemAdded  "
        '{"item": {"productId": "apple", "name": "Apple", "quantity": 3}}'
    )
    assert lines[3].endswith('{"item": {"productId": "pear", "name": "Pear", "quantity": 1}}')


def test_call_variants(service: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    proxy = service[0]
    code, out, _ = in_process(capsys, "call", "--proxy", proxy)
    assert code == 0
    assert "  com.example.shoppingcart.ShoppingCart\n" in out
    assert (
        "    AddItem(com.example.shoppingcart.AddLineItem) returns (google.protobuf.Empty)" in out
    )
    assert "grpc.reflection" not in out and "grpc.health" not in out
    # Every spelling of the method; lowerCamelCase JSON names too; metadata headers pass.
    for method in ("ShoppingCart.AddItem", "add_item", "ShoppingCart/add_item", ADD):
        request = '{"userId": "dave", "productId": "fig", "quantity": 1}'
        code, out, err = in_process(
            capsys, "call", "--proxy", proxy, "-H", "x-a: b", method, request
        )
        assert (code, out.strip()) == (0, "{}"), err
    code, out, _ = in_process(capsys, "call", "--proxy", proxy, "GetCart", '{"user_id": "dave"}')
    assert json.loads(out)["items"][0]["quantity"] == 4
    # Failures: the status and description, exit code 1; usage errors exit with 2.
    code, _, err = in_process(
        capsys, "call", "--proxy", proxy, "AddItem", '{"user_id": "dave", "quantity": 0}'
    )
    assert code == 1
    assert err.strip() == (
        "error: com.example.shoppingcart.ShoppingCart.AddItem: INVALID_ARGUMENT: "
        "Quantity for item  must be greater than zero."
    )
    code, _, err = in_process(capsys, "call", "--proxy", proxy, "Checkout")
    assert code == 2 and "no method 'Checkout'; the proxy serves: ShoppingCart.AddItem" in err
    code, _, err = in_process(capsys, "call", "--proxy", proxy, "AddItem", '{"nope": 1}')
    assert code == 2
    assert "not a valid com.example.shoppingcart.AddLineItem" in err
    assert "its fields: user_id, product_id, name, quantity" in err
    code, _, err = in_process(capsys, "call", "--proxy", proxy, "-H", "nocolon", "GetCart")
    assert code == 2 and "not KEY:VALUE" in err


def test_call_reads_stdin_and_explains_an_absent_proxy(service: tuple[str, str]) -> None:
    proxy = service[0]
    added = cloudstate(
        "call",
        "--proxy",
        proxy,
        "AddItem",
        "-",
        stdin='{"user_id": "erin", "product_id": "kiwi", "quantity": 2}',
    )
    assert added.returncode == 0, added.stderr
    nobody = cloudstate("call", "--proxy", f"127.0.0.1:{free_port()}", "GetCart")
    assert nobody.returncode == 1
    assert "is the proxy running there?" in nobody.stderr


def test_inspect_lists_types_and_ids_and_explains_problems(
    service: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    proxy, store = service
    cloudstate("call", "--proxy", proxy, "AddItem", '{"user_id": "frank", "quantity": 1}')
    code, out, _ = in_process(capsys, "inspect", "--store", store)
    assert code == 0
    assert out.splitlines()[0].split() == ["PERSISTENCE", "ID", "KIND", "ENTITIES"]
    assert out.splitlines()[1].split()[:2] == ["shopping-cart", "event-sourced"]
    code, out, _ = in_process(capsys, "inspect", "--store", store, "shopping-cart")
    assert "frank  (1 events)" in out.splitlines()
    # No --module (and a fresh process, where no generated code is imported): the message type
    # is unknown, shown raw, with a hint.
    raw = cloudstate("inspect", "--store", store, "shopping-cart", "frank")
    assert "@raw" in raw.stdout
    assert "add --module YOUR_MODULE --path DIR" in raw.stdout
    code, out, _ = in_process(capsys, "inspect", "--store", store, "shopping-cart", "nobody")
    assert (code, out) == (1, "shopping-cart / nobody: nothing stored\n")
    code, _, err = in_process(capsys, "inspect", "--store", f"sqlite:///{tmp_path}/none.db")
    assert code == 2 and "no SQLite store at" in err
    assert not (tmp_path / "none.db").exists()
    code, _, err = in_process(capsys, "inspect", "--store", "memory:")
    assert code == 2 and "lives only inside its proxy process" in err


def test_help_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in ("proxy", "run", "inspect", "call"):
        assert f"    {command} " in out
    assert "'cloudstate COMMAND --help' describes each command." in out
    for command in ("run", "inspect", "call"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        assert "usage: cloudstate " + command in capsys.readouterr().out
