"""Goodput under overload (issue 22): at ten times ``--max-concurrent-requests``, with clients
that never back off, the proxy keeps serving at least 80% of the rate it serves without overload,
and a polite client (one request every 0.25 s) is answered within a second, 99 times in 100.

Refusing the excess at once made the served rate collapse (716 → 14 to 25 OK/s in the issue; 1,237
→ 36 OK/s with this test's load generator): each refusal is answered in microseconds, the
refused client sends its next request at once, and every step of the admitted requests waits
behind hundreds of refusals in the event loop. The proxy now lets the excess wait in line
(``--max-queued-requests``, ``--queue-timeout``; cloudstate/proxy/admission.py).

Rates are compared within one run (the machine is shared and noisy): unloaded, overloaded,
overloaded, unloaded, so that a drift of the machine's load over the run cancels out. The load
comes from tests/http/loadgen.py in its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, Process, proxy, shoppingcart_user_function, wait_serving

# One heavy test at a time on a worker (make test distributes by group).
pytestmark = [pytest.mark.xdist_group("load"), pytest.mark.timeout(120)]

LIMIT = 50  # with 500 clients: the measurement
SECONDS = 4.0
LOADGEN = ROOT / "tests" / "http" / "loadgen.py"


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Process]:
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
        yield px
    finally:
        px.terminate()
        uf.terminate()


def load(port: int, clients: int, seconds: float, polite: float = 0.0) -> dict[str, object]:
    args = [sys.executable, str(LOADGEN), "--port", str(port), "--clients", str(clients)]
    args += ["--seconds", str(seconds), "--polite-interval", str(polite)]
    done = subprocess.run(args, capture_output=True, timeout=seconds + 30, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def ok_per_second(result: dict[str, object]) -> float:
    statuses = result["statuses"]
    assert isinstance(statuses, dict)
    seconds = result["seconds"]
    assert isinstance(seconds, float)
    return float(statuses.get("200", 0)) / seconds


def test_ten_times_the_limit_keeps_the_served_rate_and_polite_latency(limited: Process) -> None:
    load(limited.port, LIMIT, 1.5)  # warm up: carts activated, connections and caches ready
    unloaded = [load(limited.port, LIMIT, SECONDS)]
    overloaded = [load(limited.port, 10 * LIMIT, SECONDS, polite=0.25) for _ in range(2)]
    unloaded.append(load(limited.port, LIMIT, SECONDS))
    normal_rate = sum(map(ok_per_second, unloaded)) / len(unloaded)
    overload_rate = sum(map(ok_per_second, overloaded)) / len(overloaded)
    report = (
        f"unloaded {[round(ok_per_second(r)) for r in unloaded]} OK/s, "
        f"overloaded {[round(ok_per_second(r)) for r in overloaded]} OK/s; "
        f"statuses {[r['statuses'] for r in overloaded]}"
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
