"""A cluster node running ``--workers 2`` next to a single-process node: every worker is a
member of its own (on the cluster port + its index), and commands landing on any process run at
their owner with exactly the acknowledged commands journaled."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.processes import free_port
from tests.scaleout.cluster import Node, journals, run_load

FLAGS = ("--cluster-heartbeat", "250ms", "--cluster-member-ttl", "1s")


async def test_workers_of_a_node_are_members_of_their_own(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    cluster_port = free_port()
    workers = Node(
        tmp_path, fresh_postgres_url, "--workers", "2", "--cluster-port", str(cluster_port), *FLAGS
    )
    single = Node(tmp_path, fresh_postgres_url, "--cluster-port", "0", *FLAGS)
    try:
        for node in (workers, single):
            await asyncio.to_thread(node.start)
        members: set[str] = set()
        async with asyncio.timeout(30):
            while len(members) < 3:
                await asyncio.sleep(0.25)
                logs = "".join(n.proxy.log() for n in (workers, single) if n.proxy is not None)
                for line in re.findall(r"live members now (.*)", logs):
                    members = max(members, set(line.split(", ")), key=len)
        assert f"127.0.0.1:{cluster_port}" in members and f"127.0.0.1:{cluster_port + 1}" in members
        result = await run_load(
            [workers.port, single.port], entities=20, clients=32, commands_per_client=6
        )
        assert not result.failures, (dict(result.failures), result.examples)
        assert not result.stale_reads, result.stale_reads[:5]
        for user, products in (await journals(fresh_postgres_url, "cart", 20)).items():
            assert sorted(products) == sorted(result.acked[user]), user
    finally:
        for node in (workers, single):
            node.stop()
