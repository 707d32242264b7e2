"""Throughput and latency of ``append_events`` on the SQLite store (WAL, synchronous=FULL).

Usage: ``python benchmarks/bench_store.py [--seconds 5] [--concurrency 1,16,64] [--dir PATH]``

For each concurrency level, that many writers append one event at a time to their own entity on a
fresh database for ``--seconds``. Prints a table and writes ``benchmarks/results/store.json``.
Group commit is visible in the ``events/commit`` column: one fsync serves many writers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.sqlite import SqliteStore

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def run_level(
    directory: Path, concurrency: int, seconds: float, payload_size: int
) -> dict[str, Any]:
    store = SqliteStore(directory / f"bench-c{concurrency}.db")
    await store.start()
    payload = Payload("type.googleapis.com/bench.Event", b"x" * payload_size)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def writer(entity_id: str) -> None:
        sequence = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            sequence = await store.append_events("bench", entity_id, sequence, [payload])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(writer(f"entity-{n}") for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    latencies.sort()
    return {
        "concurrency": concurrency,
        "operations": len(latencies),
        "seconds": round(elapsed, 3),
        "ops_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 3),
            "p99": round(percentile(latencies, 0.99) * 1000, 3),
            "mean": round(statistics.fmean(latencies) * 1000, 3) if latencies else 0.0,
        },
        "commits": store.commits,
        "events_per_commit": round(store.writes / store.commits, 2) if store.commits else 0.0,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each level")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated writer counts")
    parser.add_argument("--payload-size", type=int, default=128, help="event payload bytes")
    parser.add_argument("--dir", type=Path, help="database directory (default: temp)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON result file")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    seconds = min(max(args.seconds, 0.5), 120.0)  # keep runs bounded

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        for level in levels:
            results.append(await run_level(Path(tmp), level, seconds, args.payload_size))

    header = (
        f"{'writers':>8} {'ops/s':>10} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'commits':>8} {'events/commit':>14}"
    )
    print(f"SQLite {sqlite3.sqlite_version}, WAL + synchronous=FULL, {seconds:g} s per level")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['concurrency']:>8} {r['ops_per_second']:>10.1f} {r['latency_ms']['p50']:>9.3f} "
            f"{r['latency_ms']['p99']:>9.3f} {r['commits']:>8} {r['events_per_commit']:>14.2f}"
        )

    report = {
        "benchmark": "store.append_events",
        "backend": "sqlite",
        "settings": {"journal_mode": "wal", "synchronous": "full"},
        "seconds_per_level": seconds,
        "payload_size": args.payload_size,
        "sqlite_version": sqlite3.sqlite_version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
