"""Drive tests/rawuf/server.py directly through the Cloudstate protocol (no proxy involved).

The user function runs as a real subprocess on a port it picks itself (``--port 0``), so the tests
are safe under pytest-xdist.
"""

from __future__ import annotations

import queue
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.py"

sys.path.insert(0, str(HERE))
_outer = sys.modules.get("rawuf")
if _outer is not None and Path(getattr(_outer, "__file__", "") or "").resolve().parent == HERE:
    # Without tests/__init__.py pytest imports this directory itself as the top-level package
    # ``rawuf``, shadowing the generated package tests/rawuf/rawuf: let it expose both.
    _outer.__path__.append(str(HERE / "rawuf"))

from rawuf import counter_pb2  # noqa: E402

from cloudstate import entity_key_pb2, legacy_entity_key_pb2  # noqa: E402
from cloudstate.protocol import (  # noqa: E402
    entity_pb2,
    entity_pb2_grpc,
    event_sourced_pb2,
    event_sourced_pb2_grpc,
)

PREFIX = "type.googleapis.com/"
StreamIn = event_sourced_pb2.EventSourcedStreamIn
StreamOut = event_sourced_pb2.EventSourcedStreamOut


# --------------------------------------------------------------------------- process management


@dataclass
class RawUf:
    proc: subprocess.Popen[str]
    port: int
    stderr_path: Path
    channel: grpc.Channel

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def discover(self) -> entity_pb2.EntitySpec:
        stub = entity_pb2_grpc.EntityDiscoveryStub(self.channel)
        info = entity_pb2.ProxyInfo(
            protocol_major_version=0,
            protocol_minor_version=2,
            proxy_name="test",
            supported_entity_types=["cloudstate.eventsourced.EventSourced"],
        )
        spec: entity_pb2.EntitySpec = stub.discover(info, timeout=10)
        return spec

    def stream(self) -> EsStream:
        return EsStream(self.channel)

    def stop(self) -> None:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_rawuf(workdir: Path, *args: str) -> RawUf:
    stderr_path = workdir / f"rawuf-{len(list(workdir.glob('rawuf-*.log')))}.log"
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=20)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("rawuf listening on "):
        proc.kill()
        proc.wait()
        raise AssertionError(f"rawuf did not start: {line!r}\n{stderr_path.read_text()}")
    port = int(line.split()[-1])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return RawUf(proc, port, stderr_path, channel)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RawUf]]:
    """Start a rawuf with the given flags; every one started is stopped after the test."""
    started: list[RawUf] = []

    def _start(*args: str) -> RawUf:
        uf = start_rawuf(tmp_path, *args)
        started.append(uf)
        return uf

    yield _start
    for uf in started:
        uf.stop()


@pytest.fixture(scope="module")
def uf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawUf]:
    """A shared rawuf taking a snapshot every 3 events."""
    server = start_rawuf(tmp_path_factory.mktemp("rawuf"), "--snapshot-every", "3")
    yield server
    server.stop()


# --------------------------------------------------------------------------- protocol helpers


