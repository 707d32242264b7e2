"""The CRDT TCK model as a user function of the first language supports: protocol 0.0.

Written from the documented earlier messages (``cloudstate/crdt_v00.proto``,
docs/protocol-versions.md) on the raw generated code and grpc's synchronous server — no SDK. It
serves ``CrdtTckModel``, ``CrdtTwo`` and ``CrdtConfigured`` as ``cloudstate/tck/model/crdt.proto``
describes them, reports protocol 0.0 at discovery, and speaks the earlier CRDT stream:

* it holds no CRDT until ``init.state`` or ``state`` gives it one, or a command first changes
  one: that command's reply carries ``state_action.create`` with the whole new state; later
  changes are ``update`` deltas (ORMap entries it adds carry full states);
* ``changed`` deltas and ``state`` replacements from the proxy are applied, then every open
  ``ProcessStreamed`` subscription hears of the change; ``deleted`` forgets the CRDT.

Run (``HOST``/``PORT`` from the environment, as the TCK starts it, or ``--port``)::

    python tests/crdt00/model.py --port 8080
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from google.protobuf import any_pb2, descriptor, descriptor_pb2, empty_pb2, wrappers_pb2
from google.protobuf.message import Message

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from cloudstate.protocol import crdt_pb2, entity_pb2, entity_pb2_grpc
from cloudstate.protocol import crdt_v00_pb2 as v00
from cloudstate.tck.model import crdt_pb2 as pb

PACKAGE = "cloudstate.tck.model.crdt"
MODEL = f"{PACKAGE}.CrdtTckModel"
TWO = f"{PACKAGE}.CrdtTwo"
CONFIGURED = f"{PACKAGE}.CrdtConfigured"
STRING = "p.cloudstate.io/string"
KINDS = {
    "GCounter": "gcounter",
    "PNCounter": "pncounter",
    "GSet": "gset",
    "ORSet": "orset",
    "LWWRegister": "lwwregister",
    "Flag": "flag",
    "ORMap": "ormap",
    "Vote": "vote",
}


def pack_string(value: str) -> any_pb2.Any:
    return any_pb2.Any(
        type_url=STRING,
        value=wrappers_pb2.StringValue(value=value).SerializeToString(deterministic=True),
    )


def unpack_string(value: any_pb2.Any) -> str:
    if value.type_url != STRING:
        raise ValueError(f"expected a string primitive, got {value.type_url}")
    return wrappers_pb2.StringValue.FromString(value.value).value


def pack(message: Message) -> any_pb2.Any:
    return any_pb2.Any(
        type_url=f"type.googleapis.com/{message.DESCRIPTOR.full_name}",
        value=message.SerializeToString(deterministic=True),
    )


# -- the CRDT a language support holds: a value and the delta not yet sent -----------------------


@dataclass
class Local:
    """One CRDT as the user function holds it, with its pending delta."""

    kind: str
    value: Any = None
    # pending delta: counters' amount, set additions/removals, register write, flag, vote, map
    amount: int = 0
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    cleared: bool = False
    written: tuple[str, int, int] | None = None  # (value, clock, custom clock value)
    clock: tuple[int, int] = (0, 0)  # the last write's clock and custom clock value
    changed: bool = False  # flag enabled / vote changed
    entries: dict[str, Local] = field(default_factory=dict)  # ORMap values

    @classmethod
    def new(cls, name: str) -> Local:
        """The empty CRDT of the type ``name`` starts with (``ORSet-7``: an ORSet)."""
        prefix = name.split("-", 1)[0]
        if prefix not in KINDS:
            raise ValueError(f"{name!r}: a CRDT model id must start with one of {', '.join(KINDS)}")
        kind = KINDS[prefix]
        empty: dict[str, Any] = {
            "gcounter": 0,
            "pncounter": 0,
            "gset": set(),
            "orset": set(),
            "lwwregister": "",
            "flag": False,
            "ormap": None,
            "vote": (False, 0, 1),
        }
        return cls(kind, empty[kind])

    # -- local changes --------------------------------------------------------------------------

    def update(self, change: pb.Update) -> None:
        kind = change.WhichOneof("update")
        if kind != self.kind:
            raise ValueError(f"a {kind} update for a {self.kind}")
        if kind in ("gcounter", "pncounter"):
            amount = change.gcounter.increment if kind == "gcounter" else change.pncounter.change
            self.value += amount
            self.amount += amount
        elif kind == "gset":
            if change.gset.add not in self.value:
                self.value.add(change.gset.add)
                self.added.add(change.gset.add)
        elif kind == "orset":
            self._orset(change.orset)
        elif kind == "lwwregister":
            clock = change.lwwregister.clock
            self.value = change.lwwregister.value
            self.clock = (clock.clockType, clock.customClockValue)
            self.written = (self.value, *self.clock)
        elif kind == "flag":
            if not self.value:
                self.value = self.changed = True
        elif kind == "vote":
            mine, votes_for, total = self.value
            if change.vote.self_vote != mine:
                votes_for += 1 if change.vote.self_vote else -1
                self.value = (change.vote.self_vote, votes_for, total)
                self.changed = True
        elif kind == "ormap":
            self._ormap(change.ormap)

    def _orset(self, change: pb.ORSetUpdate) -> None:
        action = change.WhichOneof("action")
        if action == "add" and change.add not in self.value:
            self.value.add(change.add)
            self.added.add(change.add)
        elif action == "remove" and change.remove in self.value:
            self.value.discard(change.remove)
            if change.remove in self.added:
                self.added.discard(change.remove)
            else:
                self.removed.add(change.remove)
        elif action == "clear" and self.value:
            self.value.clear()
            self.added.clear()
            self.removed.clear()
            self.cleared = True

    def _ormap(self, change: pb.ORMapUpdate) -> None:
        action = change.WhichOneof("action")
        if action in ("add", "update"):
            key = change.add if action == "add" else change.update.key
            if key not in self.entries:
                self.entries[key] = Local.new(key)
                self.added.add(key)
            if action == "update":
                self.entries[key].update(change.update.update)
        elif action == "remove" and change.remove in self.entries:
            del self.entries[change.remove]
            if change.remove in self.added:
                self.added.discard(change.remove)
            else:
                self.removed.add(change.remove)
        elif action == "clear" and self.entries:
            self.entries.clear()
            self.added.clear()
            self.removed.clear()
            self.cleared = True

    def has_delta(self) -> bool:
        if self.kind == "ormap":
            return bool(
                self.cleared
                or self.added
                or self.removed
                or any(v.has_delta() for v in self.entries.values())
            )
        return bool(self.amount or self.added or self.removed or self.cleared or self.written) or (
            self.changed
        )

    def take_delta(self) -> v00.CrdtDelta:
        """The pending delta (then forgotten)."""
        delta = v00.CrdtDelta()
        kind = self.kind
        if kind == "gcounter":
            delta.gcounter.increment = self.amount
        elif kind == "pncounter":
            delta.pncounter.change = self.amount
        elif kind == "gset":
            delta.gset.added.extend(pack_string(e) for e in sorted(self.added))
        elif kind == "orset":
            delta.orset.cleared = self.cleared
            delta.orset.removed.extend(pack_string(e) for e in sorted(self.removed))
            delta.orset.added.extend(pack_string(e) for e in sorted(self.added))
        elif kind == "lwwregister":
            assert self.written is not None
            value, clock, custom = self.written
            delta.lwwregister.value.CopyFrom(pack_string(value))
            delta.lwwregister.clock = clock  # type: ignore[assignment]
            delta.lwwregister.custom_clock_value = custom
        elif kind == "flag":
            delta.flag.value = self.value
        elif kind == "vote":
            delta.vote.self_vote = self.value[0]
        elif kind == "ormap":
            ormap = delta.ormap
            ormap.SetInParent()
            ormap.cleared = self.cleared
            ormap.removed.extend(pack_string(k) for k in sorted(self.removed))
            for key in sorted(self.entries):
                entry = self.entries[key]
                if key in self.added:
                    ormap.added.add(key=pack_string(key), value=entry.full_state())
                elif entry.has_delta():
                    ormap.updated.add(key=pack_string(key), delta=entry.take_delta())
        self.forget_delta()
        return delta

    def forget_delta(self) -> None:
        self.amount = 0
        self.added, self.removed = set(), set()
        self.cleared = self.changed = False
        self.written = None
        for entry in self.entries.values():
            entry.forget_delta()

    def full_state(self) -> v00.CrdtState:
        state = v00.CrdtState()
        kind = self.kind
        if kind == "gcounter":
            state.gcounter.value = self.value
        elif kind == "pncounter":
            state.pncounter.value = self.value
        elif kind in ("gset", "orset"):
            target = state.gset if kind == "gset" else state.orset
            target.SetInParent()
            target.items.extend(pack_string(e) for e in sorted(self.value))
        elif kind == "lwwregister":
            state.lwwregister.value.CopyFrom(pack_string(self.value))
            state.lwwregister.clock = self.clock[0]  # type: ignore[assignment]
            state.lwwregister.custom_clock_value = self.clock[1]
        elif kind == "flag":
            state.flag.value = self.value
        elif kind == "vote":
            state.vote.self_vote, state.vote.votes_for, state.vote.total_voters = self.value
        elif kind == "ormap":
            state.ormap.SetInParent()
            for key in sorted(self.entries):
                state.ormap.entries.add(key=pack_string(key), value=self.entries[key].full_state())
        return state

    # -- changes from the proxy -------------------------------------------------------------------

    @classmethod
    def from_state(cls, state: v00.CrdtState) -> Local:
        kind = state.WhichOneof("state")
        if kind is None:
            raise ValueError("an empty CrdtState")
        local = cls(kind)
        if kind == "gcounter":
            local.value = state.gcounter.value
        elif kind == "pncounter":
            local.value = state.pncounter.value
        elif kind in ("gset", "orset"):
            items = state.gset.items if kind == "gset" else state.orset.items
            local.value = {unpack_string(e) for e in items}
        elif kind == "lwwregister":
            local.value = unpack_string(state.lwwregister.value)
            local.clock = (state.lwwregister.clock, state.lwwregister.custom_clock_value)
        elif kind == "flag":
            local.value = state.flag.value
        elif kind == "vote":
            vote = state.vote
            local.value = (vote.self_vote, vote.votes_for, vote.total_voters)
        elif kind == "ormap":
            local.entries = {
                unpack_string(e.key): Local.from_state(e.value) for e in state.ormap.entries
            }
        return local

    def apply(self, delta: v00.CrdtDelta) -> None:
        """Apply a change made elsewhere (never echoed back as a delta)."""
        kind = delta.WhichOneof("delta")
        if kind != self.kind:
            raise ValueError(f"a {kind} delta for a {self.kind}")
        if kind == "gcounter":
            self.value += delta.gcounter.increment
        elif kind == "pncounter":
            self.value += delta.pncounter.change
        elif kind == "gset":
            self.value |= {unpack_string(e) for e in delta.gset.added}
        elif kind == "orset":
            if delta.orset.cleared:
                self.value = set()
            self.value -= {unpack_string(e) for e in delta.orset.removed}
            self.value |= {unpack_string(e) for e in delta.orset.added}
        elif kind == "lwwregister":
            self.value = unpack_string(delta.lwwregister.value)
        elif kind == "flag":
            self.value = self.value or delta.flag.value
        elif kind == "vote":
            vote = delta.vote
            self.value = (vote.self_vote, vote.votes_for, vote.total_voters)
        elif kind == "ormap":
            if delta.ormap.cleared:
                self.entries = {}
            for key in delta.ormap.removed:
                self.entries.pop(unpack_string(key), None)
            for entry in delta.ormap.updated:
                existing = self.entries.get(unpack_string(entry.key))
                if existing is not None:
                    existing.apply(entry.delta)
            for added in delta.ormap.added:
                self.entries[unpack_string(added.key)] = Local.from_state(added.value)

    def state(self) -> pb.State:
        """The model's ``State`` rendering of the value."""
        kind = self.kind
        if kind == "gcounter":
            return pb.State(gcounter=pb.GCounterValue(value=self.value))
        if kind == "pncounter":
            return pb.State(pncounter=pb.PNCounterValue(value=self.value))
        if kind == "gset":
            return pb.State(gset=pb.GSetValue(elements=sorted(self.value)))
        if kind == "orset":
            return pb.State(orset=pb.ORSetValue(elements=sorted(self.value)))
        if kind == "lwwregister":
            return pb.State(lwwregister=pb.LWWRegisterValue(value=self.value))
        if kind == "flag":
            return pb.State(flag=pb.FlagValue(value=self.value))
        if kind == "vote":
            mine, votes_for, total = self.value
            return pb.State(
                vote=pb.VoteValue(self_vote=mine, votes_for=votes_for, total_voters=total)
            )
        entries = [
            pb.ORMapEntryValue(key=k, value=self.entries[k].state()) for k in sorted(self.entries)
        ]
        return pb.State(ormap=pb.ORMapValue(entries=entries))


