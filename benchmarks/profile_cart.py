"""Where the CPU goes: py-spy samples the proxy and the user function while h2load drives the
event-sourced cart (60% AddItem / 40% GetCart over 1,000 carts) over native gRPC.

    python benchmarks/profile_cart.py [--seconds 15] [--concurrency 64] [--native] [--grpc-port]

The stack is the one of ``run.py`` (SQLite, fsync on commit). Each process's samples (py-spy
``--format raw``: one collapsed stack per line) are written to ``benchmarks/results/
profile-{proxy,uf}.txt`` and summarised per category (the first rule, from the innermost frame
outwards, that matches a frame), as a share of the samples and as CPU milliseconds per command
(the share of the event-loop thread's samples times that thread's CPU per command, from
/proc; the other threads — grpc's poller, the SQLite writer — are given whole). Needs ``py-spy``
(``pip install py-spy``, root or ptrace permission) and ``h2load``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS, cpu_seconds, h2load  # noqa: E402
from benchmarks.scenarios import ENTITIES, SCENARIOS  # noqa: E402
from benchmarks.stack import stack  # noqa: E402

#: (category, substrings of a frame) for the event-loop thread: the first rule matching a frame,
#: searching from the innermost frame outwards, gets the sample; asyncio's own frames count only
#: when nothing of ours or of a library is above them (so ``Event.set`` called by the actor is the
#: actor's cost). Order matters: specific before generic.
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("metrics (prometheus_client)", ("proxy/metrics.py", "prometheus_client")),
    ("logging", ("logging/__init__.py", "proxy/logs.py")),
    ("tracing", ("proxy/tracing.py", "opentelemetry")),
    ("protobuf (Python side)", ("google/protobuf",)),
    ("relay: client port -> grpc.aio unix socket", ("http/listener.py",)),
    ("HTTP/JSON (aiohttp, transcoding)", ("aiohttp", "http/api.py", "http/transcode.py")),
    ("store: submit/resolve on the loop", ("stores/sqlite.py", "stores/base.py")),
    ("proxy: event-sourced entity actor", ("entities/event_sourced.py",)),
    (
        "proxy: actor machinery (queue, stream write/read)",
        ("entities/actor.py", "entities/base.py"),
    ),
    ("proxy: router", ("proxy/router.py",)),
    ("proxy: gRPC ingress handler", ("ingress/grpc_ingress.py",)),
    ("SDK: servicer + user code", ("cloudstate/event_sourced", "cloudstate/entity", "examples/")),
    ("grpc.aio Python wrappers (+ the C they call)", ("grpc/aio", "grpc/_common", "grpc/_")),
]
_LOOP = ("asyncio/", "selectors.py", "threading.py", "queue.py", "contextvars")


PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Thread id -> (OS thread name, CPU seconds: utime + stime) of each thread of ``pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (task / "comm").read_text().strip()
            found[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / ticks)
    return found


def thread_names(raw: Path) -> dict[int, str]:
    """Native thread id -> name, from py-spy's ``thread (TID): name`` first frames."""
    names = {}
    for line in raw.read_text().splitlines():
        head = line.split(";", 1)[0]
        if head.startswith("thread ("):
            tid, _, name = head[len("thread (") :].partition("): ")
            if tid.isdigit():
                names[int(tid)] = name.split(":")[0]
    return names


def category(frames: list[str]) -> str:
    for frame in reversed(frames):
        if any(part in frame for part in _LOOP):
            continue
        for name, needles in RULES:
            if any(needle in frame for needle in needles):
                return name
    leaf = frames[-1] if frames else ""
    if "Runner.run" in leaf or "run_until_complete" in leaf:
        # uvloop: polling, its callbacks and grpc.aio's Cython callbacks all run inside its C
        # run_forever, below the last Python frame.
        return "event loop in C (uvloop polling + callbacks, grpc.aio Cython)"
    if "Handle._run" in leaf:
        return "loop callbacks run in C (grpc.aio Cython, asyncio task steps)"
    if "select" in leaf:
        return "epoll (selectors)"
    if "asyncio/" in leaf:
        return "asyncio machinery (Python)"
    return "other"


def thread_of(frames: list[str]) -> str:
    head = frames[0] if frames else ""
    return head.partition("): ")[2].split(":")[0] if head.startswith("thread (") else head


