"""``make bench``: the conformance kit's cost — full runs, and what its relay adds per command.

1. **Runs**: ``cloudstate tck language-support --start-model`` and ``cloudstate tck proxy
   --start-model`` (our SDK's model, our proxy), wall time including start-up, and cases per
   second. Tells a language-support author how long a conformance run takes.
2. **Relay overhead**: the proxy target puts a recording relay between the proxy and the user
   function. One event-sourced ``Process`` command (concurrency 1, one entity per client call
   sequence) through a proxy talking to the user function directly, and through a proxy talking
   to it via the TCK's relay: ops/s and p50/p99. The difference is what every proxy case pays,
   and why the per-message timeout (3 s) is generous.

Results: ``benchmarks/results/tck.json``.

    python benchmarks/bench_tck.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import percentile  # noqa: E402
from cloudstate.tck.model import eventsourced_pb2 as es  # noqa: E402
from cloudstate.tck.model import eventsourced_pb2_grpc as es_grpc  # noqa: E402
from cloudstate.tck.relay import Relay  # noqa: E402
from tests.processes import Process, free_port, proxy, wait_serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def full_run(target: str) -> dict[str, Any]:
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "cloudstate.tck", target, "--start-model"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    lines = [
        line for line in run.stdout.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP", "ERRO")
    ]
    outcomes = {
        kind: sum(line.startswith(kind) for line in lines)
        for kind in ("PASS", "FAIL", "SKIP", "ERROR")
    }
    return {
        "target": target,
        "cases": len(lines),
        **{k.lower(): v for k, v in outcomes.items()},
        "exit_code": run.returncode,
        "seconds": round(elapsed, 2),
        "cases_per_second": round(len(lines) / elapsed, 1),
    }


async def latency(target: str, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = es_grpc.EventSourcedTckModelStub(channel)
        request = es.Request(id=f"bench-{free_port()}")
        for _ in range(50):
            await stub.Process(request)
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await stub.Process(request)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "ops_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


async def relay_overhead(seconds: float, tmp: Path) -> dict[str, Any]:
    uf_port = free_port()
    uf = Process(
        "TCK model",
        [sys.executable, "-m", "cloudstate.tck.model", "--port", str(uf_port)],
        uf_port,
        tmp / "model.log",
    ).start()
    relay = Relay(f"127.0.0.1:{uf_port}")
    relay_port = await relay.start()
    direct = proxy(tmp, uf_port, "memory:").start()
    relayed = proxy(tmp, relay_port, "memory:").start()
    try:
        for p in (direct, relayed):
            await asyncio.to_thread(wait_serving, p.port)
        results = {
            "direct": await latency(f"127.0.0.1:{direct.port}", seconds),
            "through_relay": await latency(f"127.0.0.1:{relayed.port}", seconds),
        }
    finally:
        for p in (direct, relayed):
            p.terminate()
        await relay.stop()
        uf.terminate()
    results["added_p50_ms"] = round(
        results["through_relay"]["p50_ms"] - results["direct"]["p50_ms"], 2
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    runs = [full_run("language-support"), full_run("proxy")]
    for run in runs:
        print(
            f"{run['target']:<17} {run['cases']:>4} cases ({run['pass']} pass, {run['skip']} skip, "
            f"{run['fail'] + run['error']} fail) in {run['seconds']:6.2f}s = "
            f"{run['cases_per_second']} cases/s"
        )
    with tempfile.TemporaryDirectory() as tmp:
        overhead = asyncio.run(relay_overhead(args.seconds, Path(tmp)))
    for name in ("direct", "through_relay"):
        r = overhead[name]
        print(
            f"Process via proxy, {name:<13}: {r['ops_per_second']:>7} ops/s  "
            f"p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms"
        )
    print(f"the relay adds {overhead['added_p50_ms']} ms at the median")
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "tck",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "runs": runs,
        "relay_overhead": overhead,
    }
    (RESULTS / "tck.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
