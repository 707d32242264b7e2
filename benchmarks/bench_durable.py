"""``make bench``: durable calls (docs/protocol-durable-calls.md) — timers at scale, durable vs
ordinary side effects, and what an idempotency key costs.

Every phase starts a user function and a proxy on a fresh SQLite file (fsync on every commit, the
default store):

* **timers**: the user function ``benchmarks/durable_uf.py`` (``tests/durable/uf.py``'s
  ``durabletest.Jobs`` in a process of its own) starts ``--timers`` timers (10,000) through the
  proxy — ``Jobs/Ask`` commands answering with ``--per-command`` (500) timer starts each, so the
  timers are created by the user function and stored by the proxy, one transaction per command.
  Run *spread*: due evenly over ``--window`` (10) seconds, starting 3 s after their command; run
  *backlog* (not with ``--quick``): all due 3 s after their command, so the drain rate is the
  delivery capacity. Each timer's ``due`` is read back from the store; the target
  ``Jobs/Deliver`` logs each arrival's time. Reported: creation rate, timers fired per second
  (first to last arrival; and the best one-second bucket), lateness (arrival - due)
  p50/p99/max, CPU per 1,000 timers, store commits, deliveries answered twice (from
  ``cloudstate_idempotent_calls_total{outcome="replayed"}``).
* **effects**: ``Jobs/Ask`` with one side effect to ``Jobs/Deliver`` — durable, synchronous or
  asynchronous — from closed-loop clients at concurrency 1 and 16 for ``--seconds``. Each
  command has its own tag, so end-to-end latency is *command sent → target handler ran* (the
  target's arrival time minus the client's send time); also the client's reply latency,
  commands/s, effects delivered/s and CPU seconds per 1,000 commands (proxy, user function;
  until every effect arrived and every durable task was finished).
* **keys**: the shopping cart (``examples/shoppingcart``) ``AddItem`` over 1,000 carts without a
  key and with a fresh ``idempotency-key`` per call, and with one key per client repeated (every
  call after the first is a replay), at concurrency 1 and 16: ops/s, p50/p99, proxy CPU seconds
  per 1,000 calls. A Python grpc.aio client drives every row (h2load cannot vary a header per
  request); with ``h2load`` installed the unkeyed and replayed rows are also run with it.

The load generators run in this process on the same two cores as the proxy and user function.

    python benchmarks/bench_durable.py [--quick] [--seconds 5] [--concurrency 1 16]
        [--timers 10000] [--per-command 500] [--window 10] [--phases timers effects keys]

Results: ``benchmarks/results/durable.json`` and the tables printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import sqlite3
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart"))

from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402

from benchmarks.common import (  # noqa: E402
    LoadResult,
    cpu_seconds,
    grpc_frame,
    h2load,
    h2load_available,
    machine,
    own_cpu_seconds,
    percentile,
    write_results,
)
from benchmarks.durable_report import table  # noqa: E402
from benchmarks.durable_uf import Arrivals, durable_user_function  # noqa: E402
from benchmarks.stack import Stack, measured, stack  # noqa: E402
from tests.durable.uf import jobs_pb2  # noqa: E402
from tests.processes import shoppingcart_user_function  # noqa: E402

CARTS = 1000
ADD_ITEM = "/com.example.shoppingcart.ShoppingCart/AddItem"


# -- helpers ---------------------------------------------------------------------------------------


def _unary(channel: grpc.aio.Channel, path: str) -> Any:
    return channel.unary_unary(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=empty_pb2.Empty.FromString,
    )


def pending_tasks(db: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        return list(connection.execute("SELECT name, due FROM durable_tasks"))


def ms(seconds: float) -> float:
    return seconds * 1000


# -- timers at scale ------------------------------------------------------------------------------


async def start_timers(port: int, count: int, per_command: int, lead: float, window: float) -> None:
    """``count`` timers, ``per_command`` per ``Jobs/Ask``; timer i due ``lead + i*window/count``
    seconds after its command."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        ask = _unary(channel, "/durabletest.Jobs/Ask")
        for first in range(0, count, per_command):
            calls = [
                jobs_pb2.Call(
                    kind="timer",
                    timer_name=f"bench-{i}",
                    tag=f"timer-{i}",
                    delay_ms=int((lead + i * window / count) * 1000),
                )
                for i in range(first, min(count, first + per_command))
            ]
            await ask(jobs_pb2.Plan(calls=calls), timeout=60)