def summarise(raw: Path) -> tuple[int, collections.Counter[str]]:
    """Samples of the event-loop thread (MainThread), and those samples per category."""
    per_category: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        frames = stack_text.split(";")
        if thread_of(frames) != "MainThread":
            continue
        count = int(count_text)
        total += count
        per_category[category(frames)] += count
    return total, per_category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames)")
    parser.add_argument("--grpc-port", action="store_true", help="load grpc.aio's own port")
    args = parser.parse_args()
    cart = next(s for s in SCENARIOS if s.name == "cart")
    bodies = [cart.grpc_body(i) for i in range(ENTITIES)]
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, object] = {"seconds": args.seconds, "concurrency": args.concurrency}
    with (
        tempfile.TemporaryDirectory() as tmp_dir,
        stack(Path(tmp_dir), cart.user_function, "cart.db") as stk,
    ):
        assert stk.px is not None
        port = stk.grpc_port if args.grpc_port else stk.px.port
        work = Path(tmp_dir) / "load"
        work.mkdir()
        h2load(port, cart.grpc_paths, bodies, args.concurrency, 2, work)  # warm up
        pids = {"proxy": stk.px_pid, "uf": stk.uf_pid}
        spies = {}
        for name, pid in pids.items():
            command = [
                PY_SPY, "record", "--pid", str(pid), "--rate", str(args.rate),
                "--duration", f"{int(args.seconds)}", "--format", "raw", "--threads",
                "-o", str(RESULTS / f"profile-{name}.txt"),
            ]  # fmt: skip
            # --native needs the process paused while sampling; without it, don't pause.
            command.append("--native" if args.native else "--nonblocking")
            spies[name] = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        time.sleep(0.5)  # py-spy attached
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        threads_before = {name: thread_cpu(pid) for name, pid in pids.items()}
        result = h2load(port, cart.grpc_paths, bodies, args.concurrency, args.seconds - 1, work)
        threads_after = {name: thread_cpu(pid) for name, pid in pids.items()}
        cpu_ms = {
            name: (cpu_seconds(pid) - cpu_before[name]) / max(result.ops, 1) * 1000
            for name, pid in pids.items()
        }
        for name, spy in spies.items():
            _, err = spy.communicate()
            if spy.returncode:
                sys.exit(f"py-spy on the {name} failed: {err.decode(errors='replace')}")
    summary = result.summary()
    print(
        f"cart over {'--grpc-port' if args.grpc_port else 'the client port'}, c={args.concurrency}:"
        f" {summary['ops_per_s']:.0f} ops/s, p50 {summary['p50_ms']:.2f} ms, p99 "
        f"{summary['p99_ms']:.1f} ms (under py-spy)"
    )
    report["load"] = summary
    for name in pids:
        raw = RESULTS / f"profile-{name}.txt"
        names = thread_names(raw)
        per_thread: dict[str, float] = collections.defaultdict(float)
        for tid, (comm, after) in threads_after[name].items():
            spent = after - threads_before[name].get(tid, (comm, 0.0))[1]
            # Threads py-spy does not see are grpc's C-core threads: their OS name says which.
            thread = names.get(tid, f"native thread {comm!r}")
            per_thread[thread] += spent / max(result.ops, 1) * 1000
        loop_ms = per_thread.get("MainThread", 0.0)
        print(f"\n{name}: {cpu_ms[name]:.3f} ms CPU per command; per thread (/proc):")
        for thread, ms in sorted(per_thread.items(), key=lambda item: -item[1]):
            if ms > 0.0005:
                print(f"  {thread}: {ms:.3f} ms")
        total, per_category = summarise(raw)
        print(f"event-loop thread ({total} samples):")
        print("| where | share | ms CPU per command |\n| --- | --- | --- |")
        rows = []
        for where, count in per_category.most_common():
            share = count / max(total, 1)
            rows.append({"where": where, "share": share, "ms_per_command": share * loop_ms})
            print(f"| {where} | {share:.0%} | {share * loop_ms:.3f} |")
        report[name] = {
            "cpu_ms_per_command": cpu_ms[name],
            "threads_ms_per_command": dict(per_thread),
            "loop_samples": total,
            "loop_categories": rows,
        }
    (RESULTS / "profile.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
