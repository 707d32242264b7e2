"""Idempotency keys (docs/protocol-durable-calls.md, "Idempotency keys"): a call carrying the
metadata entry ``idempotency-key`` (HTTP: the ``Idempotency-Key`` header, which the HTTP ingress
passes on as that entry) runs once; a retry with the same key and the same request gets the
first answer, stored with the request's fingerprint.

* **Key** — 1 to 255 printable ASCII characters, sent once; anything else is refused with
  INVALID_ARGUMENT naming the problem (:func:`request_key`).
* **Fingerprint** — the method's full name and the SHA-256 of the request body
  (:func:`fingerprint`): the same key with another method or body is refused with
  FAILED_PRECONDITION, HTTP 422 (:class:`IdempotencyKeyReused`).
* **Answer** — the component's ``ClientAction`` (reply payload and metadata, forward, failure
  with its status, or nothing), protobuf-encoded behind a version byte and a random nonce
  (:func:`encode_answer`); the nonce tells a writer whether the stored record is its own.
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
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from cloudstate.protocol import entity_pb2
from cloudstate.proxy import metrics
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.errors import BadRequest, CommandFailed, ProxyError, StoreUnavailable
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.stores.base import IdempotencyRecord, Store, StoreError

#: The metadata entry (lower case; the HTTP header ``Idempotency-Key`` arrives as it).
METADATA_KEY = "idempotency-key"
MAX_KEY_LENGTH = 255
#: ``--idempotency-retention`` default: a day.
DEFAULT_RETENTION = 24 * 3600.0

_ANSWER_VERSION = b"\x01"
_NONCE_BYTES = 8


class IdempotencyKeyReused(ProxyError):
    """A used key came with another method or request body: FAILED_PRECONDITION, HTTP 422."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 422


# -- keys ---------------------------------------------------------------------------------------


def check_key(key: str) -> None:
    """Raise :class:`BadRequest` unless ``key`` is 1 to 255 printable ASCII characters.

    >>> check_key("order-7f3a")
    """
    if not key:
        raise BadRequest(f"{METADATA_KEY} is empty: send 1 to {MAX_KEY_LENGTH} characters")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(
            f"{METADATA_KEY} {key[:40]!r}... is {len(key)} characters long: at most "
            f"{MAX_KEY_LENGTH} (use a UUID or a hash of what identifies the request)"
        )
    if not (key.isascii() and key.isprintable()):
        bad = next(c for c in key if not (c.isascii() and c.isprintable()))
        raise BadRequest(
            f"{METADATA_KEY} {key!r} holds {bad!r}: only printable ASCII characters "
            "(space to ~) are allowed"
        )


def request_key(metadata: entity_pb2.Metadata | None) -> str | None:
    """The call's idempotency key (the metadata entry ``idempotency-key``, any case), checked;
    None when there is none. Raises :class:`BadRequest` for a bad key or several keys.

    >>> request_key(entity_pb2.Metadata(entries=[
    ...     entity_pb2.MetadataEntry(key="Idempotency-Key", string_value="k1")]))
    'k1'
    """
    if metadata is None:
        return None
    found: str | None = None
    for entry in metadata.entries:
        if entry.key.lower() != METADATA_KEY:
            continue
        if entry.WhichOneof("value") != "string_value":
            raise BadRequest(f"{METADATA_KEY} must be a string entry, not binary")
        if found is not None and entry.string_value != found:
            raise BadRequest(
                f"{METADATA_KEY} was sent twice ({found!r} and {entry.string_value!r}): "
                "send one key per call"
            )
        found = entry.string_value
    if found is not None:
        check_key(found)
    return found


def derived_key(key: str, target: MethodModel) -> str:
    """The key a forward from a call keyed ``key`` carries: ``<key>/<service>.<method>`` of its
    target (so the target deduplicates too). Over 255 characters (long keys, long chains) it
    becomes ``sha256:`` and the hash of that text, still stable across retries.

    >>> # derived_key("k1", AddItem) == "k1/com.example.shoppingcart.ShoppingCart.AddItem"
    """
    derived = f"{key}/{target.service.name}.{target.name}"
    if len(derived) <= MAX_KEY_LENGTH:
        return derived
    return "sha256:" + hashlib.sha256(derived.encode()).hexdigest()


