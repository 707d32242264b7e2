"""``make bench``: the shopping cart through the proxy, closed loop, at several concurrencies.

Starts the example user function and a proxy on a fresh SQLite file (fsync on commit), then for
each concurrency runs clients that each send the next request as soon as the previous one is
answered: 60% AddItem / 40% GetCart over 1,000 carts. Records throughput, latency percentiles and
the CPU seconds the proxy and the user function used per 1,000 commands. Results go to
``benchmarks/results/latest.json`` and a table on stdout.

    python benchmarks/run.py [--seconds 5] [--concurrency 1 16 64]

The load generator is Python (grpc.aio) in its own process, so on a 2-core machine it competes with
proxy and user function for CPU: treat the figures as a floor. The store micro-benchmark is
``benchmarks/bench_store.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart"))

from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402

from tests.processes import proxy, shoppingcart_user_function, wait_serving  # noqa: E402

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


async def closed_loop(port: int, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        # Warm up: activate a few carts so the first timings are not activations only.
        for n in range(min(concurrency, 16)):
            await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=f"cart-{n}"))
        deadline = time.perf_counter() + seconds

        async def client(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                user = f"cart-{rng.randrange(CARTS)}"
                started = time.perf_counter()
                try:
                    if rng.random() < 0.6:
                        await stub.AddItem(
                            shoppingcart_pb2.AddLineItem(
                                user_id=user,
                                product_id=f"p{rng.randrange(20)}",
                                name="item",
                                quantity=1,
                            ),
                            timeout=30,
                        )
                    else:
                        await stub.GetCart(
                            shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30
                        )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        uf = shoppingcart_user_function(tmp).start()
        px = proxy(tmp, uf.port, f"sqlite:///{tmp}/bench.db").start()
        try:
            wait_serving(px.port)
            assert uf.process is not None and px.process is not None
            for concurrency in args.concurrency:
                proxy_cpu, uf_cpu = cpu_seconds(px.process.pid), cpu_seconds(uf.process.pid)
                result = asyncio.run(closed_loop(px.port, concurrency, args.seconds))
                ops = max(result["ops"], 1)
                result.update(
                    scenario="eventsourced-cart-grpc",
                    concurrency=concurrency,
                    proxy_cpu_s_per_1k=(cpu_seconds(px.process.pid) - proxy_cpu) / ops * 1000,
                    uf_cpu_s_per_1k=(cpu_seconds(uf.process.pid) - uf_cpu) / ops * 1000,
                )
                runs.append(result)
                print(
                    f"c={concurrency:<4} {result['ops_per_s']:8.0f} ops/s  "
                    f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                    f"p99.9 {result['p999_ms']:7.2f} ms  errors {result['errors']}  "
                    f"cpu/1k: proxy {result['proxy_cpu_s_per_1k']:.2f}s "
                    f"uf {result['uf_cpu_s_per_1k']:.2f}s",
                    flush=True,
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
        "runs": runs,
    }
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
