"""Idempotency keys on every component: actions and CRDT entities (deduplicated by the router),
value and event-sourced entities with side effects and forwards — the action tests' user
function (tests/actions/uf.py) behind a real proxy.

The Recorder action keeps notes in the user function's memory, which shows how often a call or a
side effect really ran."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from tests.actions.model import pb
from tests.processes import Process

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 10


class Client:
    """Calls the test services through the proxy with raw paths."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def call(self, path: str, request: Any, response_type: Any, key: str = "") -> Any:
        method = self.channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        metadata = [("idempotency-key", key)] if key else None
        return method(request, metadata=metadata, timeout=TIMEOUT)

    def record(self, key: str, text: str, idempotency_key: str) -> str:
        note = pb.Note(key=key, text=text)
        reply = self.call("/acttest.Recorder/Record", note, pb.Response, idempotency_key)
        return str(reply.message)

    def notes(self, key: str) -> list[str]:
        notes = self.call("/acttest.Recorder/Read", pb.NoteQuery(key=key), pb.Notes)
        return [entry.split("|", 1)[0] for entry in notes.entries]

    def total(self, service: str, entity_id: str) -> int:
        request = pb.GetRequest(id=entity_id)
        return int(self.call(f"/acttest.{service}/Get", request, pb.Total).total)

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def client(act_uf: Process, start_proxy: Callable[..., Process]) -> Iterator[Client]:
    client = Client(start_proxy(act_uf.port).port)
    yield client
    client.close()


def unique(name: str, request: pytest.FixtureRequest) -> str:
    """A name unique to this test run (the user function's notes outlive one proxy)."""
    return f"{name}-{request.node.callspec.id}-{threading.get_ident()}"


def test_an_action_runs_once_for_sequential_retries(
    client: Client, request: pytest.FixtureRequest
) -> None:
    notes = unique("once", request)
    replies = [client.record(notes, "hello", f"{notes}-k") for _ in range(5)]
    assert replies == ["hello"] * 5
    assert client.notes(notes) == ["hello"]
    with pytest.raises(grpc.RpcError) as refused:
        client.record(notes, "other", f"{notes}-k")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "acttest.Recorder.Record" in refused.value.details()
    client.record(notes, "hello", f"{notes}-k2")
    assert client.notes(notes) == ["hello", "hello"]


def test_an_action_failure_is_stored_and_given_again(
    client: Client, request: pytest.FixtureRequest
) -> None:
    notes = unique("failing", request)
    failures = []
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as failed:
            client.record(notes, "fail me", f"{notes}-k")
        failures.append((failed.value.code(), failed.value.details()))
    assert failures == [(grpc.StatusCode.INVALID_ARGUMENT, "the recorder refuses 'fail me'")] * 3


def test_an_entity_replay_gives_the_first_reply_without_its_side_effects(
    client: Client, request: pytest.FixtureRequest
) -> None:
    """Counter.Add (event sourced) and Register.Set (value entity) with a synchronous and an
    asynchronous note side effect: the side effects run with the first call only. The synchronous
    one succeeding also shows that a side effect inherits no key (the Recorder would refuse the
    key of another request)."""
    notes = unique("effects", request)
    effects = [
        pb.NoteEffect(note=pb.Note(key=notes, text="sync"), synchronous=True),
        pb.NoteEffect(note=pb.Note(key=notes + "-async", text="async")),
    ]
    add = pb.AddRequest(id=notes, amount=5, effects=effects)
    replies = [client.call("/acttest.Counter/Add", add, pb.Response, notes) for _ in range(3)]
    assert [r.message for r in replies] == ["total 5"] * 3
    assert client.total("Counter", notes) == 5
    register = [
        client.call("/acttest.Register/Set", add, pb.Response, notes + "-reg") for _ in range(3)
    ]
    assert [r.message for r in register] == ["value 5"] * 3
    assert client.notes(notes) == ["sync", "sync"]  # one per entity, none per replay
    assert client.total("Register", notes) == 5


def test_a_crdt_command_runs_once_for_sequential_retries(
    client: Client, request: pytest.FixtureRequest
) -> None:
    tally = unique("tally", request)
    add = pb.AddRequest(id=tally, amount=3)
    replies = [client.call("/acttest.Tally/Add", add, pb.Response, tally) for _ in range(4)]
    assert [r.message for r in replies] == ["tally 3"] * 4
    assert client.total("Tally", tally) == 3


def test_a_forward_carries_a_derived_key_so_its_target_deduplicates(
    client: Client, request: pytest.FixtureRequest
) -> None:
    """Relay.Call forwards to Counter.Add with the key ``<key>/acttest.Counter.Add``. The
    replayed forward is performed again, and the counter answers it from its own record."""
    counter = unique("fwd", request)
    hops = pb.Hops(services=["Relay2", f"Counter:{counter}"])
    replies = [client.call("/acttest.Relay/Call", hops, pb.Response, counter) for _ in range(3)]
    assert [r.message for r in replies] == ["total 1"] * 3
    assert client.total("Counter", counter) == 1
    # The counter's record is under the derived key: the same add sent with it is a replay.
    add = pb.AddRequest(id=counter, amount=1)
    derived = f"{counter}/acttest.Relay2.Call/acttest.Counter.Add"
    assert client.call("/acttest.Counter/Add", add, pb.Response, derived).message == "total 1"
    assert client.total("Counter", counter) == 1


def test_a_keyed_streamed_call_is_refused(client: Client) -> None:
    method = client.channel.unary_stream(
        "/acttest.Streams/Out",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=pb.Item.FromString,
    )
    with pytest.raises(grpc.RpcError) as refused:
        list(
            method(
                pb.StreamRequest(prefix="s", count=2),
                metadata=[("idempotency-key", "stream-1")],
                timeout=TIMEOUT,
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "acttest.Streams.Out is a streamed method" in refused.value.details()
    assert "unary calls only" in refused.value.details()
    unkeyed = method(pb.StreamRequest(prefix="s", count=2), timeout=TIMEOUT)
    assert [item.text for item in unkeyed] == ["s0", "s1"]
