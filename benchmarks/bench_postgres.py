"""PostgreSQL store and scale-out: store throughput PostgreSQL vs SQLite, and 1 → 2 → 3 nodes.

Usage: ``python benchmarks/bench_postgres.py [--seconds 5] [--postgres URL] [--skip-store]``

1. **Store alone**: ``append_events`` with 1, 16, 64 concurrent writers (one entity each, one event
   per append), on SQLite (WAL, synchronous=FULL) and on PostgreSQL (fsync on, synchronous_commit
   on): ops/s, latency, appends per commit.
2. **End to end, 1 → 2 → 3 nodes** on one PostgreSQL: N pods (shopping-cart user function +
   proxy), 64 closed-loop gRPC clients, 60% AddItem / 40% GetCart, over 1,000 carts routed to
   random nodes (a cart's commands interleave across nodes: catch-ups) or with affinity (a cart's
   commands always reach the same node, as behind a sticky ingress), and over 20 carts (every
   cart hot on every node). The 1-node SQLite figure is the baseline. Reports ops/s, latency, and
   how busy the machine's cores were: on a 2-core machine the nodes compete for the same CPUs,
   so the scaling figure shows the cost of coordination, not the capacity of more machines.

The PostgreSQL server is ``--postgres`` / ``CLOUDSTATE_TEST_POSTGRES`` if given, else a throw-away
one started from the Debian binaries. Writes ``benchmarks/results/postgres.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart"))

import grpc  # noqa: E402
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402

from cloudstate.proxy.stores.base import Payload, Store  # noqa: E402
from cloudstate.proxy.stores.registry import open_store  # noqa: E402
from tests import postgres_server  # noqa: E402
from tests.scaleout.cluster import Node  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "postgres.json"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL server process on the machine (the test server's)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# -- 1. store alone -----------------------------------------------------------------------------


async def store_level(
    make: Callable[[], Awaitable[Store]], concurrency: int, seconds: float
) -> dict[str, Any]:
    store = await make()
    payload = Payload("type.googleapis.com/bench.Event", b"x" * 128)
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
    commits = getattr(store, "commits", 0)
    writes = getattr(store, "writes", 0)
    return {
        "backend": store.name,
        "concurrency": concurrency,
        "ops_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "appends_per_commit": round(writes / commits, 2) if commits else 0.0,
    }


async def bench_store(postgres: str, seconds: float, tmp: Path) -> list[dict[str, Any]]:
    results = []
    for concurrency in (1, 16, 64):

        async def sqlite(concurrency: int = concurrency) -> Store:
            return await open_store(f"sqlite:///{tmp}/store-{concurrency}.db")

        async def pg() -> Store:
            return await open_store(f"{postgres}?schema=bench_{uuid.uuid4().hex[:12]}")

        for make in (sqlite, pg):
            results.append(await store_level(make, concurrency, seconds))
            r = results[-1]
            print(
                f"  store {r['backend']:>10} writers {concurrency:>3}: {r['ops_per_second']:>9.1f} "
                f"ops/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                f"{r['appends_per_commit']:.1f} appends/commit",
                flush=True,
            )
    return results


# -- 2. end to end, several nodes ---------------------------------------------------------------


async def load(
    nodes: list[Node],
    carts: int,
    seconds: float,
    affinity: bool,
    clients: int = 64,
    rate: float | None = None,
) -> dict[str, Any]:
    ports = [node.port for node in nodes]
    pids = {
        kind: [p.process.pid for p in processes if p is not None and p.process is not None]
        for kind, processes in (
            ("proxy", [node.proxy for node in nodes]),
            ("user_function", [node.uf for node in nodes]),
        )
    }
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in ports]
    stubs = [shoppingcart_pb2_grpc.ShoppingCartStub(c) for c in channels]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        rng = random.Random(n)
        i = 0
        interval = clients / rate if rate else 0.0
        due = time.perf_counter() + interval * n / clients
        while time.perf_counter() < deadline:
            if interval:  # paced: each client sends at its share of the rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                due += interval
            cart = rng.randrange(carts)
            # Random routing: any node may get any cart. Affinity: a cart's commands always go
            # to the same node (what a sticky ingress keyed on the entity id does).
            stub = stubs[cart % len(stubs) if affinity else rng.randrange(len(stubs))]
            user = f"cart-{cart}"
            started = time.perf_counter()
            try:
                if rng.random() < 0.6:
                    await stub.AddItem(
                        shoppingcart_pb2.AddLineItem(
                            user_id=user, product_id=f"p{n}-{i}", name="x", quantity=1
                        ),
                        timeout=30,
                    )
                else:
                    await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)
            i += 1

    # Warm up (connections, first activations), then measure.
    for stub in stubs:
        await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="warm"), timeout=30)
    busy0, total0 = cpu_busy()
    cpu0 = {kind: sum(cpu_seconds(pid) for pid in group) for kind, group in pids.items()}
    pg0 = postgres_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    busy1, total1 = cpu_busy()
    cpu1 = {kind: sum(cpu_seconds(pid) for pid in group) for kind, group in pids.items()}
    pg1 = postgres_cpu_seconds()
    thousands = max(1, len(latencies)) / 1000
    for channel in channels:
        await channel.close()
    return {
        "ops_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "errors": errors,
        "cpu_busy_percent": round(100 * (busy1 - busy0) / max(1.0, total1 - total0), 1),
        # CPU seconds per 1,000 commands, all nodes together: the fair comparison on a busy box.
        "proxy_cpu_s_per_1k": round((cpu1["proxy"] - cpu0["proxy"]) / thousands, 3),
        "uf_cpu_s_per_1k": round((cpu1["user_function"] - cpu0["user_function"]) / thousands, 3),
        "postgres_cpu_s_per_1k": round((pg1 - pg0) / thousands, 3),
    }


async def bench_nodes(postgres: str, seconds: float, tmp: Path) -> list[dict[str, Any]]:
    scenarios: list[tuple[str, int, int, bool]] = [("sqlite", 1, 1000, False)]
    scenarios += [("postgresql", 1, 1000, False)]
    scenarios += [("postgresql", n, 1000, affinity) for affinity in (False, True) for n in (2, 3)]
    scenarios += [("postgresql", n, 20, False) for n in (1, 3)]
    results = []
    for backend, count, carts, affinity in scenarios:
        routing = "affinity" if affinity else "random"
        run_dir = tmp / f"{backend}-{count}-{carts}-{routing}"
        run_dir.mkdir()
        store = (
            f"sqlite:///{run_dir}/proxy.db"
            if backend == "sqlite"
            else f"{postgres}?schema=nodes_{uuid.uuid4().hex[:12]}"
        )
        nodes = [Node(run_dir, store, "--log-level", "WARNING") for _ in range(count)]
        try:
            for node in nodes:
                await asyncio.to_thread(node.start)
            measured = await load(nodes, carts, seconds, affinity)
        finally:
            for node in nodes:
                await asyncio.to_thread(node.stop)
        result = {
            "backend": backend,
            "nodes": count,
            "carts": carts,
            "routing": routing,
            **measured,
        }
        results.append(result)
        print(
            f"  {backend:>10} nodes {count} carts {carts:>4} {routing:>8}: "
            f"{result['ops_per_second']:>8.1f} "
            f"ops/s  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
            f"CPU {result['cpu_busy_percent']:.0f}%  CPU s/1k: proxy "
            f"{result['proxy_cpu_s_per_1k']:.2f} uf {result['uf_cpu_s_per_1k']:.2f} "
            f"postgres {result['postgres_cpu_s_per_1k']:.2f}  errors {result['errors'] or '-'}",
            flush=True,
        )
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each level")
    parser.add_argument("--postgres", help="PostgreSQL URL (default: start a throw-away server)")
    parser.add_argument("--skip-store", action="store_true", help="only the node scaling part")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 60.0)

    server_dir: Path | None = None
    postgres = args.postgres or os.environ.get("CLOUDSTATE_TEST_POSTGRES")
    if not postgres:
        server_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        postgres = postgres_server.start(server_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-postgres-") as tmp:
            print(f"PostgreSQL store benchmark, {seconds:g} s per level, {os.cpu_count()} CPUs")
            store = [] if args.skip_store else await bench_store(postgres, seconds, Path(tmp))
            nodes = await bench_nodes(postgres, seconds, Path(tmp))
    finally:
        if server_dir is not None:
            postgres_server.stop(server_dir)
            shutil.rmtree(server_dir, ignore_errors=True)

    report = {
        "benchmark": "postgres",
        "seconds_per_level": seconds,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "store": store,
        "nodes": nodes,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
