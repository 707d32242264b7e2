"""The cluster machinery in one process: three ClusterNodes on one store (the memory store's
membership rows behave as PostgreSQL's, by the contract), real TCP between them, and entity
handlers that record which node ran each command.

What must hold: every node agrees on the owner and a command runs at its owner wherever it
lands; a crashed node's entities (no leave, the heartbeat just stops) are served by a live
node once its heartbeat expires, with no command failing meanwhile; a leaving node deletes its
row; a joining node takes entities and the others passivate exactly those.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest_asyncio

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.stores.memory import MemoryStore
from cloudstate.proxy.workers.cluster import ClusterNode, ClusterSettings

SERVICE = "shop.Cart"
HEARTBEAT, TTL = 0.1, 0.5


class RecordingHandler:
    """Runs a command by answering with the node's id; keeps the keys it holds 'active'."""

    def __init__(self) -> None:
        self.node = ""
        self.active: set[str] = set()
        self.ran: list[str] = []

    async def handle(self, method: Any, entity_id: str, payload: bytes, metadata: Any) -> Outcome:
        self.active.add(entity_id)
        self.ran.append(entity_id)
        reply = entity_pb2.ClientAction()
        reply.reply.payload.value = self.node.encode()
        return Outcome(reply)

    def passivate_where(self, moved: Callable[[str], bool]) -> int:
        gone = {key for key in self.active if moved(key)}
        self.active -= gone
        return len(gone)

    async def close(self) -> None:
        return None


def model() -> Any:
    method = SimpleNamespace(name="Add")
    service = SimpleNamespace(entity_type="cloudstate.eventsourced.EventSourced", methods={})
    return SimpleNamespace(
        services={SERVICE: service},
        method=lambda service_name, name: method if service_name == SERVICE else None,
    )


class Member:
    def __init__(self, store: MemoryStore) -> None:
        settings = ClusterSettings(port=0, host="127.0.0.1", heartbeat=HEARTBEAT, ttl=TTL)
        self.node = ClusterNode(store, settings, command_timeout=5.0)
        self.local = RecordingHandler()
        self.handlers: dict[str, Any] = {SERVICE: self.local}

    async def start(self) -> Member:
        await self.node.join(model(), self.handlers)
        self.local.node = self.node.me
        return self

    async def add(self, key: str) -> str:
        outcome = await self.handlers[SERVICE].handle(SimpleNamespace(name="Add"), key, b"", None)
        return bytes(outcome.client_action.reply.payload.value).decode()

    async def crash(self) -> None:
        """Stop beating and listening without leaving: what a SIGKILL leaves behind."""
        assert self.node._beating is not None
        self.node._beating.cancel()
        await self.node._server.close()


async def settled(members: list[Member], count: int) -> None:
    """Wait until every member sees ``count`` members."""
    async with asyncio.timeout(10):
        while any(len(m.node.ownership.members) != count for m in members):  # noqa: ASYNC110
            await asyncio.sleep(HEARTBEAT / 2)


@pytest_asyncio.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.close()


async def test_every_command_runs_at_its_owner_wherever_it_lands(store: MemoryStore) -> None:
    members = [await Member(store).start() for _ in range(3)]
    try:
        await settled(members, 3)
        keys = [f"cart-{n}" for n in range(60)]
        for key in keys:
            owners = {m.node.ownership.owner(SERVICE, key) for m in members}
            assert len(owners) == 1, f"{key}: the nodes disagree on its owner: {owners}"
            (owner,) = owners
            for landing in members:
                assert await landing.add(key) == owner, f"{key} landing on {landing.node.me}"
        for member in members:
            ran_here = set(member.local.ran)
            assert ran_here, f"{member.node.me} owns no key of 60"
            assert all(member.node.ownership.owner(SERVICE, k) == member.node.me for k in ran_here)
    finally:
        for member in members:
            await member.node.close()


async def test_a_crashed_nodes_entities_move_once_its_heartbeat_expires(
    store: MemoryStore,
) -> None:
    members = [await Member(store).start() for _ in range(3)]
    try:
        await settled(members, 3)
        victim, landing = members[0], members[1]
        keys = [f"k{n}" for n in range(40)]
        theirs = [k for k in keys if landing.node.ownership.owner(SERVICE, k) == victim.node.me]
        assert theirs
        await victim.crash()
        # Sent at once: the victim is still a member, its port refuses; the command waits for
        # the membership to drop it and then runs at the new owner instead of failing.
        answers = await asyncio.gather(*(landing.add(key) for key in theirs))
        assert victim.node.me not in answers
        assert not victim.local.ran
        live = {m.node.me for m in members[1:]}
        assert set(answers) <= live
        assert victim.node.me not in {m.node_id for m in await store.cluster_members(TTL)}
    finally:
        for member in members:
            await member.node.close()


async def test_a_leaving_node_deletes_its_row(store: MemoryStore) -> None:
    members = [await Member(store).start() for _ in range(2)]
    await settled(members, 2)
    await members[0].node.close()
    assert [m.node_id for m in await store.cluster_members(ttl=3600)] == [members[1].node.me]
    await members[1].node.close()


async def test_a_joining_node_takes_entities_and_the_others_passivate_exactly_those(
    store: MemoryStore,
) -> None:
    members = [await Member(store).start() for _ in range(2)]
    try:
        await settled(members, 2)
        keys = [f"j{n}" for n in range(60)]
        for key in keys:
            await members[0].add(key)
        held_before = {m.node.me: set(m.local.active) for m in members}
        joining = await Member(store).start()
        members.append(joining)
        await settled(members, 3)
        taken = {k for k in keys if joining.node.ownership.owner(SERVICE, k) == joining.node.me}
        assert taken, "a third member takes about a third of the keys"
        for member in members[:2]:
            lost = held_before[member.node.me] - member.local.active
            assert lost == held_before[member.node.me] & taken, member.node.me
        for key in sorted(taken):
            assert await members[0].add(key) == joining.node.me
    finally:
        for member in members:
            await member.node.close()
