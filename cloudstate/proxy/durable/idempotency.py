"""Idempotency keys at work (docs/protocol-durable-calls.md, "Idempotency keys"): a call carrying
an idempotency key runs once; a retry with the same key and the same request gets the first
answer. The key, fingerprint and stored answer are :mod:`.keys`.

* **Where** — entities look the key up in their actor, before the command reaches the user
  function, and write the record in the transaction of their events or value
  (:mod:`cloudstate.proxy.entities.actor`); actions and CRDT entities are handled by the router
  with :meth:`Idempotency.call_once` (look up, run, record).
* **Retention** — a record older than ``--idempotency-retention`` counts as absent (and is
  deleted then), before :mod:`.idempotency_trim` deletes it.

Example::

    guard = Idempotency(store, retention=86400)
    keyed = guard.keyed_call(method, request_bytes, metadata)   # None: no key
    outcome = await guard.call_once(keyed, lambda: handler.handle(method, "", request, metadata))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.durable.keys import (
    KeyedCall,
    decode_answer,
    failure_answer,
    final_answer,
    fingerprint,
    is_delivery,
    request_key,
)
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.errors import CommandFailed, StoreUnavailable
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.stores.base import IdempotencyRecord, Store, StoreError

#: ``--idempotency-retention`` default: a day.
DEFAULT_RETENTION = 24 * 3600.0


def replayed(action: entity_pb2.ClientAction) -> Outcome:
    """The outcome of a replayed answer: its client action only, never the side effects of the
    first call, and nothing published again (the first call published its reply)."""
    return Outcome(action, [], published=True, replayed=True)


# -- the proxy's keys -----------------------------------------------------------------------------


class Idempotency:
    """Looks keys up, stores answers and counts them (``cloudstate_idempotent_calls_total``).

    One per proxy, shared by the router and the entity handlers. ``retention`` (seconds; 0:
    forever): an older record counts as absent."""

    def __init__(self, store: Store, retention: float = DEFAULT_RETENTION) -> None:
        self.store = store
        self.retention = retention
        self._first = metrics.IDEMPOTENT_CALLS.labels("first")
        self._replayed = metrics.IDEMPOTENT_CALLS.labels("replayed")
        self._mismatch = metrics.IDEMPOTENT_CALLS.labels("mismatch")
        #: Router path: keys with a call running on this node (a concurrent duplicate waits).
        self._running: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    def keyed_call(
        self, method: MethodModel, payload: bytes, metadata: entity_pb2.Metadata | None
    ) -> KeyedCall | None:
        """The call's key and fingerprint; None without a key; BadRequest for a bad key."""
        key = request_key(metadata)
        if key is None:
            return None
        return KeyedCall(key, fingerprint(method, payload), not is_delivery(metadata))

    def expired(self, record: IdempotencyRecord) -> bool:
        return self.retention > 0 and record.created < time.time() - self.retention

    async def lookup(self, call: KeyedCall) -> entity_pb2.ClientAction | None:
        """The stored answer of ``call``'s key, or None if it has none (or an expired one,
        deleted here so that the new answer can be stored). Raises IdempotencyKeyReused for
        another request's key, StoreUnavailable when the store cannot be read."""
        try:
            record = await self.store.load_idempotency(call.key)
            if record is not None and self.expired(record):
                await self.store.trim_idempotency(time.time() - self.retention)
                record = None
        except StoreError as error:
            raise StoreUnavailable(
                f"cannot look up idempotency key {call.key!r}: {error}; nothing was run, retry"
            ) from error
        if record is None:
            return None
        return self._stored_answer(call, record)

    def _stored_answer(self, call: KeyedCall, record: IdempotencyRecord) -> entity_pb2.ClientAction:
        if record.fingerprint != call.fingerprint:
            self._mismatch.inc()
            raise call.mismatch(record)
        self._replayed.inc()
        return decode_answer(record)

    def record_for(
        self,
        call: KeyedCall,
        action: entity_pb2.ClientAction,
        failure_status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> IdempotencyRecord:
        """The record storing ``action`` as ``call``'s answer, for an entity's write to carry
        (``failure_status``: the status of a failure that names none)."""
        return call.record(final_answer(action, failure_status))

    def recorded(self) -> None:
        """Count a first answer stored with an entity's write."""
        self._first.inc()

    async def save(
        self,
        call: KeyedCall,
        action: entity_pb2.ClientAction,
        failure_status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> entity_pb2.ClientAction | None:
        """Store ``action`` as ``call``'s answer, in its own transaction.

        None: it is the first answer (the caller releases its own). Otherwise the answer another
        call stored first under the key (answer with it instead). Raises IdempotencyKeyReused if
        that call was another request, StoreUnavailable if the store failed. A failure of a
        call that keeps none (a durable delivery) is not stored: None."""
        if not call.keeps_failures and action.WhichOneof("action") == "failure":
            return None
        record = self.record_for(call, action, failure_status)
        try:
            stored = await self.store.save_idempotency(record)
            if stored.response != record.response and self.expired(stored):
                await self.store.trim_idempotency(time.time() - self.retention)
                stored = await self.store.save_idempotency(record)
        except StoreError as error:
            raise StoreUnavailable(
                f"cannot store the answer to idempotency key {call.key!r}: {error}; the answer "
                "was not released, a retry may run the call again"
            ) from error
        if stored.response == record.response:  # the nonce: our record
            self._first.inc()
            return None
        return self._stored_answer(call, stored)

    async def call_once(
        self,
        call: KeyedCall,
        run: Callable[[], Awaitable[Outcome]],
        failure_status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> Outcome:
        """For components that do not handle keys themselves (actions, CRDT entities): the
        stored answer if there is one, else ``run()`` and store its answer (a user failure too)
        before it is released. A duplicate arriving while the first runs on this node waits for
        it; across nodes (or after a crash between the run and the record) both may run, and
        the answer stored first is the one every caller gets."""
        lock = self._running.get(call.key)
        if lock is None:
            lock = self._running[call.key] = asyncio.Lock()
        self._waiting[call.key] = self._waiting.get(call.key, 0) + 1
        try:
            async with lock:
                return await self._call_once(call, run, failure_status)
        finally:
            self._waiting[call.key] -= 1
            if not self._waiting[call.key]:
                del self._waiting[call.key]
                del self._running[call.key]

    async def _call_once(
        self,
        call: KeyedCall,
        run: Callable[[], Awaitable[Outcome]],
        failure_status: grpc.StatusCode,
    ) -> Outcome:
        stored = await self.lookup(call)
        if stored is not None:
            return replayed(stored)
        try:
            outcome = await run()
        except CommandFailed as failure:  # CRDT entities raise their user failures
            stored = await self.save(call, failure_answer(failure))
            if stored is None:
                raise
            return replayed(stored)
        stored = await self.save(call, outcome.client_action, failure_status)
        return outcome if stored is None else replayed(stored)