# -- one entity stream ----------------------------------------------------------------------------


@dataclass
class Subscription:
    command: entity_pb2.Command
    request: pb.StreamedRequest


class Entity:
    """The stream of one entity: its CRDT (None until it has one) and its subscriptions."""

    def __init__(self, service: str, entity_id: str, state: v00.CrdtState | None) -> None:
        self.service = service
        self.entity_id = entity_id
        self.crdt = Local.from_state(state) if state is not None else None
        self.subscriptions: dict[int, Subscription] = {}
        self.ended: set[int] = set()

    def value(self) -> pb.State:
        return (self.crdt or Local.new(self.entity_id)).state()

    def replaced(self, state: v00.CrdtState) -> list[v00.CrdtStreamOut]:
        self.crdt = Local.from_state(state)
        return self.notify()

    def changed(self, delta: v00.CrdtDelta) -> list[v00.CrdtStreamOut]:
        if self.crdt is None:
            raise ValueError("a changed delta for a CRDT this user function does not hold")
        self.crdt.apply(delta)
        return self.notify()

    def deleted(self) -> None:
        self.crdt = None
        self.subscriptions.clear()

    def command(self, command: entity_pb2.Command) -> list[v00.CrdtStreamOut]:
        reply = v00.CrdtReply(command_id=command.id)
        before = self.crdt
        if self.service == MODEL:
            working = before if before is not None else Local.new(self.entity_id)
        else:
            working = Local("none")  # CrdtTwo and CrdtConfigured hold no CRDT
        snapshot = Local.from_state(working.full_state()) if before is not None else None
        subscribe: Subscription | None = None
        deleted = False
        consistency = 0
        if self.service == MODEL and command.name == "Process":
            request = pb.Request.FromString(command.payload.value)
            for action in request.actions:
                kind = action.WhichOneof("action")
                if kind == "update":
                    working.update(action.update)
                    consistency = action.update.write_consistency
                elif kind == "delete":
                    deleted = True
                elif kind == "forward":
                    forward = reply.client_action.forward
                    forward.service_name, forward.command_name = TWO, "Call"
                    forward.payload.CopyFrom(pack(pb.Request(id=action.forward.id)))
                elif kind == "effect":
                    reply.side_effects.add(
                        service_name=TWO,
                        command_name="Call",
                        payload=pack(pb.Request(id=action.effect.id)),
                        synchronous=action.effect.synchronous,
                    )
                elif kind == "fail":
                    if snapshot is not None:
                        self.crdt = snapshot  # the command's changes are undone
                    failure = v00.CrdtReply(command_id=command.id)
                    failure.client_action.failure.command_id = command.id
                    failure.client_action.failure.description = action.fail.message
                    return [v00.CrdtStreamOut(reply=failure)]
            if not reply.client_action.HasField("forward"):
                reply.client_action.reply.payload.CopyFrom(pack(pb.Response(state=working.state())))
        elif self.service == MODEL and command.name == "ProcessStreamed":
            request = pb.StreamedRequest.FromString(command.payload.value)
            if command.streamed:
                subscribe = Subscription(command, request)
                reply.streamed = True
            if request.HasField("initial_update"):
                working.update(request.initial_update)
            if not request.empty:
                reply.client_action.reply.payload.CopyFrom(pack(pb.Response(state=working.state())))
        elif command.name == "Call":
            request = pb.Request.FromString(command.payload.value)
            deleted = self.service == TWO and any(a.HasField("delete") for a in request.actions)
            reply.client_action.reply.payload.CopyFrom(pack(pb.Response()))
        else:
            raise ValueError(f"no command {command.name!r} on {self.service}")
        changed = self._state_action(reply, working, before is None, deleted, consistency)
        out = [v00.CrdtStreamOut(reply=reply)]
        if changed:
            out.extend(self.notify())
        if subscribe is not None and not deleted:
            self.subscriptions[command.id] = subscribe
        return out

    def _state_action(
        self,
        reply: v00.CrdtReply | v00.CrdtStreamCancelledResponse,
        working: Local,
        new: bool,
        deleted: bool,
        consistency: int,
    ) -> bool:
        if deleted:
            reply.state_action.delete.SetInParent()
            reply.state_action.write_consistency = consistency  # type: ignore[assignment]
            self.deleted()
            return False
        if not working.has_delta():
            return False
        if new:
            working.forget_delta()
            reply.state_action.create.CopyFrom(working.full_state())
            self.crdt = working
        else:
            reply.state_action.update.CopyFrom(working.take_delta())
        reply.state_action.write_consistency = consistency  # type: ignore[assignment]
        return True

    def cancelled(self, cancelled: entity_pb2.StreamCancelled) -> list[v00.CrdtStreamOut]:
        response = v00.CrdtStreamCancelledResponse(command_id=cancelled.id)
        subscription = self.subscriptions.pop(cancelled.id, None)
        changed = False
        if subscription is not None and subscription.request.HasField("cancel_update"):
            working = self.crdt if self.crdt is not None else Local.new(self.entity_id)
            working.update(subscription.request.cancel_update)
            consistency = subscription.request.cancel_update.write_consistency
            changed = self._state_action(response, working, self.crdt is None, False, consistency)
        out = [v00.CrdtStreamOut(stream_cancelled_response=response)]
        if changed:
            out.extend(self.notify())
        return out

    def notify(self) -> list[v00.CrdtStreamOut]:
        """What the open subscriptions send after a change."""
        out = []
        state = self.value()
        for command_id, subscription in list(self.subscriptions.items()):
            request = subscription.request
            message = crdt_pb2.CrdtStreamedMessage(command_id=command_id)
            for effect in request.effects:
                message.side_effects.add(
                    service_name=TWO,
                    command_name="Call",
                    payload=pack(pb.Request(id=effect.id)),
                    synchronous=effect.synchronous,
                )
            if not request.empty:
                message.client_action.reply.payload.CopyFrom(pack(pb.Response(state=state)))
            if request.HasField("end_state") and state == request.end_state:
                message.end_stream = True
                del self.subscriptions[command_id]
            if message.HasField("client_action") or message.side_effects or message.end_stream:
                out.append(v00.CrdtStreamOut(streamed_message=message))
        return out


