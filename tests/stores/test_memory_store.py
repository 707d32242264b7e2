"""The store contract, run against the in-memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from cloudstate.proxy.stores.base import Store
from cloudstate.proxy.stores.contract import StoreContract
from cloudstate.proxy.stores.contract_cluster import ClusterMembershipContract
from cloudstate.proxy.stores.memory import MemoryStore
from cloudstate.proxy.stores.registry import open_store


class TestMemoryStore(StoreContract, ClusterMembershipContract):
    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = await open_store("memory:")
        assert isinstance(store, MemoryStore) and store.name == "memory"
        yield store
        await store.close()