def without_key(metadata: entity_pb2.Metadata | None) -> entity_pb2.Metadata | None:
    """``metadata`` without its idempotency key (what side effects of a keyed call inherit)."""
    if metadata is None or not any(e.key.lower() == METADATA_KEY for e in metadata.entries):
        return metadata
    kept = [e for e in metadata.entries if e.key.lower() != METADATA_KEY]
    return entity_pb2.Metadata(entries=kept) if kept else None


def with_key(metadata: entity_pb2.Metadata | None, key: str) -> entity_pb2.Metadata:
    """``metadata`` whose idempotency key is ``key`` (replacing any)."""
    keyed = entity_pb2.Metadata()
    base = without_key(metadata)
    if base is not None:
        keyed.CopyFrom(base)
    keyed.entries.add(key=METADATA_KEY, string_value=key)
    return keyed


# -- fingerprints and answers ---------------------------------------------------------------------


def fingerprint(method: MethodModel, payload: bytes) -> str:
    """What identifies a request: the method's full name and the SHA-256 of its body.

    >>> # fingerprint(AddItem, body) == "com.example.shoppingcart.ShoppingCart.AddItem sha256:9f…"
    """
    digest = hashlib.sha256(payload).hexdigest()
    return f"{method.service.name}.{method.name} sha256:{digest}"


def method_of(fingerprint_: str) -> str:
    """The method full name a fingerprint names."""
    return fingerprint_.split(" ", 1)[0]


def encode_answer(action: entity_pb2.ClientAction) -> bytes:
    """A stored answer: a version byte, a random nonce (whose record is it?), the action."""
    return _ANSWER_VERSION + os.urandom(_NONCE_BYTES) + action.SerializeToString(deterministic=True)


def decode_answer(record: IdempotencyRecord) -> entity_pb2.ClientAction:
    """The ``ClientAction`` of a stored answer; ProxyError (INTERNAL) if it is not one."""
    data = record.response
    if data[:1] != _ANSWER_VERSION:
        raise ProxyError(
            f"the stored answer of idempotency key {record.key!r} has an unknown format "
            f"(version byte {data[:1]!r}); a newer proxy wrote it — upgrade this one"
        )
    try:
        return entity_pb2.ClientAction.FromString(data[1 + _NONCE_BYTES :])
    except DecodeError as error:
        raise ProxyError(
            f"the stored answer of idempotency key {record.key!r} is corrupt: {error}"
        ) from error


def final_answer(
    action: entity_pb2.ClientAction, failure_status: grpc.StatusCode
) -> entity_pb2.ClientAction:
    """The answer as it is stored: a failure gets its status spelled out (``failure_status`` when
    the user function left it 0) and no ``restart`` (a replay restarts nothing)."""
    if action.WhichOneof("action") != "failure":
        return action
    stored = entity_pb2.ClientAction()
    stored.CopyFrom(action)
    if not stored.failure.grpc_status_code:
        stored.failure.grpc_status_code = failure_status.value[0]
    stored.failure.restart = False
    return stored


def failure_answer(error: ProxyError) -> entity_pb2.ClientAction:
    """A user failure raised as an error (CRDT entities) as the answer to store."""
    action = entity_pb2.ClientAction()
    action.failure.description = error.message
    action.failure.grpc_status_code = error.status.value[0]
    return action


def replayed(action: entity_pb2.ClientAction) -> Outcome:
    """The outcome of a replayed answer: its client action only, never the side effects of the
    first call, and nothing published again (the first call published its reply)."""
    return Outcome(action, [], published=True, replayed=True)


@dataclass(frozen=True, slots=True)
class KeyedCall:
    """A call with an idempotency key: the key and the request's fingerprint."""

    key: str
    fingerprint: str

    def record(self, action: entity_pb2.ClientAction) -> IdempotencyRecord:
        """The record that stores ``action`` (a final answer) as this call's answer."""
        return IdempotencyRecord(self.key, self.fingerprint, encode_answer(action), time.time())

    def mismatch(self, stored: IdempotencyRecord) -> IdempotencyKeyReused:
        first = method_of(stored.fingerprint)
        this = method_of(self.fingerprint)
        what = f"another {this} request (a different body)" if first == this else this
        return IdempotencyKeyReused(
            f"idempotency key {self.key!r} was first used for {first}, not for {what}: a retry "
            "must repeat the first request exactly; use a new key for a new request"
        )


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
        return None if key is None else KeyedCall(key, fingerprint(method, payload))

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
        that call was another request, StoreUnavailable if the store failed."""
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
