"""The admission line of --max-concurrent-requests (cloudstate/proxy/admission.py), in-process:
first come first served, a freed slot handed to the first in line, the line's bound and deadline,
and clients that go away while waiting or just as their turn comes."""

from __future__ import annotations

import asyncio

from cloudstate.proxy.admission import QUEUE_FULL, QUEUE_TIMEOUT, Admission, retry_hint


async def test_a_free_slot_is_taken_at_once_and_the_limit_holds() -> None:
    admission = Admission(limit=2, queue_limit=0, timeout=0.0)
    assert admission.enter_now() and admission.enter_now()
    assert not admission.enter_now()
    assert await admission.wait() == QUEUE_FULL  # no line: refused at once
    admission.leave()
    assert admission.in_flight == 1 and admission.enter_now()


async def test_no_limit_admits_everything() -> None:
    admission = Admission(limit=0)
    assert all(admission.enter_now() for _ in range(10_000))


async def test_freed_slots_go_to_the_line_first_come_first_served() -> None:
    admission = Admission(limit=1, queue_limit=10, timeout=5.0)
    assert admission.enter_now()
    order: list[int] = []

    async def waiter(n: int) -> None:
        assert await admission.wait() is None
        order.append(n)
        await asyncio.sleep(0)
        admission.leave()

    tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
    await asyncio.sleep(0.01)
    assert admission.queued == 5
    assert not admission.enter_now(), "a newcomer went past the line"
    admission.leave()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert admission.in_flight == 0 and admission.queued == 0


async def test_the_line_is_bounded_and_waits_are_bounded() -> None:
    admission = Admission(limit=1, queue_limit=2, timeout=0.2)
    assert admission.enter_now()
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = [asyncio.create_task(admission.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert await admission.wait() == QUEUE_FULL
    assert await asyncio.wait_for(asyncio.gather(*waiting), 5) == [QUEUE_TIMEOUT] * 2
    assert loop.time() - started >= 0.19
    assert admission.queued == 0 and admission.in_flight == 1


async def test_a_client_gone_while_waiting_leaves_the_line() -> None:
    admission = Admission(limit=1, queue_limit=5, timeout=5.0)
    assert admission.enter_now()
    gone = asyncio.create_task(admission.wait())
    stays = asyncio.create_task(admission.wait())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert admission.queued == 1
    admission.leave()
    assert await stays is None
    assert admission.in_flight == 1


async def test_a_slot_handed_to_a_client_that_just_went_away_passes_on() -> None:
    admission = Admission(limit=1, queue_limit=5, timeout=5.0)
    assert admission.enter_now()
    gone = asyncio.create_task(admission.wait())
    stays = asyncio.create_task(admission.wait())
    await asyncio.sleep(0)
    admission.leave()  # the slot is handed to `gone`...
    gone.cancel()  # ...which is cancelled before it runs
    assert await stays is None
    assert admission.in_flight == 1 and admission.queued == 0
    admission.leave()
    assert admission.in_flight == 0


def test_the_retry_hint_is_spread_over_one_to_two_queue_timeouts() -> None:
    hints = [retry_hint(0.5) for _ in range(200)]
    assert all(0.5 <= h <= 1.0 for h in hints) and len(set(hints)) > 100
    assert 1.0 <= retry_hint(0.0) <= 2.0
