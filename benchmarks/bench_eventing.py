"""Event-log eventing: projection throughput on a backlog, and end-to-end lag at a steady rate.

Uses the eventing test user function (``tests/eventing/model.py``): a ``Ledger`` event-sourced
entity and a ``Projection`` action subscribed to its event log, which appends one JSON line per
event to a file (with the time it handled it).

1. **backlog**: N events across 100 entities are journaled straight into a fresh SQLite store
   (before any proxy runs); then the user function and a proxy start, and the projection drains
   the backlog. Throughput = events / time from the proxy serving to the last event handled.
2. **steady**: with the projection caught up, a client appends at a fixed rate through the proxy
   (``Ledger.Append``, 5 events per command); lag = when the projection handled an event minus
   when it was journaled (``ce-time``), as percentiles.

    python benchmarks/bench_eventing.py [--events 10000] [--rate 200] [--seconds 5]

The user function, the proxy and this process share the machine's CPUs: treat figures as a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudstate.proxy.stores.base import Payload  # noqa: E402
from cloudstate.proxy.stores.sqlite import SqliteStore  # noqa: E402
from tests.eventing.model import pb  # noqa: E402
from tests.processes import Process, free_port, proxy, wait_serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ENTITIES = 100
ENTRY_URL = "type.googleapis.com/evtest.Entry"


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def journal_backlog(db: Path, events: int) -> None:
    store = SqliteStore(db)
    await store.start()
    per_entity = events // ENTITIES
    chunk = 50

    async def one(entity: str) -> None:
        n = 0
        while n < per_entity:
            batch = [
                Payload(ENTRY_URL, pb.Entry(ledger_id=entity, n=n + i).SerializeToString())
                for i in range(1, min(chunk, per_entity - n) + 1)
            ]
            n = await store.append_events("ledger", entity, n, batch)

    await asyncio.gather(*(one(f"b-{i:03d}") for i in range(ENTITIES)))
    await store.close()


async def steady_writes(port: int, rate: float, seconds: float) -> int:
    """Append ``rate`` events/s (5 per command) for ``seconds``; returns the events written."""
    per_command = 5
    interval = per_command / rate
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            "/evtest.Ledger/Append",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=None,
        )
        pending: set[asyncio.Task[Any]] = set()
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            entity = f"s-{sent % ENTITIES:03d}"
            request = pb.AppendRequest(ledger_id=entity, count=per_command)
            pending.add(asyncio.ensure_future(call(request, timeout=30)))
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * interval - time.monotonic()))
        await asyncio.gather(*pending)
    return sent * per_command


def wait_lines(path: Path, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while count_lines(path) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count_lines(path)} of {target} events handled")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the steady phase")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eventing-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "store.db"
        projection = tmp / "projection.jsonl"
        asyncio.run(journal_backlog(db, args.events))
        port = free_port()
        uf = Process(
            "eventing user function",
            [sys.executable, "-m", "tests.eventing.model"],
            port,
            tmp / "uf.log",
            cwd=ROOT,
            env={"HOST": "127.0.0.1", "PORT": str(port), "PROJECTION_FILE": str(projection)},
        ).start()
        px = proxy(tmp, uf.port, f"sqlite:///{db}").start()
        try:
            wait_serving(px.port)
            started = time.monotonic()
            wait_lines(projection, args.events, timeout=600)
            backlog_seconds = time.monotonic() - started
            backlog_rate = args.events / backlog_seconds
            print(f"backlog: {args.events} events in {backlog_seconds:.2f}s = {backlog_rate:.0f}/s")

            written = asyncio.run(steady_writes(px.port, args.rate, args.seconds))
            wait_lines(projection, args.events + written, timeout=120)
            lags: list[float] = []
            with open(projection) as f:
                for index, text in enumerate(f):
                    if index < args.events:
                        continue
                    line = json.loads(text)
                    journaled = datetime.datetime.fromisoformat(line["meta"]["ce-time"])
                    lags.append((line["at"] - journaled.timestamp()) * 1000)
            steady = {
                "rate_events_per_s": args.rate,
                "events": written,
                "lag_ms_p50": round(percentile(lags, 50), 1),
                "lag_ms_p99": round(percentile(lags, 99), 1),
                "lag_ms_max": round(max(lags), 1),
            }
            print(
                f"steady {args.rate:.0f} events/s: lag p50 {steady['lag_ms_p50']} ms, "
                f"p99 {steady['lag_ms_p99']} ms, max {steady['lag_ms_max']} ms"
            )
        finally:
            px.terminate()
            uf.terminate()
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backlog": {
            "events": args.events,
            "entities": ENTITIES,
            "seconds": round(backlog_seconds, 2),
            "events_per_s": round(backlog_rate),
        },
        "steady": steady,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eventing.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'eventing.json'}")


if __name__ == "__main__":
    main()
