"""Cancel many streamed calls through a proxy and report what is left behind.

Runs a :class:`~cloudstate.proxy.server.Proxy` in this process (so ``asyncio.all_tasks()`` counts
the proxy's own tasks) in front of the test user function, then makes ``--calls`` streamed calls
(half server-streaming ``Streams.Out``, half duplex ``Streams.Both``), each cancelled by the client
after its first message, ``--concurrency`` at a time. Prints one JSON line::

    {"calls": 1000, "baseline_tasks": 9, "peak_tasks": 160, "tasks_after": 9,
     "proxy_open_streams": 0, "uf_open": 0, "uf_cancelled": 1000, "seconds": 3.1}

``uf_open`` / ``uf_cancelled`` come from the user function (``Streams.Open``): how many of its
stream handlers are still running, and how many were ended by cancellation.

    python -m tests.actions.leakcheck --uf-port 8080 [--calls 1000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from typing import Any

import grpc
from google.protobuf import empty_pb2

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.entities.action import ActionHandler
from cloudstate.proxy.server import Proxy
from tests.actions.model import pb


def _method(channel: grpc.aio.Channel, kind: str, path: str, response: Any) -> Any:
    factory = getattr(channel, kind)
    return factory(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )


async def measure(uf_port: int, calls: int, concurrency: int) -> dict[str, Any]:
    # 1,000 cancellations within a second or two on one connection are what this check is about,
    # not an attack: the rapid-reset cut-off (--http2-max-reset-rate) is off here.
    config = ProxyConfig(user_function=f"127.0.0.1:{uf_port}", port=0, store="memory:")
    config.http2_max_reset_rate = 0
    proxy = Proxy(config)
    await proxy.start()
    assert proxy.router is not None
    handlers = [h for h in proxy.router.handlers.values() if isinstance(h, ActionHandler)]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}")
    out = _method(channel, "unary_stream", "/acttest.Streams/Out", pb.Item)
    both = _method(channel, "stream_stream", "/acttest.Streams/Both", pb.Item)
    open_ = _method(channel, "unary_unary", "/acttest.Streams/Open", pb.OpenStreams)
    endless = pb.StreamRequest(prefix="c", count=1_000_000, delay_ms=10)

    async def cancelled_call(n: int) -> None:
        if n % 2:
            call = both()
            await call.write(pb.Item(text="x"))
        else:
            call = out(endless)
        item = await call.read()
        assert item.text in ("X", "c0"), item
        call.cancel()

    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, len(asyncio.all_tasks()))
            await asyncio.sleep(0.01)

    # Warm up (connections, lazily created tasks), then settle and take the baseline.
    for n in range(20):
        await cancelled_call(n)
    before = await open_(empty_pb2.Empty(), timeout=10)
    await _quiet(handlers, None)
    baseline = len(asyncio.all_tasks())
    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    slots = asyncio.Semaphore(concurrency)

    async def limited(n: int) -> None:
        async with slots:
            await cancelled_call(n)

    await asyncio.gather(*(limited(n) for n in range(calls)))
    elapsed = time.perf_counter() - started
    watcher.cancel()
    tasks_after = await _quiet(handlers, baseline + 1)  # + the watcher, being cancelled
    uf = await _uf_quiet(open_)
    result = {
        "calls": calls,
        "concurrency": concurrency,
        "baseline_tasks": baseline,
        "peak_tasks": peak,
        "tasks_after": tasks_after - 1 if watcher in asyncio.all_tasks() else tasks_after,
        "proxy_open_streams": sum(h.open_streams for h in handlers),
        "uf_open": uf.open,
        "uf_cancelled": uf.cancelled - before.cancelled,
        "seconds": round(elapsed, 2),
    }
    await channel.close()
    await proxy.stop(0)
    return result


async def _quiet(handlers: list[ActionHandler], target: int | None, limit: float = 15) -> int:
    """Wait until no action stream is open (and the task count is at most ``target``)."""
    deadline = time.monotonic() + limit
    while True:
        tasks = len(asyncio.all_tasks())
        idle = sum(h.open_streams for h in handlers) == 0
        if (idle and (target is None or tasks <= target)) or time.monotonic() > deadline:
            return tasks
        await asyncio.sleep(0.05)


async def _uf_quiet(open_: Any, limit: float = 15) -> Any:
    deadline = time.monotonic() + limit
    while True:
        state = await open_(empty_pb2.Empty(), timeout=10)
        if state.open == 0 or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uf-port", type=int, required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(measure(args.uf_port, args.calls, args.concurrency))))


if __name__ == "__main__":
    main()
