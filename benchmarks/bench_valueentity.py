"""Value entities through the proxy: update and get, closed loop, at several concurrencies.

Starts the value-entity shopping cart (``examples/valueentity``) and a proxy on a fresh SQLite file
(fsync on commit). For each concurrency it runs two phases over 1,000 carts: **update**
(``AddItem``: the proxy stores the new cart value before replying) and **get** (``GetCart``: no
write). Each client sends its next request as soon as the previous one is answered. Records
throughput, latency percentiles and the proxy's CPU seconds per 1,000 commands. A last part
measures ``SqliteStore.save_value`` alone (one writer per entity, conditional on the version it
wrote last) to show the group commit: values per commit. Results go to
``benchmarks/results/valueentity.json`` and a table on stdout.

    python benchmarks/bench_valueentity.py [--seconds 4] [--concurrency 1 16 64]

The load generator is Python (grpc.aio) in this process and shares the CPU with the proxy and the
user function: treat the figures as a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "valueentity"))

from valueentity import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402

from cloudstate.proxy.stores.base import Payload  # noqa: E402
from cloudstate.proxy.stores.sqlite import SqliteStore  # noqa: E402
from tests.processes import Process, free_port, proxy, wait_serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CARTS = 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def user_function(tmp: Path) -> Process:
    port = free_port()
    return Process(
        "value-entity cart user function",
        [sys.executable, "-m", "valueentity.shopping_cart"],
        port,
        tmp / "uf.log",
        cwd=ROOT / "examples" / "valueentity",
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


Call = Callable[[shoppingcart_pb2_grpc.ShoppingCartStub, str, random.Random], Awaitable[object]]


def update(stub: shoppingcart_pb2_grpc.ShoppingCartStub, user: str, rng: random.Random) -> Any:
    item = shoppingcart_pb2.AddLineItem(
        user_id=user, product_id=f"p{rng.randrange(10)}", name="item", quantity=1
    )
    return stub.AddItem(item, timeout=30)


def get(stub: shoppingcart_pb2_grpc.ShoppingCartStub, user: str, rng: random.Random) -> Any:
    return stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30)


async def closed_loop(port: int, call: Call, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        deadline = time.perf_counter() + seconds

        async def client(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                user = f"cart-{rng.randrange(CARTS)}"
                started = time.perf_counter()
                try:
                    await call(stub, user, rng)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "ops": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "p999_ms": percentile(latencies, 99.9) * 1000,
    }


async def warm_up(port: int) -> None:
    """Give every cart a value and activate it, so both phases measure steady state."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        rng = random.Random(0)
        for start in range(0, CARTS, 100):
            await asyncio.gather(
                *(update(stub, f"cart-{n}", rng) for n in range(start, start + 100))
            )


async def store_level(directory: Path, concurrency: int, seconds: float) -> dict[str, Any]:
    """``save_value`` alone: ``concurrency`` writers, each replacing its own entity's value."""
    store = SqliteStore(directory / f"values-c{concurrency}.db")
    await store.start()
    value = Payload("type.googleapis.com/bench.Cart", b"x" * 200)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def writer(entity_id: str) -> None:
        version = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            version = await store.save_value("bench", entity_id, value, expected_version=version)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(writer(f"entity-{n}") for n in range(concurrency)))
        elapsed = time.perf_counter() - started
        commits, writes = store.commits, store.writes
    finally:
        await store.close()
    latencies.sort()
    return {
        "scenario": "sqlite-save-value",
        "concurrency": concurrency,
        "ops": len(latencies),
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "values_per_commit": writes / max(commits, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        uf = user_function(tmp).start()
        px = proxy(tmp, uf.port, f"sqlite:///{tmp}/bench.db").start()
        try:
            wait_serving(px.port)
            assert px.process is not None
            asyncio.run(warm_up(px.port))
            for concurrency in args.concurrency:
                for name, call in (("update", update), ("get", get)):
                    proxy_cpu = cpu_seconds(px.process.pid)
                    result = asyncio.run(closed_loop(px.port, call, concurrency, args.seconds))
                    ops = max(result["ops"], 1)
                    result.update(
                        scenario=f"valueentity-cart-{name}-grpc",
                        operation=name,
                        concurrency=concurrency,
                        proxy_cpu_s_per_1k=(cpu_seconds(px.process.pid) - proxy_cpu) / ops * 1000,
                    )
                    runs.append(result)
                    print(
                        f"{name:<6} c={concurrency:<4} {result['ops_per_s']:8.0f} ops/s  "
                        f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                        f"p99.9 {result['p999_ms']:7.2f} ms  errors {result['errors']}  "
                        f"proxy cpu/1k {result['proxy_cpu_s_per_1k']:.2f}s",
                        flush=True,
                    )
        finally:
            px.terminate()
            uf.terminate()
        for concurrency in args.concurrency:
            result = asyncio.run(store_level(tmp, concurrency, args.seconds))
            runs.append(result)
            print(
                f"store  c={concurrency:<4} {result['ops_per_s']:8.0f} ops/s  "
                f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                f"values/commit {result['values_per_commit']:.1f}",
                flush=True,
            )
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "carts": CARTS,
        "runs": runs,
    }
    path = RESULTS / "valueentity.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
