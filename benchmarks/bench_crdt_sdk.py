"""The CRDT user function alone (SDK, no proxy): command throughput and streamed fan-out.

Starts the CRDT test entities (``tests/crdt_sdk/model.py``) in a user-function process and talks
the ``Crdt`` protocol to it over loopback gRPC, as a proxy does:

* **increment**: ``GCounter`` increments, each stream (entity) sending its next command when the
  previous reply arrived, with 1 and 16 streams; and **pipelined**, one stream with 1,000
  commands in flight (the SDK's raw rate);
* **orset-add**: adds to an ``ORSet`` holding 0 and 20,000 elements, to show the cost per
  command does not grow with the CRDT (failed commands are undone from a per-change log, not a
  copy);
* **fan-out**: one entity with 1,000 open streamed commands (``ProcessStreamed``); each
  increment must produce its reply and 1,000 ``CrdtStreamedMessage``s: latency from sending the
  command to the last streamed message.

Records ops/s, latency percentiles and the user function's CPU seconds per 1,000 commands (per
change for fan-out). Results go to ``benchmarks/results/crdt_sdk.json`` and a table on stdout.

    python benchmarks/bench_crdt_sdk.py [--seconds 3] [--subscribers 1000]

The load generator (grpc.aio, this process) shares the two cores with the user function.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.crdt_sdk.model import StreamedRequest  # noqa: E402
from tests.crdt_sdk.protocol import CrdtStream, orset  # noqa: E402
from tests.crdt_sdk.steps import inc, oadd, request  # noqa: E402
from tests.processes import Process, free_port  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SERVICE = "crdtsdk.CrdtModel"
USER_FUNCTION = """
import sys
sys.path.insert(0, {root!r})
from cloudstate.cloudstate import CloudState
from tests.crdt_sdk import model
CloudState(port={port}).register_crdt_entity(model.model).register_crdt_entity(model.two).start()
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))]


async def reply_for(stream: CrdtStream, command_id: int) -> None:
    out = await stream.read()
    assert out.WhichOneof("message") == "reply" and out.reply.command_id == command_id, out


async def closed_loop(
    channel: grpc.aio.Channel, prefix: str, streams: int, seconds: float, actions: Any
) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        stream = await CrdtStream(channel, SERVICE, f"{prefix}-{n}").init()
        message = request(stream.entity_id, *actions)
        while time.monotonic() < deadline:
            start = time.perf_counter()
            await reply_for(stream, await stream.send("Process", message))
            latencies.append(time.perf_counter() - start)
        await stream.close()

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(streams)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "ops": len(latencies),
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def pipelined(channel: grpc.aio.Channel, commands: int) -> dict[str, Any]:
    stream = await CrdtStream(channel, SERVICE, "GCounter-pipelined").init()
    message = request(stream.entity_id, inc(1))
    start = time.perf_counter()

    async def write() -> None:
        for _ in range(commands):
            await stream.send("Process", message)

    writer = asyncio.create_task(write())
    for command_id in range(1, commands + 1):
        await reply_for(stream, command_id)
    await writer
    elapsed = time.perf_counter() - start
    await stream.close()
    return {"ops": commands, "ops_per_s": commands / elapsed}


async def orset_adds(channel: grpc.aio.Channel, size: int, seconds: float) -> dict[str, Any]:
    initial = orset([f"element-{i}" for i in range(size)]) if size else None
    stream = await CrdtStream(channel, SERVICE, f"ORSet-bench-{size}").init(initial)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    n = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        n += 1
        # ProcessStreamed called unary with `empty`: apply the update, reply without the state
        message = StreamedRequest(id=stream.entity_id, initial_update=oadd(f"new-{n}"), empty=True)
        start = time.perf_counter()
        await reply_for(stream, await stream.send("ProcessStreamed", message))
        latencies.append(time.perf_counter() - start)
    elapsed = time.monotonic() - started
    await stream.close()
    latencies.sort()
    return {
        "ops": len(latencies),
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def fan_out(channel: grpc.aio.Channel, subscribers: int, changes: int) -> dict[str, Any]:
    stream = await CrdtStream(channel, SERVICE, "GCounter-fanout").init()
    watch = StreamedRequest(id=stream.entity_id)
    for _ in range(subscribers):
        command_id = await stream.send("ProcessStreamed", watch, streamed=True)
        out = await stream.read()
        assert out.reply.command_id == command_id and out.reply.streamed, out
    message = request(stream.entity_id, inc(1))
    latencies: list[float] = []
    for _ in range(changes):
        start = time.perf_counter()
        command_id = await stream.send("Process", message)
        await reply_for(stream, command_id)
        for _ in range(subscribers):
            out = await stream.read()
            assert out.WhichOneof("message") == "streamed_message", out
        latencies.append(time.perf_counter() - start)
    await stream.close()
    latencies.sort()
    return {
        "changes": changes,
        "subscribers": subscribers,
        "messages_per_s": changes * subscribers / sum(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def scenarios(port: int, pid: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []

    async def measure(name: str, per: str, coroutine: Any) -> None:
        cpu = cpu_seconds(pid)
        result = await coroutine
        count = max(result.get("ops", result.get("changes", 1)), 1)
        result.update(
            scenario=name, **{f"uf_cpu_s_per_1k_{per}": (cpu_seconds(pid) - cpu) / count * 1000}
        )
        runs.append(result)
        shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
        print(json.dumps(shown), flush=True)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        for streams in (1, 16):
            await measure(
                f"increment-{streams}-streams",
                "commands",
                closed_loop(channel, f"GCounter-c{streams}", streams, args.seconds, [inc(1)]),
            )
        await measure("increment-pipelined", "commands", pipelined(channel, 1000))
        for size in (0, 20_000):
            await measure(
                f"orset-add-size-{size}", "commands", orset_adds(channel, size, args.seconds)
            )
        await measure(
            f"fan-out-{args.subscribers}",
            "changes",
            fan_out(channel, args.subscribers, args.changes),
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        source = USER_FUNCTION.format(root=str(ROOT), port=port)
        uf = Process("crdt-uf", [sys.executable, "-c", source], port, Path(tmp) / "uf.log")
        uf.start()
        try:
            assert uf.process is not None
            runs = asyncio.run(scenarios(port, uf.process.pid, args))
        finally:
            uf.terminate()
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
    }
    (RESULTS / "crdt_sdk.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'crdt_sdk.json'}")


if __name__ == "__main__":
    main()
