"""``make bench``: the proxy's overhead on a unary action — echo through the proxy vs direct.

Starts the action test user function (``tests/actions/uf.py``) and a proxy in front of it, then
runs closed-loop grpc.aio clients calling ``acttest.Echo/Echo`` (a 32-byte message):

* ``direct``: the client speaks the Cloudstate protocol to the user function itself
  (``ActionProtocol.handleUnary``) — what the user function costs alone;
* ``proxy``: the client calls ``/acttest.Echo/Echo`` on the proxy's client port — the path every
  client takes (one port for gRPC, HTTP/JSON and gRPC-web: native gRPC is relayed to grpc.aio);
* ``proxy-grpc-port``: the same on ``--grpc-port``, the proxy's native gRPC port without the relay
  — the cost of routing the action alone.

For each concurrency: throughput, latency percentiles, and the CPU seconds per 1,000 calls of the
proxy and of the user function. The ratios (proxy / direct) are the proxy's overhead. The load
generator runs in this process on the same cores, so absolute figures are a floor.
Results: ``benchmarks/results/action.json``.

    python benchmarks/bench_action.py [--seconds 4] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_seconds, percentile  # noqa: E402
from cloudstate.any_support import pack_message  # noqa: E402
from cloudstate.protocol import action_pb2, action_pb2_grpc  # noqa: E402
from tests.actions.conftest import action_user_function  # noqa: E402
from tests.actions.model import pb  # noqa: E402
from tests.processes import free_port, proxy, wait_serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MESSAGE = pb.Item(text="x" * 30)


async def closed_loop(
    make_call: Callable[[grpc.aio.Channel], Callable[[], Awaitable[Any]]],
    target: str,
    concurrency: int,
    seconds: float,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(target) as channel:
        call = make_call(channel)
        for _ in range(50):  # warm up
            await call()
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await call()
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "ops": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def direct_call(channel: grpc.aio.Channel) -> Callable[[], Awaitable[Any]]:
    stub = action_pb2_grpc.ActionProtocolStub(channel)
    command = action_pb2.ActionCommand(
        service_name="acttest.Echo", name="Echo", payload=pack_message(MESSAGE)
    )

    async def call() -> Any:
        response = await stub.handleUnary(command, timeout=30)
        assert response.reply.payload.value == MESSAGE.SerializeToString()
        return response

    return call


def proxied_call(channel: grpc.aio.Channel) -> Callable[[], Awaitable[Any]]:
    method = channel.unary_unary("/acttest.Echo/Echo")
    request = MESSAGE.SerializeToString()

    async def call() -> Any:
        response = await method(request, timeout=30)
        assert response == request
        return response

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        uf = action_user_function(tmp).start()
        grpc_port = free_port()
        px = proxy(tmp, uf.port, "memory:", "--grpc-port", str(grpc_port)).start()
        try:
            wait_serving(px.port)
            assert uf.process is not None and px.process is not None
            for concurrency in args.concurrency:
                pair: dict[str, dict[str, Any]] = {}
                for path, make_call, port in (
                    ("direct", direct_call, uf.port),
                    ("proxy", proxied_call, px.port),
                    ("proxy-grpc-port", proxied_call, grpc_port),
                ):
                    proxy_cpu, uf_cpu = cpu_seconds(px.process.pid), cpu_seconds(uf.process.pid)
                    result = asyncio.run(
                        closed_loop(make_call, f"127.0.0.1:{port}", concurrency, args.seconds)
                    )
                    ops = max(result["ops"], 1)
                    result.update(
                        scenario=f"action-echo-{path}",
                        concurrency=concurrency,
                        proxy_cpu_s_per_1k=(cpu_seconds(px.process.pid) - proxy_cpu) / ops * 1000,
                        uf_cpu_s_per_1k=(cpu_seconds(uf.process.pid) - uf_cpu) / ops * 1000,
                    )
                    pair[path] = result
                    runs.append(result)
                    print(
                        f"{path:15} c={concurrency:<4} {result['ops_per_s']:8.0f} ops/s  "
                        f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                        f"errors {result['errors']}  cpu/1k: proxy "
                        f"{result['proxy_cpu_s_per_1k']:.3f}s uf {result['uf_cpu_s_per_1k']:.3f}s",
                        flush=True,
                    )
                direct = pair["direct"]
                for path in ("proxy", "proxy-grpc-port"):
                    proxied = pair[path]
                    overhead = {
                        "scenario": f"action-echo-overhead-{path}",
                        "concurrency": concurrency,
                        "throughput_ratio": direct["ops_per_s"] / max(proxied["ops_per_s"], 1e-9),
                        "p50_ratio": proxied["p50_ms"] / max(direct["p50_ms"], 1e-9),
                        "p50_added_ms": proxied["p50_ms"] - direct["p50_ms"],
                    }
                    runs.append(overhead)
                    print(
                        f"{'':15} c={concurrency:<4} {path} overhead: direct/proxied throughput "
                        f"{overhead['throughput_ratio']:.2f}x, proxied/direct p50 "
                        f"{overhead['p50_ratio']:.2f}x (+{overhead['p50_added_ms']:.2f} ms)",
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
    (RESULTS / "action.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'action.json'}")


if __name__ == "__main__":
    main()
