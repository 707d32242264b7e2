"""One proxy worker among several on a node: forwards keyed commands to their owner, serves the
commands the other workers forward to it, and runs the node's singletons (eventing consumers,
durable deliveries, idempotency trim) in one worker at a time.

The :class:`~cloudstate.proxy.server.Proxy` of a worker calls :func:`worker_node` after opening
its store and :meth:`WorkerNode.join` once its entity handlers exist, before it serves anyone:

* every keyed service (event-sourced, value, CRDT; not actions) gets a :class:`ForwardingHandler`
  in front of its handler: a unary command whose entity another worker owns goes to that
  worker over the local channel (:mod:`~cloudstate.proxy.workers.channel`); streamed calls and
  commands it owns are served here. The router around it is untouched: admission, auth,
  metrics, side effects and forwards run where the call landed; only the entity's turn (its
  actor, its write, its idempotency record) runs at the owner.
* the store's ``try_own`` becomes a file lock (``flock``) shared by the workers of the group, so
  that one worker runs what the proxy runs once; the kernel frees the lock when its holder dies
  and another worker takes over.

The worker learns its place from ``CLOUDSTATE_PROXY_WORKER`` (``index/count/group``), set by the
supervisor (:mod:`~cloudstate.proxy.workers.supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.entities.base import EntityHandler, Outcome
from cloudstate.proxy.errors import UnknownMethod
from cloudstate.proxy.model import ACTION, MethodModel, UserFunctionModel
from cloudstate.proxy.stores.base import ChangeCallback, Store
from cloudstate.proxy.workers.channel import OwnerServer, PeerClient, socket_address
from cloudstate.proxy.workers.ownership import OwnerOf, Ownership, worker_id

log = logging.getLogger(__name__)

#: ``index/count/group`` of this worker (set by the supervisor for its children).
PLACE_ENV = "CLOUDSTATE_PROXY_WORKER"

FORWARDED = Counter(
    "cloudstate_forwarded_commands_total",
    "Keyed commands that landed on this worker and were forwarded to the owning worker",
    ["worker"],
    registry=metrics.REGISTRY,
)
FORWARD_SECONDS = Histogram(
    "cloudstate_forward_seconds",
    "Round trip of a forwarded command, from sending it to the owner to its outcome",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=metrics.REGISTRY,
)
SERVED_FOR_PEERS = Counter(
    "cloudstate_forwarded_commands_served_total",
    "Commands other workers forwarded to this one (the owner)",
    registry=metrics.REGISTRY,
)


@dataclass(frozen=True, slots=True)
class WorkerPlace:
    """Where a worker stands: ``index`` of ``count`` workers of the group ``group``."""

    index: int
    count: int
    group: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> WorkerPlace | None:
        text = (os.environ if environ is None else environ).get(PLACE_ENV, "")
        if not text:
            return None
        index, count, group = text.split("/", 2)
        return cls(int(index), int(count), group)

    def env_value(self) -> str:
        return f"{self.index}/{self.count}/{self.group}"

    @property
    def me(self) -> str:
        return worker_id(self.index)


#: The attributes a ForwardingHandler keeps for itself; any other is its local handler's.
_OWN_ATTRIBUTES = frozenset({"service_name", "local", "ownership", "peers", "_forwarded"})


class ForwardingHandler:
    """An entity handler that runs a unary command here if this worker owns the entity, else at
    the owner. Every other attribute (``handle_streamed``, ``idempotency``, ...) is the local
    handler's, so the router treats it as the handler it wraps.

    Example::

        handler = ForwardingHandler("shop.Cart", local_handler, ownership, peers)
        outcome = await handler.handle(method, "alice", payload, None)  # here or at the owner
    """

    def __init__(
        self,
        service: str,
        local: EntityHandler,
        ownership: OwnerOf,
        peers: dict[str, PeerClient],
    ) -> None:
        self.service_name = service
        self.local = local
        self.ownership = ownership
        self.peers = peers
        self._forwarded = {member: FORWARDED.labels(member) for member in peers}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # What the proxy sets on a handler after the join (eventing's ``on_appended``,
        # ``outbox``, ``journal_readers``...) is the local handler's, as what it reads is.
        if name in _OWN_ATTRIBUTES:
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
        owner = self.ownership.owner(self.service_name, entity_id)
        if owner == self.ownership.me:
            return await self.local.handle(method, entity_id, payload, metadata)
        self._forwarded[owner].inc()
        start = metrics.now()
        try:
            return await self.peers[owner].call(
                self.service_name, method.name, entity_id, metadata, payload
            )
        finally:
            FORWARD_SECONDS.observe(metrics.now() - start)

    async def close(self) -> None:
        await self.local.close()


class _FileLocks:
    """``Store.try_own`` for the workers of one group: an exclusive ``flock`` per name, held
    until this process gives it up or dies."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._held: dict[str, tuple[int, asyncio.Event]] = {}

    def path(self, name: str) -> str:
        digest = hashlib.sha1(name.encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), f"cloudstate-proxy-{self.group}-{digest}.lock")

    async def try_own(self, name: str) -> asyncio.Event | None:
        if name in self._held:
            return self._held[name][1]
        fd = os.open(self.path(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        lost = asyncio.Event()  # never set: a lock of a live process is never taken away
        self._held[name] = (fd, lost)
        return lost

    async def disown(self, name: str) -> None:
        held = self._held.pop(name, None)
        if held is not None:
            os.close(held[0])  # closing the descriptor releases the flock

    def close(self) -> None:
        for name in list(self._held):
            os.close(self._held.pop(name)[0])


class CommitLock:
    """A cross-process lock (``flock`` on ``path``) held around each SQLite transaction of the
    workers sharing one file: a waiting writer sleeps in the kernel and starts the moment the
    other commits (SQLite's own busy handler polls with growing sleeps, which measured at half
    the appends/s of one process; benchmarks/bench_workers_sqlite.py).

    Example::

        store.commit_guard = CommitLock("/tmp/cloudstate-proxy-g1-commit.lock")
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> CommitLock:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


async def serve_forwarded(
    local: dict[str, EntityHandler],
    model: UserFunctionModel | None,
    command: tuple[str, str, str, entity_pb2.Metadata | None, bytes],
    who: str,
    remedy: str,
) -> Outcome:
    """Run a command a peer (worker or node) forwarded here, on the local handler of its service:
    ``command`` is (service, method name, entity id, metadata, payload); ``who`` and ``remedy``
    word the refusal of a service this process does not serve."""
    service, method_name, entity_id, metadata, payload = command
    handler = local.get(service)
    method = model.method(service, method_name) if model is not None else None
    if handler is None or method is None:
        raise UnknownMethod(f"{who} does not serve {service}.{method_name}: {remedy}")
    SERVED_FOR_PEERS.inc()
    return await handler.handle(method, entity_id, payload, metadata)


class WorkerNode:
    """This worker's part in the group: the owner server, the clients to its peers, the
    forwarding handlers and the singleton locks."""

    def __init__(self, place: WorkerPlace, store: Store, command_timeout: float) -> None:
        self.place = place
        self.ownership = Ownership([worker_id(i) for i in range(place.count)], me=place.me)
        self.locks = _FileLocks(place.group)
        if not store.shared:
            # The workers share the store like nodes would, but without a database session to
            # hold locks: the group's file locks decide which worker runs each singleton.
            # Assigned on the instance so that the store modules stay as they are.
            setattr(store, "try_own", self.locks.try_own)  # noqa: B010
            setattr(store, "disown", self.locks.disown)  # noqa: B010
            # CRDTs: each worker is a replica of its own, and tells the others what it commits
            # (a streamed subscriber may hold the entity on a worker that does not own it).
            store.replica_id = place.me
            setattr(store, "publish_change", self.publish_change)  # noqa: B010
            setattr(store, "subscribe_changes", self.subscribe_changes)  # noqa: B010
        self._change_callbacks: list[ChangeCallback] = []
        if hasattr(store, "commit_guard"):  # SQLite: one writer at a time, queued in the kernel
            store.commit_guard = CommitLock(self.locks.path("sqlite-commit"))
        self.peers = {
            worker_id(i): PeerClient(worker_id(i), socket_address(place.group, i), command_timeout)
            for i in range(place.count)
            if i != place.index
        }
        self._local: dict[str, EntityHandler] = {}
        self._model: UserFunctionModel | None = None
        self._server = OwnerServer(
            socket_address(place.group, place.index), self._serve, on_change=self._changed
        )

    def publish_change(self, store_id: str, entity_id: str) -> None:
        """``Store.publish_change`` between the workers: a notice to every other worker."""
        for peer in self.peers.values():
            peer.notify(store_id, entity_id)

    async def subscribe_changes(self, callback: ChangeCallback) -> Callable[[], Awaitable[None]]:
        """``Store.subscribe_changes`` between the workers: ``callback`` gets their notices."""
        self._change_callbacks.append(callback)

        async def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._change_callbacks.remove(callback)

        return unsubscribe

    def _changed(self, store_id: str, entity_id: str) -> None:
        for callback in list(self._change_callbacks):
            try:
                callback(store_id, entity_id)
            except Exception:  # one subscriber's bug must not drop the others' notices
                log.exception("worker change notice for %s/%s failed", store_id, entity_id)

    async def join(self, model: UserFunctionModel, handlers: dict[str, EntityHandler]) -> None:
        """Put forwarding in front of the keyed services' handlers (in ``handlers``, the dict
        the router reads) and start serving the other workers."""
        self._model = model
        for name, service in model.services.items():
            handler = handlers.get(name)
            if handler is None or service.entity_type == ACTION:
                continue
            self._local[name] = handler
            handlers[name] = ForwardingHandler(name, handler, self.ownership, self.peers)
        await self._server.start()
        log.info(
            "proxy worker %s of %d: owns its share of %s",
            self.place.me,
            self.place.count,
            ", ".join(self._local) or "no keyed service",
        )

    async def _serve(
        self,
        service: str,
        method_name: str,
        entity_id: str,
        metadata: entity_pb2.Metadata | None,
        payload: bytes,
    ) -> Outcome:
        return await serve_forwarded(
            self._local,
            self._model,
            (service, method_name, entity_id, metadata, payload),
            f"proxy worker {self.place.me}",
            "the workers disagree on the user function's services (restart them together)",
        )

    async def close(self) -> None:
        await self._server.close()
        for peer in self.peers.values():
            peer.close()
        with contextlib.suppress(OSError):
            self.locks.close()


def worker_node(store: Store, command_timeout: float) -> WorkerNode | None:
    """This process's WorkerNode if the supervisor started it as one of several workers."""
    place = WorkerPlace.from_env()
    if place is None or place.count <= 1:
        return None
    return WorkerNode(place, store, command_timeout)
