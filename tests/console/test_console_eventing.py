"""The console's eventing page in a real browser: parked messages, resets, view rebuilds and the
view query box. A proxy (``cloudstate proxy --console``) in front of the user function of
tests/eventing/model.py, whose ``Projection`` fails on the entry named in
``$PROJECTION_FILE.poison`` (as in tests/admin/test_admin_eventing.py): the page lists the parked
message with its event decoded, and Redrive after the fix applies it once (parked drops to 0);
Discard forgets one; Reset asks first, then replays. And ``cloudstate run`` of the views example:
a view queried through its query method, and rebuilt. Any JavaScript error fails."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.test_admin_eventing import CONSUMER, applied
from tests.console.browser import check_page, js_errors, open_browser, screenshot, wait_for
from tests.console.test_console import DOCS_IMAGES, Running, all_css, by_css, run_views
from tests.eventing.model import pb
from tests.eventing.test_event_log import (
    append,
    processes,  # noqa: F401 - the fixture
    projection_uf,
    read_lines,
    start,
)
from tests.processes import Process, free_port, proxy, wait_serving


def start_projection(tmp_path: Path, started: list[Process]) -> tuple[int, int, Path]:
    """The projection's user function behind a proxy with its console, parking a message after
    2 attempts: (client port, admin port, the projection's file)."""
    projection = tmp_path / "projection.jsonl"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    uf = start(started, projection_uf(tmp_path, projection))
    admin = free_port()
    flags = ("--eventing-max-attempts", "2", "--admin-port", str(admin), "--console")
    px = start(started, proxy(tmp_path, uf.port, store, *flags))
    wait_serving(px.port)
    return px.port, admin, projection


def rows(driver: Any, selector: str) -> list[list[str]]:
    found = [[c.text for c in all_css(r, "td")] for r in all_css(driver, f"{selector} tbody tr")]
    return [row for row in found if len(row) > 1]


def parked_count(driver: Any) -> str | None:
    """The Parked column of the projection's row in the consumers table."""
    for row in rows(driver, "table.consumers"):
        if row[0] == CONSUMER:
            return row[9]
    return None


def status(driver: Any, before: str) -> str:
    return wait_for(
        "the page's answer",
        lambda: (text := by_css(driver, "#eventing-status").text) != before and text,
    )


def test_parked_redrive_discard_and_reset(
    tmp_path: Path,
    processes: list[Process],  # noqa: F811
) -> None:
    client, admin, projection = start_projection(tmp_path, processes)
    poison = Path(f"{projection}.poison")
    poison.write_text("a 2")
    asyncio.run(append(client, [pb.AppendRequest(ledger_id="a", count=3)]))
    with open_browser() as driver:
        driver.get(f"http://127.0.0.1:{admin}/console/#/eventing")
        (parked,) = wait_for("a#2 parked", lambda: rows(driver, "table.parked"))
        assert parked[:4] == [CONSUMER, parked[1], "event 2 of ledger|a", "evtest.Entry"], parked
        assert '"ledgerId": "a"' in parked[4] and '"n": 2' in parked[4], parked
        assert parked[5] == "2" and "poison a #2" in parked[6], parked
        wait_for("parked 1 in the consumers table", lambda: parked_count(driver) == "1")
        assert applied(projection)[("a", 2)] == 0
        check_page(driver, "eventing-parked")
        screenshot(driver, tmp_path, "eventing-parked", DOCS_IMAGES)

        poison.unlink()  # the handler is fixed
        offset = parked[1]
        by_css(driver, f"button[aria-label='Redrive {CONSUMER} @ {offset}']").click()
        answer = status(driver, "")
        assert answer.startswith(f"Redrive {CONSUMER} @ {offset}: ") and offset in answer, answer
        wait_for("a#2 applied", lambda: applied(projection)[("a", 2)] == 1)
        wait_for("no parked messages", lambda: rows(driver, "table.parked") == [])
        wait_for("parked 0 in the consumers table", lambda: parked_count(driver) == "0")
        assert applied(projection)[("a", 2)] == 1

        # Discard: asks first, then the message is never delivered.
        poison.write_text("b 1")
        asyncio.run(append(client, [pb.AppendRequest(ledger_id="b", count=1)]))
        (bad,) = wait_for("b#1 parked", lambda: rows(driver, "table.parked"))
        poison.unlink()
        name = f"{CONSUMER} @ {bad[1]}"
        by_css(driver, f"button[aria-label='Discard {name}']").click()
        confirm = by_css(driver, f"button[aria-label^='Really discard {name}']")
        assert rows(driver, "table.parked") and confirm.text == "Really discard?"
        before = by_css(driver, "#eventing-status").text
        confirm.click()
        assert "discard" in status(driver, before).lower()
        wait_for("nothing parked", lambda: rows(driver, "table.parked") == [])
        assert applied(projection)[("b", 1)] == 0

        # Reset to the beginning: the first press asks, the second replays every event.
        seen = len(read_lines(projection))  # a#1..3
        assert seen == 3
        by_css(driver, "#reset-button").click()
        assert by_css(driver, "#reset-button").text.startswith("Really reset")
        assert len(read_lines(projection)) == seen  # nothing yet
        before = by_css(driver, "#eventing-status").text
        by_css(driver, "#reset-button").click()
        answer = status(driver, before)
        assert '"generation":"1"' in answer, answer
        wait_for("the replay", lambda: len(read_lines(projection)) >= seen + 3, timeout=30)
        assert js_errors(driver) == []


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = run_views(tmp_path_factory.mktemp("console-views"))
    try:
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def test_query_and_rebuild_a_view(views: Running, tmp_path: Path) -> None:
    for product, quantity in (("plum", 3), ("fig", 5)):
        views.add_item("q1", product, quantity)
    with open_browser() as driver:
        driver.get(f"{views.console}#/eventing")
        method = wait_for("the query box", lambda: by_css(driver, "#query-method"))
        from selenium.webdriver.support.ui import Select

        Select(method).select_by_visible_text("cartviews.PopularProducts.GetTopProducts")
        box = by_css(driver, "#query-request")
        box.clear()
        box.send_keys('{"limit": 10}')

        def results() -> list[list[str]] | None:
            by_css(driver, "#query-button").click()
            wait_for("the query", lambda: by_css(driver, "#query-status").text.startswith("OK"))
            found = rows(driver, "table.query")
            return found if len(found) == 2 else None

        found = wait_for("both products in the view", results, timeout=30)
        columns = [th.text for th in all_css(driver, "table.query thead th")]
        table = sorted(dict(zip(columns, row, strict=True))["productId"] for row in found)
        assert table == ["fig", "plum"], (columns, found)
        assert by_css(driver, "#query-status").text == "OK: 2 rows"

        by_css(driver, "#rebuild-button").click()
        answer = wait_for("the rebuild's answer", lambda: by_css(driver, "#eventing-status").text)
        assert answer.startswith("Rebuild view:cartviews.") and '"generation":"1"' in answer
        check_page(driver, "eventing-views")
        screenshot(driver, tmp_path, "eventing-views", DOCS_IMAGES)
        assert js_errors(driver) == []
