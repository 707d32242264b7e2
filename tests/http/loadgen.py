"""A closed-loop HTTP/1.1 load generator for the overload tests, run as its own process so that
its CPU is not the test's: ``clients`` keep-alive connections that never back off (each sends
its next request the moment it has the previous answer, whatever its status), and optionally
one polite client sending one request every ``--polite-interval`` seconds on its own connection.

The requests are the shopping cart's (tests/processes.py): half ``GET /carts/{id}``, half
``POST /cart/{id}/items/add`` over ``--carts`` carts. Prints one JSON object: requests answered
per status (``statuses``), connection errors, and the polite client's latencies in seconds
and how many of its requests got 200 (``polite_served``)::

    python tests/http/loadgen.py --port 9000 --clients 200 --seconds 5 --polite-interval 0.25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter


def requests(carts: int, seed: int, count: int = 4096) -> list[bytes]:
    """``count`` requests over ``carts`` carts; every client walks the same list from its own
    place in it, so that 50 clients and 500 clients touch the carts alike."""
    rng = random.Random(seed)
    built = []
    for _ in range(count):
        cart = f"load-{rng.randrange(carts)}"
        if rng.random() < 0.5:
            built.append(f"GET /carts/{cart} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        else:
            body = b'{"productId":"p%d","name":"item","quantity":1}' % rng.randrange(20)
            built.append(
                f"POST /cart/{cart}/items/add HTTP/1.1\r\nhost: x\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                + body
            )
    return built


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request, read its whole response; its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def impolite(
    port: int,
    built: list[bytes],
    start: int,
    until: float,
    statuses: Counter[int],
    errors: list[str],
) -> None:
    i = start
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as e:
            errors.append(str(e))
            await asyncio.sleep(0.01)
            continue
        try:
            while time.monotonic() < until:
                statuses[await exchange(reader, writer, built[i % len(built)])] += 1
                i += 1
        except (OSError, asyncio.IncompleteReadError) as e:
            errors.append(repr(e))
        finally:
            writer.close()


async def polite(
    port: int,
    built: list[bytes],
    until: float,
    interval: float,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    while time.monotonic() < until:
        start = time.monotonic()
        statuses[await exchange(reader, writer, built[i % len(built)])] += 1
        latencies.append(time.monotonic() - start)
        i += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - start)))
    writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    latencies: list[float] = []
    polite_statuses: Counter[int] = Counter()
    until = time.monotonic() + args.seconds
    built = requests(args.carts, 0)
    step = len(built) // max(1, args.clients)
    tasks = [
        impolite(args.port, built, n * step, until, statuses, errors) for n in range(args.clients)
    ]
    if args.polite_interval:
        tasks.append(
            polite(
                args.port,
                requests(args.carts, -1, 64),
                until,
                args.polite_interval,
                latencies,
                polite_statuses,
            )
        )
    started = time.monotonic()
    await asyncio.gather(*tasks)
    return {
        "seconds": time.monotonic() - started,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors),
        "first_errors": errors[:3],
        "polite_latencies": latencies,
        "polite_served": polite_statuses[200],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--polite-interval", type=float, default=0.0)
    parser.add_argument("--carts", type=int, default=1000)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
