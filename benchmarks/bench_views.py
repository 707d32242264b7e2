"""Views (docs/views.md): update throughput and query throughput/latency.

The views test user function (``tests/views/model.py``) behind a proxy on SQLite (fsync on):

1. **updates, transformed**: 10,000 ``ItemAdded`` events of 100 carts over 200 products are
   journaled into a fresh store before the proxy starts; the ``Popularity`` view (update handler
   in the user function, rows keyed by product) drains the backlog — events/s until its offset
   reaches the head;
2. **updates, as they are**: 10,000 messages on the topic ``catalog`` (2,000 products), drained
   by ``CatalogView`` (no handler: the message is the row) — messages/s;
3. **queries**: closed-loop gRPC clients at concurrency 1 and 16 calling ``Popularity.Top``
   (``ORDER BY quantity DESC LIMIT 10`` over 200 rows), ``Popularity.GetProduct`` (one row by
   key) and ``CatalogView.ByCategory`` (``WHERE details.category = :c AND price < 100 ORDER BY
   name``, ~200 of 2,000 rows) — ops/s, p50/p99.

    python benchmarks/bench_views.py [--events 10000] [--queries 2000]

The user function, the proxy and this process share the machine's CPUs: treat figures as a floor.
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

from benchmarks.common import percentile, write_results  # noqa: E402
from cloudstate.proxy.eventing.subscriptions import event_subscriptions  # noqa: E402
from cloudstate.proxy.stores.base import Payload, TopicMessage  # noqa: E402
from cloudstate.proxy.stores.sqlite import SqliteStore  # noqa: E402
from cloudstate.proxy.views.model import discover_views  # noqa: E402
from tests.processes import Process, free_port, proxy, wait_serving  # noqa: E402
from tests.views.model import pb  # noqa: E402
from tests.views.test_discovery import model_of  # noqa: E402


def consumer_id(service: str) -> str:
    model = model_of()
    view = discover_views(model)[service]
    (subscription,) = [s for s in event_subscriptions(model) if s.service == service]
    return view.consumer_id(subscription.consumer_id)


async def fill(path: Path, events: int) -> tuple[int, int]:
    """Journal the events and publish the catalog messages; the heads of both sources."""
    store = SqliteStore.from_url(f"sqlite:///{path}")
    await store.start()
    try:
        per_cart = events // 100
        added = "type.googleapis.com/viewtest.ItemAdded"

        async def cart(n: int) -> None:
            for i in range(0, per_cart, 50):
                batch = [
                    Payload(
                        added,
                        pb.ItemAdded(
                            product_id=f"p{(n * 7 + j) % 200:03d}", name="x", quantity=1 + j % 3
                        ).SerializeToString(),
                    )
                    for j in range(i, min(per_cart, i + 50))
                ]
                await store.append_events("vcart", f"c{n:03d}", i, batch)

        await asyncio.gather(*(cart(n) for n in range(100)))
        product = "type.googleapis.com/viewtest.Product"
        for start in range(0, events, 500):
            messages = [
                TopicMessage(
                    Payload(
                        product,
                        pb.Product(
                            product_id=f"q{n % 2000:04d}",
                            name=f"item {n % 2000:04d}",
                            price=n % 200,
                            details=pb.Details(category=f"cat{n % 5}"),
                        ).SerializeToString(),
                    )
                )
                for n in range(start, min(events, start + 500))
            ]
            await store.append_topic("catalog", messages)
        return await store.highest_offset("vcart"), await store.highest_topic_offset("catalog")
    finally:
        await store.close()


async def drained(path: Path, consumer: str, head: int, started: float) -> float:
    """Seconds from ``started`` until ``consumer`` committed ``head``."""
    store = SqliteStore.from_url(f"sqlite:///{path}")
    await store.start()
    try:
        while await store.load_offset(consumer) < head:
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"{consumer} did not drain")
            await asyncio.sleep(0.02)
        return time.perf_counter() - started
    finally:
        await store.close()


async def queries(port: int, count: int) -> dict[str, Any]:
    cases: list[tuple[str, str, Any, Any]] = [
        ("Top LIMIT 10", "/viewtest.Popularity/Top", pb.TopRequest(count=10), pb.Products),
        (
            "GetProduct",
            "/viewtest.Popularity/GetProduct",
            pb.ProductRequest(product_id="p042"),
            pb.Product,
        ),
        (
            "ByCategory",
            "/viewtest.CatalogView/ByCategory",
            pb.CategoryRequest(category="cat2"),
            pb.Products,
        ),
    ]
    results: dict[str, Any] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        for name, path, request, response in cases:
            stub = channel.unary_unary(
                path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response.FromString,
            )
            sample = await stub(request, timeout=30)
            rows = len(sample.products) if hasattr(sample, "products") else 1
            for concurrency in (1, 16):
                latencies: list[float] = []
                remaining = count

                async def client(stub: Any, request: Any, latencies: list[float]) -> None:
                    nonlocal remaining
                    while remaining > 0:
                        remaining -= 1
                        start = time.perf_counter()
                        await stub(request, timeout=30)
                        latencies.append((time.perf_counter() - start) * 1000)

                start = time.perf_counter()
                await asyncio.gather(
                    *(client(stub, request, latencies) for _ in range(concurrency))
                )
                elapsed = time.perf_counter() - start
                ordered = sorted(latencies)
                results[f"{name} (c={concurrency})"] = {
                    "rows": rows,
                    "ops_per_s": round(len(latencies) / elapsed),
                    "p50_ms": round(percentile(ordered, 50), 2),
                    "p99_ms": round(percentile(ordered, 99), 2),
                }
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-views-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "views.db"
        events_head, topic_head = await fill(db, args.events)
        port = free_port()
        uf = Process(
            "views user function",
            [sys.executable, "-m", "tests.views.model"],
            port,
            tmp / "uf.log",
            cwd=ROOT,
            env={"HOST": "127.0.0.1", "PORT": str(port)},
        ).start()
        started = time.perf_counter()
        px = proxy(tmp, port, f"sqlite:///{db}").start()
        try:
            wait_serving(px.port)
            serving = time.perf_counter()
            transformed, as_is = await asyncio.gather(
                drained(db, consumer_id("viewtest.Popularity"), events_head, serving),
                drained(db, consumer_id("viewtest.CatalogView"), topic_head, serving),
            )
            results = {
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                f"{platform.python_version()}",
                "proxy_start_s": round(serving - started, 2),
                "updates_transformed": {
                    "events": args.events,
                    "events_per_s": round(args.events / transformed),
                },
                "updates_as_is": {
                    "messages": args.events,
                    "messages_per_s": round(args.events / as_is),
                },
                "note": "both views drain concurrently (same proxy, store and CPUs)",
                "queries": await queries(px.port, args.queries),
            }
        finally:
            px.terminate()
            uf.terminate()
    write_results("views.json", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
