"""Recovery and memory figures of ``benchmarks/run.py``: time to the first reply of a cart with
10,000 journaled events (without and with a snapshot), and resident memory per 10,000 active
carts."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for example in ("shoppingcart", "valueentity", "crdts"):
    sys.path.insert(0, str(ROOT / "examples" / example))

from shoppingcart import domain_pb2, shoppingcart_pb2  # noqa: E402

from benchmarks.common import (  # noqa: E402
    rss_mb,
)
from benchmarks.scenarios import CART, CART_STATE, ITEM_ADDED  # noqa: E402
from benchmarks.stack import stack  # noqa: E402
from cloudstate.proxy.stores.base import Payload  # noqa: E402
from cloudstate.proxy.stores.sqlite import SqliteStore  # noqa: E402
from tests.processes import (  # noqa: E402
    shoppingcart_user_function,
)


async def _journal(path: Path, events: int) -> None:
    """Carts with ``events`` journaled ItemAdded events: ``plain-*`` without a snapshot, ``snap-*``
    with a snapshot at the last event (what the entity's ``snapshot_every`` would have left)."""
    store = SqliteStore(path)
    await store.start()
    try:
        batch = 500
        for kind in ("plain", "snap"):
            for n in range(3):
                key = f"{kind}-{n}"
                cart: dict[str, int] = {}
                sequence = 0
                while sequence < events:
                    payloads = []
                    for i in range(sequence, min(events, sequence + batch)):
                        product = f"p{i % 20}"
                        cart[product] = cart.get(product, 0) + 1
                        item = domain_pb2.ItemAdded(
                            item=domain_pb2.LineItem(productId=product, name="item", quantity=1)
                        )
                        payloads.append(Payload(ITEM_ADDED, item.SerializeToString()))
                    snapshot = None
                    if kind == "snap" and sequence + len(payloads) == events:
                        state = domain_pb2.Cart(
                            items=[
                                domain_pb2.LineItem(productId=p, name="item", quantity=q)
                                for p, q in sorted(cart.items())
                            ]
                        )
                        snapshot = Payload(CART_STATE, state.SerializeToString())
                    sequence = await store.append_events(
                        "shopping-cart", key, sequence, payloads, snapshot
                    )
    finally:
        await store.close()


def recovery(tmp: Path, events: int) -> dict[str, Any]:
    asyncio.run(_journal(tmp / "recovery.db", events))
    result: dict[str, Any] = {"events": events}
    with stack(tmp, shoppingcart_user_function, "recovery.db") as stk:
        assert stk.px is not None
        with grpc.insecure_channel(f"127.0.0.1:{stk.px.port}") as channel:
            get = channel.unary_unary(
                f"/{CART}/GetCart",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=shoppingcart_pb2.Cart.FromString,
            )
            get(shoppingcart_pb2.GetShoppingCart(user_id="warm"), timeout=30)
            for kind in ("plain", "snap"):
                times = []
                for n in range(3):
                    started = time.perf_counter()
                    cart = get(shoppingcart_pb2.GetShoppingCart(user_id=f"{kind}-{n}"), timeout=60)
                    times.append(time.perf_counter() - started)
                    total = sum(item.quantity for item in cart.items)
                    assert total == events, f"{kind}-{n} recovered {total} items, not {events}"
                started = time.perf_counter()
                get(shoppingcart_pb2.GetShoppingCart(user_id=f"{kind}-0"), timeout=30)
                warm = time.perf_counter() - started
                key = "with_snapshot" if kind == "snap" else "without_snapshot"
                result[key] = {
                    "first_reply_ms": [t * 1000 for t in times],
                    "median_ms": statistics.median(times) * 1000,
                    "active_reply_ms": warm * 1000,
                }
                print(
                    f"recovery {key:17} {events} events: first reply median "
                    f"{statistics.median(times) * 1000:.1f} ms (runs "
                    f"{', '.join(f'{t * 1000:.1f}' for t in times)}); active: {warm * 1000:.2f} ms",
                    flush=True,
                )
    return result


async def _activate(port: int, count: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        get = channel.unary_unary(
            f"/{CART}/GetCart", request_serializer=lambda m: m.SerializeToString()
        )
        keys = iter(range(count))

        async def worker() -> None:
            for n in keys:
                await get(shoppingcart_pb2.GetShoppingCart(user_id=f"mem-{n}"), timeout=60)

        await asyncio.gather(*(worker() for _ in range(64)))


def memory(tmp: Path, entities: int) -> dict[str, Any]:
    with stack(tmp, shoppingcart_user_function, "memory.db") as stk:
        assert stk.px is not None
        asyncio.run(_activate(stk.px.port, 100))  # channels, first streams, caches
        before = rss_mb(stk.px_pid), rss_mb(stk.uf_pid)
        started = time.perf_counter()
        asyncio.run(_activate(stk.px.port, entities))
        elapsed = time.perf_counter() - started
        after = rss_mb(stk.px_pid), rss_mb(stk.uf_pid)
    per_10k = 10_000 / entities
    result = {
        "entities": entities,
        "activations_per_s": entities / elapsed,
        "proxy_rss_mb": [before[0], after[0]],
        "uf_rss_mb": [before[1], after[1]],
        "proxy_mb_per_10k": (after[0] - before[0]) * per_10k,
        "uf_mb_per_10k": (after[1] - before[1]) * per_10k,
    }
    print(
        f"memory: {entities} active carts: proxy +{after[0] - before[0]:.1f} MiB, user function "
        f"+{after[1] - before[1]:.1f} MiB -> per 10,000: proxy {result['proxy_mb_per_10k']:.1f} "
        f"MiB, user function {result['uf_mb_per_10k']:.1f} MiB ({result['activations_per_s']:.0f} "
        "activations/s)",
        flush=True,
    )
    return result