class EsStream:
    """One ``EventSourced.handle`` call: send messages in, read replies out."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._requests: queue.Queue[StreamIn | None] = queue.Queue()
        stub = event_sourced_pb2_grpc.EventSourcedStub(channel)
        self._responses: Iterator[StreamOut] = stub.handle(
            iter(self._requests.get, None), timeout=20
        )

    def send(self, *msgs: StreamIn) -> None:
        for msg in msgs:
            self._requests.put(msg)

    def recv(self) -> StreamOut:
        return next(self._responses)

    def ask(self, msg: StreamIn) -> StreamOut:
        self.send(msg)
        return self.recv()

    def close(self) -> None:
        self._requests.put(None)

    def assert_ended(self) -> None:
        with pytest.raises(StopIteration):
            self.recv()


def pack(msg: message.Message) -> any_pb2.Any:
    return any_pb2.Any(type_url=PREFIX + msg.DESCRIPTOR.full_name, value=msg.SerializeToString())


def init(entity_id: str, snapshot: tuple[int, int] | None = None) -> StreamIn:
    """``init`` message; ``snapshot`` = (sequence, counter value)."""
    msg = StreamIn(init=event_sourced_pb2.EventSourcedInit(service_name="rawuf.Counter"))
    msg.init.entity_id = entity_id
    if snapshot is not None:
        seq, value = snapshot
        msg.init.snapshot.snapshot_sequence = seq
        msg.init.snapshot.snapshot.CopyFrom(pack(counter_pb2.CounterSnapshot(value=value)))
    return msg


def event(sequence: int, by: int) -> StreamIn:
    return StreamIn(
        event=event_sourced_pb2.EventSourcedEvent(
            sequence=sequence, payload=pack(counter_pb2.Increased(by=by))
        )
    )


def command(cid: int, name: str, payload: message.Message, entity_id: str) -> StreamIn:
    return StreamIn(
        command=entity_pb2.Command(entity_id=entity_id, id=cid, name=name, payload=pack(payload))
    )


def increase(cid: int, entity_id: str, by: int) -> StreamIn:
    return command(
        cid, "Increase", counter_pb2.IncreaseRequest(counter_id=entity_id, by=by), entity_id
    )


def get(cid: int, entity_id: str) -> StreamIn:
    return command(cid, "Get", counter_pb2.GetRequest(counter_id=entity_id), entity_id)


def value(v: int, events_seen: int = 0, from_snapshot: bool = False) -> any_pb2.Any:
    return pack(counter_pb2.Value(value=v, events_seen=events_seen, from_snapshot=from_snapshot))


def reply_of(out: StreamOut, cid: int) -> event_sourced_pb2.EventSourcedReply:
    assert out.WhichOneof("message") == "reply", out
    assert out.reply.command_id == cid
    return out.reply


def assert_value_reply(
    out: StreamOut,
    cid: int,
    expected: any_pb2.Any,
    events: list[int],
    snapshot: int | None = None,
) -> None:
    """A reply with ``expected`` as payload, Increased events ``events`` and maybe a snapshot."""
    reply = reply_of(out, cid)
    assert reply.client_action.WhichOneof("action") == "reply"
    assert reply.client_action.reply.payload == expected
    assert not reply.client_action.reply.HasField("metadata")
    assert list(reply.events) == [pack(counter_pb2.Increased(by=by)) for by in events]
    assert not reply.side_effects
    if snapshot is None:
        assert not reply.HasField("snapshot")
    else:
        assert reply.snapshot == pack(counter_pb2.CounterSnapshot(value=snapshot))


def assert_command_failure(out: StreamOut, cid: int, description: str) -> None:
    reply = reply_of(out, cid)
    assert reply.client_action.WhichOneof("action") == "failure"
    assert reply.client_action.failure == entity_pb2.Failure(
        command_id=cid, description=description, restart=False
    )
    assert not reply.events
    assert not reply.HasField("snapshot")


# --------------------------------------------------------------------------- discovery


def test_discover_returns_a_self_contained_descriptor_set(uf: RawUf) -> None:
    spec = uf.discover()

    fds = descriptor_pb2.FileDescriptorSet.FromString(spec.proto)
    names = [f.name for f in fds.file]
    assert len(names) == len(set(names)), names
    assert names[-1] == "rawuf/counter.proto"
    assert {
        "google/protobuf/descriptor.proto",
        "cloudstate/entity_key.proto",
        "cloudstate/legacy_entity_key.proto",
    } <= set(names)
    for i, f in enumerate(fds.file):  # dependencies first
        assert set(f.dependency) <= set(names[:i]), f.name

    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    service = pool.FindServiceByName("rawuf.Counter")
    assert {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods} == {
        "Increase": ("rawuf.IncreaseRequest", "rawuf.Value"),
        "Get": ("rawuf.GetRequest", "rawuf.Value"),
        "Fail": ("rawuf.IncreaseRequest", "rawuf.Value"),
        "EntityIdOf": ("rawuf.MultiKeyRequest", "rawuf.MultiKeyRequest"),
    }

    counter_file = next(f for f in fds.file if f.name == "rawuf/counter.proto")
    fields = {(m.name, f.name): f.options for m in counter_file.message_type for f in m.field}
    assert fields[("IncreaseRequest", "counter_id")].Extensions[entity_key_pb2.entity_key]
    assert fields[("GetRequest", "counter_id")].Extensions[entity_key_pb2.entity_key]
    for key in ("tenant", "name"):
        options = fields[("MultiKeyRequest", key)]
        assert options.Extensions[legacy_entity_key_pb2.legacy_entity_key]

    assert list(spec.entities) == [
        entity_pb2.Entity(
            entity_type="cloudstate.eventsourced.EventSourced",
            service_name="rawuf.Counter",
            persistence_id="raw-counter",
        )
    ]
    info = spec.service_info
    assert (info.protocol_major_version, info.protocol_minor_version) == (0, 2)
    assert info.support_library_name == "rawuf"


def test_protocol_version_flag(start: Callable[..., RawUf]) -> None:
    info = start("--protocol-version", "0.0").discover().service_info
    assert (info.protocol_major_version, info.protocol_minor_version) == (0, 0)


def test_report_error_is_logged(uf: RawUf) -> None:
    stub = entity_pb2_grpc.EntityDiscoveryStub(uf.channel)
    stub.reportError(entity_pb2.UserFunctionError(message="bad forward target"), timeout=10)
    assert "REPORTED ERROR: bad forward target" in uf.stderr()


# --------------------------------------------------------------------------- event sourcing


def test_increase_get_and_snapshot_cadence(uf: RawUf) -> None:
    s = uf.stream()
    s.send(init("c1"))
    assert_value_reply(s.ask(increase(1, "c1", 2)), 1, value(2), events=[2])
    assert_value_reply(s.ask(get(2, "c1")), 2, value(2), events=[])
    assert_value_reply(s.ask(increase(3, "c1", 3)), 3, value(5), events=[3])
    # sequence 3: snapshot every 3 events, carrying the state after the event
    assert_value_reply(s.ask(increase(4, "c1", 4)), 4, value(9), events=[4], snapshot=9)
    assert_value_reply(s.ask(increase(5, "c1", 1)), 5, value(10), events=[1])
    assert_value_reply(s.ask(increase(6, "c1", 1)), 6, value(11), events=[1])
    assert_value_reply(s.ask(increase(7, "c1", 1)), 7, value(12), events=[1], snapshot=12)
    s.close()
    s.assert_ended()


def test_no_snapshots_by_default(start: Callable[..., RawUf]) -> None:
    s = start().stream()
    s.send(init("c1"))
    for cid in range(1, 7):
        assert_value_reply(s.ask(increase(cid, "c1", 1)), cid, value(cid), events=[1])
    s.close()
    s.assert_ended()


def test_init_with_snapshot_and_events(uf: RawUf) -> None:
    s = uf.stream()
    s.send(init("c2", snapshot=(5, 10)), event(6, 1), event(7, 2))
    assert_value_reply(s.ask(get(1, "c2")), 1, value(13, events_seen=2, from_snapshot=True), [])
    # own events are not counted as seen; sequence continues from 7
    expected = value(14, events_seen=2, from_snapshot=True)
    assert_value_reply(s.ask(increase(2, "c2", 1)), 2, expected, events=[1])
    expected = value(16, events_seen=2, from_snapshot=True)
    assert_value_reply(s.ask(increase(3, "c2", 2)), 3, expected, events=[2], snapshot=16)
    s.close()
    s.assert_ended()


def test_init_with_events_only(uf: RawUf) -> None:
    s = uf.stream()
    s.send(init("c3"), event(1, 4), event(2, 5))
    assert_value_reply(s.ask(get(1, "c3")), 1, value(9, events_seen=2), [])
    assert_value_reply(s.ask(increase(2, "c3", 1)), 2, value(10, events_seen=2), [1], snapshot=10)
    s.close()
    s.assert_ended()


def test_command_failures_keep_the_stream_alive(uf: RawUf) -> None:
    s = uf.stream()
    s.send(init("c4"))
    assert_command_failure(s.ask(increase(1, "c4", 0)), 1, "by must be positive")
    assert_command_failure(s.ask(increase(2, "c4", -5)), 2, "by must be positive")
    fail = command(3, "Fail", counter_pb2.IncreaseRequest(counter_id="c4", by=1), "c4")
    assert_command_failure(s.ask(fail), 3, "failed on purpose")
    assert_value_reply(s.ask(increase(4, "c4", 7)), 4, value(7), events=[7])
    assert_value_reply(s.ask(get(5, "c4")), 5, value(7), events=[])
    s.close()
    s.assert_ended()


def test_entity_id_of_echoes_the_command_entity_id(uf: RawUf) -> None:
    s = uf.stream()
    s.send(init("acme-bob"))
    request = counter_pb2.MultiKeyRequest(tenant="acme", name="bob")
    out = s.ask(command(1, "EntityIdOf", request, "acme-bob"))
    expected = pack(counter_pb2.MultiKeyRequest(tenant="acme", name="acme-bob"))
    assert_value_reply(out, 1, expected, events=[])
    s.close()
    s.assert_ended()


def test_streams_are_independent_and_concurrent(uf: RawUf) -> None:
    a, b = uf.stream(), uf.stream()
    a.send(init("ca"))
    b.send(init("cb", snapshot=(3, 100)))
    assert_value_reply(a.ask(increase(1, "ca", 1)), 1, value(1), events=[1])
    assert_value_reply(b.ask(increase(1, "cb", 1)), 1, value(101, from_snapshot=True), [1])
    assert_value_reply(a.ask(get(2, "ca")), 2, value(1), events=[])
    a.close()
    b.close()
    a.assert_ended()
    b.assert_ended()


# --------------------------------------------------------------------------- protocol violations


def test_first_message_must_be_init(uf: RawUf) -> None:
    s = uf.stream()
    out = s.ask(get(1, "c5"))
    assert out.WhichOneof("message") == "failure"
    assert "first message must be init" in out.failure.description
    s.assert_ended()


def _with_metadata() -> StreamIn:
    msg = get(1, "v")
    msg.command.metadata.SetInParent()
    return msg


def _wrong_type_url() -> StreamIn:
    msg = get(1, "v")
    msg.command.payload.type_url = PREFIX + "rawuf.IncreaseRequest"
    return msg


@pytest.mark.parametrize(
    ("messages", "command_id", "description"),
    [
        ([init("v"), get(2, "v")], 2, "command id 2, expected 1"),
        ([init("v"), get(1, "other")], 1, "command entity_id 'other'"),
        ([init("v"), _with_metadata()], 1, "Command.metadata must be absent"),
        ([init("v"), _wrong_type_url()], 1, "payload type_url"),
        (
            [init("v"), command(1, "Nope", counter_pb2.GetRequest(), "v")],
            1,
            "unknown command 'Nope'",
        ),
        ([init("v"), event(2, 1)], 0, "event sequence 2, expected 1"),
        ([init("v", snapshot=(4, 1)), event(4, 1)], 0, "event sequence 4, expected 5"),
        ([init("v"), init("v")], 0, "init received twice"),
        ([StreamIn(init=event_sourced_pb2.EventSourcedInit(service_name="x.Y"))], 0, "x.Y"),
    ],
    ids=[
        "command-id",
        "entity-id",
        "metadata",
        "type-url",
        "unknown-command",
        "event-gap",
        "event-before-snapshot",
        "double-init",
        "unknown-service",
    ],
)
def test_protocol_violations_end_the_stream_with_a_failure(
    uf: RawUf, messages: list[StreamIn], command_id: int, description: str
) -> None:
    s = uf.stream()
    s.send(*messages)
    out = s.recv()
    assert out.WhichOneof("message") == "failure", out
    assert out.failure.command_id == command_id
    assert description in out.failure.description
    assert not out.failure.restart
    s.assert_ended()
    assert f"PROTOCOL VIOLATION: {out.failure.description}" in uf.stderr()


def test_event_after_command_is_a_violation(uf: RawUf) -> None:
    s = uf.stream()
    s.send(init("c6"))
    assert_value_reply(s.ask(get(1, "c6")), 1, value(0), events=[])
    out = s.ask(event(1, 1))
    assert out.WhichOneof("message") == "failure"
    assert "after a command" in out.failure.description
    s.assert_ended()


# --------------------------------------------------------------------------- process behaviour


def test_crash_on_command_exits_the_process(start: Callable[..., RawUf]) -> None:
    server = start("--crash-on-command", "Increase")
    s = server.stream()
    s.send(init("c7"))
    assert_value_reply(s.ask(get(1, "c7")), 1, value(0), events=[])
    s.send(increase(2, "c7", 1))
    with pytest.raises(grpc.RpcError) as err:
        s.recv()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert server.proc.wait(timeout=10) == 1
    assert "crashing on command Increase" in server.stderr()


def test_sigterm_stops_the_server_even_with_an_open_stream(start: Callable[..., RawUf]) -> None:
    server = start()
    s = server.stream()
    s.send(init("c8"))
    assert_value_reply(s.ask(get(1, "c8")), 1, value(0), events=[])
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
