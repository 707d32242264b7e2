"""Helpers for the multi-node tests: nodes (user function + proxy) on one store, a load of
shopping-cart clients spread over the nodes, and the journal read back through the store."""

from __future__ import annotations

import asyncio
import random
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from shoppingcart import domain_pb2, shoppingcart_pb2, shoppingcart_pb2_grpc

from cloudstate.proxy.stores.registry import open_store
from tests.processes import (
    ROOT,
    Process,
    free_port,
    proxy,
    shoppingcart_user_function,
    wait_serving,
)

VALUE_ENTITY_DIR = ROOT / "examples" / "valueentity"
if str(VALUE_ENTITY_DIR) not in sys.path:
    sys.path.insert(0, str(VALUE_ENTITY_DIR))

from valueentity import domain_pb2 as ve_domain_pb2  # noqa: E402
from valueentity import shoppingcart_pb2 as ve_shoppingcart_pb2  # noqa: E402
from valueentity import shoppingcart_pb2_grpc as ve_shoppingcart_pb2_grpc  # noqa: E402

PID = "shopping-cart"
VALUE_PID = "value-entity-shopping-cart"
#: (messages, stub class) of the two carts: event sourced and value entity (same shapes).
EVENT_SOURCED_CART: tuple[ModuleType, Any] = (
    shoppingcart_pb2,
    shoppingcart_pb2_grpc.ShoppingCartStub,
)
VALUE_CART: tuple[ModuleType, Any] = (
    ve_shoppingcart_pb2,
    ve_shoppingcart_pb2_grpc.ShoppingCartStub,
)


def value_cart_user_function(tmp: Path, port: int | None = None) -> Process:
    port = port or free_port()
    return Process(
        "value-entity cart user function",
        [sys.executable, "-m", "valueentity.shopping_cart"],
        port,
        tmp / f"valueentity-uf-{port}.log",
        cwd=VALUE_ENTITY_DIR,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


# Fail fast while a node is down, reconnect quickly once it is back.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    # One connection per channel, even to the same port (proxy workers share one port and the
    # kernel spreads connections over them).
    ("grpc.use_local_subchannel_pool", 1),
]


class Node:
    """One pod: a shopping-cart user function and its proxy, on the shared store."""

    def __init__(
        self,
        tmp: Path,
        store: str,
        *flags: str,
        user_function: Callable[..., Process] = shoppingcart_user_function,
    ) -> None:
        self.tmp, self.store, self.flags = tmp, store, flags
        self.user_function = user_function
        self.uf_port = free_port()
        self.port = free_port()
        while self.port == self.uf_port:
            self.port = free_port()
        self.uf: Process | None = None
        self.proxy: Process | None = None

    def start(self) -> Node:
        self.uf = self.user_function(self.tmp, port=self.uf_port).start()
        self.proxy = proxy(self.tmp, self.uf_port, self.store, *self.flags, port=self.port).start()
        try:
            wait_serving(self.port)
        except TimeoutError as e:
            raise RuntimeError(f"{e}\n--- proxy log ---\n{self.proxy.log()}") from e
        return self

    def kill(self) -> None:
        """SIGKILL the whole pod: proxy and user function."""
        for process in (self.proxy, self.uf):
            if process is not None:
                process.kill()

    def stop(self) -> None:
        for process in (self.proxy, self.uf):
            if process is not None:
                process.terminate()

    def log(self) -> str:
        """The proxy's warnings and errors (the interesting part of its log)."""
        if self.proxy is None:
            return ""
        lines = [line for line in self.proxy.log().splitlines() if "INFO" not in line]
        return "\n".join(lines)[-3000:]


@dataclass
class LoadResult:
    """What the clients saw, per entity: acknowledged products and the ones whose fate is
    unknown (the call failed, e.g. its node died), plus failure codes and linearizability
    violations (a read on another node missing an acknowledged write)."""

    acked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unknown: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, str] = field(default_factory=dict)  # one error message per failure kind
    stale_reads: list[str] = field(default_factory=list)
    cross_node_reads: int = 0

    @property
    def total_acked(self) -> int:
        return sum(len(products) for products in self.acked.values())


