"""Goodput under overload (issue 22): at ten times ``--max-concurrent-requests``, with clients
that never back off, the proxy keeps serving at least 80% of the rate it serves without overload,
and a polite client (one request every 0.25 s) is answered within a second, 99 times in 100 —
answered, not refused.

Refusing the excess at once made the served rate collapse (716 to 14-25 OK/s in the issue; 1,237
to 36 OK/s with this test's load generator): each refusal is answered in microseconds, the
refused client sends its next request at once, and every step of the admitted requests waits
behind hundreds of refusals in the event loop. The proxy now lets the excess wait in line
(``--max-queued-requests``, ``--queue-timeout``; cloudstate/proxy/admission.py).

The rates are compared within one run, because the machine is shared and noisy: four runs at
the limit and four at ten times the limit, interleaved (U O O U U O O U) so that a drift of the
machine's load cancels out, their medians compared so that one run disturbed by other work does
not decide. Other work can still take the CPU away for seconds: a round that misses is measured
again, up to three rounds, each held to the same 80% (a collapse like the one above misses every
round by far). The load comes from tests/http/loadgen.py, in a process of its own.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, Process, proxy, shoppingcart_user_function, wait_serving

# Rates compared within one run: `make test` runs it after the parallel suite, alone.
pytestmark = [pytest.mark.alone, pytest.mark.timeout(150)]

LIMIT = 50  # with 500 clients: the measurement
SECONDS = 2.5
ROUNDS = 3
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


def load(port: int, clients: int, polite: float = 0.0) -> dict[str, object]:
    args = [sys.executable, str(LOADGEN), "--port", str(port), "--clients", str(clients)]
    args += ["--seconds", str(SECONDS), "--polite-interval", str(polite)]
    done = subprocess.run(args, capture_output=True, timeout=SECONDS + 30, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def ok_per_second(result: dict[str, object]) -> float:
    statuses = result["statuses"]
    assert isinstance(statuses, dict)
    seconds = result["seconds"]
    assert isinstance(seconds, float)
    return float(statuses.get("200", 0)) / seconds


def measure(port: int) -> tuple[float, list[dict[str, object]], str]:
    """One round: (overloaded rate / unloaded rate, the overloaded runs, a report)."""
    unloaded: list[dict[str, object]] = []
    overloaded: list[dict[str, object]] = []
    for overload in (False, True, True, False, False, True, True, False):
        if overload:
            overloaded.append(load(port, 10 * LIMIT, polite=0.25))
        else:
            unloaded.append(load(port, LIMIT))
    assert all(r["errors"] == 0 for r in unloaded + overloaded), (unloaded, overloaded)
    ratio = statistics.median(map(ok_per_second, overloaded)) / statistics.median(
        map(ok_per_second, unloaded)
    )
    report = (
        f"unloaded {[round(ok_per_second(r)) for r in unloaded]} OK/s, "
        f"overloaded {[round(ok_per_second(r)) for r in overloaded]} OK/s "
        f"(medians: {ratio:.0%}); statuses {[r['statuses'] for r in overloaded]}"
    )
    return ratio, overloaded, report


def test_ten_times_the_limit_keeps_the_served_rate_and_polite_latency(limited: Process) -> None:
    load(limited.port, LIMIT)  # warm up: carts activated, connections and caches ready
    reports = []
    for _ in range(ROUNDS):
        ratio, overloaded, report = measure(limited.port)
        reports.append(report)
        if ratio >= 0.8:
            break
    assert ratio >= 0.8, reports

    latencies: list[float] = []
    served = 0
    for result in overloaded:
        polite = result["polite_latencies"]
        assert isinstance(polite, list)
        latencies += polite
        served += int(result["polite_served"])  # type: ignore[call-overload]
    latencies.sort()
    assert len(latencies) >= 20, latencies
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    assert p99 < 1.0, f"polite client's p99 {p99:.3f}s; {reports}"
    # ... and answered, not refused (refused at once, they were quick but not served).
    assert served >= 0.75 * len(latencies), (served, len(latencies), reports)
    print(reports, f"polite p99 {p99:.3f}s, served {served}/{len(latencies)}")
