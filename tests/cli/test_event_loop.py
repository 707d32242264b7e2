"""The proxy's event loop choice (cloudstate/proxy/event_loop.py): uvloop unless told otherwise."""

from __future__ import annotations

import asyncio

import pytest

from cloudstate.proxy import event_loop


def test_uvloop_by_default_and_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.ENV, raising=False)
    assert event_loop.chosen() == "uvloop"  # a dependency: installed with cloudstate

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(loop_module()).startswith("uvloop")
    monkeypatch.setenv(event_loop.ENV, "asyncio")
    assert event_loop.chosen() == "asyncio"
    assert event_loop.run(loop_module()).startswith("asyncio")


def test_an_unknown_choice_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "tokio")
    with pytest.raises(ValueError, match=r"CLOUDSTATE_EVENT_LOOP='tokio' is not one of auto"):
        event_loop.chosen()


def test_the_cli_reports_a_bad_choice_in_one_line() -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cloudstate.cli", "proxy", "--store", "memory:"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, CLOUDSTATE_EVENT_LOOP="tokio"),
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "cloudstate proxy: error: CLOUDSTATE_EVENT_LOOP='tokio' is not one of auto, uvloop, asyncio"
    )
