"""A hand-written CRDT user function on the raw generated protocol stubs (no SDK).

It keeps, per entity stream, the plain value a language support would hold, applies every delta
the proxy sends as protocol §1.5 says, and echoes a canonical rendering of that value. Requests
carry the exact ``CrdtDelta`` to send back as the reply's update, so tests control the wire
format precisely — independently of our SDK's CRDT classes.

    python tests/rawcrdt/server.py --port 8080
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from google.protobuf import any_pb2, descriptor, descriptor_pb2, empty_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rawcrdt import model_pb2

from cloudstate.protocol import crdt_pb2, crdt_pb2_grpc, entity_pb2, entity_pb2_grpc

SERVICE = "rawcrdt.Model"


def render_elem(value: any_pb2.Any) -> str:
    data = bytes(value.value)
    if value.type_url == "p.cloudstate.io/string":
        return data[2:].decode() if data[:1] == b"\n" else ""
    return f"{value.type_url}:{data.hex()}"


class Value:
    """The plain value held for one entity: (kind, value) as a language support would."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.value: Any = None

    def apply(self, delta: crdt_pb2.CrdtDelta, own: bool = False) -> None:
        kind = delta.WhichOneof("delta")
        if kind is None:
            raise ValueError("empty delta")
        if self.kind not in (None, kind):
            raise ValueError(f"{kind} delta for a {self.kind}")
        self.kind, self.value = kind, apply(kind, self.value, delta, own)

    def render(self) -> str:
        return "none" if self.kind is None else f"{self.kind}:{render(self.kind, self.value)}"


def apply(kind: str, old: Any, delta: crdt_pb2.CrdtDelta, own: bool) -> Any:
    if kind == "gcounter":
        return (old or 0) + delta.gcounter.increment
    if kind == "pncounter":
        return (old or 0) + delta.pncounter.change
    if kind == "gset":
        return (old or frozenset()) | {render_elem(e) for e in delta.gset.added}
    if kind == "orset":
        current = set() if delta.orset.cleared or old is None else set(old)
        current -= {render_elem(e) for e in delta.orset.removed}
        return frozenset(current | {render_elem(e) for e in delta.orset.added})
    if kind == "lwwregister":
        return render_elem(delta.lwwregister.value)
    if kind == "flag":
        return bool(old) or delta.flag.value
    if kind == "vote":
        if not own:  # the proxy sends the whole tally
            return (delta.vote.self_vote, delta.vote.votes_for, delta.vote.total_voters)
        mine, votes_for, total = old or (False, 0, 1)
        if delta.vote.self_vote != mine:
            votes_for += 1 if delta.vote.self_vote else -1
        return (delta.vote.self_vote, votes_for, total)
    assert kind == "ormap"
    result = {} if delta.ormap.cleared or old is None else dict(old)
    for key in delta.ormap.removed:
        result.pop(render_elem(key), None)
    for entry in delta.ormap.updated:
        k = render_elem(entry.key)
        if k in result:
            result[k] = (result[k][0], apply(result[k][0], result[k][1], entry.delta, own))
    for entry in delta.ormap.added:
        nested = entry.delta.WhichOneof("delta")
        assert nested is not None
        result[render_elem(entry.key)] = (nested, apply(nested, None, entry.delta, own))
    return result


def render(kind: str, value: Any) -> str:
    if kind in ("gset", "orset"):
        return "[" + ",".join(sorted(value)) + "]"
    if kind == "flag":
        return "true" if value else "false"
    if kind == "vote":
        return "/".join(str(int(v)) for v in value)
    if kind == "ormap":
        return (
            "{"
            + ",".join(f"{k}={v[0]}:{render(v[0], v[1])}" for k, v in sorted(value.items()))
            + "}"
        )
    return str(value)