#: The /metrics series the timers phase reports: SQLite transactions, the write requests they
#: carried, their commit time; deliveries answered from a stored answer (a task delivered twice).
COUNTERS = (
    'cloudstate_store_write_batch_size_count{store="sqlite"}',
    'cloudstate_store_write_batch_size_sum{store="sqlite"}',
    'cloudstate_store_commit_duration_seconds_sum{store="sqlite"}',
    'cloudstate_idempotent_calls_total{outcome="replayed"}',
)


def counters(admin_port: int) -> list[float]:
    """The :data:`COUNTERS` of the proxy so far (0 for one not reported yet)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line[:1] not in "#")
    return [float(values.get(name, 0.0)) for name in COUNTERS]


def timers_at_scale(
    tmp: Path, label: str, count: int, per_command: int, window: float
) -> dict[str, Any]:
    """Start ``count`` timers due over ``window`` seconds (0: all at once, a backlog), wait until
    every one has reached the target and left the store."""
    arrivals_path = tmp / f"timer-arrivals-{label}.tsv"
    db_name = f"timers-{label}.db"
    lead = 3.0  # seconds from a timer's command to its window: creating 10,000 takes < 1 s
    with stack(tmp, durable_user_function(arrivals_path), db_name) as stk:
        assert stk.px is not None
        db = tmp / db_name
        arrivals = Arrivals(arrivals_path)
        load_before = os.getloadavg()[0]
        started = time.time()
        asyncio.run(start_timers(stk.px.port, count, per_command, lead, window))
        created = time.time() - started
        cpu = (cpu_seconds(stk.px_pid), cpu_seconds(stk.uf_pid))
        before = counters(stk.admin_port)
        dues = {name.removeprefix("timer:"): due for name, due in pending_tasks(db)}
        if len(dues) < count:
            raise RuntimeError(f"only {len(dues)} of {count} timers pending after creation")
        first_due, last_due = min(dues.values()), max(dues.values())
        if time.time() > first_due:
            print(f"warning: creating the timers ({created:.1f} s) outlasted the lead", flush=True)
        complete = arrivals.wait_for(count, timeout=window + lead + 120)
        drained = time.monotonic() + 60
        while pending_tasks(db) and time.monotonic() < drained:
            time.sleep(0.05)
        px_cpu = cpu_seconds(stk.px_pid) - cpu[0]
        uf_cpu = cpu_seconds(stk.uf_pid) - cpu[1]
        after = counters(stk.admin_port)
        commits, requests, commit_s, replayed = (a - b for a, b in zip(after, before, strict=True))
        load_after = os.getloadavg()[0]
    fired = {name: at for name, at in arrivals.timers.items() if name in dues}
    lateness = sorted(fired[name] - dues[name] for name in fired)
    times = sorted(fired.values())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    buckets: dict[int, int] = {}
    for at in times:
        buckets[int(at)] = buckets.get(int(at), 0) + 1
    return {
        "phase": "timers",
        "run": label,
        "timers": count,
        "fired": len(fired),
        "complete": complete,
        "repeated_arrivals": arrivals.repeats,
        "replayed_deliveries": replayed,
        "timers_per_command": per_command,
        "created_in_s": created,
        "created_per_s": count / created,
        "due_window_s": last_due - first_due,
        "offered_per_s": count / (last_due - first_due) if last_due > first_due else None,
        "fired_per_s": (len(times) - 1) / span if span else 0.0,
        "best_second_fired": max(buckets.values()) if buckets else 0,
        "lateness_p50_ms": ms(percentile(lateness, 50)),
        "lateness_p99_ms": ms(percentile(lateness, 99)),
        "lateness_max_ms": ms(lateness[-1]) if lateness else 0.0,
        "last_fired_after_last_due_ms": ms(times[-1] - last_due) if times else 0.0,
        "proxy_cpu_s_per_1k": px_cpu / count * 1000,
        "uf_cpu_s_per_1k": uf_cpu / count * 1000,
        "store_commits": commits,
        "store_writes_per_commit": requests / commits if commits else 0.0,
        "store_commit_ms_mean": ms(commit_s / commits) if commits else 0.0,
        "load_average": [load_before, load_after],
    }


# -- durable vs ordinary side effects -------------------------------------------------------------


async def ask_load(
    port: int, kind: str, concurrency: int, seconds: float
) -> tuple[dict[str, float], list[float], int, float]:
    """Closed-loop ``Jobs/Ask`` with one ``kind`` side effect each: (tag -> send time, sorted
    reply latencies, errors, elapsed)."""
    sent: dict[str, float] = {}
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        ask = _unary(channel, "/durabletest.Jobs/Ask")
        await ask(jobs_pb2.Plan(), timeout=30)  # the channel is up
        run = uuid.uuid4().hex[:8]
        deadline = time.monotonic() + seconds

        async def client(worker: int) -> None:
            nonlocal errors
            n = 0
            while time.monotonic() < deadline:
                tag = f"{kind}-{run}-{worker}-{n}"
                n += 1
                plan = jobs_pb2.Plan(calls=[jobs_pb2.Call(kind=kind, tag=tag)])
                began, wall = time.perf_counter(), time.time()
                try:
                    await ask(plan, timeout=30)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - began)
                sent[tag] = wall

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return sent, latencies, errors, elapsed


def effects(tmp: Path, levels: list[int], seconds: float) -> list[dict[str, Any]]:
    arrivals_path = tmp / "effect-arrivals.tsv"
    rows: list[dict[str, Any]] = []
    with stack(tmp, durable_user_function(arrivals_path), "effects.db") as stk:
        assert stk.px is not None
        arrivals = Arrivals(arrivals_path)
        asyncio.run(ask_load(stk.px.port, "durable", 4, 0.5))  # warm up every path
        asyncio.run(ask_load(stk.px.port, "sync", 4, 0.5))
        for concurrency in levels:
            for kind in ("durable", "sync", "async"):
                cpu = (cpu_seconds(stk.px_pid), cpu_seconds(stk.uf_pid))
                replayed = counters(stk.admin_port)[3]
                load = os.getloadavg()[0]
                sent, replies, errors, elapsed = asyncio.run(
                    ask_load(stk.px.port, kind, concurrency, seconds)
                )
                complete = arrivals.wait_for(set(sent), timeout=60)
                drained = time.monotonic() + 30  # durable: until every task is finished
                while pending_tasks(tmp / "effects.db") and time.monotonic() < drained:
                    time.sleep(0.02)
                replayed = counters(stk.admin_port)[3] - replayed
                px_cpu = cpu_seconds(stk.px_pid) - cpu[0]
                uf_cpu = cpu_seconds(stk.uf_pid) - cpu[1]
                landed = {tag: arrivals.first[tag] for tag in sent if tag in arrivals.first}
                e2e = sorted(landed[tag] - sent[tag] for tag in landed)
                span = max(landed.values()) - min(sent.values()) if landed else 0.0
                ops = max(len(sent), 1)
                row = {
                    "phase": "effects",
                    "effect": kind,
                    "concurrency": concurrency,
                    "commands": len(sent),
                    "errors": errors,
                    "delivered": len(landed),
                    "complete": complete,
                    "seconds": elapsed,
                    "commands_per_s": len(sent) / elapsed,
                    "delivered_per_s": len(landed) / span if span else 0.0,
                    "e2e_p50_ms": ms(percentile(e2e, 50)),
                    "e2e_p99_ms": ms(percentile(e2e, 99)),
                    "reply_p50_ms": ms(percentile(replies, 50)),
                    "reply_p99_ms": ms(percentile(replies, 99)),
                    "proxy_cpu_s_per_1k": px_cpu / ops * 1000,
                    "uf_cpu_s_per_1k": uf_cpu / ops * 1000,
                    "replayed_deliveries": replayed,
                    "load_average": load,
                }
                rows.append(row)
                print(
                    f"effect {kind:7} c={concurrency:<3} {row['commands_per_s']:7.0f} cmd/s  "
                    f"e2e p50 {row['e2e_p50_ms']:7.2f} p99 {row['e2e_p99_ms']:8.2f} ms  reply "
                    f"p50 {row['reply_p50_ms']:6.2f} ms  cpu s/1k proxy "
                    f"{row['proxy_cpu_s_per_1k']:.2f} uf {row['uf_cpu_s_per_1k']:.2f}"
                    f"{'' if complete else '  INCOMPLETE'}",
                    flush=True,
                )
    return rows


# -- idempotency keys on the shopping cart --------------------------------------------------------


def _add_line(cart: int) -> shoppingcart_pb2.AddLineItem:
    return shoppingcart_pb2.AddLineItem(
        user_id=f"cart-{cart}", product_id="p1", name="item", quantity=1
    )


async def cart_load(port: int, mode: str, concurrency: int, seconds: float) -> LoadResult:
    """Closed-loop AddItem: ``mode`` "none" (no key), "fresh" (a new key per call), "replayed"
    (one key and cart per client, so every call after the first is a replay)."""
    latencies: list[float] = []
    errors = 0
    cpu_before = own_cpu_seconds()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        run = uuid.uuid4().hex[:8]
        deadline = time.monotonic() + seconds

        async def client(worker: int) -> None:
            nonlocal errors
            rng = random.Random(worker)
            replay_key = [("idempotency-key", f"replay-{run}-{worker}")]
            while time.monotonic() < deadline:
                if mode == "replayed":
                    request, metadata = _add_line(worker), replay_key
                else:
                    request = _add_line(rng.randrange(CARTS))
                    metadata = [("idempotency-key", uuid.uuid4().hex)] if mode == "fresh" else None
                began = time.perf_counter()
                try:
                    await stub.AddItem(request, metadata=metadata, timeout=30)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return LoadResult(len(latencies), errors, elapsed, latencies, own_cpu_seconds() - cpu_before)


def h2load_cart(stk: Stack, mode: str, concurrency: int, seconds: float, work: Path) -> LoadResult:
    """The same AddItem load from h2load: one cart (and, replayed, one key) per process."""
    assert stk.px is not None
    bodies = [grpc_frame(_add_line(i).SerializeToString()) for i in range(CARTS)]
    run = uuid.uuid4().hex[:8]
    headers = (lambda i: [f"idempotency-key: replay-{run}-{i}"]) if mode == "replayed" else None
    return h2load(stk.px.port, [ADD_ITEM], bodies, concurrency, seconds, work, headers)


def keyed_calls(tmp: Path, levels: list[int], seconds: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    work = tmp / "h2load-cart"
    work.mkdir()
    with stack(tmp, shoppingcart_user_function, "cart.db") as stk:
        assert stk.px is not None
        port = stk.px.port
        asyncio.run(cart_load(port, "none", 16, 1.0))  # warm up: activate carts, channels
        clients: list[tuple[str, Callable[[str, int], LoadResult]]] = [
            ("python grpc.aio", lambda mode, c: asyncio.run(cart_load(port, mode, c, seconds)))
        ]
        if h2load_available():
            clients.append(("h2load", lambda mode, c: h2load_cart(stk, mode, c, seconds, work)))
        for client, load in clients:
            for concurrency in levels:
                for mode in ("none", "fresh", "replayed"):
                    if client == "h2load" and mode == "fresh":
                        continue  # h2load sends the same headers with every request
                    os_load = os.getloadavg()[0]
                    run = functools.partial(load, mode, concurrency)
                    row = measured(stk, run, LoadResult.summary)
                    row.update(
                        phase="keys", client=client, key=mode, concurrency=concurrency,
                        load_average=os_load,
                    )  # fmt: skip
                    rows.append(row)
                    print(
                        f"AddItem key={mode:8} {client:15} c={concurrency:<3} "
                        f"{row['ops_per_s']:7.0f} ops/s  p50 {row['p50_ms']:6.2f} p99 "
                        f"{row['p99_ms']:7.2f} ms  errors {row['errors']}  cpu s/1k proxy "
                        f"{row['proxy_cpu_s_per_1k']:.2f} uf {row['uf_cpu_s_per_1k']:.2f}",
                        flush=True,
                    )
    return rows


# -- report ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--per-command", type=int, default=500)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument(
        "--phases", nargs="+", default=["timers", "effects", "keys"],
        choices=["timers", "effects", "keys"],
    )  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="2 s per run; the timers' backlog run left out"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
    began = time.time()
    report: dict[str, Any] = {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "store": "sqlite (WAL, synchronous=FULL)",
        "timers": [],
        "effects": [],
        "keys": [],
    }
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if "timers" in args.phases:
            runs = [("spread", args.window)] + ([] if args.quick else [("backlog", 0.0)])
            for label, window in runs:
                result = timers_at_scale(tmp, label, args.timers, args.per_command, window)
                report["timers"].append(result)
                print(
                    f"timers ({label}): {result['fired']:,} of {result['timers']:,} fired, "
                    f"{result['fired_per_s']:,.0f}/s (best second "
                    f"{result['best_second_fired']:,}); lateness p50 "
                    f"{result['lateness_p50_ms']:,.0f} ms p99 {result['lateness_p99_ms']:,.0f} "
                    f"ms max {result['lateness_max_ms']:,.0f} ms; delivered twice "
                    f"{result['replayed_deliveries']:.0f}",
                    flush=True,
                )
        if "effects" in args.phases:
            report["effects"] = effects(tmp, args.concurrency, args.seconds)
        if "keys" in args.phases:
            report["keys"] = keyed_calls(tmp, args.concurrency, args.seconds)
    report["seconds"] = time.time() - began
    report["load_average_end"] = os.getloadavg()
    path = write_results("durable.json", report)
    print()
    print(table(report))
    print(
        f"\n{report['seconds']:.0f} s; load average at the end {report['load_average_end'][0]:.1f} "
        f"on {os.cpu_count()} CPUs; wrote {path}"
    )


if __name__ == "__main__":
    main()
