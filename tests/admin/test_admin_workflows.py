"""The workflow operations of the admin API and ``cloudstate workflows``, end to end: ``cloudstate
run`` of the order saga (examples/orders) with its admin port open; orders placed over its
client port, then listed, shown (state decoded), suspended, resumed, cancelled through the CLI (a
subprocess) and HTTP/JSON. And ``cloudstate admin delete-entity`` of a bank account
(examples/bank): its journal is gone from the SQLite file once the grace (0 here) is over."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.admin.harness import Cart, admin_cli, admin_json, http, start_example
from tests.processes import ROOT

ORDERS_DIR = ROOT / "examples" / "orders"
BANK_DIR = ROOT / "examples" / "bank"
if str(ORDERS_DIR) not in sys.path:
    sys.path.insert(0, str(ORDERS_DIR))

from orders import orders_pb2, orders_pb2_grpc  # type: ignore[import-not-found]  # noqa: E402

WORKFLOW = "com.example.orders.OrderWorkflow"
#: Long enough that no order times out its payment's confirmation during the test.
CONFIRM_WITHIN_MS = 600_000


def workflows_cli(running: Cart, *args: str) -> subprocess.CompletedProcess[str]:
    """``cloudstate workflows ARGS --admin URL``, as a user runs it."""
    command = [sys.executable, "-m", "cloudstate.cli", "workflows", *args]
    command += ["--admin", running.admin]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def workflows_json(running: Cart, *args: str) -> Any:
    done = workflows_cli(running, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def eventually(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    """``check()`` once it is truthy (the workflow's steps run in the background)."""
    give_up = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > give_up:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cart]:
    running = start_example(tmp_path_factory.mktemp("admin-wf"), "orders.main", ORDERS_DIR)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            restock = orders_pb2_grpc.InventoryStub(channel).Restock
            restock(orders_pb2.StockRequest(item_id="book", quantity=100), timeout=30)
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def place(running: Cart, order_id: str) -> None:
    """Place an order and wait until it waits for its payment's confirmation."""
    running.post(
        f"/orders/{order_id}",
        {
            "itemId": "book",
            "quantity": 1,
            "customerId": "ann",
            "amount": 1200,
            "confirmWithinMs": CONFIRM_WITHIN_MS,
        },
    )
    eventually(lambda: order(running, order_id)["workflowStatus"] == "WAITING", "WAITING")


def order(running: Cart, order_id: str) -> Any:
    status, reply = http("GET", f"http://127.0.0.1:{running.port}/orders/{order_id}")
    assert status == 200, reply
    return reply


def test_list_and_show(orders: Cart) -> None:
    place(orders, "o1")
    listed = workflows_json(orders, "list", "OrderWorkflow")
    assert listed["service"] == WORKFLOW
    (o1,) = [w for w in listed["workflows"] if w["workflowId"] == "o1"]
    assert (o1["status"], o1["step"], o1["attempt"]) == ("WAITING", "charge", 0)
    assert int(o1["transitions"]) == 3  # placed → reserve → charge → waiting
    done = workflows_cli(orders, "list", "orders")  # the persistence id names it too
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["WORKFLOW", "STATUS", "STEP", "ATTEMPT", "TRANSITIONS", "REASON"]
    assert ["o1", "WAITING", "charge", "0", "3"] in [row.split() for row in rows]

    shown = workflows_json(orders, "show", WORKFLOW, "o1")
    assert shown["found"] and shown["status"] == "WAITING" and shown["step"] == "charge"
    assert shown["stateType"] == "com.example.orders.Order"
    state = shown["state"]  # decoded with the descriptors the user function reported
    assert (state["stage"], state["itemId"], state["amount"]) == ("CHARGED", "book", "1200")
    assert shown["startedAt"] and shown["pauseUntil"]
    steps = [(h["step"], h["outcome"]) for h in shown["history"]]
    assert steps == [("reserve", "ok"), ("charge", "ok")], steps
    # The same over HTTP/JSON; and the table form.
    assert http("GET", f"{orders.admin}/v1/workflows/orders/o1") == (200, shown)
    done = workflows_cli(orders, "show", "OrderWorkflow", "o1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{WORKFLOW} / o1: WAITING\n")
    assert '"stage": "CHARGED"' in done.stdout and "history: 2 step executions" in done.stdout
    # An id no command started.
    never = workflows_json(orders, "show", "orders", "never")
    assert (never["found"], never["status"]) == (False, "NOT_STARTED")


