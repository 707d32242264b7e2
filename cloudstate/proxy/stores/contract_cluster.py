"""The store contract of cluster membership (join, heartbeat, leave, the live members), for the
stores several nodes share (PostgreSQL) and the memory store. Mixed into a test class next to
:class:`~cloudstate.proxy.stores.contract.StoreContract`; for test code only (like it)::

    class TestMyStore(StoreContract, ClusterMembershipContract): ...
"""

from __future__ import annotations

import asyncio

import pytest

from cloudstate.proxy.stores.base import Store


class ClusterMembershipContract:
    """Membership rows: a node joins, beats, is seen while its heartbeat is younger than the
    TTL, and leaves; a rejoin gets a larger incarnation and the old one's heartbeat is refused."""

    @pytest.mark.asyncio
    async def test_cluster_a_joined_node_is_a_live_member_until_it_leaves(
        self, store: Store
    ) -> None:
        first = await store.cluster_join("n1", "10.0.0.1:9100")
        await store.cluster_join("n0", "10.0.0.0:9100")
        members = await store.cluster_members(ttl=5.0)
        assert [(m.node_id, m.address) for m in members] == [
            ("n0", "10.0.0.0:9100"),
            ("n1", "10.0.0.1:9100"),
        ]
        assert all(0 <= m.heartbeat_age < 5.0 for m in members)
        await store.cluster_leave("n1", first)
        assert [m.node_id for m in await store.cluster_members(ttl=5.0)] == ["n0"]

    @pytest.mark.asyncio
    async def test_cluster_a_member_without_heartbeat_expires_and_a_beat_keeps_it(
        self, store: Store
    ) -> None:
        quiet = await store.cluster_join("quiet", "a:1")
        beating = await store.cluster_join("beating", "b:1")
        for _ in range(4):
            await asyncio.sleep(0.15)
            assert await store.cluster_heartbeat("beating", beating)
        assert [m.node_id for m in await store.cluster_members(ttl=0.3)] == ["beating"]
        # Expired is not gone: a late heartbeat of the same incarnation revives it.
        assert await store.cluster_heartbeat("quiet", quiet)
        assert [m.node_id for m in await store.cluster_members(ttl=0.3)] == ["beating", "quiet"]

    @pytest.mark.asyncio
    async def test_cluster_a_rejoin_is_a_new_incarnation_and_fences_the_old(
        self, store: Store
    ) -> None:
        old = await store.cluster_join("n", "host:1")
        new = await store.cluster_join("n", "host:2")
        assert new > old
        assert not await store.cluster_heartbeat("n", old)
        assert await store.cluster_heartbeat("n", new)
        await store.cluster_leave("n", old)  # the predecessor's leave removes nothing
        members = await store.cluster_members(ttl=5.0)
        assert [(m.node_id, m.address, m.incarnation) for m in members] == [("n", "host:2", new)]
        await store.cluster_leave("n", new)
        assert await store.cluster_members(ttl=5.0) == []
        assert not await store.cluster_heartbeat("n", new)
