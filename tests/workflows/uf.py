"""The workflow tests' raw user function (no SDK): ``wftest.Transfers`` (a workflow) served on
``cloudstate.workflow.Workflows`` and ``wftest.Accounts`` (an action its steps call), with
``EntityDiscovery``. A synchronous gRPC server on its own threads, so proxies in this process or
in subprocesses all reach one ledger.

The transfer: ``Start`` sets the state and goes to ``withdraw`` (calls Accounts/Withdraw), then
``deposit`` (Accounts/Deposit), then ends; ``refund`` is deposit's recover step (deposits the
amount back to ``from``, then fails the workflow with reason "refunded"). ``local`` makes its
transition without a call; ``wait`` pauses. ``Signal`` scripts a command (:meth:`Script.signal`).
Tests change :attr:`UserFunction.script` (definition, failures, holds)::

    uf = UserFunction().start()
    uf.script.fail_deposits = 2          # the next two deposits fail
    ...
    uf.ledger.applied("Deposit")         # [(account, amount, idempotency key), ...]
    uf.stop()
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import any_pb2, descriptor, descriptor_pb2, duration_pb2, empty_pb2, message

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wftest import transfer_pb2

from cloudstate.protocol import (
    action_pb2,
    action_pb2_grpc,
    durable_pb2,  # noqa: F401 - SideEffect.durable's type
    entity_pb2,
    entity_pb2_grpc,
    workflow_pb2,
    workflow_pb2_grpc,
)

ACTION = "cloudstate.action.ActionProtocol"
WORKFLOW = "cloudstate.workflow.Workflows"
PREFIX = "type.googleapis.com/"
TRANSFERS = "wftest.Transfers"
ACCOUNTS = "wftest.Accounts"


def pack(msg: message.Message) -> any_pb2.Any:
    return any_pb2.Any(type_url=PREFIX + msg.DESCRIPTOR.full_name, value=msg.SerializeToString())


def millis(ms: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def file_descriptor_set(root: descriptor.FileDescriptor) -> descriptor_pb2.FileDescriptorSet:
    fds = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def visit(fd: descriptor.FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dependency in fd.dependencies:
            visit(dependency)
        fd.CopyToProto(fds.file.add())

    visit(root)
    return fds


def step(
    name: str,
    timeout_ms: int = 2000,
    max_attempts: int = 3,
    recover: str = "",
    backoff_ms: tuple[int, int] = (50, 200),
) -> workflow_pb2.StepDefinition:
    return workflow_pb2.StepDefinition(
        name=name,
        timeout=millis(timeout_ms),
        recovery=workflow_pb2.Recovery(
            max_attempts=max_attempts,
            min_backoff=millis(backoff_ms[0]),
            max_backoff=millis(backoff_ms[1]),
            recover_step=recover,
        ),
    )


def transfer_definition(**changes: object) -> workflow_pb2.WorkflowDefinition:
    """The transfer's steps; ``deposit`` recovers with ``refund`` unless ``recover=""``."""
    recover = str(changes.get("recover", "refund"))
    definition = workflow_pb2.WorkflowDefinition(
        service_name=TRANSFERS,
        steps=[
            step("withdraw"),
            step(
                "deposit",
                max_attempts=int(str(changes.get("deposit_attempts", 3))),
                recover=recover,
            ),
            step("refund"),
            step("local"),
            step("wait"),
            step("expire"),
        ],
        timeout_step=str(changes.get("timeout_step", "")),
    )
    timeout_ms = int(str(changes.get("timeout_ms", 0)))
    if timeout_ms:
        definition.timeout.CopyFrom(millis(timeout_ms))
    return definition


