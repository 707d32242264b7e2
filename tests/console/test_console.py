"""The developer console in a real browser (headless Chromium): ``cloudstate run`` of the views
example (a shopping cart whose ``PopularProducts`` view updater is slowed down, see
slow_views.py) with the console on by default; the page calls AddItem through its form, shows the
new event in the live journal and the cart's changed state, and the view consumer's lag rising
under a burst of commands and falling back to 0. Screenshots of every page go to the test's tmp
dir (and to docs/images/ with ``CLOUDSTATE_CONSOLE_DOCS=1``); any JavaScript error fails."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.harness import http
from tests.console.browser import (
    DESKTOP,
    PHONE,
    check_page,
    js_errors,
    open_browser,
    screenshot,
    wait_for,
)
from tests.processes import ROOT, Process, free_port, wait_serving

CART = "cartviews.ShoppingCart"
VIEWS_DIR = ROOT / "examples" / "shoppingcart_views"
DOCS_IMAGES = ROOT / "docs" / "images" if os.environ.get("CLOUDSTATE_CONSOLE_DOCS") else None
PAGES = ["services", "entities", "eventing", "durable", "workflows", "health"]
#: Pages of one thing, with the name of their screenshot.
DETAIL_PAGES = {
    "services/cartviews.ShoppingCart/GetCart": "method",
    "entities/cartviews.ShoppingCart/dave": "entity",
}


class Running:
    def __init__(self, process: Process, port: int, admin_port: int, store: str) -> None:
        self.process = process
        self.port = port
        self.admin_port = admin_port
        self.store = store

    @property
    def console(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/console/"

    def add_item(self, cart: str, product: str, quantity: int = 1) -> None:
        body = {"product_id": product, "name": product.title(), "quantity": quantity}
        status, reply = http("POST", f"http://127.0.0.1:{self.port}/carts/{cart}/items", body)
        assert status == 200, reply


def run_example(tmp: Path, module: str, path: Path, *flags: str) -> Running:
    """``cloudstate run MODULE --path PATH`` with only --admin-port given: the console is on by
    default."""
    port, admin_port = free_port(), free_port()
    store = f"sqlite:///{tmp}/store.db"
    process = Process(
        "cloudstate run",
        [
            sys.executable,
            "-m",
            "cloudstate.cli",
            "run",
            module,
            "--path",
            str(path),
            "--port",
            str(port),
            "--admin-port",
            str(admin_port),
            "--store",
            store,
            *flags,
        ],
        port,
        tmp / "run.log",
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "CONSOLE_VIEW_DELAY": "0.4"},
    ).start()
    try:
        wait_serving(port)
    except BaseException:
        process.kill()
        raise
    return Running(process, port, admin_port, store)


def run_views(tmp: Path, *flags: str) -> Running:
    """The views example with its slow updater (slow_views.py)."""
    return run_example(tmp, "tests.console.slow_views", VIEWS_DIR, *flags)


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = run_views(tmp_path_factory.mktemp("console"))
    try:
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


@pytest.fixture
def browser() -> Iterator[Any]:
    with open_browser(DESKTOP) as driver:
        yield driver


def by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def open_method(driver: Any, running: Running, service: str, method: str) -> None:
    driver.get(f"{running.console}#/services/{service}/{method}")
    wait_for(f"the {method} form", lambda: by_css(driver, "#call-request").is_displayed())


def call(driver: Any, request: dict[str, Any]) -> list[Any]:
    """Fill the form's JSON, press Call, wait for its status; the replies shown."""
    box = by_css(driver, "#call-request")
    box.clear()
    box.send_keys(json.dumps(request))
    by_css(driver, "#call-button").click()
    status = wait_for(
        "the call's status",
        lambda: (text := by_css(driver, "#call-status").text) not in ("", "Calling…") and text,
    )
    assert status.startswith("OK"), status
    return [json.loads(reply.text) for reply in all_css(driver, "#call-result pre")]


def journal(driver: Any) -> list[list[str]]:
    rows = all_css(driver, "table.journal tbody tr")
    cells = [[cell.text for cell in all_css(row, "td")] for row in rows]
    return [row for row in cells if len(row) > 1]  # not the "none" row of an empty journal


