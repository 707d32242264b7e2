"""The NATS relay on two proxy nodes sharing one PostgreSQL store: one node at a time relays a
topic (the store's ownership, as for consumers), so every message reaches JetStream and the
consumer once; when the relaying node is SIGKILLed the other takes over from the relay offset."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.eventing.test_event_log import read_lines, wait_until
from tests.eventing.test_outbox import deposit, outbox_uf
from tests.processes import Process
from tests.scaleout.cluster import Node

RELAY_STARTED = "this node now runs NATS relay of topic 'deposits'"


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def nodes(
    tmp_path: Path, fresh_postgres_url: str, nats_url: str, audit: Path
) -> Iterator[list[Node]]:
    def user_function(tmp: Path, port: int | None = None) -> Process:
        return outbox_uf(tmp, audit, port)

    name = f"n{uuid.uuid4().hex[:12]}"
    flags = ("--broker", nats_url, "--broker-stream", name.upper(), "--broker-subject-prefix", name)
    cluster = [
        Node(tmp_path / f"node{n}", fresh_postgres_url, *flags, user_function=user_function)
        for n in range(2)
    ]
    try:
        for node in cluster:
            node.tmp.mkdir()
            node.start()
        yield cluster
    finally:
        for node in cluster:
            node.stop()


def delivered(audit: Path) -> Counter[tuple[str, int]]:
    return Counter(
        (line["value"]["account"], line["value"]["balance"])
        for line in read_lines(audit)
        if line["topic"] == "deposits"
    )


async def deposits(nodes: list[Node], accounts: int, rounds: range) -> set[tuple[str, int]]:
    """Deposit 1 per round to each account, alternating nodes; the (account, balance) pairs."""
    for _ in rounds:
        await asyncio.gather(
            *(deposit(nodes[n % len(nodes)].port, f"a-{n}", 1) for n in range(accounts))
        )
    return {(f"a-{n}", balance) for n in range(accounts) for balance in rounds}


async def test_one_node_relays_and_the_other_takes_over(nodes: list[Node], audit: Path) -> None:
    first = await deposits(nodes, 10, range(1, 4))
    wait_until(lambda: set(delivered(audit)) == first, "the first deposits")
    await asyncio.sleep(1.0)  # a second relay or consumer would deliver again meanwhile
    assert max(delivered(audit).values()) == 1
    relaying = [node for node in nodes if node.proxy and RELAY_STARTED in node.proxy.log()]
    assert len(relaying) == 1, [node.proxy.log()[-2000:] for node in nodes if node.proxy]
    (owner,) = relaying
    (survivor,) = [node for node in nodes if node is not owner]

    owner.kill()
    second = await deposits([survivor], 10, range(4, 6))
    wait_until(lambda: set(delivered(audit)) == first | second, "the deposits after the kill")
    assert survivor.proxy is not None and RELAY_STARTED in survivor.proxy.log()
    # Messages relayed before the kill are not delivered again (JetStream drops re-sent ones).
    assert all(delivered(audit)[key] == 1 for key in first)
