"""The order saga's three endings, behind a real proxy: shipped, compensated after a charge that
keeps failing, and compensated after a payment that was not confirmed in time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sagas.orders_stack import OrderOutcome, OrdersStack, run_order

pytestmark = pytest.mark.xdist_group("orders-saga")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[OrdersStack]:
    started = OrdersStack.start(tmp_path)
    yield started
    started.stop()


def test_an_order_ships(stack: OrdersStack) -> None:
    outcome = asyncio.run(run_order(stack, "ok"))
    assert (outcome.stage, outcome.workflow_status, outcome.shipped) == ("SHIPPED", "COMPLETED", 1)
    assert (outcome.available, outcome.charged) == (7, 1500)


def test_a_charge_that_keeps_failing_releases_the_stock(stack: OrdersStack) -> None:
    outcome = asyncio.run(run_order(stack, "broke", blocked=True))
    assert outcome == OrderOutcome(
        stage="CANCELLED",
        workflow_status="COMPLETED",
        available=10,
        reserved={"broke": 1},
        released={"broke": 1},
        charged=0,
        charges={},
        refunds={},
        shipped=0,
    )


def test_an_unconfirmed_payment_is_refunded(stack: OrdersStack) -> None:
    outcome = asyncio.run(run_order(stack, "slow", confirm=False, confirm_within_ms=300))
    assert outcome == OrderOutcome(
        stage="CANCELLED",
        workflow_status="COMPLETED",
        available=10,
        reserved={"slow": 1},
        released={"slow": 1},
        charged=0,
        charges={"slow": 1},
        refunds={"slow": 1},
        shipped=0,
    )
