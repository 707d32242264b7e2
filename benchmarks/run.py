"""``make bench``: the whole stack under closed-loop load, with its baselines, in one run.

For each scenario — the event-sourced shopping cart (60% AddItem / 40% GetCart), the value-entity
cart (update, get), a CRDT counter increment (``Likes.Like``) and an action echo — it starts the
user function and a proxy on a fresh SQLite file (fsync on every commit) and drives it at each
concurrency over native gRPC (``h2load``, on the client port every user gets) and over HTTP/JSON
(``wrk``, 1,000 entities). Each run lasts ``--seconds``. Recorded per run: ops/s, p50/p99/p99.9,
CPU seconds per 1,000 ops of the proxy, of the user function and of the load generator, and the
peak RSS of proxy and user function.

Baselines in the same run: **(a)** the user function driven directly through the Cloudstate
protocol with no proxy (streams for entities, ``handleUnary`` for the action) — the bound of the
whole stack; **(b)** a bare grpc.aio echo server (``benchmarks/echo_server.py``) under h2load —
the cost of grpc.aio itself. Proxy efficiency = full-stack ops/s ÷ (a) at the same concurrency.

Then **recovery** (time to the first reply of a cart with 10,000 journaled events, without and
with a snapshot) and **memory** per 10,000 active carts.

    python benchmarks/run.py [--seconds 5] [--concurrency 1 16 64 256] [--quick]
        [--scenarios cart ve-update ve-get crdt action] [--skip-baselines] [--skip-recovery]

Results: ``benchmarks/results/latest.json`` and ``latest.md`` (the tables printed at the end).
Needs ``h2load`` and ``wrk`` (``apt-get install nghttp2-client wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for example in ("shoppingcart", "valueentity", "crdts"):
    sys.path.insert(0, str(ROOT / "examples" / example))


from benchmarks.common import (  # noqa: E402
    RESULTS,
    LoadResult,
    cpu_seconds,
    grpc_frame,
    h2load,
    h2load_available,
    machine,
    own_cpu_seconds,
    percentile,
    write_results,
    wrk,
    wrk_available,
    wrk_summary,
)
from benchmarks.recovery import memory, recovery  # noqa: E402
from benchmarks.scenarios import (  # noqa: E402
    ACTION_UNARY,
    ECHO,
    ENTITIES,
    SCENARIOS,
    DirectProtocol,
    Scenario,
    _any,
)
from benchmarks.stack import Stack, measured, stack  # noqa: E402
from cloudstate.protocol import action_pb2  # noqa: E402
from tests.actions.model import pb as action_model  # noqa: E402
from tests.processes import (  # noqa: E402
    Process,
    free_port,
)

__all__ = ["cpu_seconds", "percentile"]  # imported from here by older bench scripts


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['scenario']:10} {row['transport']:15} c={row['concurrency']:<4} "
        f"{row['ops_per_s']:8.0f} ops/s  p50 {row['p50_ms']:7.2f}  p99 {row['p99_ms']:7.2f}  "
        f"p99.9 {row['p999_ms']:7.2f} ms  err {row['errors']}  cpu s/1k: proxy "
        f"{row.get('proxy_cpu_s_per_1k', 0):.2f} uf {row['uf_cpu_s_per_1k']:.2f} "
        f"loadgen {row['loadgen_cpu_s_per_1k']:.2f}",
        flush=True,
    )


def full_stack(
    scenario: Scenario, levels: list[int], seconds: float, tmp: Path
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    work = tmp / f"load-{scenario.name}"
    work.mkdir()
    bodies = [scenario.grpc_body(i) for i in range(ENTITIES)]
    lua = scenario.http_lua % {"n": ENTITIES}
    with stack(tmp, scenario.user_function, f"{scenario.name}.db") as stk:
        assert stk.px is not None
        client_port = stk.px.port

        def grpc_load(port: int, concurrency: int, seconds: float) -> LoadResult:
            return h2load(port, scenario.grpc_paths, bodies, concurrency, seconds, work)

        def http_load(port: int, concurrency: int, seconds: float) -> LoadResult:
            return wrk(port, lua, concurrency, seconds, work)

        transports = [("grpc", grpc_load, client_port, LoadResult.summary)]
        if scenario.extra_grpc_port:
            transports.append(("grpc --grpc-port", grpc_load, stk.grpc_port, LoadResult.summary))
        transports.append(("http-json", http_load, client_port, wrk_summary))
        # Warm up: activate the entities both load generators touch first (and the channels).
        grpc_load(client_port, max(levels), 1)
        http_load(client_port, 64, 1)
        for transport, load, port, summarize in transports:
            for concurrency in levels:
                row = measured(stk, functools.partial(load, port, concurrency, seconds), summarize)
                row.update(scenario=scenario.name, transport=transport, concurrency=concurrency)
                rows.append(row)
                print_row(row)
    return rows


# -- baselines -----------------------------------------------------------------------------------


async def _direct_streams(
    port: int,
    make: DirectProtocol,
    concurrency: int,
    seconds: float,
    prefix: str,
) -> LoadResult:
    """Closed loop on ``concurrency`` protocol streams, one entity each (init, then commands)."""
    latencies: list[float] = []
    errors = 0
    cpu_before = own_cpu_seconds()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

        async def one(index: int, deadline: float) -> None:
            nonlocal errors
            path, init, command, out_type = make(f"{prefix}-{index}")
            call = channel.stream_stream(
                path, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=out_type.FromString,
            )()  # fmt: skip
            await call.write(init)
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                await call.write(command(n))
                out = await call.read()
                if out.WhichOneof("message") != "reply":
                    errors += 1
                    break
                latencies.append(time.perf_counter() - started)
            await call.done_writing()
            call.cancel()

        await one(0, time.perf_counter() + 0.2)  # warm the channel
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(i, started + seconds) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(len(latencies), errors, elapsed, latencies, own_cpu_seconds() - cpu_before)


def _run_direct_streams(
    port: int, make: DirectProtocol, concurrency: int, seconds: float
) -> LoadResult:
    return asyncio.run(_direct_streams(port, make, concurrency, seconds, f"d{concurrency}"))


def direct_baselines(
    scenario: Scenario, levels: list[int], seconds: float, tmp: Path
) -> list[dict[str, Any]]:
    rows = []
    work = tmp / f"direct-{scenario.name}"
    work.mkdir()
    uf = scenario.user_function(tmp).start()
    stk = Stack(uf, None)
    try:
        for concurrency in levels:
            if scenario.direct is None:
                command = action_pb2.ActionCommand(
                    service_name="acttest.Echo", name="Echo",
                    payload=_any("acttest.Item", action_model.Item(text="x" * 30)),
                )  # fmt: skip
                body = grpc_frame(command.SerializeToString())
                transport = "direct (h2load)"
                run: Callable[[], LoadResult] = functools.partial(
                    h2load, uf.port, [ACTION_UNARY], [body], concurrency, seconds, work
                )
            else:
                transport = "direct (grpc.aio)"
                run = functools.partial(
                    _run_direct_streams, uf.port, scenario.direct, concurrency, seconds
                )
            row = measured(stk, run, LoadResult.summary)
            row.update(scenario=scenario.name, transport=transport, concurrency=concurrency)
            rows.append(row)
            print_row(row)
    finally:
        uf.terminate()
    return rows


def echo_baseline(levels: list[int], seconds: float, tmp: Path) -> list[dict[str, Any]]:
    port = free_port()
    server = Process(
        "grpc.aio echo server",
        [sys.executable, str(ROOT / "benchmarks" / "echo_server.py"), str(port)],
        port,
        tmp / "echo.log",
    ).start()
    work = tmp / "echo"
    work.mkdir()
    body = grpc_frame(b"\n\x1e" + b"x" * 30)
    rows = []
    try:
        stk = Stack(server, None)
        h2load(port, ["/bench.Echo/Echo"], [body], 16, 1, work)
        for concurrency in levels:
            run = functools.partial(h2load, port, [ECHO], [body], concurrency, seconds, work)
            row = measured(stk, run, LoadResult.summary)
            row.update(scenario="grpc-echo", transport="bare grpc.aio", concurrency=concurrency)
            row["server_cpu_s_per_1k"] = row.pop("uf_cpu_s_per_1k")
            row["uf_cpu_s_per_1k"] = row["server_cpu_s_per_1k"]
            rows.append(row)
            print_row(row)
    finally:
        server.terminate()
    return rows


# -- report --------------------------------------------------------------------------------------


def tables(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {report['machine']['cpus']} CPUs ({report['machine']['cpu']}), Python "
        f"{report['machine']['python']}, load average at start "
        f"{report['machine']['load_average'][0]:.1f}; "
        f"{report['when']}, {report['seconds']:g} s per run.",
        "",
        "| scenario | transport | c | ops/s | p50 ms | p99 ms | p99.9 ms | errors | "
        "proxy CPU s/1k | UF CPU s/1k | load gen CPU s/1k | proxy / UF peak RSS MiB | efficiency |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    direct = {
        (r["scenario"], r["concurrency"]): r["ops_per_s"]
        for r in report["runs"]
        if r["transport"].startswith("direct")
    }
    for r in report["runs"]:
        bound = direct.get((r["scenario"], r["concurrency"]))
        efficiency = (
            f"{r['ops_per_s'] / bound:.2f}"
            if bound and not r["transport"].startswith("direct") and r["scenario"] != "grpc-echo"
            else ""
        )
        rss = (
            f"{r['proxy_peak_rss_mb']:.0f} / {r['uf_peak_rss_mb']:.0f}"
            if "proxy_peak_rss_mb" in r
            else f"— / {r['uf_peak_rss_mb']:.0f}"
        )
        proxy_cpu = f"{r['proxy_cpu_s_per_1k']:.2f}" if "proxy_cpu_s_per_1k" in r else "—"
        lines.append(
            f"| {r['scenario']} | {r['transport']} | {r['concurrency']} | {r['ops_per_s']:,.0f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | {r['errors']} | "
            f"{proxy_cpu} | {r['uf_cpu_s_per_1k']:.2f} | {r['loadgen_cpu_s_per_1k']:.2f} | {rss} | "
            f"{efficiency} |"
        )
    if "recovery" in report:
        rec = report["recovery"]
        lines += [
            "",
            f"Recovery, cart with {rec['events']:,} events (first reply, median of 3): without a "
            f"snapshot {rec['without_snapshot']['median_ms']:.1f} ms, with a snapshot "
            f"{rec['with_snapshot']['median_ms']:.1f} ms (active entity: "
            f"{rec['with_snapshot']['active_reply_ms']:.2f} ms).",
        ]
    if "memory" in report:
        mem = report["memory"]
        lines += [
            "",
            f"Memory per 10,000 active carts (from {mem['entities']:,}): proxy "
            f"{mem['proxy_mb_per_10k']:.1f} MiB, user function {mem['uf_mb_per_10k']:.1f} MiB.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="per run (default 5; --quick: 2)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", help="default 1 16 64 256; --quick: 1 64"
    )
    parser.add_argument("--scenarios", nargs="+", default=[s.name for s in SCENARIOS])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter defaults: 2 s per run, c=1 and 64, 2,000 entities",
    )
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--entities", type=int, help="active carts for the memory figure (default 10,000)"
    )
    args = parser.parse_args()
    # Options given explicitly win over --quick's shorter defaults.
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 5.0
    if args.concurrency is None:
        args.concurrency = [1, 64] if args.quick else [1, 16, 64, 256]
    if args.entities is None:
        args.entities = 2_000 if args.quick else 10_000
    if not (h2load_available() and wrk_available()):
        sys.exit("needs h2load and wrk: apt-get install -y nghttp2-client wrk")
    unknown = set(args.scenarios) - {s.name for s in SCENARIOS}
    if unknown:
        sys.exit(f"unknown scenarios {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}")
    report: dict[str, Any] = {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": args.seconds,
        "runs": [],
    }
    random.seed(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if not args.skip_baselines:
            report["runs"] += echo_baseline(args.concurrency, args.seconds, tmp)
        for scenario in SCENARIOS:
            if scenario.name not in args.scenarios:
                continue
            if not args.skip_baselines:
                report["runs"] += direct_baselines(scenario, args.concurrency, args.seconds, tmp)
            report["runs"] += full_stack(scenario, args.concurrency, args.seconds, tmp)
        if not args.skip_recovery:
            report["recovery"] = recovery(tmp, args.events)
            report["memory"] = memory(tmp, args.entities)
    report["wall_s"] = time.perf_counter() - started
    path = write_results("latest.json", report)
    text = tables(report)
    (RESULTS / "latest.md").write_text(text)
    print()
    print(text)
    print(f"wrote {path} and {RESULTS / 'latest.md'} ({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
