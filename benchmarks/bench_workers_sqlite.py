"""SQLite with several proxy workers: one WAL file shared by every worker (each its own writer
connection and group commit) against one file per worker, at the store level.

Usage: ``python benchmarks/bench_workers_sqlite.py [--seconds 5] [--writers 32]``

Two processes each run ``--writers`` concurrent writers appending one event per command (fsync
on commit, as the proxy does): on one shared file (SQLite's busy handler between them), on one
shared file with the workers' commit lock (what ``--workers`` does), then each on its own file;
prints
appends/s, CPU per 1,000 appends and commits per second. Writes
``benchmarks/results/workers_sqlite.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, write_results  # noqa: E402
from cloudstate.proxy.stores.base import Payload  # noqa: E402
from cloudstate.proxy.stores.registry import open_store  # noqa: E402
from cloudstate.proxy.workers.node import CommitLock  # noqa: E402


async def _appends(
    url: str, prefix: str, writers: int, seconds: float, lock: str = ""
) -> dict[str, Any]:
    store = await open_store(url)
    if lock:  # what proxy workers on one file do (cloudstate/proxy/workers/node.py)
        store.commit_guard = CommitLock(lock)  # type: ignore[attr-defined]
    payload = Payload("type.googleapis.com/bench.Event", b"x" * 128)
    done = 0
    deadline = time.perf_counter() + seconds

    async def writer(entity_id: str) -> None:
        nonlocal done
        sequence = 0
        while time.perf_counter() < deadline:
            sequence = await store.append_events("bench", entity_id, sequence, [payload])
            done += 1

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(writer(f"{prefix}-{n}") for n in range(writers)))
    after = resource.getrusage(resource.RUSAGE_SELF)
    commits = getattr(store, "commits", 0)
    await store.close()
    used = (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    return {"appends": done, "cpu_s": used, "commits": commits}


def _process(url: str, prefix: str, writers: int, seconds: float, lock: str, out: Any) -> None:
    out.put(asyncio.run(_appends(url, prefix, writers, seconds, lock)))


def run(layout: str, tmp: Path, writers: int, seconds: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = []
    for worker in range(2):
        name = f"worker-{worker}.db" if layout == "per-worker" else "shared.db"
        url = f"sqlite:///{tmp / layout / name}"
        lock = str(tmp / layout / "commit.lock") if layout == "shared+lock" else ""
        process = context.Process(
            target=_process, args=(url, f"w{worker}", writers, seconds, lock, queue)
        )
        processes.append(process)
    (tmp / layout).mkdir()
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    appends = sum(r["appends"] for r in results)
    return {
        "layout": layout,
        "writers_per_process": writers,
        "appends_per_s": round(appends / seconds, 1),
        "cpu_s_per_1k": round(sum(r["cpu_s"] for r in results) / max(appends, 1) * 1000, 3),
        "commits_per_s": round(sum(r["commits"] for r in results) / seconds, 1),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--writers", type=int, default=32)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-sqlite-") as name:
        for layout in ("shared", "shared+lock", "per-worker"):
            row = run(layout, Path(name), args.writers, args.seconds)
            rows.append(row)
            print(
                f"{layout:10} 2 processes x {args.writers} writers: {row['appends_per_s']:8.0f} "
                f"appends/s  cpu s/1k {row['cpu_s_per_1k']:.3f}  commits/s "
                f"{row['commits_per_s']:.0f}  load {row['load_average']:.1f}",
                flush=True,
            )
    path = write_results(
        "workers_sqlite.json", {"machine": machine(), "seconds": args.seconds, "rows": rows}
    )
    print(f"written {path}")
    json.dumps(rows)


if __name__ == "__main__":
    main()
