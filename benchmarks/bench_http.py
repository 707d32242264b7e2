"""``make bench``: the same cart commands over HTTP/JSON and over native gRPC.

Starts the shopping-cart user function and one proxy (SQLite, fsync on commit) with
``--grpc-port``, so native gRPC can be measured both through the shared client port (relayed to
grpc.aio) and directly. For each command (``GetCart``, ``AddItem``) over 1,000 carts, closed loop
at the given concurrency:

* ``grpc-client-port``: grpc.aio clients → the client port (the relay path every user gets);
* ``grpc-direct``: grpc.aio clients → ``--grpc-port`` (no relay);
* ``http-json``: ``wrk`` (Debian package ``wrk``) → ``GET /carts/{user_id}`` /
  ``POST /cart/{user_id}/items/add``; without wrk, Python aiohttp clients.

Records ops/s, latency percentiles and the proxy's CPU seconds per 1,000 commands (the fair
comparison: the load generators differ). Results: ``benchmarks/results/http.json``.

    python benchmarks/bench_http.py [--seconds 4] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart"))

from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc  # noqa: E402

from benchmarks.common import cpu_seconds, percentile  # noqa: E402
from tests.processes import free_port, proxy, shoppingcart_user_function, wait_serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CARTS = 1000

_WRK_SCRIPT = """
math.randomseed(os.time())
local command = "%s"
request = function()
  local user = "cart-" .. math.random(0, %d)
  if command == "GetCart" then
    return wrk.format("GET", "/carts/" .. user)
  end
  return wrk.format("POST", "/cart/" .. user .. "/items/add",
    {["Content-Type"] = "application/json"},
    '{"productId":"p' .. math.random(0, 19) .. '","name":"item","quantity":1}')
end
"""


async def grpc_loop(port: int, command: str, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        await stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="cart-0"))
        deadline = time.perf_counter() + seconds

        def call(rng: random.Random) -> Awaitable[object]:
            user = f"cart-{rng.randrange(CARTS)}"
            if command == "GetCart":
                return stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30)
            item = shoppingcart_pb2.AddLineItem(
                user_id=user, product_id=f"p{rng.randrange(20)}", name="item", quantity=1
            )
            return stub.AddItem(item, timeout=30)

        async def client(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await call(rng)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return _summary(latencies, errors, elapsed)


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    latencies.sort()
    return {
        "ops": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def wrk_run(port: int, command: str, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % (command, CARTS - 1))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                str(concurrency),
                "-d",
                f"{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not found:
            return 0.0
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    total = int(re.search(r"(\d+) requests in ([\d.]+)(m?s)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    seconds_run = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    return {
        "ops": total - errors,
        "errors": errors,
        "seconds": seconds_run,
        "ops_per_s": (total - errors) / seconds_run,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
    }


async def aiohttp_loop(
    port: int, command: str, concurrency: int, seconds: float
) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        deadline = time.perf_counter() + seconds

        async def client(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                user = f"cart-{rng.randrange(CARTS)}"
                started = time.perf_counter()
                if command == "GetCart":
                    request = session.get(f"{base}/carts/{user}")
                else:
                    body = {"productId": f"p{rng.randrange(20)}", "name": "item", "quantity": 1}
                    request = session.post(f"{base}/cart/{user}/items/add", json=body)
                async with request as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return _summary(latencies, errors, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--commands", nargs="+", default=["GetCart", "AddItem"])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    have_wrk = shutil.which("wrk") is not None
    runs = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        uf = shoppingcart_user_function(tmp).start()
        grpc_port = free_port()
        px = proxy(tmp, uf.port, f"sqlite:///{tmp}/bench.db", "--grpc-port", str(grpc_port)).start()
        try:
            wait_serving(px.port)
            assert uf.process is not None and px.process is not None
            transports: dict[str, Callable[[str], dict[str, float]]] = {
                "grpc-client-port": lambda c: asyncio.run(
                    grpc_loop(px.port, c, args.concurrency, args.seconds)
                ),
                "grpc-direct": lambda c: asyncio.run(
                    grpc_loop(grpc_port, c, args.concurrency, args.seconds)
                ),
                "http-json": (
                    (lambda c: wrk_run(px.port, c, args.concurrency, args.seconds))
                    if have_wrk
                    else lambda c: asyncio.run(
                        aiohttp_loop(px.port, c, args.concurrency, args.seconds)
                    )
                ),
            }
            for command in args.commands:
                for transport, run in transports.items():
                    proxy_cpu = cpu_seconds(px.process.pid)
                    result = run(command)
                    ops = max(result["ops"], 1)
                    result.update(
                        command=command,
                        transport=transport,
                        client="wrk" if transport == "http-json" and have_wrk else "python",
                        concurrency=args.concurrency,
                        proxy_cpu_s_per_1k=(cpu_seconds(px.process.pid) - proxy_cpu) / ops * 1000,
                    )
                    runs.append(result)
                    print(
                        f"{command:<8} {transport:<17} {result['ops_per_s']:7.0f} ops/s  "
                        f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                        f"errors {result['errors']}  "
                        f"proxy cpu/1k {result['proxy_cpu_s_per_1k']:.2f}s",
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
    (RESULTS / "http.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'http.json'}")


if __name__ == "__main__":
    main()
