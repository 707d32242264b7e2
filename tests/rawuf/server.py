"""A hand-written Cloudstate user function built on the raw generated stubs only.

It serves one event-sourced entity, ``rawuf.Counter`` (see ``proto/rawuf/counter.proto``), with the
*synchronous* gRPC server, and imports nothing from the cloudstate SDK except the generated
``*_pb2`` modules. Its job is to keep the proxy honest about the wire protocol: the proxy has to
work with a user function it did not write. It is deliberately strict and answers any protocol
violation it notices with a top-level ``Failure`` (and logs ``PROTOCOL VIOLATION: ...``).

Usage::

    python tests/rawuf/server.py --port 8080 [--host 127.0.0.1] [--protocol-version 0.2]
        [--snapshot-every 3] [--crash-on-command Increase] [--hang-on-command NAME]
        [--hold-command NAME --hold-dir DIR] [--max-workers 64]

``--port 0`` picks a free port; the chosen one is printed as ``rawuf listening on PORT``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TypeVar

import grpc
from google.protobuf import any_pb2, descriptor, descriptor_pb2, empty_pb2, message

# `rawuf` is the generated package next to this file (tests/rawuf/rawuf/).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rawuf import counter_pb2

from cloudstate.protocol import (
    entity_pb2,
    entity_pb2_grpc,
    event_sourced_pb2,
    event_sourced_pb2_grpc,
)

EVENT_SOURCED = "cloudstate.eventsourced.EventSourced"
SERVICE_NAME = "rawuf.Counter"
PERSISTENCE_ID = "raw-counter"
TYPE_URL_PREFIX = "type.googleapis.com/"

M = TypeVar("M", bound=message.Message)

# Command name -> request message type (the payload type_url the proxy must send).
COMMAND_INPUTS: dict[str, type[message.Message]] = {
    "Increase": counter_pb2.IncreaseRequest,
    "Get": counter_pb2.GetRequest,
    "Fail": counter_pb2.IncreaseRequest,
    "EntityIdOf": counter_pb2.MultiKeyRequest,
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pack(msg: message.Message) -> any_pb2.Any:
    """``Any`` with ``type.googleapis.com/<full name>`` and the message's canonical bytes."""
    return any_pb2.Any(
        type_url=TYPE_URL_PREFIX + msg.DESCRIPTOR.full_name, value=msg.SerializeToString()
    )


def unpack(payload: any_pb2.Any, cls: type[M]) -> M:
    """Parse ``payload`` as ``cls``; raises ``ValueError`` if the type_url does not name ``cls``."""
    expected = TYPE_URL_PREFIX + cls.DESCRIPTOR.full_name
    if payload.type_url != expected:
        raise ValueError(f"payload type_url {payload.type_url!r}, expected {expected!r}")
    msg = cls()
    msg.ParseFromString(payload.value)
    return msg