async def run_load(
    ports: Sequence[int],
    *,
    entities: int = 20,
    clients: int = 64,
    commands_per_client: int = 10,
    prefix: str = "cart",
    progress: asyncio.Event | None = None,
    progress_at: int = 0,
    api: tuple[ModuleType, Any] = EVENT_SOURCED_CART,
) -> LoadResult:
    """``clients`` concurrent clients, each sending ``commands_per_client`` AddItems for random
    entities (of ``entities``) to random nodes; after every third acknowledged add the client
    reads the cart through another node and checks the item is there."""
    result = LoadResult()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{p}", options=CHANNEL_OPTIONS) for p in ports]
    messages, stub_class = api
    stubs = [stub_class(c) for c in channels]

    async def client(n: int) -> None:
        rng = random.Random(n)
        for i in range(commands_per_client):
            user = f"{prefix}-{rng.randrange(entities)}"
            product = f"c{n}-{i}"
            node = rng.randrange(len(stubs))
            try:
                await stubs[node].AddItem(
                    messages.AddLineItem(user_id=user, product_id=product, name="x", quantity=1),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as error:
                result.failures[error.code().name] += 1
                result.examples.setdefault(error.code().name, f"node {node}: {error.details()}")
                result.unknown[user].add(product)
                continue
            result.acked[user].add(product)
            if progress is not None and result.total_acked >= progress_at:
                progress.set()
            if i % 3 == 2:
                other = (node + 1 + rng.randrange(max(1, len(stubs) - 1))) % len(stubs)
                try:
                    cart = await stubs[other].GetCart(
                        messages.GetShoppingCart(user_id=user), timeout=30
                    )
                except grpc.aio.AioRpcError as error:
                    result.failures["read " + error.code().name] += 1
                    result.examples.setdefault(
                        "read " + error.code().name, f"node {other}: {error.details()}"
                    )
                    continue
                result.cross_node_reads += 1
                if product not in {item.product_id for item in cart.items}:
                    result.stale_reads.append(
                        f"{user}: {product} acked on node {node}, missing on node {other}"
                    )

    try:
        await asyncio.gather(*(client(n) for n in range(clients)))
    finally:
        for channel in channels:
            await channel.close()
    return result


async def journals(store_url: str, prefix: str, entities: int) -> dict[str, list[str]]:
    """Every entity's journaled products in sequence order; asserts the sequences are 1..n."""
    store = await open_store(store_url)
    try:
        found: dict[str, list[str]] = {}
        for n in range(entities):
            user = f"{prefix}-{n}"
            events = [e async for e in store.read_events(PID, user)]
            assert [e.sequence for e in events] == list(range(1, len(events) + 1)), user
            found[user] = [
                domain_pb2.ItemAdded.FromString(e.payload.value).item.productId for e in events
            ]
        return found
    finally:
        await store.close()


async def stored_values(store_url: str, prefix: str, entities: int) -> dict[str, list[str]]:
    """Every value-entity cart's products as the store holds them."""
    store = await open_store(store_url)
    try:
        found: dict[str, list[str]] = {}
        for n in range(entities):
            user = f"{prefix}-{n}"
            value = await store.load_value(VALUE_PID, user)
            cart = (
                ve_domain_pb2.Cart()
                if value is None
                else ve_domain_pb2.Cart.FromString(value.payload.value)
            )
            found[user] = [item.product_id for item in cart.items]
        return found
    finally:
        await store.close()


async def carts(
    port: int, prefix: str, entities: int, api: tuple[ModuleType, Any] = EVENT_SOURCED_CART
) -> dict[str, list[str]]:
    """Every entity's cart as one node serves it now."""
    messages, stub_class = api
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = stub_class(channel)
        found = {}
        for n in range(entities):
            user = f"{prefix}-{n}"
            cart = await stub.GetCart(messages.GetShoppingCart(user_id=user), timeout=30)
            found[user] = [item.product_id for item in cart.items]
        return found
