"""The stack under test of ``benchmarks/run.py``: a user function and a proxy on SQLite (fsync on
commit), and one measured load run (CPU per 1,000 ops and peak RSS of both processes)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for example in ("shoppingcart", "valueentity", "crdts"):
    sys.path.insert(0, str(ROOT / "examples" / example))


from benchmarks.common import (  # noqa: E402
    LoadResult,
    cpu_seconds,
    proxy_errors,
    rss_mb,
)
from tests.processes import (  # noqa: E402
    Process,
    free_port,
    proxy,
    wait_serving,
)


@dataclass
class Stack:
    uf: Process
    px: Process | None
    grpc_port: int = 0
    admin_port: int = 0

    @property
    def uf_pid(self) -> int:
        assert self.uf.process is not None
        return self.uf.process.pid

    @property
    def px_pid(self) -> int:
        assert self.px is not None and self.px.process is not None
        return self.px.process.pid


@contextlib.contextmanager
def stack(
    tmp: Path, user_function: Callable[[Path], Process], db: str, *flags: str
) -> Iterator[Stack]:
    uf = user_function(tmp).start()
    grpc_port, admin_port = free_port(), free_port()
    px = proxy(
        tmp, uf.port, f"sqlite:///{tmp}/{db}",
        "--grpc-port", str(grpc_port), "--admin-port", str(admin_port),
        "--passivation-timeout", "600", *flags,
    )  # fmt: skip
    try:
        px.start()
        wait_serving(px.port)
        yield Stack(uf, px, grpc_port, admin_port)
    finally:
        px.terminate()
        uf.terminate()


def measured(
    stk: Stack, run: Callable[[], LoadResult], summarize: Callable[[LoadResult], dict[str, float]]
) -> dict[str, Any]:
    """Run one load and add the processes' CPU per 1,000 ops and peak RSS."""
    px_cpu = cpu_seconds(stk.px_pid) if stk.px else 0.0
    uf_cpu = cpu_seconds(stk.uf_pid)
    errors_before = proxy_errors(stk.admin_port) if stk.px else 0
    result = run()
    row: dict[str, Any] = summarize(result)
    ops = max(result.ops, 1)
    if stk.px:
        row["proxy_cpu_s_per_1k"] = (cpu_seconds(stk.px_pid) - px_cpu) / ops * 1000
        row["proxy_peak_rss_mb"] = rss_mb(stk.px_pid, "VmHWM")
        row["errors"] += proxy_errors(stk.admin_port) - errors_before
    row["uf_cpu_s_per_1k"] = (cpu_seconds(stk.uf_pid) - uf_cpu) / ops * 1000
    row["uf_peak_rss_mb"] = rss_mb(stk.uf_pid, "VmHWM")
    return row
