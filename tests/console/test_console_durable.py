"""The console's durable-calls page: pending timers, and dead letters redriven (delivered at
once: the cart gets its item) or dropped (gone from the store) with its buttons. Timers and dead
letters are written to the running proxy's SQLite store beside it, as a durable call that ran out
of attempts leaves them."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudstate.proxy.stores.base import DurableTask, Payload
from cloudstate.proxy.stores.registry import open_store
from tests.admin.harness import http
from tests.console.browser import check_page, js_errors, open_browser, screenshot, wait_for
from tests.console.test_console import (
    DOCS_IMAGES,
    VIEWS_DIR,
    Running,
    all_css,
    by_css,
    run_views,
)

# The example's messages, imported as its user function imports them (its conftest.py puts its
# directory on sys.path for its own tests the same way).
if str(VIEWS_DIR) not in sys.path:
    sys.path.append(str(VIEWS_DIR))
from cartviews.cartviews_pb2 import AddLineItem

CART = "cartviews.ShoppingCart"


def add_line(cart: str, product: str) -> Payload:
    message = AddLineItem(cart_id=cart, product_id=product, name=product.title(), quantity=2)
    return Payload("type.googleapis.com/cartviews.AddLineItem", message.SerializeToString())


async def seed(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        later = time.time() + 3600
        await store.write_tasks(
            [
                DurableTask("timer:later", "k-later", CART, "AddItem", add_line("t", "x"), later),
                DurableTask("timer:dead-1", "k-1", CART, "AddItem", add_line("dl", "date"), later),
                DurableTask("effect:dead-2", "k-2", CART, "AddItem", add_line("dl", "nut"), later),
            ]
        )
        assert await store.dead_letter_task("timer:dead-1", "k-1", "boom 1")
        assert await store.dead_letter_task("effect:dead-2", "k-2", "boom 2")
    finally:
        await store.close()


async def dead_letters(store_url: str) -> list[str]:
    store = await open_store(store_url)
    try:
        return sorted(letter.task.name for letter in await store.list_dead_letters())
    finally:
        await store.close()


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = run_views(tmp_path_factory.mktemp("console-durable"))
    try:
        asyncio.run(seed(running.store))
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def rows(driver: Any, table: str) -> list[list[str]]:
    found = [[c.text for c in all_css(r, "td")] for r in all_css(driver, f"#{table} tbody tr")]
    return [row for row in found if len(row) > 1]


def test_redrive_and_drop_dead_letters(views: Running, tmp_path: Path) -> None:
    with open_browser() as driver:
        driver.get(f"{views.console}#/durable")
        letters = wait_for("the dead letters", lambda: len(rows(driver, "dead-letters")) == 2)
        assert letters
        assert [(r[0], r[1], r[4]) for r in rows(driver, "dead-letters")] == [
            ("effect:dead-2", f"{CART}.AddItem", "boom 2"),
            ("timer:dead-1", f"{CART}.AddItem", "boom 1"),
        ]
        assert [(r[0], r[2]) for r in rows(driver, "timers")] == [
            ("timer:later", f"{CART}.AddItem")
        ]
        check_page(driver, "durable")
        screenshot(driver, tmp_path, "durable", DOCS_IMAGES)

        by_css(driver, "button[aria-label='Redrive timer:dead-1']").click()
        wait_for("the redrive", lambda: "redriven" in by_css(driver, "#durable-status").text)
        wait_for("one dead letter left", lambda: len(rows(driver, "dead-letters")) == 1)
        cart = wait_for(
            "the redriven AddItem delivered",
            lambda: (
                (reply := http("GET", f"http://127.0.0.1:{views.port}/carts/dl")[1])
                and reply.get("items")
                and reply
            ),
        )
        assert [item["productId"] for item in cart["items"]] == ["date"]

        by_css(driver, "button[aria-label='Drop effect:dead-2']").click()
        assert asyncio.run(dead_letters(views.store)) == ["effect:dead-2"]  # not yet: asks first
        confirm = by_css(driver, "button[aria-label^='Really drop effect:dead-2']")
        assert confirm.text == "Really drop?"
        confirm.click()
        wait_for("the drop", lambda: "dropped" in by_css(driver, "#durable-status").text)
        wait_for("no dead letters", lambda: rows(driver, "dead-letters") == [])
        assert asyncio.run(dead_letters(views.store)) == []
        assert js_errors(driver) == []
