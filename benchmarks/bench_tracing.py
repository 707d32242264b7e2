"""``make bench``: what OpenTelemetry tracing costs per request, off versus on.

Runs the action test user function and a proxy in this process and makes sequential unary gRPC
calls (``acttest.Echo/Echo``, no store) through the proxy: first with tracing off, then with
tracing on in both the proxy and the SDK (a batch span processor and an exporter that drops the
spans, so span creation, propagation and batching are counted, not a network), alternating
rounds. Reports the process CPU time and wall time per call and the difference, and writes
``benchmarks/results/tracing.json``.

    python benchmarks/bench_tracing.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from benchmarks.common import write_results  # noqa: E402
from cloudstate import tracing as sdk_tracing  # noqa: E402
from cloudstate.proxy.config import ProxyConfig  # noqa: E402
from cloudstate.proxy.server import Proxy  # noqa: E402


class DroppingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def _provider(exporter: DroppingExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


async def one_round(calls: int, traced: bool) -> tuple[float, float, int]:
    """(CPU seconds per call, wall seconds per call, spans exported) for ``calls`` calls."""
    from tests.actions.model import pb
    from tests.actions.uf import build

    exporter = DroppingExporter()
    uf_provider = _provider(exporter) if traced else None
    proxy_provider = _provider(exporter) if traced else None
    cloudstate = build()
    cloudstate.tracer_provider = uf_provider
    server = await cloudstate.serve_async(host="127.0.0.1", port=0)
    proxy = Proxy(
        ProxyConfig(user_function=server.address, port=0, store="memory:"),
        tracer_provider=proxy_provider,
    )
    await proxy.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            echo = channel.unary_unary(
                "/acttest.Echo/Echo",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.Item.FromString,
            )
            metadata: Any = (
                ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            )
            for _ in range(200):  # warm up
                await echo(pb.Item(text="w"), metadata=metadata)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await echo(pb.Item(text="x"), metadata=metadata)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await proxy.stop(0)
        await server.stop(0)
        for provider in (uf_provider, proxy_provider):
            if provider is not None:
                provider.shutdown()
        sdk_tracing.disable()
    return cpu / calls, wall / calls, exporter.spans


async def measure(calls: int, rounds: int) -> dict[str, Any]:
    off: list[tuple[float, float, int]] = []
    on: list[tuple[float, float, int]] = []
    for _ in range(rounds):
        off.append(await one_round(calls, traced=False))
        on.append(await one_round(calls, traced=True))

    def median(values: list[tuple[float, float, int]], i: int) -> float:
        return statistics.median(v[i] for v in values) * 1e6

    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "calls_per_round": calls,
        "rounds": rounds,
        "off_cpu_us_per_call": round(median(off, 0), 1),
        "on_cpu_us_per_call": round(median(on, 0), 1),
        "tracing_cpu_us_per_call": round(median(on, 0) - median(off, 0), 1),
        "off_wall_us_per_call": round(median(off, 1), 1),
        "on_wall_us_per_call": round(median(on, 1), 1),
        "spans_per_call": round(on[-1][2] / (calls + 200), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(measure(args.calls, args.rounds))
    write_results("tracing.json", report)
    print(
        f"per call (proxy + user function, one process): tracing off "
        f"{report['off_cpu_us_per_call']} us CPU / {report['off_wall_us_per_call']} us wall, "
        f"on {report['on_cpu_us_per_call']} us CPU / {report['on_wall_us_per_call']} us wall "
        f"({report['spans_per_call']} spans per call)"
    )


if __name__ == "__main__":
    main()
