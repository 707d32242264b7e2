"""Shared helpers of the benchmarks: process CPU and memory, percentiles, and the compiled load
generators (``h2load`` for native gRPC, ``wrk`` for HTTP/JSON) with their own CPU measured.

The load generators come from Debian packages (``apt-get install nghttp2-client wrk``);
:func:`h2load_available` / :func:`wrk_available` tell whether they are installed.

h2load cannot vary a request body per request, so :func:`h2load` starts several h2load
processes, each with its own body (its own entity) and ``concurrency / processes`` connections
with one request in flight each; the request *paths* of a process cycle through a list (e.g.
AddItem, GetCart, AddItem, GetCart, AddItem for a 60/40 mix with one body that both methods
parse). gRPC errors travel in trailers, which h2load does not read: the full-stack runs count them
from the proxy's ``cloudstate_requests_total`` (see :func:`proxy_errors`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import struct
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: At most this many h2load processes per run (one entity each); more connections share them.
MAX_H2LOAD_PROCESSES = 64


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process in MiB (``VmHWM``: its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_cpu_seconds() -> float:
    """CPU seconds of this process's waited-for children (the load generators)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def write_results(name: str, report: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: no compression flag, 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def h2load_available() -> bool:
    return shutil.which("h2load") is not None


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@dataclass
class LoadResult:
    """One closed-loop run: completed requests, latencies (seconds, sorted), load-generator CPU."""

    ops: int
    errors: int
    seconds: float
    latencies: list[float]
    loadgen_cpu_s: float

    def summary(self) -> dict[str, float]:
        lat = self.latencies
        return {
            "ops": self.ops,
            "errors": self.errors,
            "seconds": self.seconds,
            "ops_per_s": self.ops / self.seconds if self.seconds else 0.0,
            "p50_ms": percentile(lat, 50) * 1000,
            "p99_ms": percentile(lat, 99) * 1000,
            "p999_ms": percentile(lat, 99.9) * 1000,
            "loadgen_cpu_s_per_1k": self.loadgen_cpu_s / max(self.ops, 1) * 1000,
        }


def h2load(
    port: int,
    paths: list[str],
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    workdir: Path,
    headers: Callable[[int], list[str]] | None = None,
) -> LoadResult:
    """Closed-loop native gRPC load: ``min(concurrency, MAX_H2LOAD_PROCESSES)`` h2load processes,
    process *i* sending ``bodies[i % len(bodies)]`` (already gRPC-framed) to ``paths`` in turn,
    with the extra ``headers(i)`` (``"name: value"``; e.g. metadata such as an idempotency key)."""
    processes = min(concurrency, MAX_H2LOAD_PROCESSES)
    uris = workdir / f"uris-{port}.txt"
    uris.write_text("".join(f"http://127.0.0.1:{port}{path}\n" for path in paths))
    cpu_before = children_cpu_seconds()
    running = []
    for i in range(processes):
        connections = concurrency // processes + (1 if i < concurrency % processes else 0)
        body = workdir / f"body-{i % len(bodies)}.bin"
        if not body.exists() or body.read_bytes() != bodies[i % len(bodies)]:
            body.write_bytes(bodies[i % len(bodies)])
        log = workdir / f"h2load-{i}.log"
        log.unlink(missing_ok=True)
        args = [
            "h2load", "-t1", f"-c{connections}", "-m1", "-D", f"{seconds:g}",
            "-d", str(body), "-i", str(uris), f"--log-file={log}",
            "-H", "content-type: application/grpc", "-H", "te: trailers",
        ]  # fmt: skip
        for header in headers(i) if headers is not None else ():
            args += ["-H", header]
        out = open(workdir / f"h2load-{i}.out", "wb")
        running.append((subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT), out, log))
    latencies: list[float] = []
    errors = 0
    for process, out, log in running:
        process.wait()
        out.close()
        if not log.exists():
            continue
        for line in log.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) < 3:
                continue
            if fields[1] != "200":
                errors += 1
                continue
            latencies.append(int(fields[2]) / 1e6)
    latencies.sort()
    loadgen = children_cpu_seconds() - cpu_before
    return LoadResult(len(latencies), errors, seconds, latencies, loadgen)


_WRK_DONE = """
done = function(summary, latency, requests)
  local f = io.open("%(out)s", "w")
  local e = summary.errors
  f:write(string.format('{"requests": %%d, "duration_us": %%d, "non2xx": %%d, "errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d, "p999_us": %%d}', summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9)))
  f:close()
end
"""


def wrk(port: int, request_lua: str, concurrency: int, seconds: float, workdir: Path) -> LoadResult:
    """Closed-loop HTTP/1.1 load with wrk; ``request_lua`` defines wrk's ``request()`` (it may use
    ``math.random``; each thread is seeded differently)."""
    out = workdir / f"wrk-{port}.json"
    out.unlink(missing_ok=True)
    script = workdir / f"wrk-{port}.lua"
    seed = "setup = function(thread) thread:set('seed', math.random(1, 1e9)) end\n" + (
        "init = function(args) math.randomseed(seed or os.time()) end\n"
    )
    script.write_text(seed + request_lua + _WRK_DONE % {"out": out})
    threads = min(2, concurrency)
    cpu_before = children_cpu_seconds()
    args = [
        "wrk", f"-t{threads}", f"-c{concurrency}", "-d", f"{seconds:g}s", "--timeout", "30s",
        "-s", str(script), f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True)
    loadgen = children_cpu_seconds() - cpu_before
    data = json.loads(out.read_text())
    ok = data["requests"] - data["non2xx"]
    # wrk keeps a histogram, not every latency: the three percentiles stand for the distribution.
    latencies = [data["p50_us"] / 1e6, data["p99_us"] / 1e6, data["p999_us"] / 1e6]
    result = LoadResult(ok, data["non2xx"] + data["errors"], data["duration_us"] / 1e6, [], loadgen)
    result.latencies = latencies
    return result


def wrk_summary(result: LoadResult) -> dict[str, float]:
    summary = result.summary()
    p50, p99, p999 = result.latencies
    summary.update(p50_ms=p50 * 1000, p99_ms=p99 * 1000, p999_ms=p999 * 1000)
    return summary


_REQUESTS = re.compile(r"^cloudstate_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.M)


def proxy_errors(admin_port: int) -> int:
    """Requests the proxy answered with a gRPC status other than OK or CANCELLED, so far.

    CANCELLED is left out: a load generator that stops at its deadline cancels the requests it
    still has in flight (up to one per connection)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        int(float(value))
        for labels, value in _REQUESTS.findall(text)
        if 'status="OK"' not in labels and 'status="CANCELLED"' not in labels
    )


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)