def file_set() -> bytes:
    seen: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def walk(fd: descriptor.FileDescriptor) -> None:
        if fd.name in seen:
            return
        for dep in fd.dependencies:
            walk(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        seen[fd.name] = proto

    walk(model_pb2.DESCRIPTOR)
    return descriptor_pb2.FileDescriptorSet(file=list(seen.values())).SerializeToString()


class Discovery(entity_pb2_grpc.EntityDiscoveryServicer):
    def discover(self, request: entity_pb2.ProxyInfo, context: Any) -> entity_pb2.EntitySpec:
        return entity_pb2.EntitySpec(
            proto=file_set(),
            entities=[
                entity_pb2.Entity(
                    entity_type="cloudstate.crdt.Crdt",
                    service_name=SERVICE,
                    persistence_id="raw-crdt",
                )
            ],
            service_info=entity_pb2.ServiceInfo(
                support_library_name="rawcrdt", protocol_major_version=0, protocol_minor_version=2
            ),
        )

    def reportError(self, request: entity_pb2.UserFunctionError, context: Any) -> empty_pb2.Empty:
        print(f"REPORTED ERROR: {request.message}", file=sys.stderr, flush=True)
        return empty_pb2.Empty()


def pack(message: Any) -> any_pb2.Any:
    return any_pb2.Any(
        type_url="type.googleapis.com/" + message.DESCRIPTOR.full_name,
        value=message.SerializeToString(),
    )


class Crdt(crdt_pb2_grpc.CrdtServicer):
    def handle(
        self, request_iterator: Iterator[crdt_pb2.CrdtStreamIn], context: Any
    ) -> Iterator[crdt_pb2.CrdtStreamOut]:
        value = Value()
        init_text = "none"
        received = 0
        watchers: list[int] = []

        def view() -> model_pb2.View:
            return model_pb2.View(value=value.render(), init=init_text, deltas_received=received)

        def notify() -> Iterator[crdt_pb2.CrdtStreamOut]:
            for command_id in watchers:
                message = crdt_pb2.CrdtStreamedMessage(command_id=command_id)
                message.client_action.reply.payload.CopyFrom(pack(view()))
                yield crdt_pb2.CrdtStreamOut(streamed_message=message)

        for message in request_iterator:
            kind = message.WhichOneof("message")
            if kind == "init":
                if message.init.HasField("delta"):
                    value.apply(message.init.delta)
                    init_text = value.render()
            elif kind == "delta":
                value.apply(message.delta)
                received += 1
                yield from notify()
            elif kind == "delete":
                value = Value()
            elif kind == "stream_cancelled":
                if message.stream_cancelled.id in watchers:
                    watchers.remove(message.stream_cancelled.id)
                yield crdt_pb2.CrdtStreamOut(
                    stream_cancelled_response=(
                        crdt_pb2.CrdtStreamCancelledResponse(command_id=message.stream_cancelled.id)
                    )
                )
            elif kind == "command":
                command = message.command
                request = model_pb2.Request.FromString(command.payload.value)
                if request.sleep_ms:
                    time.sleep(request.sleep_ms / 1000)
                reply = crdt_pb2.CrdtReply(command_id=command.id)
                if request.fail:
                    reply.client_action.failure.command_id = command.id
                    reply.client_action.failure.description = request.fail
                    yield crdt_pb2.CrdtStreamOut(reply=reply)
                    continue
                changed = False
                if command.name == "Update" and request.HasField("update"):
                    try:
                        value.apply(request.update, own=True)
                    except ValueError:
                        pass  # send it anyway: tests check the proxy refuses bad deltas
                    reply.state_action.update.CopyFrom(request.update)
                    reply.state_action.write_consistency = request.write_consistency
                    changed = True
                if command.name == "Update" and request.delete:
                    reply.state_action.delete.SetInParent()
                    value = Value()
                if command.name == "Watch":
                    reply.streamed = True
                    watchers.append(command.id)
                reply.client_action.reply.payload.CopyFrom(pack(view()))
                yield crdt_pb2.CrdtStreamOut(reply=reply)
                if changed:
                    yield from notify()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(Discovery(), server)
    crdt_pb2_grpc.add_CrdtServicer_to_server(Crdt(), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"rawcrdt listening on {port}", flush=True)
    while not stopping:
        time.sleep(0.2)
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
