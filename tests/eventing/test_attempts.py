"""The attempts setting of eventing consumers and the retry loop that parks after it."""

from __future__ import annotations

import pytest

from cloudstate.proxy.eventing.attempts import FOREVER, GaveUp, MaxAttempts, retry


def test_parse_default_forever_and_overrides() -> None:
    assert MaxAttempts.parse("") == MaxAttempts(10)
    assert MaxAttempts.parse("3").of("topic:t:g") == 3
    assert MaxAttempts.parse("forever").of("topic:t:g") == FOREVER
    attempts = MaxAttempts.parse("5, event_log:ledger:evtest.Projection=forever,topic:t:g=2")
    assert attempts.of("event_log:ledger:evtest.Projection") == FOREVER
    assert attempts.of("topic:t:g") == 2
    assert attempts.of("view:v:s:topic:t:g~rebuild-g2") == 5
    assert MaxAttempts.parse("view:v:s:topic:t:g=1").of("view:v:s:topic:t:g~rebuild-g2") == 1
    for bad in ("-1", "many", "x=y"):
        with pytest.raises(ValueError, match="--eventing-max-attempts"):
            MaxAttempts.parse(bad)


async def test_retry_gives_up_after_max_attempts_with_the_last_error() -> None:
    calls: list[int] = []
    told: list[int] = []

    async def failing() -> None:
        calls.append(len(calls))
        raise RuntimeError(f"boom {len(calls)}")

    with pytest.raises(GaveUp) as gave_up:
        await retry(failing, 0.001, 0.002, lambda e, n, d: told.append(n), max_attempts=3)
    assert len(calls) == 3 and told == [1, 2]
    assert gave_up.value.attempts == 3 and str(gave_up.value.error) == "boom 3"


async def test_retry_forever_keeps_going_until_it_succeeds() -> None:
    calls: list[int] = []

    async def fails_twelve_times() -> str:
        calls.append(1)
        if len(calls) <= 12:
            raise RuntimeError("not yet")
        return "done"

    assert await retry(fails_twelve_times, 0.0, 0.0, lambda e, n, d: None, FOREVER) == "done"
    assert len(calls) == 13