def consumer_row(driver: Any) -> dict[str, str] | None:
    for row in all_css(driver, "table.consumers tbody tr"):
        cells = [cell.text for cell in all_css(row, "td")]
        if cells and "PopularProducts" in cells[0]:
            names = ["id", "kind", "source", "offset", "head", "pending", "lag"]
            return dict(zip(names, cells[: len(names)], strict=True))
    return None


def test_add_item_through_the_form_shows_in_the_live_journal_and_the_state(
    views: Running, browser: Any, tmp_path: Path
) -> None:
    entity_tab = browser.current_window_handle
    browser.get(f"{views.console}#/entities/{CART}/carol")
    wait_for("the entity page", lambda: "nothing stored" in by_css(browser, "#entity-summary").text)
    assert by_css(browser, "#entity-activity").text == "passivated"  # no actor for carol yet

    browser.switch_to.new_window("tab")
    open_method(browser, views, CART, "GetCart")
    assert call(browser, {"cartId": "carol"}) == [{}]  # an empty cart
    open_method(browser, views, CART, "AddItem")
    request = {"cartId": "carol", "productId": "kiwi", "name": "Kiwi", "quantity": 3}
    assert call(browser, request) == [{}]
    screenshot(browser, tmp_path, "services", DOCS_IMAGES)
    open_method(browser, views, CART, "GetCart")
    assert call(browser, {"cartId": "carol"}) == [
        {"items": [{"productId": "kiwi", "name": "Kiwi", "quantity": 3}]}
    ]
    assert js_errors(browser) == []

    browser.switch_to.window(entity_tab)  # not reloaded: the page polls
    rows = wait_for("the new event in the journal", lambda: journal(browser))
    assert [row[:2] for row in rows] == [["1", "cartviews.ItemAdded"]]
    assert json.loads(rows[0][3]) == {"item": {"productId": "kiwi", "name": "Kiwi", "quantity": 3}}
    assert "1 events in its journal" in by_css(browser, "#entity-summary").text
    assert by_css(browser, "#entity-activity").text == "active"  # the command activated carol

    views.add_item("carol", "fig", 2)  # a command from elsewhere shows up live too
    rows = wait_for("the second event", lambda: len(journal(browser)) == 2 and journal(browser))
    assert json.loads(rows[1][3])["item"]["productId"] == "fig"
    screenshot(browser, tmp_path, "entities", DOCS_IMAGES)
    assert js_errors(browser) == []


def test_a_consumers_lag_rises_and_falls(views: Running, browser: Any, tmp_path: Path) -> None:
    browser.get(f"{views.console}#/eventing")
    wait_for("the view consumer", lambda: consumer_row(browser))
    wait_for(
        "the consumer caught up", lambda: (row := consumer_row(browser)) and row["pending"] == "0"
    )
    for n in range(8):  # 0.4 s each in the updater: several seconds of lag
        views.add_item(f"lag{n}", "plum")
    risen = wait_for(
        "the lag to rise",
        lambda: (row := consumer_row(browser)) and float(row["lag"]) >= 1.0 and row,
    )
    assert int(risen["pending"]) > 0, risen
    fallen = wait_for(
        "the lag to fall back to 0",
        lambda: (row := consumer_row(browser)) and row["pending"] == "0" and row,
        timeout=30,
    )
    assert float(fallen["lag"]) == 0.0, fallen
    chart = by_css(browser, "svg.chart")
    assert "Lag" in chart.get_attribute("aria-label")
    assert all_css(browser, "svg.chart polyline")  # the lag's line over the last minutes
    screenshot(browser, tmp_path, "eventing", DOCS_IMAGES)
    check_page(browser, "eventing")


