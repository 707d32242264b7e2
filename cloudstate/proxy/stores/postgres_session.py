"""The node session of a :class:`~cloudstate.proxy.stores.postgres.PostgresStore`: one dedicated
connection per proxy process that holds its ownership locks and listens for change notices.

* **Ownership** (:meth:`NodeSession.try_own`): a session-level ``pg_try_advisory_lock`` on the
  hash of the name. PostgreSQL releases it when the connection ends, so when a node dies (even by
  SIGKILL) its locks are free as soon as the server sees the socket close; the other nodes, which
  retry periodically, take over. When this node's connection dies, every ``lost`` event is set
  and the owners stop; they may try again once the session reconnects.
* **Change notices** (:meth:`NodeSession.publish` / :meth:`NodeSession.subscribe`): ``NOTIFY`` on
  one channel per schema with the payload ``origin \\x1f store id \\x1f entity id``. The origin
  (random per process) lets a node skip its own notices. After a reconnect, subscribers are
  called with ``("", "")``: notices may have been missed, so they re-read what they hold.

Example::

    session = NodeSession(dsn, schema="shop", connect_timeout=5.0)
    lost = await session.try_own("consumer:orders")     # None: another node owns it
    unsubscribe = await session.subscribe(lambda store_id, entity_id: ...)
    session.publish(pool, "crdt:likes", "post-1")
    await session.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from cloudstate.proxy.stores.base import ChangeCallback

try:
    import asyncpg
except ImportError:  # pragma: no cover - depends on the installed extras
    asyncpg = None

log = logging.getLogger(__name__)

_SEPARATOR = "\x1f"


def ownership_key(name: str, schema: str) -> int:
    """A stable signed 64-bit advisory-lock key for ownership of ``name`` within ``schema``."""
    digest = hashlib.blake2b(f"own:{name}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def change_channel(schema: str) -> str:
    """The NOTIFY channel of a schema (a short, lower-case identifier)."""
    return "cloudstate_changes_" + hashlib.blake2b(schema.encode(), digest_size=8).hexdigest()


class NodeSession:
    """Ownership locks and change notices of one proxy process on one schema."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        connect_timeout: float = 5.0,
        check_interval: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.channel = change_channel(schema)
        self.origin = uuid.uuid4().hex[:16]
        self._connect_timeout = connect_timeout
        self._check_interval = check_interval
        self._connection: Any = None
        self._lock = asyncio.Lock()  # one statement at a time on the session connection
        self._owned: dict[str, asyncio.Event] = {}
        self._callbacks: list[ChangeCallback] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._publishes: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the connection -----------------------------------------------------------------------

    async def _connected(self) -> Any:
        """The live session connection, (re)connecting if needed; raises if the database is
        unreachable."""
        if self._closed:
            raise ConnectionError("the store is closed")
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        if self._connection is not None:
            self._drop()
        connection = await asyncpg.connect(
            self.dsn or None, timeout=self._connect_timeout, command_timeout=10
        )
        connection.add_termination_listener(lambda _connection: self._drop())
        await connection.add_listener(self.channel, self._on_notice)
        self._connection = connection
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch(), name="postgres node session")
        # Notices may have been missed while there was no connection.
        self._deliver("", "")
        return connection

    def _drop(self) -> None:
        """The session connection is gone: every ownership is lost."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()
        owned, self._owned = self._owned, {}
        if owned:
            log.warning(
                "lost the database session: giving up %d owned consumer(s) to other nodes",
                len(owned),
            )
        for lost in owned.values():
            lost.set()

    async def _watch(self) -> None:
        """Ping the session connection so that a half-open connection is noticed; reconnect while
        anyone listens."""
        while not self._closed:
            await asyncio.sleep(self._check_interval)
            try:
                async with self._lock:
                    if self._connection is not None:
                        await asyncio.wait_for(
                            self._connection.fetchval("SELECT 1"), self._check_interval * 2
                        )
                    elif self._callbacks:
                        await self._connected()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("database session check failed: %s", error)
                self._drop()

    # -- ownership ----------------------------------------------------------------------------

    async def try_own(self, name: str) -> asyncio.Event | None:
        """See :meth:`cloudstate.proxy.stores.base.Store.try_own`."""
        async with self._lock:
            if name in self._owned:
                return self._owned[name]
            try:
                connection = await self._connected()
                got = await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", ownership_key(name, self.schema)
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.debug("cannot try to own %s: %s", name, error)
                self._drop()
                return None
            if not got:
                return None
            lost = asyncio.Event()
            self._owned[name] = lost
            return lost

    async def disown(self, name: str) -> None:
        async with self._lock:
            lost = self._owned.pop(name, None)
            if lost is None or self._connection is None:
                return
            try:
                await self._connection.fetchval(
                    "SELECT pg_advisory_unlock($1)", ownership_key(name, self.schema)
                )
            except Exception:  # the connection is gone: so is the lock
                self._drop()

    # -- change notices -----------------------------------------------------------------------

    def publish(self, pool: Any, store_id: str, entity_id: str) -> None:
        """NOTIFY the other nodes, in the background through ``pool`` (errors are logged)."""
        payload = _SEPARATOR.join((self.origin, store_id, entity_id))
        if len(payload.encode()) >= 8000 or pool is None:  # NOTIFY's payload limit
            return

        async def notify() -> None:
            try:
                async with pool.acquire() as connection:
                    await connection.execute("SELECT pg_notify($1, $2)", self.channel, payload)
            except Exception as error:
                log.debug("cannot publish the change of %s|%s: %s", store_id, entity_id, error)

        task = asyncio.create_task(notify())
        self._publishes.add(task)
        task.add_done_callback(self._publishes.discard)

    async def subscribe(self, callback: ChangeCallback) -> Callable[[], Awaitable[None]]:
        self._callbacks.append(callback)
        async with self._lock:
            try:
                await self._connected()
            except Exception as error:  # the watchdog connects later
                log.warning("cannot listen for changes yet: %s", error)
                if self._watchdog is None or self._watchdog.done():
                    self._watchdog = asyncio.create_task(
                        self._watch(), name="postgres node session"
                    )

        async def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def _on_notice(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        parts = payload.split(_SEPARATOR)
        if len(parts) != 3 or parts[0] == self.origin:
            return
        self._deliver(parts[1], parts[2])

    def _deliver(self, store_id: str, entity_id: str) -> None:
        for callback in list(self._callbacks):
            try:
                callback(store_id, entity_id)
            except Exception:
                log.exception("a change subscriber failed")

    async def close(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._publishes:
            await asyncio.gather(*self._publishes, return_exceptions=True)
        connection, self._connection = self._connection, None
        for lost in self._owned.values():
            lost.set()
        self._owned.clear()
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), timeout=self._connect_timeout)
            except Exception:
                connection.terminate()
