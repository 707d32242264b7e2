"""Three proxy nodes on one PostgreSQL database serving the same entities.

64 clients send AddItem commands for the same 20 carts to random nodes, and after every third
acknowledged add read the cart back through another node. What must hold (docs/scale-out.md):
every journal is gap-free and free of duplicates, the final state of every cart (in the journal
and as every node serves it) equals exactly the acknowledged commands, and no read misses a write
acknowledged before it — also while one node is SIGKILLed and restarted mid-run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.cluster import (
    VALUE_CART,
    Node,
    carts,
    journals,
    run_load,
    stored_values,
    value_cart_user_function,
)

ENTITIES = 20
CLIENTS = 64


@pytest.fixture
def cluster(tmp_path: Path, fresh_postgres_url: str) -> Iterator[list[Node]]:
    nodes = [Node(tmp_path / f"node{n}", fresh_postgres_url) for n in range(3)]
    try:
        for node in nodes:
            node.tmp.mkdir()
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _check_journals_and_carts(
    journaled: dict[str, list[str]], served: list[dict[str, list[str]]]
) -> None:
    for user, products in journaled.items():
        assert len(products) == len(set(products)), f"{user}: a command was journaled twice"
        for node_carts in served:
            assert sorted(node_carts[user]) == sorted(products), f"{user}: a node serves stale"


async def test_three_nodes_same_entities_exactly_the_acknowledged_commands(
    cluster: list[Node], fresh_postgres_url: str
) -> None:
    ports = [node.port for node in cluster]
    result = await run_load(ports, entities=ENTITIES, clients=CLIENTS, commands_per_client=9)
    logs = "\n".join(node.log() for node in cluster)
    assert result.total_acked > 0.95 * CLIENTS * 9, (dict(result.failures), result.examples, logs)
    # Only ABORTED (a command that lost too many races: nothing applied) may fail here.
    assert set(result.failures) <= {"ABORTED"}, (dict(result.failures), result.examples, logs)
    assert not result.stale_reads, result.stale_reads[:5]
    assert result.cross_node_reads > 100

    journaled = await journals(fresh_postgres_url, "cart", ENTITIES)
    for user, products in journaled.items():
        assert set(products) == result.acked[user], user
    served = [await carts(port, "cart", ENTITIES) for port in ports]
    _check_journals_and_carts(journaled, served)


async def test_a_node_sigkilled_and_restarted_mid_run_loses_nothing(
    cluster: list[Node], fresh_postgres_url: str
) -> None:
    ports = [node.port for node in cluster]
    halfway = asyncio.Event()
    load = asyncio.ensure_future(
        run_load(
            ports,
            entities=ENTITIES,
            clients=CLIENTS,
            commands_per_client=12,
            prefix="kill",
            progress=halfway,
            progress_at=CLIENTS * 4,
        )
    )
    async with asyncio.timeout(120):
        await halfway.wait()
    victim = cluster[1]
    victim.kill()  # mid-run: commands in flight on it fail, their fate unknown
    await asyncio.sleep(0.5)
    await asyncio.to_thread(victim.start)
    async with asyncio.timeout(240):
        result = await load
    logs = "\n".join(node.log() for node in cluster)

    assert result.failures, "the kill should have failed some calls"
    assert set(result.failures) <= {"UNAVAILABLE", "ABORTED", "read UNAVAILABLE"}, (
        dict(result.failures),
        result.examples,
        logs,
    )
    assert result.total_acked > CLIENTS * 6, (dict(result.failures), result.examples, logs)
    assert not result.stale_reads, result.stale_reads[:5]

    journaled = await journals(fresh_postgres_url, "kill", ENTITIES)
    for user, products in journaled.items():
        lost = result.acked[user] - set(products)
        assert not lost, f"{user}: acknowledged commands lost: {sorted(lost)[:5]}"
        invented = set(products) - result.acked[user] - result.unknown[user]
        assert not invented, f"{user}: journaled commands nobody sent: {sorted(invented)[:5]}"
    served = [await carts(port, "kill", ENTITIES) for port in ports]
    _check_journals_and_carts(journaled, served)


async def test_value_entities_on_two_nodes_lose_no_update_and_read_nothing_stale(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    nodes = [
        Node(tmp_path / f"ve{n}", fresh_postgres_url, user_function=value_cart_user_function)
        for n in range(2)
    ]
    try:
        for node in nodes:
            node.tmp.mkdir()
            await asyncio.to_thread(node.start)
        ports = [node.port for node in nodes]
        result = await run_load(
            ports, entities=10, clients=32, commands_per_client=9, prefix="ve", api=VALUE_CART
        )
        logs = "\n".join(node.log() for node in nodes)
        assert set(result.failures) <= {"ABORTED"}, (dict(result.failures), result.examples, logs)
        assert result.total_acked > 0.95 * 32 * 9
        assert not result.stale_reads, result.stale_reads[:5]
        stored = await stored_values(fresh_postgres_url, "ve", 10)
        for user, products in stored.items():
            assert len(products) == len(set(products)), user
            assert set(products) == result.acked[user], f"{user}: lost or invented updates"
        for port in ports:
            served = await carts(port, "ve", 10, api=VALUE_CART)
            assert {u: sorted(p) for u, p in served.items()} == {
                u: sorted(p) for u, p in stored.items()
            }
    finally:
        for node in nodes:
            await asyncio.to_thread(node.stop)
