"""Idempotency keys, the pure parts (docs/protocol-durable-calls.md, "Idempotency keys"): the
key a call carries, the fingerprint of its request, and its answer as it is stored.

* **Key** — the metadata entry ``idempotency-key`` (the HTTP header ``Idempotency-Key`` arrives as
  it), 1 to 255 printable ASCII characters, sent once; anything else is refused with
  INVALID_ARGUMENT naming the problem (:func:`request_key`).
* **Fingerprint** — the method's full name and the SHA-256 of the request body
  (:func:`fingerprint`): the same key with another method or body is refused with
  FAILED_PRECONDITION, HTTP 422 (:class:`IdempotencyKeyReused`).
* **Answer** — the component's ``ClientAction`` (reply payload and metadata, forward, failure
  with its status, or nothing), protobuf-encoded behind a version byte and a random nonce
  (:func:`encode_answer`); the nonce tells a writer whether the stored record is its own.

What is done with them — look up, run, store — is :mod:`.idempotency`.

Example::

    key = request_key(metadata)                    # None: no key; BadRequest: a bad one
    call = KeyedCall(key, fingerprint(method, request_bytes))
    record = call.record(final_answer(action, grpc.StatusCode.INVALID_ARGUMENT))
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import BadRequest, ProxyError
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.stores.base import IdempotencyRecord

METADATA_KEY = "idempotency-key"
#: Set by the proxy on every durable delivery (cloudstate/proxy/durable/delivery.py): the attempt.
ATTEMPT_KEY = "cloudstate-attempt"
MAX_KEY_LENGTH = 255

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


def is_delivery(metadata: entity_pb2.Metadata | None) -> bool:
    """Whether the call is a durable delivery (it carries ``cloudstate-attempt``)."""
    return metadata is not None and any(e.key == ATTEMPT_KEY for e in metadata.entries)


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


@dataclass(frozen=True, slots=True)
class KeyedCall:
    """A call with an idempotency key: the key and the request's fingerprint.

    ``keeps_failures`` False (durable deliveries): a user failure is not stored, so the next
    attempt — after a back-off, or a redrive once the cause is fixed — runs the call again;
    only a success ends the retries and is deduplicated."""

    key: str
    fingerprint: str
    keeps_failures: bool = True

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
