"""Goodput under overload (issue 22): at ten times ``--max-concurrent-requests``, with clients
that never back off, the proxy keeps serving at least 80% of the rate it serves without overload,
and a polite client (one request every 0.25 s) is answered within a second, 99 times in 100.

Refusing the excess at once made the served rate collapse (716 → 14 to 25 OK/s in the issue; 1,237
→ 36 OK/s with this test's load generator): each refusal is answered in microseconds, the
refused client sends its next request at once, and every step of the admitted requests waits
behind hundreds of refusals in the event loop. The proxy now lets the excess wait in line
(``--max-queued-requests``, ``--queue-timeout``; cloudstate/proxy/admission.py).

Rates are compared within one run (the machine is shared and noisy): four unloaded and four
overloaded runs, interleaved (U O O U U O O U) so that a drift of the machine's load cancels
out, and their medians compared, so that one run disturbed by other work does not decide. The
load comes from tests/http/loadgen.py in its own process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, Process, proxy, shoppingcart_user_function, wait_serving

# One heavy test at a time on a worker (make test distributes by group).
pytestmark = [pytest.mark.xdist_group("load"), pytest.mark.timeout(120)]

LIMIT = 50  # with 500 clients: the measurement
SECONDS = 3.0
LOADGEN = ROOT / "tests" / "http" / "loadgen.py"


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    uf = shoppingcart_user_function(tmp_path).start()
    px = proxy(
        tmp_path,
        uf.port,
        f"sqlite:///{tmp_path}/goodput.db",
        "--max-concurrent-requests",
        str(LIMIT),
    ).start()
    try:
        wait_serving(px.port)
        yield px, uf
    finally:
        px.terminate()
        uf.terminate()


def cpu_seconds(process: Process) -> float:
    assert process.process is not None
    fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    stack: tuple[Process, Process], clients: int, seconds: float, polite: float = 0.0
) -> dict[str, object]:
    """One run of the load generator; its result, with the CPU seconds proxy and user function
    spent meanwhile (``cpu``)."""
    args = [sys.executable, str(LOADGEN), "--port", str(stack[0].port), "--clients", str(clients)]
    args += ["--seconds", str(seconds), "--polite-interval", str(polite)]
    before = sum(map(cpu_seconds, stack))
    done = subprocess.run(args, capture_output=True, timeout=seconds + 30, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    result["cpu"] = sum(map(cpu_seconds, stack)) - before
    return result


def cpu_per_ok(result: dict[str, object]) -> float:
    statuses = result["statuses"]
    assert isinstance(statuses, dict)
    return float(result["cpu"]) * 1000 / max(1, statuses.get("200", 0))  # type: ignore[arg-type]


def ok_per_second(result: dict[str, object]) -> float:
    statuses = result["statuses"]
    assert isinstance(statuses, dict)
    seconds = result["seconds"]
    assert isinstance(seconds, float)
    return float(statuses.get("200", 0)) / seconds


def test_ten_times_the_limit_keeps_the_served_rate_and_polite_latency(
    limited: tuple[Process, Process],
) -> None:
    load(limited, LIMIT, 1.5)  # warm up: carts activated, connections and caches ready
    unloaded: list[dict[str, object]] = []
    overloaded: list[dict[str, object]] = []
    for overload in (False, True, True, False, False, True, True, False):
        if overload:
            overloaded.append(load(limited, 10 * LIMIT, SECONDS, polite=0.25))
        else:
            unloaded.append(load(limited, LIMIT, SECONDS))
    normal_rate = statistics.median(map(ok_per_second, unloaded))
    overload_rate = statistics.median(map(ok_per_second, overloaded))
    report = (
        f"unloaded {[round(ok_per_second(r)) for r in unloaded]} OK/s, "
        f"overloaded {[round(ok_per_second(r)) for r in overloaded]} OK/s; "
        f"statuses {[r['statuses'] for r in overloaded]}; CPU ms per OK: unloaded "
        f"{[round(cpu_per_ok(r), 3) for r in unloaded]}, overloaded "
        f"{[round(cpu_per_ok(r), 3) for r in overloaded]}"
    )
    assert all(r["errors"] == 0 for r in unloaded + overloaded), (report, overloaded)
    assert overload_rate >= 0.8 * normal_rate, report

    latencies: list[float] = []
    for result in overloaded:
        polite = result["polite_latencies"]
        assert isinstance(polite, list)
        latencies += polite
    latencies.sort()
    assert len(latencies) >= 20, latencies
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    assert p99 < 1.0, f"polite client's p99 {p99:.3f}s; {report}"
    # ... and answered, not refused (refused at once, they were quick but not served).
    served = sum(r["polite_served"] for r in overloaded)  # type: ignore[misc]
    assert served >= 0.75 * len(latencies), (served, len(latencies), report)
    print(report, f"polite p99 {p99:.3f}s, served {served}/{len(latencies)}")
