"""Proxy workers on one node: the cart with ``--workers 1`` and ``--workers 2``, over gRPC
(h2load) and HTTP/JSON (wrk), c=64 (docs/scale-out.md, "Workers on one node").

Usage: ``python benchmarks/bench_workers.py [--seconds 10] [--workers 1,2] [--concurrency 64]
[--grpc-front h2|relay]``

Each run starts N shopping-cart user-function processes (``CloudState().start(workers=N)``) and
``cloudstate proxy --workers N --user-function-workers N`` on one SQLite file (fsync on commit),
warms up, then measures: commands/s, CPU per 1,000 commands of the proxy (supervisor and
workers) and of the user function (all processes), and the forwarded fraction (forwarded
commands / requests, from every worker's ``/metrics``). The issue's target: with 2 workers
>= 1.25x the commands/s of 1 worker at <= 1.1x its CPU per command. The machine's load average
is recorded with the numbers: on a shared machine they are only indicative.

Writes ``benchmarks/results/workers.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    LoadResult,
    h2load,
    machine,
    write_results,
    wrk,
    wrk_summary,
)
from benchmarks.scenarios import SCENARIOS  # noqa: E402
from cloudstate.tools.run_workers import consecutive_free_ports  # noqa: E402
from tests.processes import (  # noqa: E402
    SHOPPINGCART_DIR,
    Process,
    free_port,
    proxy,
    wait_serving,
)

ENTITIES = 1000


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/PID/task/PID/children)."""
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found += _tree(int(child))
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its living descendants."""
    return sum(_cpu(p) for p in _tree(pid))


_SAMPLE = re.compile(
    r"^(cloudstate_requests_total|cloudstate_forwarded_commands_total)\{([^}]*)\} ([0-9.e+]+)$",
    re.M,
)


def counters(admin_ports: list[int]) -> dict[str, float]:
    """Requests (by status) and forwarded commands summed over the workers' admin ports."""
    totals = {"requests": 0.0, "errors": 0.0, "forwarded": 0.0}
    for port in admin_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        for name, labels, value in _SAMPLE.findall(text):
            if name == "cloudstate_forwarded_commands_total":
                totals["forwarded"] += float(value)
                continue
            totals["requests"] += float(value)
            if 'status="OK"' not in labels and 'status="CANCELLED"' not in labels:
                totals["errors"] += float(value)
    return totals


@contextmanager
def cart_stack(
    tmp: Path, workers: int, grpc_front: str = "h2"
) -> Iterator[tuple[Process, Process, list[int]]]:
    uf_port = consecutive_free_ports(workers, 21500)
    uf = Process(
        "shopping-cart user function",
        [sys.executable, "-m", "shoppingcart.shopping_cart"],
        uf_port,
        tmp / f"uf-{workers}.log",
        cwd=SHOPPINGCART_DIR,
        env={"HOST": "127.0.0.1", "PORT": str(uf_port), "CLOUDSTATE_WORKERS": str(workers)},
    ).start()
    admin = free_port()
    flags = ["--admin-port", str(admin), "--passivation-timeout", "600"]
    flags += ["--grpc-front", grpc_front]
    if workers > 1:
        flags += ["--workers", str(workers), "--user-function-workers", str(workers)]
    px = proxy(tmp, uf_port, f"sqlite:///{tmp}/workers-{workers}.db", *flags)
    try:
        px.start()
        wait_serving(px.port)
        deadline = time.monotonic() + 120
        while px.log().count("proxy serving") < workers:
            if time.monotonic() > deadline:
                raise TimeoutError(px.log()[-3000:])
            time.sleep(0.1)
        yield uf, px, [admin + i for i in range(workers)]
    finally:
        px.terminate()
        uf.terminate()


def measure(
    uf: Process, px: Process, admin_ports: list[int], run: Callable[[], LoadResult],
    summarize: Callable[[LoadResult], dict[str, float]],
) -> dict[str, Any]:  # fmt: skip
    assert uf.process is not None and px.process is not None
    px_cpu, uf_cpu = tree_cpu(px.process.pid), tree_cpu(uf.process.pid)
    before = counters(admin_ports)
    load_before = os.getloadavg()[0]
    result = run()
    after = counters(admin_ports)
    row: dict[str, Any] = summarize(result)
    ops = max(result.ops, 1)
    row["proxy_cpu_s_per_1k"] = (tree_cpu(px.process.pid) - px_cpu) / ops * 1000
    row["uf_cpu_s_per_1k"] = (tree_cpu(uf.process.pid) - uf_cpu) / ops * 1000
    row["cpu_s_per_1k"] = row["proxy_cpu_s_per_1k"] + row["uf_cpu_s_per_1k"]
    requests = max(after["requests"] - before["requests"], 1.0)
    row["forwarded_fraction"] = (after["forwarded"] - before["forwarded"]) / requests
    row["errors"] = int(after["errors"] - before["errors"]) + result.errors
    row["load_average"] = round((load_before + os.getloadavg()[0]) / 2, 2)
    return row