def handle(
    requests: Iterator[v00.CrdtStreamIn], context: grpc.ServicerContext
) -> Iterator[v00.CrdtStreamOut]:
    entity: Entity | None = None
    for message in requests:
        kind = message.WhichOneof("message")
        try:
            if kind == "init":
                if entity is not None:
                    raise ValueError("a second init")
                init = message.init
                state = init.state if init.HasField("state") else None
                entity = Entity(init.service_name, init.entity_id, state)
                continue
            if entity is None:
                raise ValueError(f"{kind} before init")
            if kind != "command":  # what the tests look for: the proxy's other messages
                print(f"{entity.entity_id}: received {kind}", flush=True)
            if kind == "state":
                yield from entity.replaced(message.state)
            elif kind == "changed":
                yield from entity.changed(message.changed)
            elif kind == "deleted":
                entity.deleted()
            elif kind == "command":
                yield from entity.command(message.command)
            elif kind == "stream_cancelled":
                yield from entity.cancelled(message.stream_cancelled)
            else:
                raise ValueError("an empty CrdtStreamIn")
        except ValueError as error:
            print(f"PROTOCOL VIOLATION: {error}", file=sys.stderr, flush=True)
            yield v00.CrdtStreamOut(failure=entity_pb2.Failure(description=str(error)))
            return