def test_suspend_then_resume_and_it_completes(orders: Cart) -> None:
    place(orders, "o2")
    done = workflows_cli(orders, "suspend", "orders", "o2", "--reason", "stuck payment")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"suspended {WORKFLOW} / o2: now SUSPENDED at step charge\n"
    shown = workflows_json(orders, "show", "orders", "o2")
    assert (shown["status"], shown["suspendedFrom"], shown["reason"]) == (
        "SUSPENDED",
        "WAITING",
        "stuck payment",
    )
    # Suspended: the confirmation is refused (the order sees it is not WAITING), nothing moves.
    status, reply = http("POST", f"http://127.0.0.1:{orders.port}/orders/o2/confirm", {})
    assert status != 200 and reply["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0], reply
    assert workflows_json(orders, "show", "orders", "o2")["status"] == "SUSPENDED"
    # Resumed where it was: waiting; the confirmation ships it.
    resumed = workflows_json(orders, "resume", "orders", "o2")
    assert (resumed["status"], resumed["reason"]) == ("WAITING", "")
    assert orders.post("/orders/o2/confirm", {})["stage"] == "CONFIRMED"
    eventually(lambda: order(orders, "o2")["stage"] == "SHIPPED", "o2 shipped")
    assert workflows_json(orders, "show", "orders", "o2")["status"] == "COMPLETED"


def test_cancel(orders: Cart) -> None:
    place(orders, "o3")
    status, reply = http(
        "POST", f"{orders.admin}/v1/workflows/orders/o3:cancel", {"reason": "customer asked"}
    )
    assert status == 200, reply
    assert (reply["status"], reply["reason"]) == ("CANCELLED", "customer asked")
    assert order(orders, "o3")["workflowStatus"] == "CANCELLED"
    listed = {w["workflowId"]: w for w in workflows_json(orders, "list", "orders")["workflows"]}
    assert (listed["o3"]["status"], listed["o3"]["reason"]) == ("CANCELLED", "customer asked")


def test_refused_operations(orders: Cart) -> None:
    place(orders, "o4")
    # Resuming one that is not suspended: the engine's refusal, HTTP 409, nothing changed.
    for verb in ("resume",):
        done = workflows_cli(orders, verb, "orders", "o4")
        assert done.returncode == 1 and "(HTTP 409)" in done.stderr, done.stderr
        assert "only SUSPENDED ones can be" in done.stderr and "o4" in done.stderr
    status, reply = http("POST", f"{orders.admin}/v1/workflows/orders/o4:resume", {})
    assert status == 409 and "only SUSPENDED" in reply["message"], reply
    assert workflows_json(orders, "show", "orders", "o4")["status"] == "WAITING"
    # An ended one can be neither cancelled nor suspended.
    assert workflows_json(orders, "cancel", "orders", "o4")["status"] == "CANCELLED"
    for verb in ("cancel", "suspend", "resume"):
        done = workflows_cli(orders, verb, "orders", "o4")
        assert done.returncode == 1 and "(HTTP 409)" in done.stderr, (verb, done.stderr)
    # A workflow no command started is not found (a control does not create it).
    done = workflows_cli(orders, "cancel", "orders", "never")
    assert done.returncode == 1 and "(HTTP 404)" in done.stderr, done.stderr
    assert "no command started it" in done.stderr
    assert workflows_json(orders, "show", "orders", "never")["found"] is False
    # A service that is not a workflow: named, with the workflow services there are.
    done = workflows_cli(orders, "list", "Inventory")
    assert done.returncode == 1 and "(HTTP 404)" in done.stderr, done.stderr
    assert "no workflow service 'Inventory'" in done.stderr and WORKFLOW in done.stderr
    # DeleteEntity of a value entity: refused, naming its kind.
    done = admin_cli(orders, "delete-entity", "Inventory", "book")
    assert done.returncode == 1 and "(HTTP 409)" in done.stderr, done.stderr
    assert "only event-sourced entities" in done.stderr and "value service" in done.stderr


def test_services_lists_the_workflow_kind(orders: Cart) -> None:
    kinds = {s["name"]: s["kind"] for s in admin_json(orders, "services")["services"]}
    assert kinds[WORKFLOW] == "workflow"


# -- DeleteEntity --------------------------------------------------------------------------------


def journal(store: str, entity_id: str) -> tuple[int, int]:
    """(events, snapshots) of bank account ``entity_id`` in the SQLite file."""
    with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
        where = "persistence_id = 'account' AND entity_id = ?"
        events = db.execute(f"SELECT count(*) FROM events WHERE {where}", (entity_id,))
        snapshots = db.execute(f"SELECT count(*) FROM snapshots WHERE {where}", (entity_id,))
        return int(events.fetchone()[0]), int(snapshots.fetchone()[0])


def test_delete_entity_purges_the_journal(tmp_path: Path) -> None:
    bank = start_example(tmp_path, "bank.main", BANK_DIR, "--deletion-grace", "0")
    try:
        for account in ("acc1", "acc2"):
            for n, amount in enumerate((100, 50)):
                body = {"amount": amount, "transferId": f"{account}-{n}"}
                bank.post(f"/accounts/{account}/deposit", body)
        assert journal(bank.store, "acc1") == (2, 0)
        done = admin_cli(bank, "delete-entity", "Accounts", "acc1")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(
            "deleted com.example.bank.Accounts / acc1: tombstone at sequence 3"
        ), done.stdout
        # The purge (a durable task due after the grace: at once) removes every row.
        eventually(lambda: journal(bank.store, "acc1") == (0, 0), "acc1 purged")
        assert journal(bank.store, "acc2") == (2, 0)  # the other account is untouched
        # Nothing left to delete: NOT_FOUND; a new command starts the account fresh.
        done = admin_cli(bank, "delete-entity", "account", "acc1")
        assert done.returncode == 1 and "(HTTP 404)" in done.stderr, done.stderr
        assert "has no events" in done.stderr
        fresh = bank.post("/accounts/acc1/deposit", {"amount": 7, "transferId": "again"})
        assert fresh["balance"] == "7"
    finally:
        assert bank.process.terminate() == 0, bank.process.log()
