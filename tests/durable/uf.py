"""The durable-calls tests' user function, written on the raw protocol stubs (no SDK): it sends
exactly the ``SideEffect.durable`` the test describes and records every delivery it gets.

* ``durabletest.Jobs`` (action): ``Ask``/``AskStream`` answer with the durable calls of their
  ``Plan`` (a failure too when ``fail``); ``Deliver`` records the delivery and fails while
  :attr:`Recorder.failures` says so.
* ``durabletest.Ticks`` (action): ``Tick`` every second (``(cloudstate.schedule)``), recorded.
* ``durabletest.Accounts`` (value entity): ``Update`` asks for durable calls (and writes the
  value when ``write``); ``Deposit`` records a delivery to an entity.
* ``durabletest.Ledger`` (event sourced): ``Record`` asks for durable calls (journals an event
  when ``write``).
* ``durabletest.Sweeper`` (value entity) and ``durabletest.Nightly`` (action) carry schedules the
  proxy must refuse.

It runs in the test's process (a synchronous gRPC server on its own threads), so the proxies —
in process or subprocesses — all call one recorder::

    uf = UserFunction(services=("Jobs", "Accounts")).start()
    uf.address                 # "127.0.0.1:PORT"
    await uf.wait_for(lambda: uf.delivered("a"))
    uf.stop()
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import any_pb2, descriptor, descriptor_pb2, empty_pb2, message

sys.path.insert(0, str(Path(__file__).resolve().parent))

from durabletest import jobs_pb2, refused_pb2

from cloudstate.protocol import (
    action_pb2,
    action_pb2_grpc,
    durable_pb2,
    entity_pb2,
    entity_pb2_grpc,
    event_sourced_pb2,
    event_sourced_pb2_grpc,
    value_entity_pb2,
    value_entity_pb2_grpc,
)

ACTION = "cloudstate.action.ActionProtocol"
VALUE_ENTITY = "cloudstate.valueentity.ValueEntity"
EVENT_SOURCED = "cloudstate.eventsourced.EventSourced"
PREFIX = "type.googleapis.com/"

#: short name -> (full service name, entity type, persistence id, file)
SERVICES = {
    "Jobs": ("durabletest.Jobs", ACTION, "", jobs_pb2.DESCRIPTOR),
    "Ticks": ("durabletest.Ticks", ACTION, "", jobs_pb2.DESCRIPTOR),
    "Accounts": ("durabletest.Accounts", VALUE_ENTITY, "accounts", jobs_pb2.DESCRIPTOR),
    "Ledger": ("durabletest.Ledger", EVENT_SOURCED, "ledger", jobs_pb2.DESCRIPTOR),
    "Sweeper": ("durabletest.Sweeper", VALUE_ENTITY, "sweeper", refused_pb2.DESCRIPTOR),
    "Nightly": ("durabletest.Nightly", ACTION, "", refused_pb2.DESCRIPTOR),
}


def pack(msg: message.Message) -> any_pb2.Any:
    return any_pb2.Any(type_url=PREFIX + msg.DESCRIPTOR.full_name, value=msg.SerializeToString())


def file_descriptor_set(*roots: descriptor.FileDescriptor) -> descriptor_pb2.FileDescriptorSet:
    """The files and everything they import, dependencies first, each once."""
    fds = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def visit(fd: descriptor.FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dependency in fd.dependencies:
            visit(dependency)
        fd.CopyToProto(fds.file.add())

    for root in roots:
        visit(root)
    return fds


@dataclass
class Delivery:
    """One call of a target: which method, the tag, its metadata (key -> value) and when."""

    method: str
    tag: str
    metadata: dict[str, str]
    at: float = field(default_factory=time.time)


def side_effect(call: jobs_pb2.Call) -> entity_pb2.SideEffect:
    """The ``SideEffect`` a ``Call`` describes (kinds ``sync`` and ``async``: an ordinary one)."""
    effect = entity_pb2.SideEffect(
        service_name=call.service or "durabletest.Jobs", command_name=call.method or "Deliver"
    )
    if call.credit_account or call.service == "durabletest.Accounts":
        effect.service_name = call.service or "durabletest.Accounts"
        effect.command_name = call.method or "Deposit"
        effect.payload.CopyFrom(pack(jobs_pb2.Credit(id=call.credit_account, tag=call.tag)))
    elif call.kind != "cancel":
        effect.payload.CopyFrom(pack(jobs_pb2.Job(tag=call.tag)))
    if call.type_url:
        effect.payload.type_url = call.type_url
    if call.note:
        effect.metadata.entries.add(key="x-note", string_value=call.note)
    if call.kind in ("sync", "async"):  # ordinary side effects, for benchmarks/bench_durable.py
        effect.synchronous = call.kind == "sync"
        return effect
    durable = durable_pb2.DurableCall(
        timer_name=call.timer_name, cancel=call.kind == "cancel", max_attempts=call.max_attempts
    )
    if call.kind == "timer":
        durable.delay.SetInParent()
        durable.delay.FromMilliseconds(call.delay_ms)
    effect.durable.CopyFrom(durable)
    effect.synchronous = True  # must be ignored for durable calls
    return effect


class Recorder:
    """What the targets saw, and how they should answer (shared by every proxy)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        #: tag -> how many more deliveries of it fail (-1: all of them).
        self.failures: dict[str, int] = {}
        #: Errors the proxy reported to the user function (reportError).
        self.reported: list[str] = []
        #: tag -> deliveries of it are answered only once the event is set (held in flight).
        self.holds: dict[str, threading.Event] = {}

    def record(self, method: str, tag: str, metadata: entity_pb2.Metadata) -> bool:
        """Record a delivery (after its hold, if any); True if it should fail."""
        entries = {e.key: e.string_value for e in metadata.entries}
        with self.lock:
            self.deliveries.append(Delivery(method, tag, entries))
            left = self.failures.get(tag, 0)
            if left > 0:
                self.failures[tag] = left - 1
            hold = self.holds.get(tag)
        if hold is not None:
            hold.wait(30)
        return left != 0

    def of(self, tag: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.tag == tag]

    def ticks(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.method == "Tick"]


