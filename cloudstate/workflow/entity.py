"""Workflows: the definition (:class:`Workflow`), its steps (:class:`Step`) and their retry
policy (:class:`Recovery`), and the checks made when they are defined.

Example (the bank transfer, ``examples/bank/bank/transfer_workflow.py``)::

    transfer = Workflow(_TRANSFERWORKFLOW, [bank_pb2.DESCRIPTOR], state_type=TransferState)

    @transfer.step("withdraw", recovery=Recovery(max_attempts=3, recover_step="failed"))
    def withdraw(state: TransferState, request: WithdrawRequest, ctx: StepContext) -> Any:
        return ctx.call(Accounts.Withdraw, request)

    @withdraw.then
    def withdrawn(state: TransferState, reply: Balance, ctx: StepContext) -> None:
        ctx.go_to("deposit", DepositRequest(...))

The protocol is docs/protocol-workflows.md; the user guide docs/workflows.md.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from google.protobuf import duration_pb2, message_factory
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from cloudstate.component.entity import Component
from cloudstate.handler import ANY_MESSAGE, Handler, Param, function_name, resolve_handler
from cloudstate.protocol import entity_pb2, workflow_pb2
from cloudstate.workflow.context import StepContext, WorkflowCommandContext, duration

F = TypeVar("F", bound=Callable[..., Any])

#: ``Entity.entity_type`` of workflows.
WORKFLOW_TYPE: str = workflow_pb2.DESCRIPTOR.services_by_name["Workflows"].full_name
#: The protocol extension a proxy lists in ``ProxyInfo.extensions`` when it runs workflows.
WORKFLOWS_EXTENSION = "cloudstate.workflows/1"

_STEP_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Recovery:
    """What happens when an attempt of a step fails: up to ``max_attempts`` attempts (0: the
    proxy's default, 3), separated by a back-off growing from ``min_backoff`` to
    ``max_backoff`` (``None``: the proxy's defaults, 1 s and 60 s), then the transition to
    ``recover_step`` with the step's input, or the workflow fails when it is empty::

        Recovery(max_attempts=3, recover_step="refund")
    """

    max_attempts: int = 0
    min_backoff: timedelta | float | None = None
    max_backoff: timedelta | float | None = None
    recover_step: str = ""

    def to_proto(self, where: str) -> workflow_pb2.Recovery:
        """The protocol's ``Recovery`` (``where`` names the step or workflow in errors)."""
        if (
            not isinstance(self.max_attempts, int)
            or isinstance(self.max_attempts, bool)
            or not 0 <= self.max_attempts < 2**31
        ):
            raise ValueError(
                f"{where}: max_attempts must be 0 (the proxy's default) or a positive number of "
                f"attempts, not {self.max_attempts!r}"
            )
        proto = workflow_pb2.Recovery(
            max_attempts=self.max_attempts, recover_step=self.recover_step
        )
        if self.min_backoff is not None:
            proto.min_backoff.CopyFrom(duration(f"{where}: min_backoff", self.min_backoff))
        if self.max_backoff is not None:
            proto.max_backoff.CopyFrom(duration(f"{where}: max_backoff", self.max_backoff))
        return proto


class Step:
    """A step of a workflow: its function, the continuation that receives the reply of the call
    the function asks for (:meth:`then`), its timeout and its :class:`Recovery`.

    Returned by :meth:`Workflow.step`; use it to register the continuation::

        @withdraw.then
        def withdrawn(state: TransferState, reply: Balance, ctx: StepContext) -> None: ...
    """

    def __init__(
        self,
        workflow: Workflow,
        name: str,
        handler: Handler,
        timeout: timedelta | float | None,
        recovery: Recovery | None,
    ) -> None:
        self.workflow = workflow
        self.name = name
        self.handler = handler
        self.timeout = timeout
        self.recovery = recovery
        #: The continuation (``None`` until :meth:`then` registers one).
        self.continuation: Handler | None = None

    @property
    def where(self) -> str:
        """``step 'withdraw' of workflow com.example.bank.TransferWorkflow`` (for messages)."""
        return f"step {self.name!r} of workflow {self.workflow.name}"

    def then(self, function: F) -> F:
        """Register the continuation of this step: it runs, in the same attempt, with the reply
        of the call the step asked for (``return ctx.call(...)``), and makes the transition.
        Parameters (injected by annotation, as in a step): the state, the reply, the
        :class:`StepContext`::

            @withdraw.then
            def withdrawn(state: TransferState, reply: Balance, ctx: StepContext) -> None:
                ctx.go_to("deposit", DepositRequest(...))
        """
        if self.continuation is not None:
            raise ValueError(f"{self.where}: its continuation is registered twice")
        if not _may_call(self.handler.function):
            raise ValueError(
                f"{self.where}: @{self.name}.then registers a continuation, but the step "
                f"function {function_name(self.handler.function)}() never calls ctx.call(...), "
                "so the continuation would never run (return ctx.call(target, message) from the "
                "step, or make the transition in the step itself)"
            )
        self.continuation = resolve_handler(
            function,
            role=f"continuation of {self.where}:",
            kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
            state_type=self.workflow.state_type,
            message_type=ANY_MESSAGE,
            context_type=StepContext,
        )
        return function

    def to_proto(self) -> workflow_pb2.StepDefinition:
        proto = workflow_pb2.StepDefinition(name=self.name)
        if self.timeout is not None:
            proto.timeout.CopyFrom(_positive_duration(f"{self.where}: timeout", self.timeout))
        if self.recovery is not None:
            proto.recovery.CopyFrom(self.recovery.to_proto(self.where))
        return proto

    def __repr__(self) -> str:
        return f"Step({self.name!r} of {self.workflow.name})"


class Workflow(Component):
    """A workflow for one gRPC service: its methods are the commands (start it, signal it, read
    it), the entity key is the workflow id, and its named steps run one after the other, driven
    and persisted by the proxy.

    ::

        transfer = Workflow(_TRANSFERWORKFLOW, [bank_pb2.DESCRIPTOR], state_type=TransferState)

    :param service_descriptor: the workflow's gRPC service.
    :param file_descriptors: the ``DESCRIPTOR`` of every generated module whose types the
        workflow uses (commands, state, step inputs, the replies of the calls it makes).
    :param persistence_id: namespace of its stored records; default: the service's short name.
    :param state_type: the protobuf message class of the state (its handlers receive an
        instance, or ``None`` before the first ``update_state``).
    :param timeout: time the whole workflow may take from its start (``None``: no limit).
    :param timeout_step: run when ``timeout`` passes (empty: the workflow fails).
    :param default_recovery: the :class:`Recovery` of steps that have none.
    """

    ENTITY_TYPE = WORKFLOW_TYPE
    KIND_NAME = "workflow"

    def __init__(
        self,
        service_descriptor: ServiceDescriptor,
        file_descriptors: Sequence[FileDescriptor] = (),
        *,
        persistence_id: str | None = None,
        state_type: type[Message] | None = None,
        timeout: timedelta | float | None = None,
        timeout_step: str = "",
        default_recovery: Recovery | None = None,
    ) -> None:
        super().__init__(service_descriptor, file_descriptors)
        if state_type is not None and not (
            isinstance(state_type, type) and issubclass(state_type, Message)
        ):
            raise TypeError(
                f"workflow {self.name}: state_type must be a protobuf message class, not "
                f"{state_type!r}"
            )
        self.persistence_id: str = persistence_id or service_descriptor.name
        self.state_type = state_type
        self.timeout = timeout
        self.timeout_step = timeout_step
        self.default_recovery = default_recovery
        self.command_handlers: dict[str, Handler] = {}
        self.steps: dict[str, Step] = {}
        if timeout is not None:
            _positive_duration(f"workflow {self.name}: timeout", timeout)
        if default_recovery is not None:
            default_recovery.to_proto(f"workflow {self.name}: default_recovery")

    # -- decorators -----------------------------------------------------------------------------

    def command_handler(self, name: str) -> Callable[[F], F]:
        """Register the handler of the service method ``name``: parameters (any subset, any
        order, injected by annotation) the state (``None`` before the first update), the command
        message and a :class:`WorkflowCommandContext`; it returns the reply::

            @transfer.command_handler("GetStatus")
            def get_status(state: TransferState | None, ctx: WorkflowCommandContext) -> ...:
        """
        method = self._method(name)
        if method.client_streaming or method.server_streaming:
            raise ValueError(f"workflow {self.name}: {name} is streaming; commands are unary")
        self._check_new_handler(name)
        command_type = message_factory.GetMessageClass(method.input_type)

        def register(function: F) -> F:
            self.command_handlers[name] = resolve_handler(
                function,
                role=f"command handler for {self.name}.{name}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=command_type,
                context_type=WorkflowCommandContext,
            )
            return function

        return register

    def step(
        self,
        name: str,
        *,
        timeout: timedelta | float | None = None,
        recovery: Recovery | None = None,
    ) -> Callable[[Callable[..., Any]], Step]:
        """Register the step ``name``: its function gets (injected by annotation) the state, the
        step's input (from ``ctx.go_to(name, input)``; ``None`` without one) and a
        :class:`StepContext`, and either makes the transition (``ctx.go_to``, ``ctx.pause``,
        ``ctx.end``, ``ctx.fail_workflow``) or returns ``ctx.call(...)``, whose reply goes to the
        continuation registered with ``@step.then``. An exception fails the attempt.

        ``timeout`` bounds one attempt (the step, its call and its continuation; ``None``: the
        proxy's default); ``recovery`` overrides the workflow's ``default_recovery``::

            @transfer.step("deposit", recovery=Recovery(max_attempts=5, recover_step="refund"))
            def deposit(state: TransferState, request: DepositRequest, ctx: StepContext): ...
        """
        where = f"step {name!r} of workflow {self.name}"
        if not isinstance(name, str) or not _STEP_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: a step name is made of letters, digits, '_', '-' and '.' "
                "(and is not empty)"
            )
        if name in self.steps:
            raise ValueError(f"{where} is defined twice")
        if timeout is not None:
            _positive_duration(f"{where}: timeout", timeout)
        if recovery is not None:
            recovery.to_proto(where)

        def register(function: Callable[..., Any]) -> Step:
            handler = resolve_handler(
                function,
                role=f"{where}:",
                kinds=(Param.STATE, Param.MESSAGE, Param.CONTEXT),
                state_type=self.state_type,
                message_type=ANY_MESSAGE,
                context_type=StepContext,
            )
            step = Step(self, name, handler, timeout, recovery)
            self.steps[name] = step
            return step

        return register

    # -- the definition -------------------------------------------------------------------------

    def describe(self) -> workflow_pb2.WorkflowDefinition:
        """The ``WorkflowDefinition`` the proxy asks for (checked: :meth:`validate`)."""
        self.validate()
        definition = workflow_pb2.WorkflowDefinition(
            service_name=self.name,
            steps=[step.to_proto() for step in self.steps.values()],
            timeout_step=self.timeout_step,
        )
        if self.timeout is not None:
            definition.timeout.CopyFrom(
                _positive_duration(f"workflow {self.name}: timeout", self.timeout)
            )
        if self.default_recovery is not None:
            definition.default_recovery.CopyFrom(
                self.default_recovery.to_proto(f"workflow {self.name}: default_recovery")
            )
        return definition

    def validate(self) -> None:
        """Check what can only be checked once every step is defined (the server calls this when
        it starts; the test kit when it is built): every step named as a recovery or timeout step
        exists. Warns about commands without a handler."""
        if not self.steps:
            raise ValueError(
                f"workflow {self.name} has no step: define one with @workflow.step(name)"
            )
        if self.timeout_step:
            self._check_step_named(f"workflow {self.name}: timeout_step", self.timeout_step)
        if self.default_recovery is not None and self.default_recovery.recover_step:
            self._check_step_named(
                f"workflow {self.name}: default_recovery.recover_step",
                self.default_recovery.recover_step,
            )
        for step in self.steps.values():
            if step.recovery is not None and step.recovery.recover_step:
                self._check_step_named(f"{step.where}: recover_step", step.recovery.recover_step)
        super().validate()

    def recovery_of(self, step: str) -> Recovery:
        """The recovery that applies to ``step``: its own, else the workflow's default."""
        own = self.steps[step].recovery if step in self.steps else None
        return own or self.default_recovery or Recovery()

    def step_names(self) -> str:
        """The steps' names, for messages: ``'withdraw', 'deposit', 'refund'``."""
        return ", ".join(repr(name) for name in self.steps) or "none"

    def _check_step_named(self, where: str, name: str) -> None:
        if name not in self.steps:
            raise ValueError(
                f"{where} names the step {name!r}, which is not defined; the steps: "
                f"{self.step_names()}"
            )

    # -- registry (cloudstate.registry.EntityDefinition) ---------------------------------------

    def entity_spec(self) -> entity_pb2.Entity:
        spec = super().entity_spec()
        spec.persistence_id = self.persistence_id
        return spec

    def handled_methods(self) -> Collection[str]:
        return self.command_handlers

    def __repr__(self) -> str:
        return f"Workflow({self.name}, persistence_id={self.persistence_id!r})"


def _positive_duration(where: str, value: timedelta | float) -> duration_pb2.Duration:
    proto = duration(where, value)
    if proto.seconds == 0 and proto.nanos == 0:
        raise ValueError(f"{where} must be longer than 0 (leave it unset for no limit)")
    return proto


def _may_call(function: Callable[..., Any]) -> bool:
    """Whether ``function`` (or code nested in it) names an attribute ``call``: a step that
    never does cannot ask for a call, so a continuation registered for it is a mistake."""
    target = getattr(function, "__func__", function)
    code = getattr(target, "__code__", None)
    if code is None:  # a callable object or a builtin: cannot tell, allow it
        return True
    pending: list[types.CodeType] = [code]
    while pending:
        current = pending.pop()
        if "call" in current.co_names:
            return True
        pending.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return False


__all__ = ["WORKFLOWS_EXTENSION", "WORKFLOW_TYPE", "Recovery", "Step", "Workflow"]