# -- discovery and the server ---------------------------------------------------------------------


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

    walk(pb.DESCRIPTOR)
    return descriptor_pb2.FileDescriptorSet(file=list(seen.values())).SerializeToString()


class Discovery(entity_pb2_grpc.EntityDiscoveryServicer):
    def discover(self, request: entity_pb2.ProxyInfo, context: Any) -> entity_pb2.EntitySpec:
        crdt = "cloudstate.crdt.Crdt"
        configured = entity_pb2.Entity(
            entity_type=crdt, service_name=CONFIGURED, persistence_id="crdt-configured"
        )
        configured.passivation_strategy.timeout.timeout = 100
        return entity_pb2.EntitySpec(
            proto=file_set(),
            entities=[
                entity_pb2.Entity(
                    entity_type=crdt, service_name=MODEL, persistence_id="crdt-tck-model"
                ),
                entity_pb2.Entity(
                    entity_type=crdt, service_name=TWO, persistence_id="crdt-tck-model-two"
                ),
                configured,
            ],
            # As the first language supports: no protocol version fields (0.0).
            service_info=entity_pb2.ServiceInfo(
                service_name="crdt-tck-model-00",
                service_version="1",
                support_library_name="tests-crdt00",
                support_library_version="0.0.1",
                service_runtime=f"Python {sys.version.split()[0]}",
            ),
        )

    def reportError(self, request: entity_pb2.UserFunctionError, context: Any) -> empty_pb2.Empty:
        print(f"REPORTED ERROR: {request.message}", file=sys.stderr, flush=True)
        return empty_pb2.Empty()


def crdt_handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "cloudstate.crdt.Crdt",
        {
            "handle": grpc.stream_stream_rpc_method_handler(
                handle,
                request_deserializer=v00.CrdtStreamIn.FromString,
                response_serializer=v00.CrdtStreamOut.SerializeToString,
            )
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(Discovery(), server)
    server.add_generic_rpc_handlers((crdt_handler(),))
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"crdt00 model listening on {port}", flush=True)
    while not stopping:
        time.sleep(0.2)
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
