"""A hand-written value-entity user function built on the raw generated stubs only.

It serves ``rawuf.Register`` (see ``proto/rawuf/register.proto``) with the *synchronous* gRPC
server and imports nothing from the cloudstate SDK except the generated ``*_pb2`` modules (plus
the helpers of its sibling ``server.py``). Like ``server.py`` it is strict: a protocol violation by
the proxy is answered with a top-level ``Failure`` (and logged as ``PROTOCOL VIOLATION: ...``).
On request (``BadReply``) it also *commits* violations of its own, so the tests can check how the
proxy copes with a broken user function.

Usage::

    python tests/rawuf/value_server.py --port 8080 [--host 127.0.0.1] [--passivation-ms 200]
        [--max-workers 64]

``--port 0`` picks a free port; the chosen one is printed as ``rawuf listening on PORT``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import FrameType

import grpc
from google.protobuf import message

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rawuf import register_pb2
from server import (
    Discovery,
    ProtocolViolation,
    file_descriptor_set,
    log,
    pack,
    unpack,
)

from cloudstate.protocol import entity_pb2, entity_pb2_grpc, value_entity_pb2, value_entity_pb2_grpc

VALUE_ENTITY = "cloudstate.valueentity.ValueEntity"
SERVICE_NAME = "rawuf.Register"
PERSISTENCE_ID = "raw-register"

COMMAND_INPUTS: dict[str, type[message.Message]] = {
    "Set": register_pb2.SetRequest,
    "Add": register_pb2.AddRequest,
    "Get": register_pb2.GetRegister,
    "Clear": register_pb2.ClearRequest,
    "Fail": register_pb2.FailRequest,
    "BadReply": register_pb2.BadReplyRequest,
}

StreamOut = value_entity_pb2.ValueEntityStreamOut
Reply = value_entity_pb2.ValueEntityReply


class RegisterDiscovery(Discovery):
    """``server.Discovery`` reporting the value entity instead of the counter."""

    def discover(
        self, request: entity_pb2.ProxyInfo, context: grpc.ServicerContext
    ) -> entity_pb2.EntitySpec:
        spec = super().discover(request, context)
        spec.proto = file_descriptor_set(register_pb2.DESCRIPTOR).SerializeToString()
        entity = spec.entities[0]
        entity.entity_type = VALUE_ENTITY
        entity.service_name = SERVICE_NAME
        entity.persistence_id = PERSISTENCE_ID
        spec.service_info.service_name = "rawuf-register"
        return spec


class Register:
    """State of one entity stream."""

    def __init__(self, entity_id: str, value: int | None, inits: int) -> None:
        self.entity_id = entity_id
        self.value = value  # None: no stored value
        self.init_had_value = value is not None
        self.inits = inits
        self.next_command_id = 1

    def answer(self, command_id: int) -> register_pb2.RegisterValue:
        return register_pb2.RegisterValue(
            value=self.value or 0,
            exists=self.value is not None,
            command_id=command_id,
            inits=self.inits,
            init_had_value=self.init_had_value,
        )


def client_reply(command_id: int, payload: message.Message) -> Reply:
    return Reply(
        command_id=command_id,
        client_action=entity_pb2.ClientAction(reply=entity_pb2.Reply(payload=pack(payload))),
    )


class ValueEntity(value_entity_pb2_grpc.ValueEntityServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inits: Counter[str] = Counter()  # init messages per entity id, process-wide

    def handle(
        self,
        request_iterator: Iterator[value_entity_pb2.ValueEntityStreamIn],
        context: grpc.ServicerContext,
    ) -> Iterator[value_entity_pb2.ValueEntityStreamOut]:
        state: Register | None = None
        for msg in request_iterator:
            try:
                kind = msg.WhichOneof("message")
                if state is None:
                    if kind != "init":
                        raise ProtocolViolation(f"first message must be init, got {kind}")
                    state = self.on_init(msg.init)
                elif kind == "init":
                    raise ProtocolViolation("init received twice on one stream")
                elif kind == "command":
                    yield StreamOut(reply=self.on_command(state, msg.command))
                else:
                    raise ProtocolViolation("empty ValueEntityStreamIn message")
            except ProtocolViolation as e:
                log(f"PROTOCOL VIOLATION: {e.description}")
                yield StreamOut(
                    failure=entity_pb2.Failure(command_id=e.command_id, description=e.description)
                )
                return

    def on_init(self, init: value_entity_pb2.ValueEntityInit) -> Register:
        if init.service_name != SERVICE_NAME:
            raise ProtocolViolation(f"init for unknown service {init.service_name!r}")
        if not init.HasField("state"):
            raise ProtocolViolation("ValueEntityInit.state must always be present")
        value: int | None = None
        if init.state.HasField("value"):
            try:
                value = unpack(init.state.value, register_pb2.RegisterState).value
            except ValueError as e:
                raise ProtocolViolation(f"bad initial state: {e}") from None
        with self._lock:
            self._inits[init.entity_id] += 1
            inits = self._inits[init.entity_id]
        return Register(init.entity_id, value, inits)

    def on_command(self, state: Register, cmd: entity_pb2.Command) -> Reply:
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
            raise ProtocolViolation("Command.metadata must be absent without headers", cmd.id)
        input_type = COMMAND_INPUTS.get(cmd.name)
        if input_type is None:
            raise ProtocolViolation(f"unknown command {cmd.name!r}", cmd.id)
        try:
            request = unpack(cmd.payload, input_type)
        except (ValueError, message.DecodeError) as e:
            raise ProtocolViolation(f"command {cmd.name}: {e}", cmd.id) from None

        if isinstance(request, register_pb2.SetRequest | register_pb2.AddRequest):
            new = (
                request.value
                if isinstance(request, register_pb2.SetRequest)
                else (state.value or 0) + request.by
            )
            state.value = new
            reply = client_reply(cmd.id, state.answer(cmd.id))
            reply.state_action.update.value.CopyFrom(pack(register_pb2.RegisterState(value=new)))
            return reply
        if isinstance(request, register_pb2.GetRegister):
            return client_reply(cmd.id, state.answer(cmd.id))
        if isinstance(request, register_pb2.ClearRequest):
            state.value = None
            reply = client_reply(cmd.id, state.answer(cmd.id))
            reply.state_action.delete.SetInParent()
            return reply
        if isinstance(request, register_pb2.FailRequest):
            # A failure with a state action: the proxy must fail the call and store nothing.
            reply = Reply(command_id=cmd.id)
            reply.client_action.failure.CopyFrom(
                entity_pb2.Failure(
                    command_id=cmd.id, description="failed on purpose", restart=request.restart
                )
            )
            reply.state_action.update.value.CopyFrom(
                pack(register_pb2.RegisterState(value=request.value))
            )
            return reply
        assert isinstance(request, register_pb2.BadReplyRequest)
        reply = client_reply(cmd.id, state.answer(cmd.id))
        if request.kind == "update-without-value":
            reply.state_action.update.SetInParent()
        elif request.kind == "empty-action":
            reply.state_action.SetInParent()
        elif request.kind == "unknown-action":
            # Field 3 of ValueEntityAction does not exist: a newer protocol's action, say.
            reply.state_action.CopyFrom(value_entity_pb2.ValueEntityAction.FromString(b"\x1a\x00"))
        else:
            raise ProtocolViolation(f"unknown BadReply kind {request.kind!r}", cmd.id)
        log(f"rawuf: sending a bad reply ({request.kind}) on purpose")
        return reply


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
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

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.max_workers))
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(
        RegisterDiscovery(0, 2, args.passivation_ms), server
    )
    value_entity_pb2_grpc.add_ValueEntityServicer_to_server(ValueEntity(), server)
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
