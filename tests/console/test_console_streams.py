"""A streamed method called from the console's form shows each message as it arrives (the CRDT
example's ``WatchLikes``: the count now, then after every ``Like``), until Stop; the entities
page shows the counter's CRDT state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.harness import http
from tests.console.browser import (
    DESKTOP,
    check_page,
    js_errors,
    open_browser,
    screenshot,
    wait_for,
)
from tests.console.test_console import (
    DOCS_IMAGES,
    Running,
    all_css,
    by_css,
    open_method,
    run_example,
)
from tests.processes import ROOT

LIKES = "com.example.crdts.Likes"


@pytest.fixture(scope="module")
def crdts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("console-crdts")
    running = run_example(tmp, "crdts.main", ROOT / "examples" / "crdts")
    try:
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def like(running: Running, post: str) -> Any:
    status, reply = http("POST", f"http://127.0.0.1:{running.port}/posts/{post}/like", {})
    assert status == 200, reply
    return reply


def replies(driver: Any) -> list[Any]:
    return [json.loads(pre.text) for pre in all_css(driver, "#call-result pre")]


def test_a_streamed_method_shows_messages_as_they_arrive(crdts: Running, tmp_path: Path) -> None:
    with open_browser(DESKTOP) as driver:
        open_method(driver, crdts, LIKES, "WatchLikes")
        assert "server-streaming" in by_css(driver, "main").text
        box = by_css(driver, "#call-request")
        box.clear()
        box.send_keys('{"postId": "p1"}')
        by_css(driver, "#call-button").click()
        wait_for("the current count", lambda: replies(driver) == [{"postId": "p1"}])
        assert by_css(driver, "#call-stop").is_enabled()  # the stream is open
        like(crdts, "p1")
        wait_for("the first change", lambda: len(replies(driver)) == 2)
        like(crdts, "p1")
        wait_for("the second change", lambda: len(replies(driver)) == 3)
        assert replies(driver)[1:] == [
            {"postId": "p1", "likes": "1"},
            {"postId": "p1", "likes": "2"},
        ]
        status = by_css(driver, "#call-status").text
        assert status == "Streaming: 3 messages so far…", status  # still open
        screenshot(driver, tmp_path, "services-stream", DOCS_IMAGES)
        by_css(driver, "#call-stop").click()
        wait_for("the stop", lambda: by_css(driver, "#call-status").text == "Stopped.")
        like(crdts, "p1")  # no reader any more: nothing else is shown
        assert len(replies(driver)) == 3
        check_page(driver, "streamed call")

        driver.get(f"{crdts.console}#/entities/{LIKES}/p1")
        state = wait_for("the CRDT state", lambda: json.loads(by_css(driver, "#entity-value").text))
        assert "crdt entity" in by_css(driver, "#entity-summary").text
        assert by_css(driver, "#entity h4").text == "CRDT state (gcounter)"
        assert state["type"] == "gcounter" and sum(state["counts"].values()) == 3, state
        screenshot(driver, tmp_path, "entities-crdt", DOCS_IMAGES)
        assert js_errors(driver) == []
