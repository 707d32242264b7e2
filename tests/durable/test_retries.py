"""A failing target is retried with growing delays (exponential back-off, equal jitter), then
becomes a dead letter: counted in /metrics, listed by ``cloudstate durable dead-letters``, and
delivered again by ``cloudstate durable redrive``."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from cloudstate.proxy.stores.base import DeadLetter
from tests.durable.harness import Stack, cloudstate_cli, effect, eventually, running_stack
from tests.observability.scrape import scrape, value

#: 100 ms doubling (harness.FAST_RETRIES), 4 attempts.
SETTINGS = {"durable_max_attempts": 4, "admin_port": 0}


async def dead_letters(stack: Stack) -> list[DeadLetter]:
    return await stack.store.list_dead_letters()


async def test_a_failing_target_is_retried_with_growing_delays_then_dead_lettered(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path, **SETTINGS) as stack:
        before = await asyncio.to_thread(scrape, stack.proxy.admin_port)
        stack.uf.recorder.failures["r1"] = -1
        await stack.ask(effect("r1"))
        await eventually(lambda: dead_letters(stack), within=8, what="a dead letter")
        deliveries = stack.uf.delivered("r1")
        assert [d.metadata["cloudstate-attempt"] for d in deliveries] == ["1", "2", "3", "4"]
        assert len({d.metadata["idempotency-key"] for d in deliveries}) == 1  # stable key
        gaps = [b.at - a.at for a, b in itertools.pairwise(deliveries)]
        # Equal jitter: at least half of 0.1, 0.2, 0.4 s (small slack for the clocks).
        for gap, nominal in zip(gaps, (0.1, 0.2, 0.4), strict=True):
            assert gap >= nominal / 2 - 0.01, gaps
        (letter,) = await dead_letters(stack)
        assert letter.task.attempts == 4
        assert "r1 fails on purpose" in letter.task.last_error
        assert await stack.store.list_tasks() == []

        after = await asyncio.to_thread(scrape, stack.proxy.admin_port)
        assert value(after, "cloudstate_dead_letters") == 1
        assert value(after, "cloudstate_durable_tasks_pending") == 0

        def delta(outcome: str) -> float:
            name = "cloudstate_durable_deliveries_total"
            return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

        assert (delta("retry"), delta("dead"), delta("ok")) == (3, 1, 0)

        listed = await asyncio.to_thread(
            cloudstate_cli, "durable", "dead-letters", "--store", f"sqlite:///{stack.db}"
        )
        assert listed.returncode == 0, listed.stderr
        assert letter.task.name in listed.stdout
        assert "failed 4 times" in listed.stdout and "r1 fails on purpose" in listed.stdout

        stack.uf.recorder.failures["r1"] = 0
        redrive = await asyncio.to_thread(
            cloudstate_cli,
            "durable",
            "redrive",
            letter.task.name,
            "--store",
            f"sqlite:///{stack.db}",
        )
        assert redrive.returncode == 0, redrive.stderr
        await stack.uf.wait_for(lambda: len(stack.uf.delivered("r1")) == 5)
        redriven = stack.uf.delivered("r1")[-1]
        assert redriven.metadata["cloudstate-attempt"] == "1"
        assert redriven.metadata["idempotency-key"] == deliveries[0].metadata["idempotency-key"]
        await eventually(lambda: _nothing_left(stack), what="the redriven task finished")
        scraped = await asyncio.to_thread(scrape, stack.proxy.admin_port)
        assert value(scraped, "cloudstate_dead_letters") == 0


async def _nothing_left(stack: Stack) -> bool:
    return not await stack.store.list_tasks() and not await dead_letters(stack)


async def test_a_calls_own_max_attempts_wins_and_drop_forgets_a_dead_letter(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path, **SETTINGS) as stack:
        stack.uf.recorder.failures["r2"] = -1
        await stack.ask(effect("r2", max_attempts=2))
        await eventually(lambda: dead_letters(stack), what="a dead letter")
        assert len(stack.uf.delivered("r2")) == 2
        (letter,) = await dead_letters(stack)
        store = f"sqlite:///{stack.db}"
        missing = await asyncio.to_thread(
            cloudstate_cli, "durable", "drop", "effect:nope", "--store", store
        )
        assert missing.returncode == 1 and "no dead letter named" in missing.stdout
        dropped = await asyncio.to_thread(
            cloudstate_cli, "durable", "drop", letter.task.name, "--store", store
        )
        assert dropped.returncode == 0, dropped.stderr
        assert await dead_letters(stack) == []
        listed = await asyncio.to_thread(
            cloudstate_cli, "durable", "dead-letters", "--store", store
        )
        assert "no dead letters" in listed.stdout


async def test_a_target_that_fails_a_few_times_is_delivered_in_the_end(tmp_path: Path) -> None:
    async with running_stack(tmp_path, **SETTINGS) as stack:
        stack.uf.recorder.failures["r3"] = 2
        await stack.update("gina", effect("r3"))
        await stack.uf.wait_for(lambda: len(stack.uf.delivered("r3")) == 3)
        await eventually(lambda: _nothing_left(stack), what="the task finished")
        assert len(stack.uf.delivered("r3")) == 3  # not delivered again once it succeeded
