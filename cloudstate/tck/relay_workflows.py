"""The relay's ``cloudstate.workflow.Workflows`` service (protocol extension
``cloudstate.workflows/1``): forwards the proxy's ``describe``, ``handleCommand`` and ``runStep``
calls to the user function and records each as a :class:`~cloudstate.tck.relay.Connection` of
kind ``workflow.describe``, ``workflow.command`` or ``workflow.step`` (one message each way)::

    conn = await relay.find(step_of(workflow_id, "run"), "runStep of step 'run'")
    await conn.expect_in(step_run(...))
    await conn.expect_out(step_done(...))

Added to the relay's server by :meth:`cloudstate.tck.relay.Relay.start`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from cloudstate.protocol import workflow_pb2, workflow_pb2_grpc

COMMAND = "workflow.command"
STEP = "workflow.step"
DESCRIBE = "workflow.describe"


def workflow_id_of(message: Message | None) -> str | None:
    """The workflow id a recorded workflow call concerns (None for other calls)."""
    if isinstance(message, workflow_pb2.WorkflowCommand):
        return message.command.entity_id
    if isinstance(message, workflow_pb2.StepRun):
        return message.workflow.workflow_id
    return None


class Recorder(Protocol):
    """What this module needs of :class:`cloudstate.tck.relay.Relay` (which imports this module,
    so it is not imported here)."""

    @property
    def channel(self) -> grpc.aio.Channel: ...

    def _new_connection(self, kind: str) -> Any: ...

    def _notify(self) -> Awaitable[None]: ...


#: Matches a recorded call (a :class:`cloudstate.tck.relay.Connection`).
Matcher = Callable[[Any], bool]


def command_of(workflow_id: str) -> Matcher:
    """Matches the proxy's ``handleCommand`` calls for ``workflow_id``."""
    return lambda c: c.kind == COMMAND and workflow_id_of(c.first) == workflow_id


def step_of(workflow_id: str, step: str | None = None) -> Matcher:
    """Matches the proxy's ``runStep`` calls for ``workflow_id`` (and ``step``)."""

    def matches(c: Any) -> bool:
        first = c.first
        return (
            c.kind == STEP
            and isinstance(first, workflow_pb2.StepRun)
            and first.workflow.workflow_id == workflow_id
            and (step is None or first.step == step)
        )

    return matches


class WorkflowsRelay:
    """Relays the three unary ``Workflows`` calls, recording both directions."""

    def __init__(
        self, relay: Recorder, metadata_of: Callable[[Any], list[tuple[str, Any]]]
    ) -> None:
        self.relay = relay
        self.metadata_of = metadata_of
        self.stub = workflow_pb2_grpc.WorkflowsStub(relay.channel)

    async def _relay(
        self, kind: str, method: Any, request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        connection = self.relay._new_connection(kind)
        connection.record_in(request)
        connection.end_in()
        await self.relay._notify()
        try:
            response: Message = await method(request, metadata=self.metadata_of(context))
        except grpc.aio.AioRpcError as e:
            connection.end_out(e.code().name)
            await self.relay._notify()
            await context.abort(e.code(), e.details() or "")
            raise
        connection.record_out(response)
        connection.end_out()
        await self.relay._notify()
        return response

    async def describe(
        self, request: workflow_pb2.DescribeWorkflow, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        return await self._relay(DESCRIBE, self.stub.describe, request, context)

    async def handleCommand(
        self, request: workflow_pb2.WorkflowCommand, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        return await self._relay(COMMAND, self.stub.handleCommand, request, context)

    async def runStep(
        self, request: workflow_pb2.StepRun, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        return await self._relay(STEP, self.stub.runStep, request, context)


def add_to_server(
    relay: Recorder,
    server: grpc.aio.Server,
    metadata_of: Callable[[Any], list[tuple[str, Any]]],
) -> None:
    """Serve ``Workflows`` on ``server``, relaying to ``relay``'s user function with the headers
    ``metadata_of(context)`` picks from each call."""
    workflow_pb2_grpc.add_WorkflowsServicer_to_server(WorkflowsRelay(relay, metadata_of), server)
