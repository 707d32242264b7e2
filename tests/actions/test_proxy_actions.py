"""Actions, forwards and side effects end to end: a real proxy in front of the test user function
(both subprocesses, SQLite store, ``--max-forward-depth 5``), called over gRPC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from tests.actions.conftest import MAX_DEPTH
from tests.actions.model import pb
from tests.processes import Process

TIMEOUT = 10


class Client:
    """Calls the test services through the proxy with raw paths (no generated stubs)."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def unary(
        self,
        path: str,
        request: Any,
        response_type: Any,
        metadata: list[tuple[str, str]] | None = None,
    ) -> Any:
        method = self.channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return method(request, metadata=metadata, timeout=TIMEOUT)

    def server_stream(self, path: str, request: Any, response_type: Any) -> Any:
        method = self.channel.unary_stream(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return method(request, timeout=TIMEOUT)

    def client_stream(self, path: str, requests: list[Any], response_type: Any) -> Any:
        method = self.channel.stream_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return method(iter(requests), timeout=TIMEOUT)

    def duplex(self, path: str, requests: Iterator[Any], response_type: Any) -> Any:
        method = self.channel.stream_stream(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return method(requests, timeout=TIMEOUT)

    def notes(self, key: str) -> list[str]:
        return list(self.unary("/acttest.Recorder/Read", pb.NoteQuery(key=key), pb.Notes).entries)

    def total(self, counter_id: str) -> int:
        return int(self.unary("/acttest.Counter/Get", pb.GetRequest(id=counter_id), pb.Total).total)

    def eventually_notes(self, key: str, count: int, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            notes = self.notes(key)
            if len(notes) >= count or time.monotonic() > deadline:
                return notes
            time.sleep(0.02)


@pytest.fixture(scope="module")
def client(stack: tuple[Process, Process]) -> Iterator[Client]:
    c = Client(stack[1].port)
    yield c
    c.channel.close()


# -- call shapes ----------------------------------------------------------------------------------


def test_unary(client: Client) -> None:
    request = pb.Request(groups=[pb.Group(steps=[pb.Step(reply=pb.Reply(message="one"))])])
    assert client.unary("/acttest.TckModel/ProcessUnary", request, pb.Response).message == "one"


def test_server_streaming(client: Client) -> None:
    for method in ("Out", "OutSync"):
        items = client.server_stream(
            f"/acttest.Streams/{method}", pb.StreamRequest(prefix="s", count=4), pb.Item
        )
        assert [item.text for item in items] == ["s0", "s1", "s2", "s3"]


def test_client_streaming(client: Client) -> None:
    items = [pb.Item(text=t) for t in "abc"]
    summary = client.client_stream("/acttest.Streams/In", items, pb.Summary)
    assert (summary.count, summary.joined) == (3, "a,b,c")
    assert client.client_stream("/acttest.Streams/In", [], pb.Summary) == pb.Summary()


def test_duplex_streaming_interleaves(client: Client) -> None:
    sent: list[str] = []

    def requests() -> Iterator[Any]:
        for text in ("x", "y", "z"):
            sent.append(text)
            yield pb.Item(text=text)

    replies = []
    for item in client.duplex("/acttest.Streams/Both", requests(), pb.Item):
        replies.append((item.text, len(sent)))
    assert [text for text, _ in replies] == ["X", "Y", "Z"]


def test_streamed_failure_ends_the_stream_with_its_description(client: Client) -> None:
    requests = iter([pb.Item(text="ok"), pb.Item(text="fail"), pb.Item(text="never")])
    call = client.duplex("/acttest.Streams/Both", requests, pb.Item)
    assert next(call).text == "OK"
    with pytest.raises(grpc.RpcError) as error:
        next(call)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "asked to fail"


def test_unary_failure_reaches_the_client(client: Client) -> None:
    request = pb.Request(groups=[pb.Group(steps=[pb.Step(fail=pb.Fail(message="boom"))])])
    with pytest.raises(grpc.RpcError) as error:
        client.unary("/acttest.TckModel/ProcessUnary", request, pb.Response)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "boom"


# -- forwards -------------------------------------------------------------------------------------


def test_forward_from_an_action_returns_the_targets_reply(client: Client) -> None:
    request = pb.Request(groups=[pb.Group(steps=[pb.Step(forward=pb.Forward(id="other"))])])
    assert client.unary("/acttest.TckModel/ProcessUnary", request, pb.Response) == pb.Response()


def test_three_hop_forward_chain_ending_in_an_event_sourced_entity(client: Client) -> None:
    hops = pb.Hops(services=["Relay2", "Relay3", "Counter:chain"])
    # Relay -> Relay2 -> Relay3 -> Counter.Add: three forwards; the entity's reply comes back.
    assert client.unary("/acttest.Relay/Call", hops, pb.Response).message == "total 1"
    assert client.unary("/acttest.Relay/Call", hops, pb.Response).message == "total 2"
    assert client.total("chain") == 2


def test_metadata_flows_along_forwards_and_side_effects(client: Client) -> None:
    hops = pb.Hops(services=["Relay2", "Relay3"], message="m", note_key="meta")
    response = client.unary("/acttest.Relay/Call", hops, pb.Response, [("x-trace", "abc")])
    assert response.message == "m at acttest.Relay3"
    # Relay3's synchronous side effect (Recorder.Record) saw the client's header.
    assert client.notes("meta") == ["m|abc"]


def test_event_sourced_command_forwarding_to_an_action(client: Client) -> None:
    add = pb.AddRequest(id="fwd", amount=3, forward=pb.Hops(services=["Relay2"], message="hi"))
    assert client.unary("/acttest.Counter/Add", add, pb.Response).message == "hi at acttest.Relay2"
    assert client.total("fwd") == 3  # persisted before the forward


def test_a_forward_loop_is_cut_with_a_clear_error(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as error:
        client.unary("/acttest.Relay/Loop", pb.LoopRequest(id="1"), pb.Response)
    assert error.value.code() == grpc.StatusCode.INTERNAL
    details = error.value.details()
    assert f"longer than {MAX_DEPTH} hops (--max-forward-depth), probably a loop" in details
    assert "acttest.Relay.Loop -> acttest.Relay.Loop" in details
    # The original call plus MAX_DEPTH forwards ran; the next one was refused.
    assert len(client.notes("loop-1")) == MAX_DEPTH + 1


def test_an_asynchronous_side_effect_loop_is_cut_too(
    client: Client, stack: tuple[Process, Process]
) -> None:
    response = client.unary("/acttest.Relay/EffectLoop", pb.LoopRequest(id="e"), pb.Response)
    assert response.message == "ok"
    assert len(client.eventually_notes("effect-loop-e", MAX_DEPTH + 1)) == MAX_DEPTH + 1
    deadline = time.monotonic() + 10
    while (
        "side effect from acttest.Relay.EffectLoop to acttest.Relay.EffectLoop cut off"
        not in stack[1].log()
    ):
        assert time.monotonic() < deadline, stack[1].log()[-2000:]
        time.sleep(0.05)
    assert len(client.notes("effect-loop-e")) == MAX_DEPTH + 1


# -- side effects from an event-sourced entity -----------------------------------------------------


def effects(*notes: tuple[str, str, bool]) -> list[Any]:
    return [
        pb.NoteEffect(note=pb.Note(key=key, text=text), synchronous=sync)
        for key, text, sync in notes
    ]


def test_synchronous_effects_run_in_order_before_the_reply(client: Client) -> None:
    add = pb.AddRequest(
        id="sync", amount=1, effects=effects(("sync", "a", True), ("sync", "b", True))
    )
    assert client.unary("/acttest.Counter/Add", add, pb.Response).message == "total 1"
    assert client.notes("sync") == ["a|", "b|"]  # already there when the reply came


def test_a_failing_synchronous_effect_fails_the_command_but_keeps_its_events(
    client: Client,
) -> None:
    add = pb.AddRequest(
        id="sync-fail",
        amount=5,
        effects=effects(("sf", "first", True), ("sf", "fail-now", True), ("sf", "never", True)),
    )
    with pytest.raises(grpc.RpcError) as error:
        client.unary("/acttest.Counter/Add", add, pb.Response)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == (
        "synchronous side effect acttest.Recorder.Record of acttest.Counter.Add failed: the "
        "recorder refuses 'fail-now' (the command itself was applied; its state change is kept)"
    )
    # The event was persisted before the effects ran, and stays; later effects did not run.
    assert client.total("sync-fail") == 5
    assert client.notes("sf") == ["first|"]


def test_a_failing_asynchronous_effect_is_logged_and_does_not_affect_the_reply(
    client: Client, stack: tuple[Process, Process]
) -> None:
    add = pb.AddRequest(
        id="async", amount=2, effects=effects(("af", "fail-later", False), ("af", "ok", False))
    )
    assert client.unary("/acttest.Counter/Add", add, pb.Response).message == "total 2"
    assert client.eventually_notes("af", 1) == ["ok|"]
    deadline = time.monotonic() + 10
    expected = (
        "asynchronous side effect acttest.Recorder.Record of acttest.Counter.Add failed: the "
        "recorder refuses 'fail-later'"
    )
    while expected not in stack[1].log():
        assert time.monotonic() < deadline, stack[1].log()[-2000:]
        time.sleep(0.05)
    assert client.total("async") == 2


# -- side effects and forwards from a value entity ------------------------------------------------


def test_value_entity_effects_and_forwards(client: Client) -> None:
    def value(id_: str) -> int:
        return int(client.unary("/acttest.Register/Get", pb.GetRequest(id=id_), pb.Total).total)

    add = pb.AddRequest(id="ve", amount=7, effects=effects(("ve", "s", True), ("ve", "a", False)))
    assert client.unary("/acttest.Register/Set", add, pb.Response).message == "value 7"
    assert client.notes("ve")[0] == "s|"  # the synchronous one ran before the reply
    assert client.eventually_notes("ve", 2) == ["s|", "a|"]

    failing = pb.AddRequest(id="ve-fail", amount=3, effects=effects(("vf", "fail-x", True)))
    with pytest.raises(grpc.RpcError) as error:
        client.unary("/acttest.Register/Set", failing, pb.Response)
    assert "(the command itself was applied; its state change is kept)" in error.value.details()
    assert value("ve-fail") == 3  # stored before the side effect ran

    forward = pb.AddRequest(id="ve-fwd", amount=4, forward=pb.Hops(message="via"))
    assert client.unary("/acttest.Register/Set", forward, pb.Response).message == (
        "via at acttest.Relay"
    )
    assert value("ve-fwd") == 4


def test_crdt_effects_and_forwards(client: Client) -> None:
    def value(id_: str) -> int:
        return int(client.unary("/acttest.Tally/Get", pb.GetRequest(id=id_), pb.Total).total)

    add = pb.AddRequest(id="t", amount=2, effects=effects(("t", "s", True), ("t", "a", False)))
    assert client.unary("/acttest.Tally/Add", add, pb.Response).message == "tally 2"
    assert client.notes("t")[0] == "s|"
    assert client.eventually_notes("t", 2) == ["s|", "a|"]

    failing = pb.AddRequest(id="t-fail", amount=3, effects=effects(("tf", "fail-x", True)))
    with pytest.raises(grpc.RpcError) as error:
        client.unary("/acttest.Tally/Add", failing, pb.Response)
    assert "(the command itself was applied; its state change is kept)" in error.value.details()
    assert value("t-fail") == 3

    forward = pb.AddRequest(id="t-fwd", amount=5, forward=pb.Hops(message="via"))
    assert client.unary("/acttest.Tally/Add", forward, pb.Response).message == (
        "via at acttest.Relay"
    )
    assert value("t-fwd") == 5


def test_health_and_reflection_list_the_actions(client: Client) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    health = health_pb2_grpc.HealthStub(client.channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="acttest.Streams"), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"acttest.Streams", "acttest.Relay", "acttest.Counter"} <= names


# -- over HTTP/JSON --------------------------------------------------------------------------------


def test_unary_and_server_streaming_over_http(stack: tuple[Process, Process]) -> None:
    import json

    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{stack[1].port}", timeout=10) as http:
        # Services without HTTP annotations get POST /<service>/<method> with a JSON body.
        hops = {"services": ["Relay2", "Counter:http"]}
        reply = http.post("/acttest.Relay/Call", json=hops, headers={"x-trace": "h"})
        assert (reply.status_code, reply.json()) == (200, {"message": "total 1"})
        failed = http.post(
            "/acttest.TckModel/ProcessUnary",
            json={"groups": [{"steps": [{"fail": {"message": "boom"}}]}]},
        )
        assert failed.status_code == 400
        assert failed.json()["message"] == "boom"
        items = http.post("/acttest.Streams/Out", json={"prefix": "h", "count": 3})
        assert [json.loads(line)["text"] for line in items.text.splitlines()] == ["h0", "h1", "h2"]
        with http.stream(
            "POST",
            "/acttest.Streams/Out",
            json={"prefix": "e", "count": 2},
            headers={"Accept": "text/event-stream"},
        ) as events:
            data = [line for line in events.iter_lines() if line.startswith("data: ")]
        assert [json.loads(d[len("data: ") :])["text"] for d in data] == ["e0", "e1"]


def test_closing_an_http_stream_cancels_the_user_function_stream(
    client: Client, stack: tuple[Process, Process]
) -> None:
    import httpx

    before = client.unary("/acttest.Streams/Open", empty_pb2.Empty(), pb.OpenStreams)
    with httpx.Client(base_url=f"http://127.0.0.1:{stack[1].port}", timeout=10) as http:
        endless = {"prefix": "x", "count": 1_000_000, "delayMs": 10}
        with http.stream(
            "POST", "/acttest.Streams/Out", json=endless, headers={"Accept": "text/event-stream"}
        ) as events:
            lines = events.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
            during = client.unary("/acttest.Streams/Open", empty_pb2.Empty(), pb.OpenStreams)
            assert during.open == before.open + 1
    deadline = time.monotonic() + 10
    while True:
        after = client.unary("/acttest.Streams/Open", empty_pb2.Empty(), pb.OpenStreams)
        if after.open == before.open or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert (after.open, after.cancelled) == (before.open, before.cancelled + 1)