def file_descriptor_set(root: descriptor.FileDescriptor) -> descriptor_pb2.FileDescriptorSet:
    """``root`` and everything it imports, each file once, dependencies first (like
    ``protoc --include_imports --descriptor_set_out``)."""
    fds = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def visit(fd: descriptor.FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        fd.CopyToProto(fds.file.add())

    visit(root)
    return fds


class Discovery(entity_pb2_grpc.EntityDiscoveryServicer):
    def __init__(self, protocol_major: int, protocol_minor: int, passivation_ms: int = 0) -> None:
        self.passivation_ms = passivation_ms
        self.protocol_major = protocol_major
        self.protocol_minor = protocol_minor

    def discover(
        self, request: entity_pb2.ProxyInfo, context: grpc.ServicerContext
    ) -> entity_pb2.EntitySpec:
        log(
            f"rawuf: discover from {request.proxy_name or '?'} {request.proxy_version} "
            f"(protocol {request.protocol_major_version}.{request.protocol_minor_version}, "
            f"entity types {list(request.supported_entity_types)})"
        )
        return entity_pb2.EntitySpec(
            proto=file_descriptor_set(counter_pb2.DESCRIPTOR).SerializeToString(),
            entities=[
                entity_pb2.Entity(
                    entity_type=EVENT_SOURCED,
                    service_name=SERVICE_NAME,
                    persistence_id=PERSISTENCE_ID,
                    passivation_strategy=(
                        entity_pb2.EntityPassivationStrategy(
                            timeout=entity_pb2.TimeoutPassivationStrategy(
                                timeout=self.passivation_ms
                            )
                        )
                        if self.passivation_ms
                        else None
                    ),
                )
            ],
            service_info=entity_pb2.ServiceInfo(
                service_name="rawuf-counter",
                service_runtime=f"Python {sys.version.split()[0]} (sync grpcio {grpc.__version__})",
                support_library_name="rawuf",
                support_library_version="0.1",
                protocol_major_version=self.protocol_major,
                protocol_minor_version=self.protocol_minor,
            ),
        )

    def reportError(
        self, request: entity_pb2.UserFunctionError, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        log(f"REPORTED ERROR: {request.message}")
        return empty_pb2.Empty()


class ProtocolViolation(Exception):
    """Something the proxy sent that the protocol does not allow; ends the stream with a Failure."""

    def __init__(self, description: str, command_id: int = 0) -> None:
        super().__init__(description)
        self.description = description
        self.command_id = command_id


@dataclass
class Counter:
    """State of one entity stream."""

    entity_id: str
    sequence: int = 0
    value: int = 0
    events_seen: int = 0
    from_snapshot: bool = False
    next_command_id: int = 1
    commands_started: bool = False

    def as_value(self) -> counter_pb2.Value:
        return counter_pb2.Value(
            value=self.value, events_seen=self.events_seen, from_snapshot=self.from_snapshot
        )


def reply_out(
    reply: event_sourced_pb2.EventSourcedReply,
) -> event_sourced_pb2.EventSourcedStreamOut:
    return event_sourced_pb2.EventSourcedStreamOut(reply=reply)


def command_failure(command_id: int, description: str) -> event_sourced_pb2.EventSourcedStreamOut:
    return reply_out(
        event_sourced_pb2.EventSourcedReply(
            command_id=command_id,
            client_action=entity_pb2.ClientAction(
                failure=entity_pb2.Failure(command_id=command_id, description=description)
            ),
        )
    )


def client_reply(command_id: int, payload: message.Message) -> event_sourced_pb2.EventSourcedReply:
    return event_sourced_pb2.EventSourcedReply(
        command_id=command_id,
        client_action=entity_pb2.ClientAction(reply=entity_pb2.Reply(payload=pack(payload))),
    )


class EventSourced(event_sourced_pb2_grpc.EventSourcedServicer):
    def __init__(
        self,
        snapshot_every: int,
        crash_on_command: str | None,
        hang_on_command: str | None = None,
        hold_command: str | None = None,
        hold_dir: Path | None = None,
    ) -> None:
        self.snapshot_every = snapshot_every
        self.crash_on_command = crash_on_command
        self.hang_on_command = hang_on_command
        self.hold_command = hold_command
        self.hold_dir = hold_dir

    def hold(self, cmd: entity_pb2.Command) -> None:
        """``--hold-command``: say so (a file ``held-ENTITY-ID`` in the hold directory), then
        answer only once a file ``release`` exists there."""
        assert self.hold_dir is not None
        (self.hold_dir / f"held-{cmd.entity_id}-{cmd.id}").touch()
        while not (self.hold_dir / "release").exists():
            time.sleep(0.01)

    def handle(
        self,
        request_iterator: Iterator[event_sourced_pb2.EventSourcedStreamIn],
        context: grpc.ServicerContext,
    ) -> Iterator[event_sourced_pb2.EventSourcedStreamOut]:
        state: Counter | None = None
        for msg in request_iterator:
            try:
                kind = msg.WhichOneof("message")
                if state is None:
                    if kind != "init":
                        raise ProtocolViolation(f"first message must be init, got {kind}")
                    state = self.on_init(msg.init)
                elif kind == "init":
                    raise ProtocolViolation("init received twice on one stream")
                elif kind == "event":
                    self.on_event(state, msg.event)
                elif kind == "command":
                    yield self.on_command(state, msg.command)
                else:
                    raise ProtocolViolation("empty EventSourcedStreamIn message")
            except ProtocolViolation as e:
                log(f"PROTOCOL VIOLATION: {e.description}")
                yield event_sourced_pb2.EventSourcedStreamOut(
                    failure=entity_pb2.Failure(command_id=e.command_id, description=e.description)
                )
                return

    def on_init(self, init: event_sourced_pb2.EventSourcedInit) -> Counter:
        if init.service_name != SERVICE_NAME:
            raise ProtocolViolation(f"init for unknown service {init.service_name!r}")
        state = Counter(entity_id=init.entity_id)
        if init.HasField("snapshot"):
            try:
                snap = unpack(init.snapshot.snapshot, counter_pb2.CounterSnapshot)
            except ValueError as e:
                raise ProtocolViolation(f"bad snapshot: {e}") from None
            state.sequence = init.snapshot.snapshot_sequence
            state.value = snap.value
            state.from_snapshot = True
        return state

    def on_event(self, state: Counter, event: event_sourced_pb2.EventSourcedEvent) -> None:
        if state.commands_started:
            raise ProtocolViolation(f"event {event.sequence} received after a command")
        if event.sequence != state.sequence + 1:
            raise ProtocolViolation(
                f"event sequence {event.sequence}, expected {state.sequence + 1}"
            )
        try:
            increased = unpack(event.payload, counter_pb2.Increased)
        except ValueError as e:
            raise ProtocolViolation(f"bad event {event.sequence}: {e}") from None
        state.sequence = event.sequence
        state.value += increased.by
        state.events_seen += 1

    def on_command(
        self, state: Counter, cmd: entity_pb2.Command
    ) -> event_sourced_pb2.EventSourcedStreamOut:
        if self.crash_on_command is not None and cmd.name == self.crash_on_command:
            log(f"rawuf: crashing on command {cmd.name} (--crash-on-command)")
            os._exit(1)
        if self.hang_on_command is not None and cmd.name == self.hang_on_command:
            log(f"rawuf: hanging on command {cmd.name} (--hang-on-command)")
            time.sleep(3600)
        if self.hold_command is not None and cmd.name == self.hold_command:
            self.hold(cmd)
        state.commands_started = True
        if cmd.id != state.next_command_id:
            raise ProtocolViolation(
                f"command id {cmd.id}, expected {state.next_command_id}", cmd.id
            )
        state.next_command_id += 1
        if cmd.entity_id != state.entity_id:
            raise ProtocolViolation(
                f"command entity_id {cmd.entity_id!r} != init entity_id {state.entity_id!r}",
                cmd.id,
            )
        if cmd.HasField("metadata"):
            raise ProtocolViolation("event-sourced Command.metadata must be absent", cmd.id)
        input_type = COMMAND_INPUTS.get(cmd.name)
        if input_type is None:
            raise ProtocolViolation(f"unknown command {cmd.name!r}", cmd.id)
        try:
            request = unpack(cmd.payload, input_type)
        except (ValueError, message.DecodeError) as e:
            raise ProtocolViolation(f"command {cmd.name}: {e}", cmd.id) from None

        if cmd.name == "Increase":
            assert isinstance(request, counter_pb2.IncreaseRequest)
            if request.by <= 0:
                return command_failure(cmd.id, "by must be positive")
            event = counter_pb2.Increased(by=request.by)
            state.sequence += 1
            state.value += event.by  # apply our own event as if replayed
            reply = client_reply(cmd.id, state.as_value())
            reply.events.append(pack(event))
            if self.snapshot_every > 0 and state.sequence % self.snapshot_every == 0:
                reply.snapshot.CopyFrom(pack(counter_pb2.CounterSnapshot(value=state.value)))
            return reply_out(reply)
        if cmd.name == "Get":
            return reply_out(client_reply(cmd.id, state.as_value()))
        if cmd.name == "Fail":
            assert isinstance(request, counter_pb2.IncreaseRequest)
            if request.by >= 100:
                # Apply an event, then fail: our state now holds an event the proxy will not
                # persist, so ask for a restart (the proxy must replay into a fresh stream).
                state.value += request.by
                failed = command_failure(cmd.id, "failed after emitting")
                failed.reply.client_action.failure.restart = True
                return failed
            if request.by >= 50:
                # Fail, yet send an event with the failure (restart = false): the proxy must
                # ignore it — a failed command changes nothing. Our own state stays as it was.
                failed = command_failure(cmd.id, "failed with an event attached")
                failed.reply.events.append(pack(counter_pb2.Increased(by=request.by)))
                return failed
            return command_failure(cmd.id, "failed on purpose")
        # EntityIdOf: show the caller which entity id the proxy derived from the key fields.
        assert isinstance(request, counter_pb2.MultiKeyRequest)
        echo = counter_pb2.MultiKeyRequest(tenant=request.tenant, name=cmd.entity_id)
        return reply_out(client_reply(cmd.id, echo))


def parse_version(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected MAJOR.MINOR, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--protocol-version",
        type=parse_version,
        default=(0, 2),
        help="MAJOR.MINOR reported in ServiceInfo (default 0.2)",
    )
    parser.add_argument(
        "--snapshot-every",
        type=int,
        default=0,
        help="attach a snapshot when the new sequence is a multiple of N (default 0: never)",
    )
    parser.add_argument(
        "--crash-on-command",
        metavar="NAME",
        help="os._exit(1) as soon as a command with this name arrives",
    )
    parser.add_argument(
        "--hang-on-command",
        metavar="NAME",
        help="block (never answer) when a command with this name arrives",
    )
    parser.add_argument(
        "--hold-command",
        metavar="NAME",
        help="hold commands with this name until a file 'release' exists in --hold-dir",
    )
    parser.add_argument(
        "--hold-dir",
        type=Path,
        help="where held commands are announced (held-ENTITY-ID files) and released",
    )
    parser.add_argument(
        "--passivation-ms",
        type=int,
        default=0,
        help="report this passivation timeout (ms) for the entity (default: none)",
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        default=64,
        help="thread pool size; every open entity stream holds one thread (default 64)",
    )
    args = parser.parse_args(argv)

    major, minor = args.protocol_version
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.max_workers))
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(
        Discovery(major, minor, args.passivation_ms), server
    )
    event_sourced_pb2_grpc.add_EventSourcedServicer_to_server(
        EventSourced(
            args.snapshot_every,
            args.crash_on_command,
            args.hang_on_command,
            args.hold_command,
            args.hold_dir,
        ),
        server,
    )
    port = server.add_insecure_port(f"{args.host}:{args.port}")

    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server.start()
    print(f"rawuf listening on {port}", flush=True)
    while not stopping:
        time.sleep(0.2)
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
