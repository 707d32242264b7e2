"""Nodes in a cluster: CPU per command of 3 nodes on one PostgreSQL, clients routed at random,
with entity ownership and forwarding (``--cluster-port``) against without (every node catches up
the entity from the journal) and against one node.

Usage: ``python benchmarks/bench_cluster.py [--seconds 10] [--rounds 2] [--postgres URL]
[--rate N]``

The cart (shopping-cart user function + proxy per node), 64 closed-loop gRPC clients, 60 %
AddItem / 40 % GetCart over 1,000 carts, each command sent to a random node (what a Kubernetes
Service does). Scenarios, interleaved in each round so that the machine's load hits them alike:
``1 node``, ``3 nodes`` (no cluster: optimistic catch-up, today's default), ``3 nodes affinity``
(no cluster, each cart's commands always to the same node: neither catch-ups nor forwarding, the
bound ownership can approach on this machine) and ``3 nodes cluster`` (random routing again).
Reported per scenario (the median over rounds): commands/s, CPU seconds per 1,000 commands of
the proxies, of the user functions, of PostgreSQL and all together, the ratio of each to one
node's, the fraction of commands forwarded to their owner (expected (N-1)/N = 0.67) and the
load average before and after. On a 2-core machine shared with other work the throughput says
little; CPU per command is the figure to compare. Closed loop, one node saturated does more work
per event-loop wakeup than three half-idle ones; ``--rate N`` paces the clients to N commands/s
in total, so that every scenario does the same work and the CPU per command compares like for
like. Writes ``benchmarks/results/cluster.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_postgres import load  # noqa: E402

from tests import postgres_server  # noqa: E402
from tests.processes import free_port, metric  # noqa: E402
from tests.scaleout.cluster import Node  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "cluster.json"
#: (name, nodes, cluster, affinity): affinity (each cart's commands to one node, no cluster) is
#: the bound forwarding cannot beat: no catch-ups and no forwarding, only the cost of 3 processes.
SCENARIOS = (
    ("1 node", 1, False, False),
    ("3 nodes", 3, False, False),
    ("3 nodes affinity", 3, False, True),
    ("3 nodes cluster", 3, True, False),
)
CARTS = 1000


async def scenario(
    postgres: str,
    tmp: Path,
    count: int,
    cluster: bool,
    affinity: bool,
    seconds: float,
    rate: float | None = None,
) -> Any:
    run_dir = tmp / f"{count}-{cluster}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir()
    store = f"{postgres}?schema=cluster_{uuid.uuid4().hex[:12]}"
    admin = [free_port() for _ in range(count)]
    nodes = []
    for n in range(count):
        flags = ["--log-level", "WARNING", "--admin-port", str(admin[n])]
        if cluster:
            flags += ["--cluster-port", str(free_port())]
        nodes.append(Node(run_dir, store, *flags))
    try:
        for node in nodes:
            await asyncio.to_thread(node.start)
        if cluster:  # every node sees every other before the clock starts
            await asyncio.sleep(2.5)
        load_before = os.getloadavg()[0]
        forwarded0 = sum(metric(port, "cloudstate_forwarded_commands_total") for port in admin)
        measured = await load(nodes, CARTS, seconds, affinity=affinity, rate=rate)
        forwarded1 = sum(metric(port, "cloudstate_forwarded_commands_total") for port in admin)
        conflicts = sum(metric(port, "cloudstate_entity_conflicts_total") for port in admin)
        load_after = os.getloadavg()[0]
    finally:
        for node in nodes:
            await asyncio.to_thread(node.stop)
    commands = measured["ops_per_second"] * seconds
    measured["total_cpu_s_per_1k"] = round(
        measured["proxy_cpu_s_per_1k"]
        + measured["uf_cpu_s_per_1k"]
        + measured["postgres_cpu_s_per_1k"],
        3,
    )
    measured["forwarded_fraction"] = round((forwarded1 - forwarded0) / max(1.0, commands), 3)
    measured["conflicts"] = int(conflicts)
    measured["load_average"] = [round(load_before, 2), round(load_after, 2)]
    return measured


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of every scenario")
    parser.add_argument("--postgres", help="PostgreSQL URL (default: start a throw-away server)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--rate",
        type=float,
        help="commands/s offered by all clients together (default: closed loop, as fast as served)",
    )
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 120.0)

    server_dir: Path | None = None
    postgres = args.postgres or os.environ.get("CLOUDSTATE_TEST_POSTGRES")
    if not postgres:
        server_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        postgres = postgres_server.start(server_dir)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in SCENARIOS}
    print(
        f"cluster benchmark: {seconds:g} s x {args.rounds} rounds, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            for round_no in range(args.rounds):
                for name, count, cluster, affinity in SCENARIOS:
                    run = await scenario(
                        postgres, Path(tmp), count, cluster, affinity, seconds, args.rate
                    )
                    runs[name].append(run)
                    print(
                        f"  round {round_no + 1} {name:>16}: {run['ops_per_second']:>7.1f} "
                        f"cmd/s  CPU s/1k proxy {run['proxy_cpu_s_per_1k']:.3f} uf "
                        f"{run['uf_cpu_s_per_1k']:.3f} pg {run['postgres_cpu_s_per_1k']:.3f} "
                        f"total {run['total_cpu_s_per_1k']:.3f}  forwarded "
                        f"{run['forwarded_fraction']:.2f}  conflicts {run['conflicts']}  "
                        f"load {run['load_average']}  errors {run['errors'] or '-'}",
                        flush=True,
                    )
    finally:
        if server_dir is not None:
            postgres_server.stop(server_dir)
            shutil.rmtree(server_dir, ignore_errors=True)

    keys = (
        "ops_per_second",
        "proxy_cpu_s_per_1k",
        "uf_cpu_s_per_1k",
        "postgres_cpu_s_per_1k",
        "total_cpu_s_per_1k",
        "forwarded_fraction",
    )
    summary = {
        name: {key: round(statistics.median(r[key] for r in results), 3) for key in keys}
        for name, results in runs.items()
    }
    single = summary["1 node"]
    for values in summary.values():
        for part in ("proxy", "total"):
            key = f"{part}_cpu_s_per_1k"
            values[f"{part}_cpu_vs_1_node"] = round(values[key] / max(1e-9, single[key]), 2)
    print("median over rounds (CPU per command relative to 1 node):")
    for name, values in summary.items():
        print(
            f"  {name:>16}: {values['ops_per_second']:>7.1f} cmd/s  proxy CPU "
            f"{values['proxy_cpu_vs_1_node']:.2f}x  all CPU {values['total_cpu_vs_1_node']:.2f}x  "
            f"forwarded {values['forwarded_fraction']:.2f}"
        )
    report = {
        "benchmark": "cluster",
        "seconds": seconds,
        "rounds": args.rounds,
        "carts": CARTS,
        "clients": 64,
        "rate": args.rate,
        "mix": "60% AddItem / 40% GetCart, random node per command (affinity: by cart)",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "summary": summary,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
