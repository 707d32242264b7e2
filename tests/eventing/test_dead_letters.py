"""Dead letters and resets of an event-log consumer, end to end: a real proxy process, the SDK
user function of ``model.py`` (its ``Projection`` records every entry it is given) and the
``cloudstate eventing`` CLI against the running proxy's SQLite store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from cloudstate.proxy.stores.registry import open_store
from tests.eventing.model import pb
from tests.eventing.test_event_log import (
    append,
    processes,  # noqa: F401 - the fixture
    projection_uf,
    read_lines,
    start,
    wait_until,
)
from tests.observability.scrape import scrape, value
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

CONSUMER = "event_log:ledger:evtest.Projection"
ENTITIES = 100
ROUNDS = 10
PER_ROUND = 10  # 100 entities x 10 rounds x 10 = 10,000 events
POISON = ("e-007", 51)


def cli(store: str, *args: str) -> str:
    """Run ``cloudstate eventing ...`` against ``store``; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "cloudstate.cli", "eventing", *args, "--store", store],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def applied(projection: Path) -> Counter[tuple[str, int]]:
    return Counter((line["subject"], line["n"]) for line in read_lines(projection))


async def position(store_url: str) -> tuple[int, int, int]:
    """(committed offset, head of the ledger's log, parked messages) from the store."""
    store = await open_store(store_url)
    try:
        committed = await store.load_offset(CONSUMER)
        return committed, await store.highest_offset("ledger"), len(await store.list_parked())
    finally:
        await store.close()


def test_a_poison_event_is_parked_the_rest_flows_and_a_redrive_applies_it_once(
    tmp_path: Path,
    processes: list[Process],  # noqa: F811
) -> None:
    """10,000 events; the handler fails on one of them (e-007's entry 51). The consumer tries it
    3 times (``--eventing-max-attempts 3``), parks it and goes on: the other 9,999 are applied,
    including e-007's later entries (they do not wait behind the parked one), and the lag returns
    to 0. The handler is fixed, the CLI redrives the parked event: it is applied exactly once."""
    projection = tmp_path / "projection.jsonl"
    Path(f"{projection}.poison").write_text(f"{POISON[0]} {POISON[1]}")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    uf = start(processes, projection_uf(tmp_path, projection))
    admin = free_port()
    flags = ("--eventing-max-attempts", "3", "--admin-port", str(admin), "--log-level", "INFO")
    px = start(processes, proxy(tmp_path, uf.port, store, *flags))
    wait_serving(px.port)
    ids = [f"e-{i:03d}" for i in range(ENTITIES)]
    for _ in range(ROUNDS):
        asyncio.run(append(px.port, [pb.AppendRequest(ledger_id=i, count=PER_ROUND) for i in ids]))
    total = ENTITIES * ROUNDS * PER_ROUND
    wait_until(lambda: len(applied(projection)) >= total - 1, "9,999 events", timeout=120)
    labels = {"consumer": CONSUMER, "source": "ledger"}
    wait_until(
        lambda: value(scrape(admin), "cloudstate_eventing_pending_events", **labels) == 0,
        "the lag to return to 0",
    )
    counts = applied(projection)
    assert set(counts) == {(i, n) for i in ids for n in range(1, 101)} - {POISON}
    assert all(counts[(POISON[0], n)] >= 1 for n in range(52, 101))  # did not wait behind it
    refusals = Path(f"{projection}.refused").read_text().splitlines()
    assert refusals == [f"{POISON[0]} {POISON[1]}"] * 3
    committed, head, parked = asyncio.run(position(store))
    assert (committed, parked) == (head, 1)
    samples = scrape(admin)
    assert value(samples, "cloudstate_eventing_dead_letters", consumer=CONSUMER) == 1
    assert value(samples, "cloudstate_eventing_parked_total", consumer=CONSUMER) == 1
    listing = cli(store, "dead-letters", CONSUMER)
    assert "event 51 of ledger|e-007" in listing and "failed 3 times" in listing
    assert "poison e-007 #51" in listing
    assert "gave up on event 51 of ledger|e-007" in px.log()

    # Redriven while the handler still fails: tried 3 more times, parked again, nothing lost.
    offset = int(listing.split(" @ ")[1].split(":")[0])
    cli(store, "redrive", CONSUMER, str(offset))
    wait_until(
        lambda: len(Path(f"{projection}.refused").read_text().splitlines()) == 6,
        "the redriven event to fail again",
    )
    wait_until(lambda: "failed 6 times" in cli(store, "dead-letters"), "it to be parked again")

    Path(f"{projection}.poison").unlink()  # the handler is fixed
    cli(store, "redrive", CONSUMER, "--all")
    wait_until(lambda: applied(projection)[POISON] == 1, "the redriven event to be applied")
    wait_until(lambda: asyncio.run(position(store))[2] == 0, "the dead letter to be gone")
    time.sleep(1.5)  # more than a poll interval: a second delivery would show by now
    assert applied(projection)[POISON] == 1
    assert len(applied(projection)) == total
    assert cli(store, "dead-letters") == "no parked messages\n"
    wait_until(
        lambda: value(scrape(admin), "cloudstate_eventing_dead_letters", consumer=CONSUMER) == 0,
        "the dead letters gauge to drop to 0",
    )


