"""Nodes in a cluster: ownership of the keyed entities across proxy nodes sharing PostgreSQL.

Each node (each proxy process: with ``--workers N`` every worker is a member of its own, on
``--cluster-port`` + its index) holds a row in the store's ``cluster_members`` table and renews
its heartbeat every ``--cluster-heartbeat``; the members whose heartbeat is younger than
``--cluster-member-ttl`` are the live ones, and :class:`~cloudstate.proxy.workers.ownership.
Ownership` (rendezvous hashing over their ids) says which one owns each entity. PostgreSQL is the
only thing the nodes agree through: no gossip, no consensus of our own.

* A unary command for an entity another node owns is forwarded to it over TCP (the frames of
  :mod:`~cloudstate.proxy.workers.wire`, one connection per peer) and the reply comes back the
  same way (:class:`ClusterForwardingHandler`). A peer that does not accept a connection is
  retried, re-reading the owner each time, until the command timeout: when the membership
  drops a dead node, its entities' commands go to their new owner.
* When the members change, every active entity this node no longer owns is passivated (it
  finishes its queued commands first), so the new owner's copy is the only one that keeps
  running.
* Safety does not rest on the view being right: two nodes may believe they own one entity for a
  moment (a join, a death, a partition from the database), and the journal's conditional append
  and the read validation (docs/scale-out.md) make the stale one's write fail and re-read.

Example::

    cluster = ClusterNode(store, ClusterSettings(port=9100, heartbeat=1.0, ttl=5.0), 30.0)
    await cluster.join(model, handlers)   # wraps the keyed services' handlers, starts beating
    ...
    await cluster.close()                 # deletes this node's row: its entities move at once
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.entities.base import EntityHandler, Outcome
from cloudstate.proxy.model import ACTION, MethodModel, UserFunctionModel
from cloudstate.proxy.stores.base import ClusterMember, Store, StoreError
from cloudstate.proxy.workers.channel import (
    OwnerServer,
    PeerClient,
    PeerUnreachable,
    tcp_address,
)
from cloudstate.proxy.workers.cluster_singletons import ClusterSingletons
from cloudstate.proxy.workers.cluster_tls import ClusterTls
from cloudstate.proxy.workers.node import (
    _OWN_ATTRIBUTES,
    FORWARD_SECONDS,
    FORWARDED,
    serve_forwarded,
)
from cloudstate.proxy.workers.ownership import Ownership

log = logging.getLogger(__name__)

MEMBERS = Gauge(
    "cloudstate_cluster_members",
    "Live members of the cluster as this node sees them",
    registry=metrics.REGISTRY,
)
HANDOVERS = Counter(
    "cloudstate_cluster_passivated_entities_total",
    "Active entities passivated because the membership gave them to another node",
    registry=metrics.REGISTRY,
)


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Where this node listens and how membership is kept (docs/scale-out.md, the knobs)."""

    port: int
    host: str = "127.0.0.1"
    #: The host other nodes connect to; empty: :func:`advertised_host` of ``host``.
    address: str = ""
    heartbeat: float = 1.0
    ttl: float = 5.0
    #: Mutual TLS on the cluster port and to the other nodes' (None: plain TCP).
    tls: ClusterTls | None = None


def advertised_host(bind_host: str) -> str:
    """The host the other nodes reach a port bound on ``bind_host`` at: the bind address
    itself unless it is a wildcard, then this host's address by its name."""
    if bind_host not in ("", "0.0.0.0", "::"):
        return bind_host
    with contextlib.suppress(OSError):
        return socket.gethostbyname(socket.gethostname())
    return "127.0.0.1"


class ClusterForwardingHandler:
    """An entity handler that runs a unary command here if this node owns the entity, else at
    the owning node. Every other attribute is the local handler's (as ForwardingHandler's).

    Example::

        handler = ClusterForwardingHandler("shop.Cart", local_handler, cluster_node)
        outcome = await handler.handle(method, "alice", payload, None)  # here or at the owner
    """

    def __init__(self, service: str, local: EntityHandler, node: ClusterNode) -> None:
        self.service_name = service
        self.local = local
        self.node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN_ATTRIBUTES or name == "node":
            object.__setattr__(self, name, value)
        else:
            setattr(self.local, name, value)

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        node = self.node
        loop = asyncio.get_running_loop()
        deadline = loop.time() + node.command_timeout
        while True:
            owner = node.ownership.owner(self.service_name, entity_id)
            peer = node.peers.get(owner)
            if owner == node.me or peer is None:
                return await self.local.handle(method, entity_id, payload, metadata)
            node.forwarded_to(owner).inc()
            start = metrics.now()
            try:
                return await peer.call(self.service_name, method.name, entity_id, metadata, payload)
            except PeerUnreachable:
                # Never sent: safe to send again, to whoever owns it once the dead node's
                # heartbeat has expired.
                if loop.time() >= deadline:
                    raise
                node.refresh_soon()
                await asyncio.sleep(node.settings.heartbeat / 2)
            finally:
                FORWARD_SECONDS.observe(metrics.now() - start)

    async def close(self) -> None:
        await self.local.close()


