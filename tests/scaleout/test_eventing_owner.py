"""Eventing consumers on three proxy nodes sharing one PostgreSQL database: one node at a time
runs a consumer (session advisory lock), so each event is delivered once, not once per node; when
the owner is SIGKILLed another node takes over at the committed offset and nothing is lost.

Every node runs the eventing test user function (``tests/eventing/model.py``): its ``Projection``
consumes the ``Ledger`` event log and appends one line per delivery, with its process id, to a
file all nodes share.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.eventing.model import pb
from tests.eventing.test_event_log import append, projection_uf, read_lines
from tests.processes import Process
from tests.scaleout.cluster import Node


def delivered(projection: Path) -> Counter[tuple[str, int]]:
    return Counter((line["subject"], line["n"]) for line in read_lines(projection))


async def wait_for(projection: Path, expected: set[tuple[str, int]], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not expected <= set(delivered(projection)):
        if time.monotonic() > deadline:
            missing = sorted(expected - set(delivered(projection)))
            raise AssertionError(f"{len(missing)} events never delivered, e.g. {missing[:5]}")
        await asyncio.sleep(0.1)


@pytest.fixture
def projection(tmp_path: Path) -> Path:
    return tmp_path / "projection.jsonl"


@pytest.fixture
def nodes(tmp_path: Path, fresh_postgres_url: str, projection: Path) -> Iterator[list[Node]]:
    def user_function(tmp: Path, port: int | None = None) -> Process:
        return projection_uf(tmp, projection, port)

    cluster = [
        Node(
            tmp_path / f"node{n}",
            fresh_postgres_url,
            "--log-level",
            "INFO",
            user_function=user_function,
        )
        for n in range(3)
    ]
    try:
        for node in cluster:
            node.tmp.mkdir()
            node.start()
        yield cluster
    finally:
        for node in cluster:
            node.stop()


async def append_spread(nodes: list[Node], ledgers: int, count: int, seed: int) -> None:
    """``count`` entries to each of ``ledgers`` ledgers, every command through a random node."""
    rng = random.Random(seed)
    requests: dict[int, list[pb.AppendRequest]] = {}
    for n in range(ledgers):
        port = rng.choice(nodes).port
        requests.setdefault(port, []).append(pb.AppendRequest(ledger_id=f"l-{n}", count=count))
    await asyncio.gather(*(append(port, batch) for port, batch in requests.items()))


def uf_pid(node: Node) -> int:
    assert node.uf is not None and node.uf.process is not None
    return int(node.uf.process.pid)


async def test_one_node_runs_the_consumer_and_another_takes_over_when_it_is_killed(
    nodes: list[Node], projection: Path
) -> None:
    # Normal case: events journaled through all three nodes, each delivered exactly once.
    await append_spread(nodes, ledgers=20, count=5, seed=1)
    first = {(f"l-{n}", i) for n in range(20) for i in range(1, 6)}
    await wait_for(projection, first)
    await asyncio.sleep(1.5)  # a second (or third) runner would deliver them again meanwhile
    counts = delivered(projection)
    assert set(counts) == first
    assert max(counts.values()) == 1, [k for k, c in counts.items() if c > 1][:5]
    runners = {line["pid"] for line in read_lines(projection)}
    assert len(runners) == 1, runners
    (owner,) = [node for node in nodes if uf_pid(node) in runners]
    survivors = [node for node in nodes if node is not owner]

    # The owner dies: another node takes over from the committed offset.
    owner.kill()
    await append_spread(survivors, ledgers=20, count=5, seed=2)
    second = {(f"l-{n}", i) for n in range(20) for i in range(6, 11)}
    await wait_for(projection, first | second, within=30)
    await asyncio.sleep(1.5)
    lines = read_lines(projection)
    counts = delivered(projection)
    assert set(counts) == first | second  # nothing lost
    # The first events were committed before the kill: nobody delivers them again.
    assert all(counts[key] == 1 for key in first), "committed events were re-delivered"
    assert all(counts[key] == 1 for key in second)
    new_runners = {line["pid"] for line in lines if (line["subject"], line["n"]) in second}
    assert len(new_runners) == 1 and new_runners <= {uf_pid(node) for node in survivors}
    # Per ledger, the entries arrive in order.
    for n in range(20):
        entries = [line["n"] for line in lines if line["subject"] == f"l-{n}"]
        assert entries == list(range(1, 11)), (n, entries)
    logs = "".join(node.proxy.log() for node in survivors if node.proxy is not None)
    assert "this node now runs" in logs
