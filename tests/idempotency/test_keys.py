"""The pieces of idempotency keys on their own: key checks, fingerprints, stored answers, the
router's look-up-run-record on a real store, --idempotency-retention and the trim job (on SQLite,
and on PostgreSQL with two nodes, of which one trims)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check
from cloudstate.proxy.durable import keys
from cloudstate.proxy.durable.idempotency import Idempotency
from cloudstate.proxy.durable.idempotency_trim import IdempotencyTrim, parse_retention
from cloudstate.proxy.entities.base import Outcome, failure_error
from cloudstate.proxy.errors import BadRequest, ProxyError
from cloudstate.proxy.stores.base import IdempotencyRecord, Store
from cloudstate.proxy.stores.registry import open_store


def metadata(*entries: tuple[str, str | bytes]) -> entity_pb2.Metadata:
    out = entity_pb2.Metadata()
    for key, value in entries:
        if isinstance(value, bytes):
            out.entries.add(key=key, bytes_value=value)
        else:
            out.entries.add(key=key, string_value=value)
    return out


class FakeMethod:
    """Only what fingerprints and derived keys read of a MethodModel."""

    class service:  # mirrors MethodModel.service.name
        name = "shop.Cart"

    def __init__(self, name: str) -> None:
        self.name = name


ADD = FakeMethod("Add")


def test_the_key_is_found_in_any_case_and_checked() -> None:
    assert keys.request_key(None) is None
    assert keys.request_key(metadata(("x-other", "1"))) is None
    assert keys.request_key(metadata(("Idempotency-Key", "a b~c"))) == "a b~c"
    assert keys.request_key(metadata(("idempotency-key", "k"), ("IDEMPOTENCY-KEY", "k"))) == "k"
    refused = {
        "empty": metadata(("idempotency-key", "")),
        "255": metadata(("idempotency-key", "x" * 256)),
        "printable ASCII": metadata(("idempotency-key", "caf\u00e9")),
        "string entry": metadata(("idempotency-key", b"k")),
        "sent twice": metadata(("idempotency-key", "a"), ("idempotency-key", "b")),
    }
    for problem, sent in refused.items():
        with pytest.raises(BadRequest) as error:
            keys.request_key(sent)
        assert problem in error.value.message and "idempotency-key" in error.value.message
        assert error.value.status == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(BadRequest, match="'\\\\x01'"):
        keys.check_key("a\x01")
    keys.check_key("x" * 255)


def test_fingerprints_name_the_method_and_hash_the_body() -> None:
    first = keys.fingerprint(ADD, b"\x0a\x01a")  # type: ignore[arg-type]
    assert first.startswith("shop.Cart.Add sha256:") and keys.method_of(first) == "shop.Cart.Add"
    assert first == keys.fingerprint(ADD, b"\x0a\x01a")  # type: ignore[arg-type]
    assert first != keys.fingerprint(ADD, b"\x0a\x01b")  # type: ignore[arg-type]
    assert first != keys.fingerprint(FakeMethod("Remove"), b"\x0a\x01a")  # type: ignore[arg-type]


def test_derived_keys_and_metadata_without_or_with_a_key() -> None:
    assert keys.derived_key("k", ADD) == "k/shop.Cart.Add"  # type: ignore[arg-type]
    long = keys.derived_key("k" * 250, ADD)  # type: ignore[arg-type]
    assert long.startswith("sha256:") and len(long) == 71
    assert long == keys.derived_key("k" * 250, ADD)  # type: ignore[arg-type]
    keys.check_key(long)
    sent = metadata(("x-a", "1"), ("Idempotency-Key", "k"))
    assert keys.without_key(sent) == metadata(("x-a", "1"))
    assert keys.without_key(metadata(("idempotency-key", "k"))) is None
    assert keys.with_key(sent, "k2") == metadata(("x-a", "1"), ("idempotency-key", "k2"))
    assert keys.with_key(None, "k2") == metadata(("idempotency-key", "k2"))


def test_stored_answers_round_trip_and_failures_get_their_status() -> None:
    action = entity_pb2.ClientAction()
    action.reply.payload.type_url = "type.googleapis.com/shop.Cart"
    action.reply.payload.value = b"\x01\x02"
    action.reply.metadata.entries.add(key="x-h", string_value="v")
    record = IdempotencyRecord("k", "f", keys.encode_answer(action))
    assert keys.decode_answer(record) == action
    assert keys.encode_answer(action) != record.response  # the nonce: each record is its own
    failure = entity_pb2.ClientAction()
    failure.failure.description = "no such item"
    failure.failure.restart = True
    stored = keys.final_answer(failure, grpc.StatusCode.FAILED_PRECONDITION)
    assert stored.failure.grpc_status_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert not stored.failure.restart and failure.failure.restart  # the original is untouched
    with pytest.raises(ProxyError, match="unknown format"):
        keys.decode_answer(IdempotencyRecord("k", "f", b"\x02"))


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path / 'keys.db'}")
    yield store
    await store.close()


async def test_call_once_runs_once_and_stores_a_raised_user_failure(sqlite_store: Store) -> None:
    """The router's path (actions, CRDT entities): CRDT entities raise their user failures; the
    failure is stored with its status and raised again on every retry without running."""
    guard = Idempotency(sqlite_store)
    runs = []

    async def failing() -> Outcome:
        runs.append("failing")
        failure = entity_pb2.Failure(description="tally is closed", grpc_status_code=9)
        raise failure_error(failure, grpc.StatusCode.INVALID_ARGUMENT)

    call = keys.KeyedCall("crdt-1", keys.fingerprint(ADD, b"x"))  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(ProxyError) as failed:
            outcome = await guard.call_once(call, failing)
            if outcome.replayed:  # the router raises a replayed failure from its client action
                raise failure_error(outcome.client_action.failure, grpc.StatusCode.UNKNOWN)
        assert failed.value.message == "tally is closed"
        assert failed.value.status == grpc.StatusCode.FAILED_PRECONDITION
    assert runs == ["failing"]

    async def replying() -> Outcome:
        runs.append("replying")
        action = entity_pb2.ClientAction()
        action.reply.payload.value = b"ok"
        return Outcome(action, [entity_pb2.SideEffect(service_name="s", command_name="c")])

    call = keys.KeyedCall("action-1", keys.fingerprint(ADD, b"y"))  # type: ignore[arg-type]
    outcomes = await asyncio.gather(*(guard.call_once(call, replying) for _ in range(4)))
    assert runs == ["failing", "replying"]  # concurrent duplicates on one node waited
    assert [o.replayed for o in outcomes] == [False, True, True, True]
    assert len(outcomes[0].side_effects) == 1
    assert all(not o.side_effects for o in outcomes[1:])
    assert {o.client_action.reply.payload.value for o in outcomes} == {b"ok"}
    other = keys.KeyedCall("action-1", keys.fingerprint(ADD, b"z"))  # type: ignore[arg-type]
    with pytest.raises(keys.IdempotencyKeyReused, match="'action-1' was first used for"):
        await guard.call_once(other, replying)


def test_the_retention_flag_is_checked() -> None:
    assert parse_retention("24h") == 86400 and parse_retention("0") == 0
    assert parse_retention("90s") == 90 and parse_retention("2w") == 14 * 86400
    assert check(ProxyConfig(idempotency_retention="7d")) == []
    problems = check(ProxyConfig(idempotency_retention="soon"))
    assert problems == [
        "bad --idempotency-retention 'soon': a number with an optional unit ms, s, m, h, d or w "
        "(e.g. 7d); 0 keeps keys forever"
    ]


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` (a store read) until it holds, for at most 10 s."""
    async with asyncio.timeout(10):
        while not await check():  # noqa: ASYNC110 - the condition is in the database
            await asyncio.sleep(0.02)


