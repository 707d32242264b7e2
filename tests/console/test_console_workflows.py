"""The console's Workflows page in a real browser: ``cloudstate run`` of the order saga
(examples/orders) with its admin port; an order placed over the client port waits for its
payment's confirmation at step ``charge``. The page lists it, shows its state and history, and
its buttons suspend and resume it (the status changes on the page) and cancel another order; a
control the engine refuses shows its 409 message. Any JavaScript error fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.admin.harness import Cart, http, start_example
from tests.admin.test_admin_workflows import (
    ORDERS_DIR,
    WORKFLOW,
    orders_pb2,
    orders_pb2_grpc,
    place,
)
from tests.console.browser import (
    DESKTOP,
    PHONE,
    check_page,
    js_errors,
    open_browser,
    screenshot,
    wait_for,
)
from tests.console.test_console import DOCS_IMAGES, all_css, by_css


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cart]:
    running = start_example(tmp_path_factory.mktemp("console-wf"), "orders.main", ORDERS_DIR)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            restock = orders_pb2_grpc.InventoryStub(channel).Restock
            restock(orders_pb2.StockRequest(item_id="book", quantity=100), timeout=30)
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def console(running: Cart) -> str:
    return f"http://127.0.0.1:{running.admin_port}/console/"


def listed(driver: Any) -> dict[str, list[str]]:
    """The workflows table: id -> [status, step, attempt, transitions, reason]."""
    found = {}
    for row in all_css(driver, "table.workflows tbody tr"):
        cells = [cell.text for cell in all_css(row, "td")]
        if len(cells) > 1:
            found[cells[0]] = cells[1:]
    return found


def summary(driver: Any) -> str:
    return str(by_css(driver, "#workflow-summary").text)


def press(driver: Any, verb: str, reason: str = "") -> str:
    """Type the reason, press the button, wait for the page's answer; that answer."""
    box = by_css(driver, "#workflow-reason")
    box.clear()
    if reason:
        box.send_keys(reason)
    before = by_css(driver, "#workflow-status").text
    by_css(driver, f"#workflow-{verb}").click()
    return wait_for(
        f"the answer to {verb}",
        lambda: (
            (text := by_css(driver, "#workflow-status").text) != before
            and not text.endswith("…")
            and text
        ),
    )


def test_list_show_suspend_resume_and_cancel(orders: Cart, tmp_path: Path) -> None:
    place(orders, "w1")
    place(orders, "w2")
    with open_browser() as driver:
        driver.get(f"{console(orders)}#/workflows")
        rows = wait_for("the orders listed", lambda: len(listed(driver)) == 2 and listed(driver))
        assert rows["w1"][:4] == ["WAITING", "charge", "0", "3"], rows
        assert by_css(driver, "#workflow-service").get_attribute("value") == WORKFLOW

        by_css(driver, "table.workflows a[href$='/w1']").click()
        wait_for("w1's detail", lambda: summary(driver) == "WAITING at step charge")
        assert driver.switch_to.active_element.get_attribute("id") == "workflow-heading"
        state = by_css(driver, "#workflow-state").text
        assert '"stage": "CHARGED"' in state and '"itemId": "book"' in state, state
        history = [
            [cell.text for cell in all_css(row, "td")]
            for row in all_css(driver, "table.history tbody tr")
        ]
        assert [(h[1], h[5]) for h in history] == [("reserve", "ok"), ("charge", "ok")], history
        assert by_css(driver, "#workflow-resume").get_attribute("disabled") is not None
        check_page(driver, "workflow")
        screenshot(driver, tmp_path, "workflows", DOCS_IMAGES)

        answer = press(driver, "suspend", "stuck payment")
        assert answer == "suspend: now SUSPENDED at step charge", answer
        wait_for("SUSPENDED on the page", lambda: summary(driver).startswith("SUSPENDED"))
        wait_for("SUSPENDED in the list", lambda: listed(driver)["w1"][0] == "SUSPENDED")
        assert listed(driver)["w1"][4] == "stuck payment"
        assert "Status\nSUSPENDED (from WAITING)" in by_css(driver, "dl.facts").text
        shown = http("GET", f"{orders.admin}/v1/workflows/orders/w1")[1]
        assert (shown["status"], shown["reason"]) == ("SUSPENDED", "stuck payment")

        answer = press(driver, "resume")
        assert answer == "resume: now WAITING at step charge", answer
        wait_for("WAITING again", lambda: summary(driver) == "WAITING at step charge")
        wait_for("WAITING in the list", lambda: listed(driver)["w1"][0] == "WAITING")

        # Another order, cancelled through its page; then a refused control shows the 409.
        driver.get(f"{console(orders)}#/workflows/{WORKFLOW}/w2")
        wait_for("w2's detail", lambda: summary(driver) == "WAITING at step charge")
        answer = press(driver, "cancel", "customer asked")
        assert answer.startswith("cancel: now CANCELLED"), answer
        wait_for("CANCELLED on the page", lambda: summary(driver).startswith("CANCELLED"))
        wait_for("CANCELLED in the list", lambda: listed(driver)["w2"][0] == "CANCELLED")
        assert http("GET", f"{orders.admin}/v1/workflows/orders/w2")[1]["status"] == "CANCELLED"
        assert http("GET", f"{orders.admin}/v1/workflows/orders/w1")[1]["status"] == "WAITING"
        # The buttons an ended workflow would refuse are disabled; enabled, the engine answers.
        for verb in ("suspend", "resume", "cancel"):
            button = by_css(driver, f"#workflow-{verb}")
            assert button.get_attribute("disabled") is not None, verb
        driver.execute_script("document.getElementById('workflow-cancel').disabled = false")
        answer = press(driver, "cancel")
        assert answer.startswith("cancel refused: 409 FAILED_PRECONDITION"), answer
        assert "w2" in answer
        assert js_errors(driver) == []


def test_the_page_at_desktop_and_phone_size(orders: Cart, tmp_path: Path) -> None:
    place(orders, "w3")
    with open_browser() as driver:
        for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
            driver.set_window_size(*size)
            driver.get(f"{console(orders)}#/workflows/{WORKFLOW}/w3")
            wait_for("w3's detail", lambda: summary(driver) == "WAITING at step charge")
            wait_for("the list", lambda: "w3" in listed(driver))
            check_page(driver, f"workflows{suffix}")
            if suffix:
                screenshot(driver, tmp_path, f"workflows{suffix}", DOCS_IMAGES)