async def offsets(store_url: str) -> list[int]:
    """The offsets of the ledger's events, in order."""
    store = await open_store(store_url)
    try:
        return [event.offset async for _, event in store.read_all_events("ledger", 0, 100_000)]
    finally:
        await store.close()


def test_resets_to_an_offset_a_time_and_the_beginning_replay_exactly_that(
    tmp_path: Path,
    processes: list[Process],  # noqa: F811
) -> None:
    """While the proxy runs, the CLI moves the projection's offset: to an offset (it replays the
    events after it), to a time (the events journaled from then on), to the beginning (all of
    them). Each time the re-delivered events are exactly those, each once, and the consumer ends
    caught up again."""
    projection = tmp_path / "projection.jsonl"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    uf = start(processes, projection_uf(tmp_path, projection))
    px = start(processes, proxy(tmp_path, uf.port, store, "--log-level", "INFO"))
    wait_serving(px.port)
    ids = [f"r-{i}" for i in range(10)]
    asyncio.run(append(px.port, [pb.AppendRequest(ledger_id=i, count=5) for i in ids]))
    wait_until(lambda: len(read_lines(projection)) == 50, "the first 50 events")
    time.sleep(0.2)
    between = time.time()
    time.sleep(0.2)
    asyncio.run(append(px.port, [pb.AppendRequest(ledger_id=i, count=5) for i in ids]))
    wait_until(lambda: len(read_lines(projection)) == 100, "the next 50 events")
    journal = asyncio.run(offsets(store))
    assert len(journal) == 100

    def replayed(seen: int, expected: list[int], how: str) -> int:
        wait_until(lambda: len(read_lines(projection)) >= seen + len(expected), how, 30)
        time.sleep(1.2)  # more than a poll interval: anything beyond would show by now
        lines = read_lines(projection)[seen:]
        assert sorted(int(line["meta"]["ce-id"]) for line in lines) == expected, how
        committed, head, _ = asyncio.run(position(store))
        assert committed == head
        return seen + len(expected)

    seen = 100
    out = cli(store, "reset", CONSUMER, "--to-offset", str(journal[29]))
    assert f"continues after offset {journal[29]} (generation 1)" in out
    seen = replayed(seen, journal[30:], "a replay after the 30th event")
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(between))
    iso += f".{int(between % 1 * 1_000_000):06d}Z"
    cli(store, "reset", CONSUMER, "--to-time", iso)
    seen = replayed(seen, journal[50:], "a replay of the events journaled after the time")
    cli(store, "reset", CONSUMER, "--to-beginning")
    seen = replayed(seen, journal, "a replay of everything")
    assert "generation 3" in cli(store, "position", CONSUMER)
    assert "its offset was reset to 0" in px.log()