async def absent(store: Store, *names: str) -> bool:
    return all([await store.load_idempotency(name) is None for name in names])


async def counted(trims: list[IdempotencyTrim], deleted: int) -> bool:
    """Whether ``trims`` together deleted ``deleted`` records (counted after their commit)."""
    return sum(trim.deleted for trim in trims) >= deleted


async def _records(store: Store, ages: dict[str, float]) -> None:
    now = time.time()
    for key, age in ages.items():
        await store.save_idempotency(IdempotencyRecord(key, "f", b"\x01", now - age))


async def test_the_trim_job_deletes_expired_keys(sqlite_store: Store) -> None:
    await _records(sqlite_store, {"old": 7200, "older": 90000, "new": 10})
    trim = IdempotencyTrim(sqlite_store, retention=3600, interval=0.05)
    trim.start()
    try:
        await until(lambda: counted([trim], 2))
    finally:
        await trim.stop()
    assert await sqlite_store.load_idempotency("older") is None
    assert await sqlite_store.load_idempotency("new") is not None
    assert trim.deleted == 2
    forever = IdempotencyTrim(sqlite_store, retention=0)
    assert await forever.trim_once() == 0
    forever.start()
    assert not forever._job.running  # retention 0: nothing to trim, no job


async def test_on_a_shared_store_one_node_trims(fresh_postgres_url: str) -> None:
    nodes = [await open_store(fresh_postgres_url) for _ in range(2)]
    trims = [IdempotencyTrim(store, retention=3600, interval=0.05) for store in nodes]
    try:
        await _records(nodes[0], {"old-a": 7200})
        for trim in trims:
            trim.start()
        await until(lambda: absent(nodes[0], "old-a"))
        await _records(nodes[1], {"old-b": 7200, "old-c": 7200})
        await until(lambda: counted(trims, 3))
        assert sorted(t.deleted for t in trims) == [0, 3]  # the owner trimmed everything
        owner = next(n for n, t in enumerate(trims) if t.deleted)
        await trims[owner].stop()  # gives the ownership up: the other node takes over
        await _records(nodes[1], {"old-d": 7200})
        await until(lambda: counted(trims[1 - owner : 2 - owner], 1))
        assert await absent(nodes[0], "old-d")
    finally:
        for trim in trims:
            await trim.stop()
        for store in nodes:
            await store.close()
