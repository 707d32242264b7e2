"""Crash the order saga at every step boundary and check it ends as if nothing happened.

For each transition of an order's happy path (placed → reserve → charge → waiting for the
payment's confirmation → ship → completed) the proxy SIGKILLs, right before the transition's
record is written and right after, either itself or the user function (crash points:
``CLOUDSTATE_CRASH_AT``, cloudstate/proxy/crashpoints.py). The killed process is restarted and
the client keeps going. Every run must end exactly like the run without crashes — the order
shipped, the stock reserved once, the customer charged once, one parcel — and the crash must
really have happened.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.sagas.orders_stack import TRANSITIONS, OrderOutcome, OrdersStack, run_order

pytestmark = pytest.mark.xdist_group("orders-crashes")

EXPECTED = OrderOutcome(
    stage="SHIPPED",
    workflow_status="COMPLETED",
    available=7,
    reserved={"o1": 1},
    released={},
    charged=1500,
    charges={"o1": 1},
    refunds={},
    shipped=1,
)


def test_order_without_crashes(tmp_path: Path) -> None:
    stack = OrdersStack.start(tmp_path)
    try:
        assert asyncio.run(run_order(stack, "o1")) == EXPECTED
        assert stack.deaths == []
    finally:
        stack.stop()


@pytest.mark.parametrize("victim", ["proxy", "uf"])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_order_survives_a_crash(tmp_path: Path, transition: str, when: str, victim: str) -> None:
    stack = OrdersStack.start(
        tmp_path, crash_at=f"workflow.{when}-write:{transition}", crash=victim
    )
    try:
        outcome = asyncio.run(run_order(stack, "o1"))
        stack.revive()
        assert outcome == EXPECTED, f"deaths: {stack.deaths}"
        killed = "proxy" if victim == "proxy" else "user function"
        assert killed in stack.deaths, (
            f"the crash point {when}-write:{transition} never killed the {killed}"
        )
    finally:
        stack.stop()