class Discovery(entity_pb2_grpc.EntityDiscoveryServicer):
    def __init__(self, services: tuple[str, ...], recorder: Recorder) -> None:
        self.services = services
        self.recorder = recorder
        self.proxy_info: entity_pb2.ProxyInfo | None = None

    def discover(
        self, request: entity_pb2.ProxyInfo, context: grpc.ServicerContext
    ) -> entity_pb2.EntitySpec:
        self.proxy_info = request
        files = {SERVICES[name][3] for name in self.services}
        spec = entity_pb2.EntitySpec(
            proto=file_descriptor_set(*sorted(files, key=lambda f: f.name)).SerializeToString(),
            service_info=entity_pb2.ServiceInfo(
                service_name="durable-tests",
                support_library_name="durable-tests-raw",
                protocol_major_version=0,
                protocol_minor_version=2,
            ),
        )
        for name in self.services:
            full, kind, persistence_id, _ = SERVICES[name]
            spec.entities.add(entity_type=kind, service_name=full, persistence_id=persistence_id)
        return spec

    def reportError(
        self, request: entity_pb2.UserFunctionError, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.recorder.lock:
            self.recorder.reported.append(request.message)
        return empty_pb2.Empty()


def _reply_empty() -> entity_pb2.Reply:
    return entity_pb2.Reply(payload=pack(empty_pb2.Empty()))


class Actions(action_pb2_grpc.ActionProtocolServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def handleUnary(
        self, request: action_pb2.ActionCommand, context: grpc.ServicerContext
    ) -> action_pb2.ActionResponse:
        if request.name == "Ask":
            plan = jobs_pb2.Plan.FromString(request.payload.value)
            response = action_pb2.ActionResponse(
                side_effects=[side_effect(call) for call in plan.calls]
            )
            if plan.fail:
                response.failure.description = "failed on purpose"
            else:
                response.reply.CopyFrom(_reply_empty())
            return response
        if request.name in ("Deliver", "Tick", "Report"):
            job = jobs_pb2.Job.FromString(request.payload.value)
            tag = job.tag if request.name == "Deliver" else ""
            if self.recorder.record(request.name, tag, request.metadata):
                return action_pb2.ActionResponse(
                    failure=entity_pb2.Failure(description=f"{tag} fails on purpose")
                )
            return action_pb2.ActionResponse(reply=_reply_empty())
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"unknown action {request.name}")
        raise AssertionError

    def handleStreamedOut(
        self, request: action_pb2.ActionCommand, context: grpc.ServicerContext
    ) -> Iterator[action_pb2.ActionResponse]:
        plan = jobs_pb2.Plan.FromString(request.payload.value)
        for call in plan.calls:
            yield action_pb2.ActionResponse(reply=_reply_empty(), side_effects=[side_effect(call)])


class ValueEntities(value_entity_pb2_grpc.ValueEntityServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def handle(
        self,
        request_iterator: Iterator[value_entity_pb2.ValueEntityStreamIn],
        context: grpc.ServicerContext,
    ) -> Iterator[value_entity_pb2.ValueEntityStreamOut]:
        for msg in request_iterator:
            if msg.WhichOneof("message") != "command":
                continue
            command = msg.command
            reply = value_entity_pb2.ValueEntityReply(command_id=command.id)
            if command.name == "Deposit":
                credit = jobs_pb2.Credit.FromString(command.payload.value)
                self.recorder.record("Deposit", credit.tag, command.metadata)
                reply.client_action.reply.CopyFrom(_reply_empty())
                reply.state_action.update.value.CopyFrom(pack(credit))
            else:
                plan = jobs_pb2.AccountPlan.FromString(command.payload.value)
                reply.side_effects.extend(side_effect(call) for call in plan.calls)
                if plan.fail:
                    reply.client_action.failure.CopyFrom(
                        entity_pb2.Failure(command_id=command.id, description="failed on purpose")
                    )
                else:
                    reply.client_action.reply.CopyFrom(_reply_empty())
                if plan.write:
                    reply.state_action.update.value.CopyFrom(pack(plan))
            yield value_entity_pb2.ValueEntityStreamOut(reply=reply)


class EventSourcedEntities(event_sourced_pb2_grpc.EventSourcedServicer):
    def handle(
        self,
        request_iterator: Iterator[event_sourced_pb2.EventSourcedStreamIn],
        context: grpc.ServicerContext,
    ) -> Iterator[event_sourced_pb2.EventSourcedStreamOut]:
        for msg in request_iterator:
            if msg.WhichOneof("message") != "command":
                continue
            command = msg.command
            plan = jobs_pb2.AccountPlan.FromString(command.payload.value)
            reply = event_sourced_pb2.EventSourcedReply(
                command_id=command.id, side_effects=[side_effect(call) for call in plan.calls]
            )
            if plan.fail:
                reply.client_action.failure.CopyFrom(
                    entity_pb2.Failure(command_id=command.id, description="failed on purpose")
                )
            else:
                reply.client_action.reply.CopyFrom(_reply_empty())
            if plan.write:
                reply.events.append(pack(plan))
            yield event_sourced_pb2.EventSourcedStreamOut(reply=reply)


class UserFunction:
    """The servicers on a free loopback port (or ``port``: a restart); :attr:`recorder` holds
    what they saw."""

    def __init__(
        self, services: tuple[str, ...] = ("Jobs", "Accounts", "Ledger"), port: int = 0
    ) -> None:
        self.recorder = Recorder()
        self.discovery = Discovery(services, self.recorder)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(self.discovery, self.server)
        action_pb2_grpc.add_ActionProtocolServicer_to_server(Actions(self.recorder), self.server)
        value_entity_pb2_grpc.add_ValueEntityServicer_to_server(
            ValueEntities(self.recorder), self.server
        )
        event_sourced_pb2_grpc.add_EventSourcedServicer_to_server(
            EventSourcedEntities(), self.server
        )
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> UserFunction:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(0).wait()

    def delivered(self, tag: str) -> list[Delivery]:
        return self.recorder.of(tag)

    async def wait_for(self, condition: Callable[[], object], within: float = 15.0) -> None:
        """Poll ``condition`` until it is truthy (AssertionError after ``within`` seconds)."""
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                with self.recorder.lock:
                    seen = [(d.method, d.tag) for d in self.recorder.deliveries]
                raise AssertionError(f"condition not met within {within}s; deliveries: {seen}")
            await asyncio.sleep(0.02)

    def wait_for_sync(self, condition: Callable[[], object], within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                with self.recorder.lock:
                    seen = [(d.method, d.tag) for d in self.recorder.deliveries]
                raise AssertionError(f"condition not met within {within}s; deliveries: {seen}")
            time.sleep(0.02)