class ClusterNode:
    """This node's membership, its forwarding server and clients, and the handover."""

    def __init__(self, store: Store, settings: ClusterSettings, command_timeout: float) -> None:
        self.store = store
        self.settings = settings
        self.command_timeout = command_timeout
        self.me = ""
        self.incarnation = 0
        self.ownership = Ownership([])
        self.peers: dict[str, PeerClient] = {}
        self._addresses: dict[str, tuple[str, int]] = {}  # node id -> (address, incarnation)
        self._local: dict[str, EntityHandler] = {}
        self._model: UserFunctionModel | None = None
        #: Eventing consumers, durable deliveries, trims and purges spread over the members.
        self.singletons = ClusterSingletons(store, lambda: self.ownership)
        self._server = OwnerServer(
            tcp_address(settings.host, settings.port),
            self._serve,
            tls=settings.tls.server if settings.tls is not None else None,
        )
        self._beating: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._forwarded: dict[str, Any] = {}
        self.port = 0

    async def join(self, model: UserFunctionModel, handlers: dict[str, EntityHandler]) -> None:
        """Put forwarding in front of the keyed services' handlers (in ``handlers``, the dict
        the router reads), listen on the cluster port, enter the membership and keep beating."""
        self._model = model
        for name, service in model.services.items():
            handler = handlers.get(name)
            if handler is None or service.entity_type == ACTION:
                continue
            self._local[name] = handler
            handlers[name] = ClusterForwardingHandler(name, handler, self)
        self.port = await self._server.start()
        host = self.settings.address or advertised_host(self.settings.host)
        self.me = f"{host}:{self.port}"
        self.ownership = Ownership([self.me], me=self.me)
        self.ownership.on_change(self._members_changed)
        self.incarnation = await self.store.cluster_join(self.me, tcp_address(host, self.port))
        await self._refresh()
        self._beating = asyncio.get_running_loop().create_task(self._beat())
        log.info(
            "cluster node %s (incarnation %d): %d live member(s); owns its share of %s",
            self.me,
            self.incarnation,
            len(self.ownership.members),
            ", ".join(self._local) or "no keyed service",
        )

    def forwarded_to(self, owner: str) -> Any:
        """The forwarded-commands counter of ``owner`` (label children cached: one per peer)."""
        counter = self._forwarded.get(owner)
        if counter is None:
            counter = self._forwarded[owner] = FORWARDED.labels(owner)
        return counter

    def refresh_soon(self) -> None:
        """Read the membership now instead of at the next heartbeat (a peer did not answer)."""
        self._wake.set()

    async def _beat(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.heartbeat):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if not await self.store.cluster_heartbeat(self.me, self.incarnation):
                    # Our row expired and was taken over or deleted: enter again.
                    self.incarnation = await self.store.cluster_join(
                        self.me, tcp_address(self.me.rpartition(":")[0], self.port)
                    )
                    log.warning(
                        "cluster node %s had lost its membership row; joined again "
                        "(incarnation %d)",
                        self.me,
                        self.incarnation,
                    )
                await self._refresh()
            except StoreError as error:
                # Keep the last view: the journal's conditional writes stay the safety net.
                log.warning("cluster node %s: membership not renewed: %s", self.me, error)
            except Exception:  # a bug here must not stop the heartbeat for good
                log.exception("cluster node %s: membership not renewed", self.me)

    async def _refresh(self) -> None:
        members = await self.store.cluster_members(self.settings.ttl)
        self._set_members(members)

    def _set_members(self, members: Sequence[ClusterMember]) -> None:
        seen: dict[str, tuple[str, int]] = {}
        for member in members:
            if member.node_id == self.me:
                continue
            seen[member.node_id] = (member.address, member.incarnation)
            if self._addresses.get(member.node_id) != seen[member.node_id]:
                old = self.peers.pop(member.node_id, None)
                if old is not None:
                    old.close()  # a restarted node: a new connection to the new incarnation
                self.peers[member.node_id] = PeerClient(
                    member.node_id,
                    member.address,
                    self.command_timeout,
                    connect_timeout=self.settings.heartbeat,
                    tls=self.settings.tls.client if self.settings.tls is not None else None,
                )
        for gone in set(self.peers) - set(seen):
            self.peers.pop(gone).close()
        self._addresses = seen
        self.ownership.set_members([self.me, *seen])
        MEMBERS.set(len(seen) + 1)

    def _members_changed(self, members: Sequence[str]) -> None:
        log.info("cluster node %s: live members now %s", self.me, ", ".join(members))
        self.singletons.rebalance()
        ownership, me = self.ownership, self.me
        for service, handler in self._local.items():
            passivate = getattr(handler, "passivate_where", None)
            if passivate is None:
                continue  # CRDTs: replicas merge; subscriptions keep their entity where it is
            moved = passivate(lambda key, service=service: ownership.owner(service, key) != me)
            HANDOVERS.inc(moved)

    async def _serve(
        self,
        service: str,
        method_name: str,
        entity_id: str,
        metadata: entity_pb2.Metadata | None,
        payload: bytes,
    ) -> Outcome:
        # Served here even if this node's view says another owns it: no forwarding loops, and
        # the conditional write keeps two owners' writes apart.
        return await serve_forwarded(
            self._local,
            self._model,
            (service, method_name, entity_id, metadata, payload),
            f"cluster node {self.me}",
            "the nodes disagree on the user function's services (roll the new version out to all)",
        )

    async def close(self) -> None:
        """Leave: stop beating, delete this node's row (its entities move at once), close."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        if self.me:
            with contextlib.suppress(StoreError):
                await self.store.cluster_leave(self.me, self.incarnation)
        await self._server.close()
        for peer in self.peers.values():
            peer.close()
        self.peers.clear()
