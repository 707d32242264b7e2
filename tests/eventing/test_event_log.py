"""Event-log eventing end to end: a real proxy and the SDK user function of ``model.py``.

The ``Projection`` action consumes the ``Ledger`` entity's event log and appends one JSON line
per delivered event to a file, which the tests read.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.eventing.model import pb
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

APPEND = "/evtest.Ledger/Append"


def projection_uf(tmp: Path, projection: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "eventing user function",
        [sys.executable, "-m", "tests.eventing.model"],
        port,
        tmp / f"eventing-uf-{port}.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port), "PROJECTION_FILE": str(projection)},
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The projection's records. A record cut short — by a SIGKILL of the user function, or
    because it is being written while we read — is not a record: at the end of the file it is
    skipped; inside the file the next process appended its first record to the same line, and
    that one is kept."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    records = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            whole = line.rfind('{"pid": ')
            if whole > 0:
                records.append(json.loads(line[whole:]))
            elif number != len(lines) - 1:
                raise
    return records


def test_read_lines_skips_records_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "projection.jsonl"
    one, two, three = ({"pid": 1, "n": n} for n in range(3))
    cut = json.dumps(two)[:9]
    path.write_text(f"{json.dumps(one)}\n{cut}{json.dumps(three)}\n{cut}")
    assert read_lines(path) == [one, three]
    path.write_text(f"{json.dumps(one)}\nnot json\n{json.dumps(three)}\n")
    with pytest.raises(json.JSONDecodeError):
        read_lines(path)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def append(port: int, requests: list[Any]) -> None:
    """Send ``Ledger.Append`` requests concurrently through the proxy."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            APPEND, request_serializer=lambda m: m.SerializeToString(), response_deserializer=None
        )
        await asyncio.gather(*(call(r, timeout=30) for r in requests))


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Process]]:
    """Processes a test started; stopped afterwards."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.terminate()


def start(started: list[Process], process: Process) -> Process:
    started.append(process.start())
    return process


def start_proxy(started: list[Process], tmp: Path, uf_port: int, store: str) -> Process:
    process = start(started, proxy(tmp, uf_port, store, "--log-level", "INFO"))
    try:
        wait_serving(process.port)
    except TimeoutError as e:
        raise RuntimeError(f"{e}\n--- proxy log ---\n{process.log()}") from e
    return process


async def test_events_reach_the_consumer_in_order_with_cloud_event_metadata(
    tmp_path: Path, store_url: str, processes: list[Process]
) -> None:
    projection = tmp_path / "projection.jsonl"
    uf = start(processes, projection_uf(tmp_path, projection))
    px = start_proxy(processes, tmp_path, uf.port, store_url)
    await append(px.port, [pb.AppendRequest(ledger_id="m1", count=3)])
    await append(px.port, [pb.AppendRequest(ledger_id="m2", count=2, marker="done")])
    await append(px.port, [pb.AppendRequest(ledger_id="m1", count=1)])
    wait_until(lambda: len(read_lines(projection)) >= 7, "7 deliveries")
    lines = read_lines(projection)
    assert len(lines) == 7, lines
    entries = [(line["subject"], line["n"]) for line in lines if line["kind"] == "entry"]
    assert [n for s, n in entries if s == "m1"] == [1, 2, 3, 4]
    assert [n for s, n in entries if s == "m2"] == [1, 2]
    ids = [int(line["meta"]["ce-id"]) for line in lines]
    assert len(set(ids)) == 7
    by_subject = defaultdict(list)
    for line in lines:
        meta = line["meta"]
        assert meta["ce-source"] == "ledger"
        assert meta["ce-specversion"] == "1.0"
        assert meta["content-type"] == "application/vnd.cloudstate.protobuf.any"
        when = datetime.datetime.fromisoformat(meta["ce-time"])
        assert abs(when.timestamp() - time.time()) < 600
        assert meta["ce-subject"] == line["subject"]
        by_subject[line["subject"]].append(int(meta["ce-sequence"]))
        expected_type = "evtest.Entry" if line["kind"] == "entry" else "evtest.Marker"
        assert meta["ce-type"] == f"type.googleapis.com/{expected_type}"
    # The Marker (no typed method) went to the google.protobuf.Any method, in its place.
    assert [line["kind"] for line in lines if line["subject"] == "m2"] == [
        "entry",
        "entry",
        "other",
    ]
    assert by_subject == {"m1": [1, 2, 3, 4], "m2": [1, 2, 3]}


ENTITIES = 100
ROUNDS = 10
PER_ROUND = 10  # events per command: 100 entities x 10 rounds x 10 = 10,000 events
HELD = "e-007"


def test_projection_survives_sigkill_without_losing_or_reordering_events(
    tmp_path: Path, processes: list[Process]
) -> None:
    """10,000 events across 100 entities. While ``e-007``'s entries above 50 are refused (the
    consumer retries them and cannot commit past them), proxy and user function are killed with
    SIGKILL; restarted, the projection ends with every event applied at least once and each
    entity's events in order. Re-deliveries (at-least-once) are counted and reported."""
    projection = tmp_path / "projection.jsonl"
    hold = Path(f"{projection}.hold")
    refused = Path(f"{projection}.refused")
    hold.write_text(HELD)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    uf = start(processes, projection_uf(tmp_path, projection))
    px = start_proxy(processes, tmp_path, uf.port, store)
    ids = [f"e-{i:03d}" for i in range(ENTITIES)]
    for _ in range(ROUNDS):
        requests = [pb.AppendRequest(ledger_id=i, count=PER_ROUND) for i in ids]
        asyncio.run(append(px.port, requests))
    # Mid-way: some events applied, the held one refused (and retried) at least twice.
    wait_until(
        lambda: refused.exists() and len(refused.read_text().splitlines()) >= 2,
        "the held event to be refused twice",
    )
    before = len(read_lines(projection))
    assert 0 < before < ENTITIES * ROUNDS * PER_ROUND
    assert "eventing: evtest.Projection.OnEntry failed on event 51 of ledger|e-007" in px.log()
    px.kill()
    uf.kill()

    hold.unlink()
    uf = start(processes, projection_uf(tmp_path, projection))
    px = start_proxy(processes, tmp_path, uf.port, store)
    total = ENTITIES * ROUNDS * PER_ROUND
    wait_until(
        lambda: len({(x["subject"], x["n"]) for x in read_lines(projection)}) >= total,
        "every event to be applied",
        timeout=120,
    )
    lines = read_lines(projection)
    applied = Counter((line["subject"], line["n"]) for line in lines)
    assert set(applied) == {(i, n) for i in ids for n in range(1, ROUNDS * PER_ROUND + 1)}
    duplicates = sum(count - 1 for count in applied.values())
    # Per entity and per user-function process, deliveries are consecutive; a later process
    # resumes at or before where the previous one stopped (re-delivery), never after.
    for entity in ids:
        runs: dict[int, list[int]] = defaultdict(list)
        order: list[int] = []
        for line in lines:
            if line["subject"] == entity:
                if line["pid"] not in runs:
                    order.append(line["pid"])
                runs[line["pid"]].append(line["n"])
        previous_last = 0
        for pid in order:
            run = runs[pid]
            assert run == list(range(run[0], run[0] + len(run))), (entity, run)
            assert run[0] <= previous_last + 1, (entity, previous_last, run)
            previous_last = run[-1]
        assert previous_last == ROUNDS * PER_ROUND
    print(
        f"\nprojection: {total} events, {len(lines)} deliveries, {duplicates} re-delivered "
        f"after the SIGKILL ({before} applied before it), 0 lost"
    )