def print_row(row: dict[str, Any]) -> None:
    print(
        f"workers={row['workers']}  {row['transport']:9}  c={row['concurrency']:<3} "
        f"{row['ops_per_s']:7.0f} cmd/s  p50 {row['p50_ms']:6.2f} p99 {row['p99_ms']:7.2f} ms  "
        f"cpu s/1k: proxy {row['proxy_cpu_s_per_1k']:.3f} uf {row['uf_cpu_s_per_1k']:.3f} "
        f"total {row['cpu_s_per_1k']:.3f}  forwarded {row['forwarded_fraction']:.0%}  "
        f"err {row['errors']}  load {row['load_average']}",
        flush=True,
    )


def _grpc_load(
    port: int, paths: list[str], bodies: list[bytes], work: Path, concurrency: int, secs: float
) -> LoadResult:
    return h2load(port, paths, bodies, concurrency, secs, work)


def _http_load(port: int, lua: str, work: Path, concurrency: int, secs: float) -> LoadResult:
    return wrk(port, lua, concurrency, secs, work)


def run(
    levels: list[int], workers_list: list[int], seconds: float, grpc_front: str = "h2"
) -> list[dict[str, Any]]:
    cart = next(s for s in SCENARIOS if s.name == "cart")
    bodies = [cart.grpc_body(i) for i in range(ENTITIES)]
    lua = cart.http_lua % {"n": ENTITIES}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as name:
        tmp = Path(name)
        for workers in workers_list:
            work = tmp / f"load-{workers}"
            work.mkdir()
            with cart_stack(tmp, workers, grpc_front) as (uf, px, admin_ports):
                grpc_load = functools.partial(_grpc_load, px.port, cart.grpc_paths, bodies, work)
                http_load = functools.partial(_http_load, px.port, lua, work)

                grpc_load(max(levels), 2)  # warm up: activate entities, open channels
                http_load(max(levels), 2)
                for transport, load, summarize in (
                    ("grpc", grpc_load, LoadResult.summary),
                    ("http-json", http_load, wrk_summary),
                ):
                    for concurrency in levels:
                        row = measure(
                            uf, px, admin_ports, functools.partial(load, concurrency, seconds),
                            summarize,
                        )  # fmt: skip
                        row.update(workers=workers, transport=transport, concurrency=concurrency)
                        rows.append(row)
                        print_row(row)
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per transport and concurrency: N workers against 1 (commands/s, CPU per command)."""
    found = []
    base = {(r["transport"], r["concurrency"]): r for r in rows if r["workers"] == 1}
    for row in rows:
        one = base.get((row["transport"], row["concurrency"]))
        if row["workers"] == 1 or one is None:
            continue
        found.append(
            {
                "transport": row["transport"],
                "concurrency": row["concurrency"],
                "workers": row["workers"],
                "throughput_x": round(row["ops_per_s"] / max(one["ops_per_s"], 1e-9), 3),
                "cpu_per_command_x": round(row["cpu_s_per_1k"] / max(one["cpu_s_per_1k"], 1e-9), 3),
                "proxy_cpu_per_command_x": round(
                    row["proxy_cpu_s_per_1k"] / max(one["proxy_cpu_s_per_1k"], 1e-9), 3
                ),
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2", help="comma-separated (default 1,2)")
    parser.add_argument("--concurrency", default="64", help="comma-separated (default 64)")
    parser.add_argument(
        "--grpc-front",
        choices=("h2", "relay"),
        default="h2",
        help="the proxy's --grpc-front (default h2; relay: the whole-connection relay)",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    workers_list = [int(w) for w in args.workers.split(",")]
    started = machine()
    rows = run(levels, workers_list, args.seconds, args.grpc_front)
    compared = ratios(rows)
    print("\nN workers vs 1 (target: throughput >= 1.25x, CPU per command <= 1.1x):")
    for r in compared:
        print(
            f"  {r['transport']:9} c={r['concurrency']:<3} workers={r['workers']}: "
            f"throughput {r['throughput_x']:.2f}x  CPU/command {r['cpu_per_command_x']:.2f}x "
            f"(proxy alone {r['proxy_cpu_per_command_x']:.2f}x)"
        )
    report = {
        "machine_at_start": started,
        "machine_at_end": machine(),
        "seconds": args.seconds,
        "grpc_front": args.grpc_front,
        "entities": ENTITIES,
        "rows": rows,
        "ratios": compared,
    }
    name = "workers.json" if args.grpc_front == "h2" else f"workers-{args.grpc_front}.json"
    print(f"\nwritten {write_results(name, report)}")


if __name__ == "__main__":
    main()
