"""The benchmark harness's own arithmetic: framing, h2load log parsing, error counting from the
proxy's metrics, the report table. (The load runs themselves are ``make bench``, not tests.)"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.run import tables  # noqa: E402

METRICS = b"""# TYPE cloudstate_requests_total counter
cloudstate_requests_total{method="AddItem",service="S",status="OK"} 4941.0
cloudstate_requests_total{method="GetCart",service="S",status="CANCELLED"} 8.0
cloudstate_requests_total{method="GetCart",service="S",status="INVALID_ARGUMENT"} 3.0
cloudstate_requests_total{method="AddItem",service="S",status="UNAVAILABLE"} 2.0
cloudstate_requests_created{method="AddItem",service="S",status="OK"} 1.7e9
"""


def test_grpc_frame_is_flag_length_message() -> None:
    assert common.grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"


def test_percentile_of_sorted_values() -> None:
    values = [float(n) for n in range(1, 101)]
    assert common.percentile(values, 50) == 51.0
    assert common.percentile(values, 99) == 99.0
    assert common.percentile([], 50) == 0.0


@pytest.fixture
def metrics_port() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(METRICS)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_proxy_errors_counts_failures_but_not_cancellations(metrics_port: int) -> None:
    # CANCELLED is what a load generator stopping at its deadline leaves; OK and _created
    # samples are not failures.
    assert common.proxy_errors(metrics_port) == 5


def _row(scenario: str, transport: str, ops: float, **extra: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": scenario, "transport": transport, "concurrency": 64, "ops_per_s": ops,
        "p50_ms": 1.0, "p99_ms": 2.0, "p999_ms": 3.0, "errors": 0, "uf_cpu_s_per_1k": 0.3,
        "loadgen_cpu_s_per_1k": 0.1, "uf_peak_rss_mb": 50.0,
    }  # fmt: skip
    row.update(extra)
    return row


def test_table_reports_efficiency_against_the_direct_bound() -> None:
    report = {
        "machine": {"cpus": 2, "cpu": "x", "python": "3.11", "load_average": (1.0, 1.0, 1.0)},
        "when": "now",
        "seconds": 5,
        "runs": [
            _row("cart", "direct (grpc.aio)", 4000.0),
            _row("cart", "grpc", 1000.0, proxy_cpu_s_per_1k=0.9, proxy_peak_rss_mb=200.0),
        ],
    }
    text = tables(report)
    direct, proxied = (line for line in text.splitlines() if line.startswith("| cart"))
    assert direct.endswith("|  |")  # no efficiency for the bound itself
    assert proxied.endswith("| 0.25 |")
    assert "| 0.90 |" in proxied and "200 / 50" in proxied


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load not installed")
def test_h2load_counts_only_completed_requests(tmp_path: Path) -> None:
    # Nothing listens on the port: every request fails, none may be counted as done.
    port = _free_port()
    result = common.h2load(port, ["/x.Y/Z"], [common.grpc_frame(b"")], 2, 1, tmp_path)
    assert result.ops == 0 and result.latencies == []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_py_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--quick" in done.stdout
