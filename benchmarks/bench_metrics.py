"""``make bench``: the per-request cost of the proxy's metrics on the hot path.

Times, in-process, exactly what the router adds to one unary request (in-flight gauge up and
down, two clock reads, one status counter and one latency histogram through pre-bound label
children) and the entity/store recordings, and writes ``benchmarks/results/metrics.json``. The
end-to-end effect is measured with ``benchmarks/run.py`` (CPU per command before/after; see
benchmarks/README.md).

    python benchmarks/bench_metrics.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudstate.proxy import metrics  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def per_request(calls: int) -> float:
    bound = metrics.method_metrics("bench.Service", "Method")
    in_flight = metrics.IN_FLIGHT
    now = metrics.now
    start = time.perf_counter()
    for _ in range(calls):
        in_flight.inc()
        began = now()
        in_flight.dec()
        bound.record("OK", now() - began)
    return (time.perf_counter() - start) / calls


def per_commit(calls: int) -> float:
    store = metrics.StoreMetrics("bench")
    now = metrics.now
    start = time.perf_counter()
    for _ in range(calls):
        began = now()
        store.commit.observe(now() - began)
        store.batch.observe(8)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    request = per_request(args.calls)
    commit = per_commit(args.calls)
    report = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "calls": args.calls,
        "request_overhead_us": round(request * 1e6, 3),
        "store_commit_overhead_us": round(commit * 1e6, 3),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"metrics per request {report['request_overhead_us']} us, "
        f"per store commit {report['store_commit_overhead_us']} us"
    )


if __name__ == "__main__":
    main()
