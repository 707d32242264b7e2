"""The workflow benchmark's harness (benchmarks/bench_workflows.py): its closed loop counts only
transfers the client saw complete, and its Restate side really runs — a few seconds against a real
restate-server and the Restate transfer service, when both are installed (``make install`` and
``make bench-restate-install``); skipped, with the reason, otherwise. No speed is asserted."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_workflows, restate_stack  # noqa: E402


def test_closed_loop_counts_only_completed_transfers() -> None:
    calls: list[int] = []

    async def transfer(index: int) -> bool:
        calls.append(index)
        number = len(calls)
        await asyncio.sleep(0.001)
        if number % 3 == 0:
            raise RuntimeError("the ingress dropped the connection")
        return number % 3 == 1  # 1: completed; 2: ended but not completed; 0: raised

    result = asyncio.run(bench_workflows.closed_loop(transfer, concurrency=4, seconds=0.3))
    assert set(calls) == {0, 1, 2, 3}
    assert result.ops + result.errors == len(calls)
    assert result.ops == sum(1 for n in range(1, len(calls) + 1) if n % 3 == 1)
    assert len(result.latencies) == result.ops
    assert result.latencies == sorted(result.latencies)
    assert all(latency >= 0.001 for latency in result.latencies)


def test_table_has_a_row_per_side_and_concurrency() -> None:
    row = {"workflows_per_s": 50.0, "p50_ms": 20.0, "p99_ms": 40.0, "errors": 0,
           "client_cpu_s_per_1k": 0.5}  # fmt: skip
    report = {
        "sides": {
            "restate": {
                "rows": [
                    {
                        **row,
                        "concurrency": 1,
                        "server_cpu_s_per_1k": 1.5,
                        "service_cpu_s_per_1k": 2.5,
                    }
                ]
            },
            "cloudstate": {"error": "RuntimeError: no workflow service"},
        }
    }
    lines = bench_workflows.table(report).splitlines()
    assert lines[2] == "| restate | 1 | 50.0 | 20.0 | 40.0 | 0 | 1.50 | 2.50 | 0.50 |"
    assert len(lines) == 3


@pytest.mark.skipif(restate_stack.missing() is not None, reason=str(restate_stack.missing()))
def test_restate_side_completes_transfers_and_conserves_money(tmp_path: Path) -> None:
    result = bench_workflows.run_restate_side(tmp_path, [1, 2], seconds=1.0)
    rows = result["rows"]
    assert [row["concurrency"] for row in rows] == [1, 2]
    for row in rows:
        assert row["ops"] > 0, row
        assert row["errors"] == 0, row
        assert row["server_cpu_s_per_1k"] > 0 and row["service_cpu_s_per_1k"] > 0, row
    # Every completed transfer (the warm-up's too) moved its cent, and nothing else did.
    assert result["completed"] >= sum(row["ops"] for row in rows)
    assert result["destination_total"] == result["completed"] * bench_workflows.AMOUNT
    assert result["money_conserved"]
