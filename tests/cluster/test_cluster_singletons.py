"""Singletons (eventing consumers, durable deliveries, trims, purges) spread over the nodes of a
cluster: three ClusterNodes in one process, each with its own PostgreSQL store (its own session,
so the advisory locks are real), each running one job loop per singleton the way the eventing
consumers do (``try_own``, run until the lost-event is set, ask again).

What must hold: every singleton runs on exactly one node, the one the rendezvous hashing names,
and every node runs its share (not: the first node to ask takes them all); when a node leaves,
its singletons move to the others; at no moment do two nodes run the same singleton.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from cloudstate.proxy.stores.base import Store
from cloudstate.proxy.stores.registry import open_store
from cloudstate.proxy.workers.cluster import ClusterNode, ClusterSettings
from cloudstate.proxy.workers.cluster_singletons import SINGLETONS
from tests.cluster.test_cluster_node import SERVICE, RecordingHandler, model

HEARTBEAT, TTL = 0.1, 0.5
NAMES = [f"consumer:topic-{n}" for n in range(12)]


class Jobs:
    """Which node runs which singleton, and every moment two ran one at once."""

    def __init__(self) -> None:
        self.running: dict[str, set[str]] = {name: set() for name in NAMES}
        self.overlaps: list[tuple[str, set[str]]] = []

    async def run(self, store: Store, node: ClusterNode, name: str) -> None:
        while True:
            lost = await store.try_own(name)
            if lost is None:
                await asyncio.sleep(0.02)
                continue
            me = node.me
            self.running[name].add(me)
            if len(self.running[name]) > 1:
                self.overlaps.append((name, set(self.running[name])))
            try:
                await lost.wait()
            finally:
                self.running[name].discard(me)

    def placement(self) -> dict[str, set[str]]:
        return {name: set(nodes) for name, nodes in self.running.items()}


class Member:
    def __init__(self, store: Store, jobs: Jobs) -> None:
        settings = ClusterSettings(port=0, host="127.0.0.1", heartbeat=HEARTBEAT, ttl=TTL)
        self.store = store
        self.node = ClusterNode(store, settings, command_timeout=5.0)
        self.handlers: dict[str, Any] = {SERVICE: RecordingHandler()}
        self.tasks: list[asyncio.Task[None]] = []
        self.jobs = jobs

    async def start(self) -> Member:
        # The jobs start before the node joins, as the proxy's consumers may: they wait.
        self.tasks = [
            asyncio.get_running_loop().create_task(self.jobs.run(self.store, self.node, name))
            for name in NAMES
        ]
        await self.node.join(model(), self.handlers)
        return self

    async def leave(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name in NAMES:  # what the proxy's shutdown does: stop the jobs, release the locks
            await self.store.disown(name)
        await self.node.close()


@pytest_asyncio.fixture
async def stores(fresh_postgres_url: str) -> AsyncIterator[list[Store]]:
    opened = [await open_store(fresh_postgres_url) for _ in range(3)]
    yield opened
    for store in opened:
        await store.close()


async def converged(jobs: Jobs, members: list[Member]) -> dict[str, set[str]]:
    """Wait until every singleton runs on exactly the node its rendezvous owner names."""
    placement: dict[str, set[str]] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(15):
            while True:
                views = [m.node.ownership for m in members]
                if all(len(v.members) == len(members) for v in views):
                    placement = jobs.placement()
                    owners = {n: views[0].owner(SINGLETONS, n) for n in NAMES}
                    if all(placement[n] == {owners[n]} for n in NAMES):
                        return placement
                await asyncio.sleep(0.05)
    raise AssertionError(f"singletons never settled on their owners: {jobs.placement()}")


async def test_singletons_spread_over_the_nodes_and_move_when_one_leaves(
    stores: list[Store],
) -> None:
    jobs = Jobs()
    members = [await Member(store, jobs).start() for store in stores]
    try:
        placement = await converged(jobs, members)
        per_node = {m.node.me: sum(m.node.me in p for p in placement.values()) for m in members}
        assert all(count >= 1 for count in per_node.values()), per_node
        leaving, staying = members[2], members[:2]
        theirs = [n for n, p in placement.items() if p == {leaving.node.me}]
        assert theirs
        await leaving.leave()
        members = staying
        placement = await converged(jobs, staying)
        assert all(leaving.node.me not in p for p in placement.values())
        assert not jobs.overlaps, jobs.overlaps
    finally:
        for member in members:
            await member.leave()
