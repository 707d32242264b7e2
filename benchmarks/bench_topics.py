"""Topics on the embedded topic log: store append/read throughput and end-to-end publish lag.

1. **store**: ``append_topic`` of single messages from 64 concurrent publishers into a fresh
   SQLite store (group commit), then ``read_topic`` of the whole topic; messages per second.
2. **end to end**: the topic test user function (``tests/eventing/topic_model.py``) behind a
   proxy on SQLite; a client calls ``Shop.PlaceOrder`` (``out.topic = "orders"``) with 16 calls
   in flight; ``OrderLog`` (``in.topic = "orders"``) records when it handled each message.
   Reported: calls per second and lag = handled minus ``ce-time`` (when it was published).
3. **NATS relay** (needs ``nats-server``): a real ``nats-server -js`` (its start-up time is
   reported), ``--messages`` messages already in the embedded log, then the relay
   (``cloudstate/proxy/eventing/nats.py``) forwards them to JetStream: messages per second until
   its offset reaches the head.
4. **end to end through NATS**: as 2, with ``--broker``: publish -> outbox -> relay -> JetStream
   -> durable consumer -> ``OrderLog``; calls per second and lag p50/p99.

    python benchmarks/bench_topics.py [--messages 5000] [--calls 1000]

The user function, the proxy and this process share the machine's CPUs: treat figures as a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
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

from benchmarks.common import percentile, write_results  # noqa: E402
from cloudstate.proxy.eventing.nats import NatsBroker, NatsRelay  # noqa: E402
from cloudstate.proxy.stores.base import Payload, TopicMessage  # noqa: E402
from cloudstate.proxy.stores.sqlite import SqliteStore  # noqa: E402
from tests import nats_server  # noqa: E402
from tests.eventing.topic_model import pb  # noqa: E402
from tests.processes import Process, free_port, proxy, wait_serving  # noqa: E402


async def store_bench(tmp: Path, messages: int) -> dict[str, Any]:
    store = SqliteStore.from_url(f"sqlite:///{tmp / 'bench-topics.db'}")
    await store.start()
    try:
        payload = Payload("type.googleapis.com/evtest.topics.Order", b"\x0a\x03o-1\x10\x02")
        queue = list(range(messages))

        async def publisher() -> None:
            while queue:
                n = queue.pop()
                await store.append_topic("orders", [TopicMessage(payload, id=str(n))])

        start = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(64)))
        appended = time.perf_counter() - start
        start = time.perf_counter()
        read = [m async for m in store.read_topic("orders", 0, messages)]
        reading = time.perf_counter() - start
        assert len(read) == messages
        return {
            "messages": messages,
            "append_msgs_per_s": round(messages / appended),
            "read_msgs_per_s": round(messages / reading),
        }
    finally:
        await store.close()


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def e2e_bench(tmp: Path, calls: int, *flags: str) -> dict[str, Any]:
    out = tmp / f"orders{len(flags)}.jsonl"
    port = free_port()
    uf = Process(
        "topic user function",
        [sys.executable, "-m", "tests.eventing.topic_model"],
        port,
        tmp / "uf.log",
        cwd=ROOT,
        env={"HOST": "127.0.0.1", "PORT": str(port), "TOPIC_FILE": str(out)},
    ).start()
    px = proxy(tmp, port, f"sqlite:///{tmp / f'e2e{len(flags)}.db'}", *flags).start()
    try:
        wait_serving(px.port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{px.port}") as channel:
            stub = channel.unary_unary(
                "/evtest.topics.Shop/PlaceOrder",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=None,
            )
            queue = list(range(calls))

            async def client() -> None:
                while queue:
                    n = queue.pop()
                    await stub(pb.Order(id=f"o-{n}", quantity=1), timeout=30)

            start = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(16)))
            publishing = time.perf_counter() - start
        for _ in range(1200):  # up to 2 minutes
            if len(read_lines(out)) >= calls:
                break
            await asyncio.sleep(0.1)
        lines = read_lines(out)
        assert len(lines) >= calls, f"{len(lines)} of {calls} delivered"
        lags = []
        for line in lines:
            published = datetime.datetime.fromisoformat(line["meta"]["ce-time"]).timestamp()
            lags.append((line["at"] - published) * 1000)
        lags.sort()
        return {
            "calls": calls,
            "publishing_calls_per_s": round(calls / publishing),
            "lag_ms_p50": round(percentile(lags, 50), 1),
            "lag_ms_p99": round(percentile(lags, 99), 1),
        }
    finally:
        px.terminate()
        uf.terminate()


def start_nats(tmp: Path) -> tuple[Any, float]:
    """A real nats-server -js and its start-up time (seconds until it accepts connections)."""
    start = time.perf_counter()
    server = nats_server.start(tmp / "nats")
    return server, time.perf_counter() - start


async def relay_bench(tmp: Path, messages: int, url: str) -> dict[str, Any]:
    store = SqliteStore.from_url(f"sqlite:///{tmp / 'bench-relay.db'}")
    await store.start()
    broker = NatsBroker(url, stream="BENCH", subject_prefix="bench")
    try:
        payload = Payload("type.googleapis.com/evtest.topics.Order", b"\x0a\x03o-1\x10\x02")
        for first in range(0, messages, 500):
            batch = [TopicMessage(payload, id=f"m-{n}") for n in range(first, first + 500)]
            head = await store.append_topic("orders", batch[: messages - first])
        await broker.connect(["orders"])
        relay = NatsRelay(broker, store, "orders")
        done = asyncio.Event()

        def relayed(topic: str) -> None:
            if relay.committed_offset >= head:
                done.set()

        relay.on_relayed = relayed
        start = time.perf_counter()
        relay.start()
        await asyncio.wait_for(done.wait(), 300)
        relaying = time.perf_counter() - start
        await relay.stop()
        assert await broker.head("orders") == messages
        return {"messages": messages, "relay_msgs_per_s": round(messages / relaying)}
    finally:
        await broker.close()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-topics-") as tmp:
        results: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}",
            "store_sqlite": await store_bench(Path(tmp), args.messages),
            "end_to_end_sqlite": await e2e_bench(Path(tmp), args.calls),
        }
        if nats_server.find_binary() is not None:
            server, started = start_nats(Path(tmp))
            try:
                results["nats_server_start_ms"] = round(started * 1000)
                results["nats_relay"] = await relay_bench(Path(tmp), args.messages, server.url)
                results["end_to_end_nats"] = await e2e_bench(
                    Path(tmp), args.calls, "--broker", server.url
                )
            finally:
                server.stop()
    write_results("topics.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
