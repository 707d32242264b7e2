"""The test kit: how fast unit tests and in-process end-to-end tests run.

* **Unit**: commands per second through ``EventSourcedTestKit`` on the shopping cart (``AddItem``
  with a snapshot every 5 events, ``GetCart``), sync calls (the kit's private event loop) and
  async calls (``call_async`` in a running loop); and the wall time of the shopping cart's unit
  test module (``examples/shoppingcart/tests/test_shopping_cart_entity.py``), every test called
  in a loop.
* **In-process service**: ``LocalService`` start + stop (user function + proxy, memory store),
  and ``AddItem`` round trips through the proxy with the typed client, one at a time.

Results go to ``benchmarks/results/testkit.json`` and a table on stdout.

    python benchmarks/bench_testkit.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart"))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart" / "tests"))

import test_shopping_cart_entity as unit_tests  # noqa: E402
from shoppingcart.shopping_cart_entity import entity  # noqa: E402

from cloudstate.testkit import EventSourcedTestKit, LocalService  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def sync_commands(seconds: float) -> float:
    kit = EventSourcedTestKit(entity, "bench")
    count, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        kit.add_item(user_id="bench", product_id=f"p{count % 20}", name="P", quantity=1)
        kit.get_cart(user_id="bench")
        count += 2
    return count / (time.perf_counter() - start)


async def async_commands(seconds: float) -> float:
    kit = EventSourcedTestKit(entity, "bench")
    count, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        await kit.call_async("AddItem", user_id="bench", product_id=f"p{count % 20}", quantity=1)
        await kit.call_async("GetCart", user_id="bench")
        count += 2
    return count / (time.perf_counter() - start)


def unit_test_module(rounds: int) -> tuple[int, list[float]]:
    tests = [
        f
        for name, f in inspect.getmembers(unit_tests, inspect.isfunction)
        if name.startswith("test_")
    ]
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for test in tests:
            test()
        timings.append(time.perf_counter() - start)
    return len(tests), timings


async def service(seconds: float) -> dict[str, float]:
    starts = []
    for _ in range(5):
        t = time.perf_counter()
        async with LocalService(entity):
            starts.append(time.perf_counter() - t)
    async with LocalService(entity) as running, running.client() as cart:
        await cart.add_item(user_id="warm", product_id="p", quantity=1)
        count, latencies = 0, []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await cart.add_item(user_id=f"u{count % 100}", product_id="p", quantity=1)
            latencies.append(time.perf_counter() - t)
            count += 1
    latencies.sort()
    return {
        "start_stop_ms_median": statistics.median(starts) * 1000,
        "add_item_round_trips_per_s": count / sum(latencies),
        "add_item_p50_ms": latencies[len(latencies) // 2] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    sync_rate = sync_commands(args.seconds)
    async_rate = asyncio.run(async_commands(args.seconds))
    tests, timings = unit_test_module(20)
    local = asyncio.run(service(args.seconds))
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "testkit_sync_commands_per_s": round(sync_rate),
        "testkit_async_commands_per_s": round(async_rate),
        "shopping_cart_unit_tests": tests,
        "shopping_cart_unit_tests_ms_median": round(statistics.median(timings) * 1000, 2),
        "local_service_start_stop_ms_median": round(local["start_stop_ms_median"], 1),
        "local_service_add_item_per_s": round(local["add_item_round_trips_per_s"]),
        "local_service_add_item_p50_ms": round(local["add_item_p50_ms"], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "testkit.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        if key != "machine":
            print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