@dataclass
class Ledger:
    """Balances and every applied call: ``(method, account, amount, key, attempt)``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    balances: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, str, int, str, str]] = field(default_factory=list)

    def applied(self, method: str) -> list[tuple[str, int, str]]:
        with self.lock:
            return [(a, n, k) for m, a, n, k, _ in self.calls if m == method]


@dataclass
class Script:
    """What the transfer does; tests change it between calls."""

    definition: workflow_pb2.WorkflowDefinition = field(default_factory=transfer_definition)
    #: Deposits to fail (-1: every one) and withdrawals likewise.
    fail_deposits: int = 0
    fail_withdrawals: int = 0
    #: Deposits to these accounts always fail.
    fail_accounts: set[str] = field(default_factory=set)
    #: Set: Accounts calls wait until it is set (a call in flight), ``entered`` says it came.
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    #: Set: continuations (runStep with a call result) wait until it is set.
    hold_continuation: threading.Event | None = None
    #: Pause of the ``wait`` step: (timeout ms, timeout step).
    pause: tuple[int, str] = (0, "")
    #: Every command seen (name, workflow id).
    commands: list[tuple[str, str]] = field(default_factory=list)
    #: Every StepRun seen (step, attempt, step_key, has call result).
    runs: list[tuple[str, int, str, bool]] = field(default_factory=list)
    #: Called with each StepRun (and the call's context, to abort it) first; a reply it returns
    #: is the answer.
    on_step: (
        Callable[[workflow_pb2.StepRun, grpc.ServicerContext], workflow_pb2.StepReply | None] | None
    ) = None


def _state(view: workflow_pb2.WorkflowView) -> transfer_pb2.TransferState:
    state = transfer_pb2.TransferState()
    if view.HasField("state"):
        view.state.Unpack(state)
    return state


def _view_reply(view: workflow_pb2.WorkflowView, state: transfer_pb2.TransferState) -> any_pb2.Any:
    return pack(
        transfer_pb2.TransferView(
            id=view.workflow_id,
            status=workflow_pb2.Status.Name(view.status),
            step=view.step,
            transitions=view.transitions,
            state=state,
        )
    )


class Workflows(workflow_pb2_grpc.WorkflowsServicer):
    def __init__(self, uf: UserFunction) -> None:
        self.uf = uf

    def describe(
        self, request: workflow_pb2.DescribeWorkflow, context: grpc.ServicerContext
    ) -> workflow_pb2.WorkflowDefinition:
        return self.uf.script.definition

    def handleCommand(
        self, request: workflow_pb2.WorkflowCommand, context: grpc.ServicerContext
    ) -> workflow_pb2.WorkflowCommandReply:
        view, command = request.workflow, request.command
        with self.uf.ledger.lock:
            self.uf.script.commands.append((command.name, view.workflow_id))
        state = _state(view)
        reply = workflow_pb2.WorkflowCommandReply()
        effect = reply.effect
        if command.name == "Start":
            start = transfer_pb2.StartTransfer.FromString(command.payload.value)
            state = transfer_pb2.TransferState(
                **{"from": getattr(start, "from")}, to=start.to, amount=start.amount
            )
            effect.state.Pack(state)
            effect.go_to.step = "withdraw"
            effect.go_to.input.Pack(
                transfer_pb2.Change(account=getattr(start, "from"), amount=start.amount)
            )
        elif command.name == "Signal":
            action = transfer_pb2.SignalTransfer.FromString(command.payload.value).action
            if action == "fail-command":
                reply.client_action.failure.description = "refused by the user function"
                effect.end.SetInParent()  # ignored: a failure changes nothing
                return reply
            for part in action.split(","):
                verb, _, argument = part.partition(":")
                if verb == "go":
                    effect.go_to.step = argument
                elif verb == "pause":
                    effect.pause.timeout.CopyFrom(millis(int(argument or 0)))
                    effect.pause.timeout_step = self.uf.script.pause[1]
                elif verb == "end":
                    effect.end.SetInParent()
                elif verb == "fail":
                    effect.fail.reason = argument
                elif verb == "state":
                    state.note = argument
                    effect.state.Pack(state)
                elif verb in ("durable", "effect"):  # a deposit of 1 to ``argument``
                    side = reply.side_effects.add(service_name=ACCOUNTS, command_name="Deposit")
                    side.payload.CopyFrom(pack(transfer_pb2.Change(account=argument, amount=1)))
                    if verb == "durable":
                        side.durable.SetInParent()
        reply.client_action.reply.payload.CopyFrom(_view_reply(view, state))
        return reply

    def runStep(
        self, request: workflow_pb2.StepRun, context: grpc.ServicerContext
    ) -> workflow_pb2.StepReply:
        script = self.uf.script
        with self.uf.ledger.lock:
            script.runs.append(
                (request.step, request.attempt, request.step_key, request.HasField("call_result"))
            )
        if script.hold_continuation is not None and request.HasField("call_result"):
            script.entered.set()
            script.hold_continuation.wait(30)
        if script.on_step is not None:
            custom = script.on_step(request, context)
            if custom is not None:
                return custom
        state = _state(request.workflow)
        name = request.step
        reply = workflow_pb2.StepReply()
        answered = request.HasField("call_result")
        if name in ("withdraw", "deposit", "refund") and not answered:
            change = transfer_pb2.Change()
            if name == "refund":
                change = transfer_pb2.Change(account=getattr(state, "from"), amount=state.amount)
            else:
                request.input.Unpack(change)
            reply.call.service_name = ACCOUNTS
            reply.call.command_name = "Deposit" if name != "withdraw" else "Withdraw"
            reply.call.payload.CopyFrom(pack(change))
            return reply
        effect = reply.effect
        if name == "withdraw":
            effect.go_to.step = "deposit"
            effect.go_to.input.Pack(transfer_pb2.Change(account=state.to, amount=state.amount))
        elif name == "deposit":
            state.note = "done"
            effect.state.Pack(state)
            effect.end.SetInParent()
        elif name == "refund":
            state.note = "refunded"
            effect.state.Pack(state)
            effect.fail.reason = "refunded"
        elif name == "local":
            state.note = "local"
            effect.state.Pack(state)
            effect.go_to.step = "wait"
        elif name == "wait":
            timeout_ms, timeout_step = script.pause
            effect.pause.timeout.CopyFrom(millis(timeout_ms))
            effect.pause.timeout_step = timeout_step
        elif name == "expire":
            state.note = "expired"
            effect.state.Pack(state)
            effect.end.SetInParent()
        return reply


class Accounts(action_pb2_grpc.ActionProtocolServicer):
    def __init__(self, uf: UserFunction) -> None:
        self.uf = uf

    def handleUnary(
        self, request: action_pb2.ActionCommand, context: grpc.ServicerContext
    ) -> action_pb2.ActionResponse:
        script, ledger = self.uf.script, self.uf.ledger
        change = transfer_pb2.Change.FromString(request.payload.value)
        entries = {e.key: e.string_value for e in request.metadata.entries}
        if script.hold is not None:
            script.entered.set()
            script.hold.wait(30)
            if not context.is_active():  # the caller is gone: this call is not applied
                context.abort(grpc.StatusCode.CANCELLED, "the caller went away")
        with ledger.lock:
            attr = "fail_deposits" if request.name == "Deposit" else "fail_withdrawals"
            failing = getattr(script, attr)
            if failing:
                setattr(script, attr, failing - 1 if failing > 0 else failing)
            if failing or (request.name == "Deposit" and change.account in script.fail_accounts):
                return action_pb2.ActionResponse(
                    failure=entity_pb2.Failure(description=f"{request.name} fails on purpose")
                )
            sign = 1 if request.name == "Deposit" else -1
            balance = ledger.balances.get(change.account, 0) + sign * change.amount
            ledger.balances[change.account] = balance
            ledger.calls.append(
                (
                    request.name,
                    change.account,
                    change.amount,
                    entries.get("idempotency-key", ""),
                    entries.get("cloudstate-attempt", ""),
                )
            )
        return action_pb2.ActionResponse(
            reply=entity_pb2.Reply(
                payload=pack(transfer_pb2.Balance(account=change.account, balance=balance))
            )
        )


class Discovery(entity_pb2_grpc.EntityDiscoveryServicer):
    def __init__(self, uf: UserFunction) -> None:
        self.uf = uf

    def discover(
        self, request: entity_pb2.ProxyInfo, context: grpc.ServicerContext
    ) -> entity_pb2.EntitySpec:
        self.uf.proxy_info = request
        spec = entity_pb2.EntitySpec(
            proto=file_descriptor_set(transfer_pb2.DESCRIPTOR).SerializeToString(),
            service_info=entity_pb2.ServiceInfo(
                service_name="workflow-tests",
                support_library_name="workflow-tests-raw",
                protocol_major_version=0,
                protocol_minor_version=2,
            ),
        )
        spec.entities.add(entity_type=WORKFLOW, service_name=TRANSFERS, persistence_id="transfers")
        spec.entities.add(entity_type=ACTION, service_name=ACCOUNTS)
        return spec

    def reportError(
        self, request: entity_pb2.UserFunctionError, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.uf.ledger.lock:
            self.uf.reported.append(request.message)
        return empty_pb2.Empty()


class UserFunction:
    """The servicers on a free loopback port (or ``port``)."""

    def __init__(self, port: int = 0) -> None:
        self.script = Script()
        self.ledger = Ledger()
        self.reported: list[str] = []
        self.proxy_info: entity_pb2.ProxyInfo | None = None
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(Discovery(self), self.server)
        workflow_pb2_grpc.add_WorkflowsServicer_to_server(Workflows(self), self.server)
        action_pb2_grpc.add_ActionProtocolServicer_to_server(Accounts(self), self.server)
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> UserFunction:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(0).wait()