def test_every_page_at_desktop_and_phone_size(views: Running, browser: Any, tmp_path: Path) -> None:
    views.add_item("dave", "pear")
    for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        browser.set_window_size(*size)
        for page in [*PAGES, *DETAIL_PAGES]:
            browser.get(f"{views.console}#/{page}")
            wait_for(f"the {page} page", lambda: "Loading" not in by_css(browser, "main").text)
            if page in DETAIL_PAGES:
                wait_for("its tables", lambda: all_css(browser, "main table"))
                time.sleep(0.3)
                check_page(browser, f"{page}{suffix}")
                if suffix:
                    screenshot(browser, tmp_path, f"{DETAIL_PAGES[page]}{suffix}", DOCS_IMAGES)
                continue
            if page == "health" and not suffix:
                for n in range(6):  # some traffic to chart
                    views.add_item("health", f"item{n}")
                    time.sleep(0.3)
                wait_for(
                    "a latency reading",
                    lambda: any(
                        "p50 \u2013" not in key.text
                        for key in all_css(browser, ".method-health .key")
                    ),
                    timeout=10,
                )
            if page in ("workflows",):
                text = wait_for(
                    "the workflows notice", lambda: by_css(browser, "#workflows .unavailable").text
                )
                assert text == "This user function has no workflow services."
            time.sleep(0.3)  # let the page settle before it is measured
            check_page(browser, f"{page}{suffix}")
            # The desktop screenshots of these pages are taken where they show more.
            if page not in ("services", "entities", "eventing", "durable") or suffix:
                screenshot(browser, tmp_path, f"{page}{suffix}", DOCS_IMAGES)


def test_keyboard_only_call(views: Running, browser: Any) -> None:
    """Tab from the page's start to the form, type the request, press Enter on Call: the call is
    made; the focused element is visibly outlined."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_method(browser, views, CART, "AddItem")
    browser.refresh()  # a fresh page: focus starts at the document's beginning
    wait_for("the form", lambda: by_css(browser, "#call-request").is_displayed())
    reached = []
    for _ in range(60):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.switch_to.active_element
        reached.append(focused.get_attribute("id") or focused.tag_name)
        outline = focused.value_of_css_property("outline-style")
        assert outline not in ("none", ""), f"no visible focus on {reached[-1]}"
        if reached[-1] == "call-request":
            break
    assert reached[-1] == "call-request", reached
    assert reached.index("token") < reached.index("call-request")  # in reading order
    focused = browser.switch_to.active_element
    focused.send_keys(Keys.CONTROL, "a")
    focused.send_keys(
        json.dumps({"cartId": "erin", "productId": "lime", "name": "Lime", "quantity": 1})
    )
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element.get_attribute("id") == "call-button"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_for("the call", lambda: by_css(browser, "#call-status").text.startswith("OK"))
    status, cart = http("GET", f"http://127.0.0.1:{views.port}/carts/erin")
    assert status == 200 and cart["items"][0]["productId"] == "lime", cart
    assert js_errors(browser) == []


def test_a_failed_call_shows_its_status(views: Running, browser: Any) -> None:
    open_method(browser, views, CART, "AddItem")
    box = by_css(browser, "#call-request")
    box.clear()
    box.send_keys('{"cartId": "x", "quantity": "many"}')
    by_css(browser, "#call-button").click()
    text = wait_for(
        "the error",
        lambda: (t := by_css(browser, "#call-status").text).startswith("Error") and t,
    )
    assert "400 INVALID_ARGUMENT" in text and "quantity" in text, text
    assert js_errors(browser) == []


def test_entity_ids_by_prefix_a_page_at_a_time(views: Running, browser: Any) -> None:
    for n in range(25):
        views.add_item(f"page{n:02}", "plum")
    browser.get(f"{views.console}#/entities/{CART}")
    prefix = wait_for("the prefix field", lambda: by_css(browser, "#entity-prefix"))
    prefix.send_keys("page")
    by_css(browser, "#entity-search").click()

    def ids() -> list[str]:
        return [link.text for link in all_css(browser, "#entity-ids a")]

    wait_for("the first page", lambda: ids() == [f"page{n:02}" for n in range(20)])
    more = by_css(browser, "#entity-more")
    assert more.is_displayed()
    more.click()
    wait_for("the second page", lambda: ids() == [f"page{n:02}" for n in range(25)])
    assert not by_css(browser, "#entity-more").is_displayed()  # that was the last page
    all_css(browser, "#entity-ids a")[21].click()
    wait_for("page21's journal", lambda: len(journal(browser)) == 1)
    assert by_css(browser, "#entity-heading").text == "page21"
    assert by_css(browser, "#entity-prefix").get_attribute("value") == "page"  # kept
    assert ids()[:2] == ["page00", "page01"]
    assert js_errors(browser) == []
