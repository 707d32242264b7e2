"""Cancelling a client's streamed call cancels the user function's stream; nothing leaks.

``tests/actions/leakcheck.py`` runs the proxy in its own process (so it can count that process's
asyncio tasks) in front of the test user function, and cancels 1,000 streamed calls — half
server-streaming, half duplex — each after its first message, 50 at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.actions.conftest import action_user_function
from tests.processes import ROOT

CALLS = 1000


def test_a_thousand_cancelled_calls_leave_no_tasks_or_streams(tmp_path: Path) -> None:
    uf = action_user_function(tmp_path).start()
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.actions.leakcheck",
                *("--uf-port", str(uf.port), "--calls", str(CALLS), "--concurrency", "50"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        uf.terminate()
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["calls"] == CALLS
    # The calls really overlapped (each holds a few tasks while open)...
    assert report["peak_tasks"] > report["baseline_tasks"] + 100, report
    # ...and once they are cancelled the proxy is back to where it started,
    assert report["tasks_after"] <= report["baseline_tasks"], report
    assert report["proxy_open_streams"] == 0, report
    # and so is the user function: no stream handler is still running. Every server-streaming
    # handler was cancelled; a duplex handler may see its request stream end just before the
    # cancellation arrives (grpc.aio reports both the same way at first).
    assert report["uf_open"] == 0, report
    assert report["uf_cancelled"] >= CALLS // 2, report
