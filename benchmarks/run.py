"""``make bench``: the whole stack under closed-loop load, with its baselines, in one run.

For each scenario — the event-sourced shopping cart (60% AddItem / 40% GetCart), the value-entity
cart (update, get), a CRDT counter increment (``Likes.Like``) and an action echo — it starts the
user function and a proxy on a fresh SQLite file (fsync on every commit) and drives it at each
concurrency over native gRPC (``h2load``, on the client port every user gets) and over HTTP/JSON
(``wrk``, 1,000 entities). Each run lasts ``--seconds``. Recorded per run: ops/s, p50/p99/p99.9,
CPU seconds per 1,000 ops of the proxy, of the user function and of the load generator, and the
peak RSS of proxy and user function.

Baselines in the same run: **(a)** the user function driven directly through the Cloudstate
protocol with no proxy (streams for entities, ``handleUnary`` for the action) — the bound of the
whole stack; **(b)** a bare grpc.aio echo server (``benchmarks/echo_server.py``) under h2load —
the cost of grpc.aio itself. Proxy efficiency = full-stack ops/s ÷ (a) at the same concurrency.

Then **recovery** (time to the first reply of a cart with 10,000 journaled events, without and
with a snapshot) and **memory** per 10,000 active carts.

    python benchmarks/run.py [--seconds 5] [--concurrency 1 16 64 256] [--quick]
        [--scenarios cart ve-update ve-get crdt action] [--skip-baselines] [--skip-recovery]

Results: ``benchmarks/results/latest.json`` and ``latest.md`` (the tables printed at the end).
Needs ``h2load`` and ``wrk`` (``apt-get install nghttp2-client wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for example in ("shoppingcart", "valueentity", "crdts"):
    sys.path.insert(0, str(ROOT / "examples" / example))

from crdts import likes_pb2  # noqa: E402
from shoppingcart import domain_pb2, shoppingcart_pb2  # noqa: E402
from valueentity import shoppingcart_pb2 as ve_pb2  # noqa: E402

from benchmarks.common import (  # noqa: E402
    RESULTS,
    LoadResult,
    cpu_seconds,
    grpc_frame,
    h2load,
    h2load_available,
    machine,
    own_cpu_seconds,
    percentile,
    proxy_errors,
    rss_mb,
    write_results,
    wrk,
    wrk_available,
    wrk_summary,
)
from cloudstate import (  # noqa: E402
    action_pb2,
    crdt_pb2,
    entity_pb2,
    event_sourced_pb2,
    value_entity_pb2,
)
from cloudstate.proxy.stores.base import Payload  # noqa: E402
from cloudstate.proxy.stores.sqlite import SqliteStore  # noqa: E402
from tests.actions.model import pb as action_model  # noqa: E402
from tests.processes import (  # noqa: E402
    Process,
    free_port,
    proxy,
    shoppingcart_user_function,
    wait_serving,
)

__all__ = ["cpu_seconds", "percentile"]  # imported from here by older bench scripts

ENTITIES = 1000
TYPE = "type.googleapis.com/"
CART = "com.example.shoppingcart.ShoppingCart"
VE_CART = "com.example.valueentity.shoppingcart.ShoppingCart"
LIKES = "com.example.crdts.Likes"
ITEM_ADDED = TYPE + "com.example.shoppingcart.persistence.ItemAdded"
CART_STATE = TYPE + "com.example.shoppingcart.persistence.Cart"


def _example(name: str, module: str) -> Callable[[Path], Process]:
    def start(tmp: Path) -> Process:
        port = free_port()
        return Process(
            f"{name} user function",
            [sys.executable, "-m", module],
            port,
            tmp / f"{name}-uf-{port}.log",
            cwd=ROOT / "examples" / name,
            env={"HOST": "127.0.0.1", "PORT": str(port)},
        )

    return start


def _action_uf(tmp: Path) -> Process:
    from tests.actions.conftest import action_user_function

    return action_user_function(tmp)


def _any(type_name: str, message: Any) -> Any:
    from google.protobuf import any_pb2

    return any_pb2.Any(type_url=TYPE + type_name, value=message.SerializeToString())


def _add_item(key: str) -> shoppingcart_pb2.AddLineItem:
    return shoppingcart_pb2.AddLineItem(user_id=key, product_id="p1", name="item", quantity=1)


_CART_HTTP = """
request = function()
  local user = "cart-" .. math.random(0, %(n)d - 1)
  if math.random() < 0.4 then
    return wrk.format("GET", "/carts/" .. user)
  end
  return wrk.format("POST", "/cart/" .. user .. "/items/add",
    {["Content-Type"] = "application/json"}, '{"productId":"p1","name":"item","quantity":1}')
