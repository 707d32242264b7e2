"""``make bench``: CRDT entities through the proxy: counter increments, 1,000-subscriber fan-out.

Starts the CRDT example's user function (``examples/crdts``, ``python -m crdts.main``) and a proxy
on a fresh SQLite file (fsync on commit), then:

* **increments**: closed-loop grpc.aio clients call ``Likes.Like`` (a GCounter increment, stored
  before the reply) at concurrency 1, 16 and 64, spread over 1,000 posts and all on one hot post
  (CRDT commands on one entity are not serialized). Throughput, p50/p99 latency, CPU seconds the
  proxy and the user function spend per 1,000 increments.
* **fan-out**: 1,000 ``WatchLikes`` subscribers on one post (10 channels of 100 streams); then,
  one at a time, a ``Like`` from another client, timing from just before the call until every
  subscriber has received the new count. Per change: the time until the last subscriber (p50,
  p99 over the changes), the median subscriber's delay, and CPU seconds per change.

    python benchmarks/bench_crdt.py [--seconds 4] [--concurrency 1 16 64] [--changes 30]

The clients (and all 1,000 subscribers) run in this process on the same cores as the proxy and
the user function, so the fan-out latency includes the client's own work of receiving 1,000
messages: treat it as an upper bound. Results: ``benchmarks/results/crdt.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "crdts"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(EXAMPLE))

from crdts import likes_pb2, likes_pb2_grpc  # noqa: E402

from benchmarks.common import cpu_seconds, percentile  # noqa: E402
from tests.processes import Process, free_port, proxy, wait_serving  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
POSTS = 1000
SUBSCRIBERS = 1000
STREAMS_PER_CHANNEL = 100


def example_user_function(tmp: Path) -> Process:
    port = free_port()
    return Process(
        "CRDT example user function",
        [sys.executable, "-m", "crdts.main"],
        port,
        tmp / "uf.log",
        cwd=EXAMPLE,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


async def increments(port: int, concurrency: int, seconds: float, hot: bool) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = likes_pb2_grpc.LikesStub(channel)
        for n in range(min(concurrency, 16)):  # warm up: activate some posts
            await stub.Like(likes_pb2.LikeRequest(post_id="hot" if hot else f"post-{n}"))
        deadline = time.perf_counter() + seconds

        async def client(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                post = "hot" if hot else f"post-{rng.randrange(POSTS)}"
                started = time.perf_counter()
                try:
                    await stub.Like(likes_pb2.LikeRequest(post_id=post), timeout=30)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "ops": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def fan_out(port: int, changes: int, pids: tuple[int, int]) -> dict[str, Any]:
    """``changes`` likes of one post, each timed until all SUBSCRIBERS watchers have it."""
    target = f"127.0.0.1:{port}"
    post = likes_pb2.PostRequest(post_id="fan-out")
    channels = [
        grpc.aio.insecure_channel(target) for _ in range(SUBSCRIBERS // STREAMS_PER_CHANNEL)
    ]
    calls = [
        likes_pb2_grpc.LikesStub(channels[n // STREAMS_PER_CHANNEL]).WatchLikes(post)
        for n in range(SUBSCRIBERS)
    ]
    counts = [-1] * SUBSCRIBERS
    started_all = asyncio.Event()
    first_seen = 0
    waiting: dict[int, asyncio.Future[None]] = {}
    seen_at: dict[int, list[float]] = {}

    async def watch(n: int, call: Any) -> None:
        nonlocal first_seen
        async for message in call:
            if counts[n] < 0:
                first_seen += 1
                if first_seen == SUBSCRIBERS:
                    started_all.set()
            counts[n] = message.likes
            seen_at.setdefault(message.likes, []).append(time.perf_counter())
            if len(seen_at[message.likes]) == SUBSCRIBERS:
                future = waiting.pop(message.likes, None)
                if future is not None and not future.done():
                    future.set_result(None)

    readers = [asyncio.create_task(watch(n, call)) for n, call in enumerate(calls)]
    try:
        async with asyncio.timeout(120):
            await started_all.wait()  # every subscriber has its first message
        async with grpc.aio.insecure_channel(target) as liker_channel:
            liker = likes_pb2_grpc.LikesStub(liker_channel)
            current = max(counts)
            last_all: list[float] = []
            median_delay: list[float] = []
            proxy_cpu, uf_cpu = cpu_seconds(pids[0]), cpu_seconds(pids[1])
            for _ in range(changes):
                expected = current + 1
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                waiting[expected] = done
                started = time.perf_counter()
                reply = await liker.Like(likes_pb2.LikeRequest(post_id="fan-out"), timeout=30)
                assert reply.likes == expected, (reply.likes, expected)
                async with asyncio.timeout(60):
                    await done
                times = seen_at[expected]
                last_all.append(max(times) - started)
                median_delay.append(statistics.median(times) - started)
                current = expected
                await asyncio.sleep(0.05)  # let the machine settle between changes
            proxy_cpu = cpu_seconds(pids[0]) - proxy_cpu
            uf_cpu = cpu_seconds(pids[1]) - uf_cpu
    finally:
        for call in calls:
            call.cancel()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for channel in channels:
            await channel.close()
    last_all.sort()
    median_delay.sort()
    return {
        "subscribers": SUBSCRIBERS,
        "changes": changes,
        "all_seen_p50_ms": percentile(last_all, 50) * 1000,
        "all_seen_p99_ms": percentile(last_all, 99) * 1000,
        "median_subscriber_p50_ms": percentile(median_delay, 50) * 1000,
        # CPU includes the 50 ms pauses (idle) between changes, which cost next to nothing.
        "proxy_cpu_ms_per_change": proxy_cpu / changes * 1000,
        "uf_cpu_ms_per_change": uf_cpu / changes * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        uf = example_user_function(tmp).start()
        px = proxy(tmp, uf.port, f"sqlite:///{tmp}/bench.db").start()
        try:
            wait_serving(px.port)
            assert uf.process is not None and px.process is not None
            pids = (px.process.pid, uf.process.pid)
            for hot in (False, True):
                for concurrency in args.concurrency:
                    proxy_cpu, uf_cpu = cpu_seconds(pids[0]), cpu_seconds(pids[1])
                    result = asyncio.run(increments(px.port, concurrency, args.seconds, hot))
                    ops = max(result["ops"], 1)
                    result.update(
                        scenario="gcounter-like-one-post" if hot else "gcounter-like-1000-posts",
                        concurrency=concurrency,
                        proxy_cpu_s_per_1k=(cpu_seconds(pids[0]) - proxy_cpu) / ops * 1000,
                        uf_cpu_s_per_1k=(cpu_seconds(pids[1]) - uf_cpu) / ops * 1000,
                    )
                    runs.append(result)
                    print(
                        f"{'1 post' if hot else '1,000 posts':11} c={concurrency:<4} "
                        f"{result['ops_per_s']:8.0f} ops/s  p50 {result['p50_ms']:6.2f} ms  "
                        f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}  cpu/1k: "
                        f"proxy {result['proxy_cpu_s_per_1k']:.2f}s "
                        f"uf {result['uf_cpu_s_per_1k']:.2f}s",
                        flush=True,
                    )
            result = asyncio.run(fan_out(px.port, args.changes, pids))
            result["scenario"] = "fan-out-1000-watchers"
            runs.append(result)
            print(
                f"fan-out to {SUBSCRIBERS} watchers, {args.changes} changes: all seen p50 "
                f"{result['all_seen_p50_ms']:.1f} ms p99 {result['all_seen_p99_ms']:.1f} ms, "
                f"median subscriber {result['median_subscriber_p50_ms']:.1f} ms; cpu per change: "
                f"proxy {result['proxy_cpu_ms_per_change']:.1f} ms "
                f"uf {result['uf_cpu_ms_per_change']:.1f} ms",
                flush=True,
            )
        finally:
            px.terminate()
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
    (RESULTS / "crdt.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'crdt.json'}")


if __name__ == "__main__":
    main()
