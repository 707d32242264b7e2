"""Nodes in a cluster on one PostgreSQL (docs/scale-out.md, "Nodes in a cluster"): every cart is
owned by one node and the others forward its commands there, while the membership changes.

64 clients send AddItem commands for the same 20 carts to random live nodes (and read every third
back through another node) while one node is SIGKILLed, another is restarted (SIGTERM: it leaves,
then joins again as a new incarnation of the same node id) and a fourth joins. What must hold:
every journal gap-free, nothing journaled twice, every acknowledged command journaled and nothing
journaled that no client sent; no read misses an acknowledged write; commands were forwarded; the
existing nodes passivated the entities the joining node took over. The count of conditional-write
conflicts (stale owners caught) is reported, not bounded: it is the safety net at work.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from tests.processes import free_port, metric
from tests.scaleout.cluster import CHANNEL_OPTIONS, LoadResult, Node, carts, journals

ENTITIES = 20
CLIENTS = 64
COMMANDS = 24  # per client
FLAGS = ("--cluster-heartbeat", "250ms", "--cluster-member-ttl", "1500ms")


class ClusterNode(Node):
    """A pod with a fixed cluster port (a restart keeps its node id) and an admin port."""

    def __init__(self, tmp: Path, store: str) -> None:
        self.cluster_port, self.admin_port = free_port(), free_port()
        super().__init__(
            tmp,
            store,
            "--cluster-port",
            str(self.cluster_port),
            "--admin-port",
            str(self.admin_port),
            *FLAGS,
        )
        tmp.mkdir(exist_ok=True)


@pytest.fixture
def nodes(tmp_path: Path, fresh_postgres_url: str) -> Iterator[list[ClusterNode]]:
    created = [ClusterNode(tmp_path / f"node{n}", fresh_postgres_url) for n in range(4)]
    try:
        yield created
    finally:
        for node in created:
            node.stop()


async def load(live: list[int], progress: list[asyncio.Event], result: LoadResult) -> None:
    """Clients on the ports in ``live`` (changed while they run); ``progress[k]`` is set once
    (k + 1) / (len(progress) + 1) of all commands were sent."""
    stubs: dict[int, shoppingcart_pb2_grpc.ShoppingCartStub] = {}
    channels: list[grpc.aio.Channel] = []
    sent = 0
    total = CLIENTS * COMMANDS

    def stub(port: int) -> shoppingcart_pb2_grpc.ShoppingCartStub:
        if port not in stubs:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
            channels.append(channel)
            stubs[port] = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
        return stubs[port]

    async def client(n: int) -> None:
        nonlocal sent
        rng = random.Random(n)
        for i in range(COMMANDS):
            user, product = f"cart-{rng.randrange(ENTITIES)}", f"c{n}-{i}"
            port = rng.choice(live)
            sent += 1
            for k, event in enumerate(progress):
                if sent >= total * (k + 1) // (len(progress) + 1):
                    event.set()
            try:
                await stub(port).AddItem(
                    shoppingcart_pb2.AddLineItem(
                        user_id=user, product_id=product, name="x", quantity=1
                    ),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as error:
                result.failures[error.code().name] += 1
                result.examples.setdefault(error.code().name, f"{port}: {error.details()}")
                result.unknown[user].add(product)
                continue
            result.acked[user].add(product)
            if i % 3 == 2:
                other = rng.choice(live)
                try:
                    cart = await stub(other).GetCart(
                        shoppingcart_pb2.GetShoppingCart(user_id=user), timeout=30
                    )
                except grpc.aio.AioRpcError as error:
                    result.failures["read " + error.code().name] += 1
                    result.examples.setdefault("read " + error.code().name, error.details() or "")
                    continue
                result.cross_node_reads += 1
                if product not in {item.product_id for item in cart.items}:
                    result.stale_reads.append(f"{user}: {product} acked on {port}, not on {other}")
            await asyncio.sleep(rng.uniform(0, 0.02))  # spread the run over the changes

    try:
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    finally:
        for channel in channels:
            await channel.close()


async def test_kill_restart_and_join_lose_nothing_and_invent_nothing(
    nodes: list[ClusterNode], fresh_postgres_url: str
) -> None:
    first = nodes[:3]
    await asyncio.gather(*(asyncio.to_thread(node.start) for node in first))
    live = [node.port for node in first]
    marks = [asyncio.Event() for _ in range(3)]
    result = LoadResult()
    running = asyncio.ensure_future(load(live, marks, result))

    async with asyncio.timeout(120):
        await marks[0].wait()
    killed = nodes[0]
    live.remove(killed.port)
    killed.kill()  # its in-flight commands fail; its entities move once its heartbeat expires

    async with asyncio.timeout(120):
        await marks[1].wait()
    restarted = nodes[1]
    live.remove(restarted.port)
    await asyncio.to_thread(restarted.stop)  # leaves: deletes its row
    await asyncio.to_thread(restarted.start)  # the same node id, a new incarnation
    live.append(restarted.port)

    async with asyncio.timeout(120):
        await marks[2].wait()
    joining = nodes[3]
    passivated_before = metric(nodes[2].admin_port, "cloudstate_cluster_passivated_entities_total")
    await asyncio.to_thread(joining.start)
    live.append(joining.port)

    async with asyncio.timeout(240):
        await running
    survivors = nodes[1:]
    logs = "\n".join(node.log() for node in nodes)

    # Only the killed node's in-flight commands (UNAVAILABLE) or lost races (ABORTED) may fail.
    assert set(result.failures) <= {"UNAVAILABLE", "ABORTED", "read UNAVAILABLE"}, (
        dict(result.failures),
        result.examples,
        logs,
    )
    assert result.total_acked > 0.9 * CLIENTS * COMMANDS, (dict(result.failures), logs)
    assert not result.stale_reads, result.stale_reads[:5]

    journaled = await journals(fresh_postgres_url, "cart", ENTITIES)  # asserts 1..n, no gap
    for user, products in journaled.items():
        assert len(products) == len(set(products)), f"{user}: a command was journaled twice"
        lost = result.acked[user] - set(products)
        assert not lost, f"{user}: acknowledged commands lost: {sorted(lost)[:5]}"
        invented = set(products) - result.acked[user] - result.unknown[user]
        assert not invented, f"{user}: journaled commands nobody sent: {sorted(invented)[:5]}"
    for port in [node.port for node in survivors]:
        served = await carts(port, "cart", ENTITIES)
        for user, products in journaled.items():
            assert sorted(served[user]) == sorted(products), f"{user}: node {port} serves stale"

    forwarded = sum(metric(n.admin_port, "cloudstate_forwarded_commands_total") for n in survivors)
    served_for_peers = sum(
        metric(n.admin_port, "cloudstate_forwarded_commands_served_total") for n in survivors
    )
    conflicts = sum(metric(n.admin_port, "cloudstate_entity_conflicts_total") for n in survivors)
    passivated = (
        metric(nodes[2].admin_port, "cloudstate_cluster_passivated_entities_total")
        - passivated_before
    )
    print(
        f"\nacked {result.total_acked}, unknown {sum(map(len, result.unknown.values()))}, "
        f"failures {dict(result.failures)}, forwarded {forwarded:.0f}, served for peers "
        f"{served_for_peers:.0f}, conditional-write conflicts {conflicts:.0f}, entities "
        f"handed over on the join {passivated:.0f}"
    )
    # About 2/3 of the commands go to another node's entity, but the killed node's counters die
    # with it and the restarts shift the share: a loaded CI run counted 27%. What this checks is
    # that forwarding carries a real share of the load.
    assert forwarded > 0.15 * result.total_acked, "clients at random: commands forwarded"
    assert served_for_peers > 0
    assert passivated > 0, "the node that kept running passivated what the joining node took"