end
"""
_VE_UPDATE_HTTP = """
request = function()
  return wrk.format("POST", "/ve/cart/ve-" .. math.random(0, %(n)d - 1) .. "/items/add",
    {["Content-Type"] = "application/json"}, '{"productId":"p1","name":"item","quantity":1}')
end
"""
_VE_GET_HTTP = """
request = function()
  return wrk.format("GET", "/ve/carts/ve-" .. math.random(0, %(n)d - 1))
end
"""
_CRDT_HTTP = """
request = function()
  return wrk.format("POST", "/posts/post-" .. math.random(0, %(n)d - 1) .. "/like",
    {["Content-Type"] = "application/json"}, '{}')
end
"""
_ACTION_HTTP = """
request = function()
  return wrk.format("POST", "/acttest.Echo/Echo", {["Content-Type"] = "application/json"},
    '{"text":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}')
end
"""


#: entity key -> (protocol path, stream-in for init, n -> stream-in for command n, stream-out type)
DirectSetup = tuple[str, Any, Callable[[int], Any], Any]
DirectProtocol = Callable[[str], DirectSetup]
ECHO = "/bench.Echo/Echo"
ACTION_UNARY = "/cloudstate.action.ActionProtocol/handleUnary"


@dataclass
class Scenario:
    """One workload: its user function, its gRPC requests (paths cycled by each h2load
    connection; one body per entity), its HTTP requests (wrk Lua) and its direct baseline."""

    name: str
    what: str
    user_function: Callable[[Path], Process]
    grpc_paths: list[str]
    grpc_body: Callable[[int], bytes]
    http_lua: str
    #: Direct baseline: (protocol path, stream-in for init, stream-in for the n-th command,
    #: stream-out type) for entities; None for the action (driven with h2load instead).
    direct: DirectProtocol | None = None
    extra_grpc_port: bool = False
    seeded: list[str] = field(default_factory=list)


def _cart_direct(key: str) -> DirectSetup:
    stream_in = event_sourced_pb2.EventSourcedStreamIn
    add = _any("com.example.shoppingcart.AddLineItem", _add_item(key))
    get = _any(
        "com.example.shoppingcart.GetShoppingCart", shoppingcart_pb2.GetShoppingCart(user_id=key)
    )

    def command(n: int) -> Any:
        name, payload = ("GetCart", get) if n % 5 in (1, 3) else ("AddItem", add)
        command = entity_pb2.Command(entity_id=key, id=n, name=name, payload=payload)
        return stream_in(command=command)

    init = stream_in(init=event_sourced_pb2.EventSourcedInit(service_name=CART, entity_id=key))
    out = event_sourced_pb2.EventSourcedStreamOut
    return "/cloudstate.eventsourced.EventSourced/handle", init, command, out


def _ve_direct(name: str) -> DirectProtocol:
    def direct(key: str) -> DirectSetup:
        stream_in = value_entity_pb2.ValueEntityStreamIn
        if name == "AddItem":
            payload = _any(
                "com.example.valueentity.shoppingcart.AddLineItem",
                ve_pb2.AddLineItem(user_id=key, product_id="p1", name="item", quantity=1),
            )
        else:
            payload = _any(
                "com.example.valueentity.shoppingcart.GetShoppingCart",
                ve_pb2.GetShoppingCart(user_id=key),
            )

        def command(n: int) -> Any:
            return stream_in(
                command=entity_pb2.Command(entity_id=key, id=n, name=name, payload=payload)
            )

        init = stream_in(init=value_entity_pb2.ValueEntityInit(service_name=VE_CART, entity_id=key))
        out = value_entity_pb2.ValueEntityStreamOut
        return "/cloudstate.valueentity.ValueEntity/handle", init, command, out

    return direct


def _crdt_direct(key: str) -> DirectSetup:
    payload = _any("com.example.crdts.LikeRequest", likes_pb2.LikeRequest(post_id=key))

    def command(n: int) -> Any:
        return crdt_pb2.CrdtStreamIn(
            command=entity_pb2.Command(entity_id=key, id=n, name="Like", payload=payload)
        )

    init = crdt_pb2.CrdtStreamIn(init=crdt_pb2.CrdtInit(service_name=LIKES, entity_id=key))
    return "/cloudstate.crdt.Crdt/handle", init, command, crdt_pb2.CrdtStreamOut


SCENARIOS = [
    Scenario(
        "cart",
        "event-sourced cart, 60% AddItem / 40% GetCart",
        shoppingcart_user_function,
        [f"/{CART}/{m}" for m in ("AddItem", "GetCart", "AddItem", "GetCart", "AddItem")],
        # GetShoppingCart parses an AddLineItem's bytes (same field 1, the rest unknown fields),
        # so one body per entity serves both methods.
        lambda i: grpc_frame(_add_item(f"cart-{i}").SerializeToString()),
        _CART_HTTP,
        _cart_direct,
        extra_grpc_port=True,
    ),
    Scenario(
        "ve-update",
        "value entity, AddItem (the new state written before the reply)",
        _example("valueentity", "valueentity.shopping_cart"),
        [f"/{VE_CART}/AddItem"],
        lambda i: grpc_frame(
            ve_pb2.AddLineItem(
                user_id=f"ve-{i}", product_id="p1", name="item", quantity=1
            ).SerializeToString()
        ),
        _VE_UPDATE_HTTP,
        _ve_direct("AddItem"),
    ),
    Scenario(
        "ve-get",
        "value entity, GetCart",
        _example("valueentity", "valueentity.shopping_cart"),
        [f"/{VE_CART}/GetCart"],
        lambda i: grpc_frame(ve_pb2.GetShoppingCart(user_id=f"ve-{i}").SerializeToString()),
        _VE_GET_HTTP,
        _ve_direct("GetCart"),
    ),
    Scenario(
        "crdt",
        "CRDT GCounter increment (Likes.Like, stored before the reply)",
        _example("crdts", "crdts.main"),
        [f"/{LIKES}/Like"],
        lambda i: grpc_frame(likes_pb2.LikeRequest(post_id=f"post-{i}").SerializeToString()),
        _CRDT_HTTP,
        _crdt_direct,
    ),
    Scenario(
        "action",
        "action echo (acttest.Echo/Echo, 32-byte message)",
        _action_uf,
        ["/acttest.Echo/Echo"],
        lambda i: grpc_frame(action_model.Item(text="x" * 30).SerializeToString()),
        _ACTION_HTTP,
        None,
    ),
]


# -- the stack under test ------------------------------------------------------------------------


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


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['scenario']:10} {row['transport']:15} c={row['concurrency']:<4} "
        f"{row['ops_per_s']:8.0f} ops/s  p50 {row['p50_ms']:7.2f}  p99 {row['p99_ms']:7.2f}  "
        f"p99.9 {row['p999_ms']:7.2f} ms  err {row['errors']}  cpu s/1k: proxy "
        f"{row.get('proxy_cpu_s_per_1k', 0):.2f} uf {row['uf_cpu_s_per_1k']:.2f} "
        f"loadgen {row['loadgen_cpu_s_per_1k']:.2f}",
        flush=True,
    )


def full_stack(
    scenario: Scenario, levels: list[int], seconds: float, tmp: Path
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    work = tmp / f"load-{scenario.name}"
    work.mkdir()
    bodies = [scenario.grpc_body(i) for i in range(ENTITIES)]
    lua = scenario.http_lua % {"n": ENTITIES}
    with stack(tmp, scenario.user_function, f"{scenario.name}.db") as stk:
        assert stk.px is not None
        client_port = stk.px.port

        def grpc_load(port: int, concurrency: int, seconds: float) -> LoadResult:
            return h2load(port, scenario.grpc_paths, bodies, concurrency, seconds, work)

        def http_load(port: int, concurrency: int, seconds: float) -> LoadResult:
            return wrk(port, lua, concurrency, seconds, work)

        transports = [("grpc", grpc_load, client_port, LoadResult.summary)]
        if scenario.extra_grpc_port:
            transports.append(("grpc --grpc-port", grpc_load, stk.grpc_port, LoadResult.summary))
        transports.append(("http-json", http_load, client_port, wrk_summary))
        # Warm up: activate the entities both load generators touch first (and the channels).
        grpc_load(client_port, max(levels), 1)
        http_load(client_port, 64, 1)
        for transport, load, port, summarize in transports:
            for concurrency in levels:
                row = measured(stk, functools.partial(load, port, concurrency, seconds), summarize)
                row.update(scenario=scenario.name, transport=transport, concurrency=concurrency)
                rows.append(row)
                print_row(row)
    return rows


# -- baselines -----------------------------------------------------------------------------------


async def _direct_streams(
    port: int,
    make: DirectProtocol,
    concurrency: int,
    seconds: float,
    prefix: str,
) -> LoadResult:
    """Closed loop on ``concurrency`` protocol streams, one entity each (init, then commands)."""
    latencies: list[float] = []
    errors = 0
    cpu_before = own_cpu_seconds()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

        async def one(index: int, deadline: float) -> None:
            nonlocal errors
            path, init, command, out_type = make(f"{prefix}-{index}")
            call = channel.stream_stream(
                path, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=out_type.FromString,
            )()  # fmt: skip
            await call.write(init)
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                await call.write(command(n))
                out = await call.read()
                if out.WhichOneof("message") != "reply":
                    errors += 1
                    break
                latencies.append(time.perf_counter() - started)
            await call.done_writing()
            call.cancel()

        await one(0, time.perf_counter() + 0.2)  # warm the channel
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(i, started + seconds) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(len(latencies), errors, elapsed, latencies, own_cpu_seconds() - cpu_before)


def _run_direct_streams(
    port: int, make: DirectProtocol, concurrency: int, seconds: float
) -> LoadResult:
    return asyncio.run(_direct_streams(port, make, concurrency, seconds, f"d{concurrency}"))


def direct_baselines(
    scenario: Scenario, levels: list[int], seconds: float, tmp: Path
) -> list[dict[str, Any]]:
    rows = []
    work = tmp / f"direct-{scenario.name}"
    work.mkdir()
    uf = scenario.user_function(tmp).start()
    stk = Stack(uf, None)
    try:
        for concurrency in levels:
            if scenario.direct is None:
                command = action_pb2.ActionCommand(
                    service_name="acttest.Echo", name="Echo",
                    payload=_any("acttest.Item", action_model.Item(text="x" * 30)),
                )  # fmt: skip
                body = grpc_frame(command.SerializeToString())
                transport = "direct (h2load)"
                run: Callable[[], LoadResult] = functools.partial(
                    h2load, uf.port, [ACTION_UNARY], [body], concurrency, seconds, work
                )
            else:
                transport = "direct (grpc.aio)"
                run = functools.partial(
                    _run_direct_streams, uf.port, scenario.direct, concurrency, seconds
                )
            row = measured(stk, run, LoadResult.summary)
            row.update(scenario=scenario.name, transport=transport, concurrency=concurrency)
            rows.append(row)
            print_row(row)
    finally:
        uf.terminate()
    return rows


def echo_baseline(levels: list[int], seconds: float, tmp: Path) -> list[dict[str, Any]]:
    port = free_port()
    server = Process(
        "grpc.aio echo server",
        [sys.executable, str(ROOT / "benchmarks" / "echo_server.py"), str(port)],
        port,
        tmp / "echo.log",
    ).start()
    work = tmp / "echo"
    work.mkdir()
    body = grpc_frame(b"\n\x1e" + b"x" * 30)
    rows = []
    try:
        stk = Stack(server, None)
        h2load(port, ["/bench.Echo/Echo"], [body], 16, 1, work)
        for concurrency in levels:
            run = functools.partial(h2load, port, [ECHO], [body], concurrency, seconds, work)
            row = measured(stk, run, LoadResult.summary)
            row.update(scenario="grpc-echo", transport="bare grpc.aio", concurrency=concurrency)
            row["server_cpu_s_per_1k"] = row.pop("uf_cpu_s_per_1k")
            row["uf_cpu_s_per_1k"] = row["server_cpu_s_per_1k"]
            rows.append(row)
            print_row(row)
    finally:
        server.terminate()
    return rows


# -- recovery and memory -------------------------------------------------------------------------


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


# -- report --------------------------------------------------------------------------------------


def tables(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {report['machine']['cpus']} CPUs ({report['machine']['cpu']}), Python "
        f"{report['machine']['python']}, load average at start "
        f"{report['machine']['load_average'][0]:.1f}; "
        f"{report['when']}, {report['seconds']:g} s per run.",
        "",
        "| scenario | transport | c | ops/s | p50 ms | p99 ms | p99.9 ms | errors | "
        "proxy CPU s/1k | UF CPU s/1k | load gen CPU s/1k | proxy / UF peak RSS MiB | efficiency |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    direct = {
        (r["scenario"], r["concurrency"]): r["ops_per_s"]
        for r in report["runs"]
        if r["transport"].startswith("direct")
    }
    for r in report["runs"]:
        bound = direct.get((r["scenario"], r["concurrency"]))
        efficiency = (
            f"{r['ops_per_s'] / bound:.2f}"
            if bound and not r["transport"].startswith("direct") and r["scenario"] != "grpc-echo"
            else ""
        )
        rss = (
            f"{r['proxy_peak_rss_mb']:.0f} / {r['uf_peak_rss_mb']:.0f}"
            if "proxy_peak_rss_mb" in r
            else f"— / {r['uf_peak_rss_mb']:.0f}"
        )
        proxy_cpu = f"{r['proxy_cpu_s_per_1k']:.2f}" if "proxy_cpu_s_per_1k" in r else "—"
        lines.append(
            f"| {r['scenario']} | {r['transport']} | {r['concurrency']} | {r['ops_per_s']:,.0f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | {r['errors']} | "
            f"{proxy_cpu} | {r['uf_cpu_s_per_1k']:.2f} | {r['loadgen_cpu_s_per_1k']:.2f} | {rss} | "
            f"{efficiency} |"
        )
    if "recovery" in report:
        rec = report["recovery"]
        lines += [
            "",
            f"Recovery, cart with {rec['events']:,} events (first reply, median of 3): without a "
            f"snapshot {rec['without_snapshot']['median_ms']:.1f} ms, with a snapshot "
            f"{rec['with_snapshot']['median_ms']:.1f} ms (active entity: "
            f"{rec['with_snapshot']['active_reply_ms']:.2f} ms).",
        ]
    if "memory" in report:
        mem = report["memory"]
        lines += [
            "",
            f"Memory per 10,000 active carts (from {mem['entities']:,}): proxy "
            f"{mem['proxy_mb_per_10k']:.1f} MiB, user function {mem['uf_mb_per_10k']:.1f} MiB.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--scenarios", nargs="+", default=[s.name for s in SCENARIOS])
    parser.add_argument("--quick", action="store_true", help="2 s per run, concurrency 1 and 64")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=10_000, help="for the memory figure")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.concurrency, args.entities = 2.0, [1, 64], 2_000
    if not (h2load_available() and wrk_available()):
        sys.exit("needs h2load and wrk: apt-get install -y nghttp2-client wrk")
    unknown = set(args.scenarios) - {s.name for s in SCENARIOS}
    if unknown:
        sys.exit(f"unknown scenarios {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}")
    report: dict[str, Any] = {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": args.seconds,
        "runs": [],
    }
    random.seed(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if not args.skip_baselines:
            report["runs"] += echo_baseline(args.concurrency, args.seconds, tmp)
        for scenario in SCENARIOS:
            if scenario.name not in args.scenarios:
                continue
            if not args.skip_baselines:
                report["runs"] += direct_baselines(scenario, args.concurrency, args.seconds, tmp)
            report["runs"] += full_stack(scenario, args.concurrency, args.seconds, tmp)
        if not args.skip_recovery:
            report["recovery"] = recovery(tmp, args.events)
            report["memory"] = memory(tmp, args.entities)
    report["wall_s"] = time.perf_counter() - started
    path = write_results("latest.json", report)
    text = tables(report)
    (RESULTS / "latest.md").write_text(text)
    print()
    print(text)
    print(f"wrote {path} and {RESULTS / 'latest.md'} ({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
