"""The ``cloudstate.workflow.Workflows`` gRPC service (docs/protocol-workflows.md): every call is
unary and carries the workflow's view (status, state, step), so any process of the user function
may answer any call.

* ``describe`` -> the :class:`~cloudstate.workflow.Workflow`'s ``WorkflowDefinition``;
* ``handleCommand`` -> the command handler's reply (or failure) and its ``Effect``;
* ``runStep`` -> the step's call, or its ``Effect``, or a ``StepFailure``; with ``call_result``
  set, the continuation's ``Effect`` or failure.

:func:`handle_command` and :func:`run_step` do the work for the servicer and for the test kit
(:class:`cloudstate.testkit.WorkflowTestKit`), which plays the proxy in-process.

Failure handling: ``ctx.fail()`` in a command -> ``client_action.failure`` (its code); any other
exception in a command handler -> a failure ``INTERNAL`` naming the workflow and the command
(logged with its traceback). Any exception in a step or continuation -> ``StepFailure`` with the
exception's text: the attempt failed, and the proxy retries per the step's recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc

from cloudstate.any_support import AnySupport
from cloudstate.component.replies import fill_reply
from cloudstate.component.servicer import (
    UNIMPLEMENTED,
    ComponentServicer,
    call_handler,
    failure,
    no_handler,
)
from cloudstate.protocol import entity_pb2, workflow_pb2, workflow_pb2_grpc
from cloudstate.tracing import handler_span
from cloudstate.workflow.context import StepContext, WorkflowCommandContext, decode_state
from cloudstate.workflow.entity import Workflow

log = logging.getLogger(__name__)

_INTERNAL = grpc.StatusCode.INTERNAL.value[0]


async def handle_command(
    workflow: Workflow, request: workflow_pb2.WorkflowCommand, any_support: AnySupport
) -> workflow_pb2.WorkflowCommandReply:
    """Run the command handler of ``request.command`` and build the reply."""
    command = request.command
    reply = workflow_pb2.WorkflowCommandReply()
    handler = workflow.command_handlers.get(command.name)
    if handler is None:
        description = no_handler(workflow, command)
        reply.client_action.failure.CopyFrom(failure(command.id, description, code=UNIMPLEMENTED))
        return reply
    view = request.workflow
    where = f"workflow {workflow.name} (id {view.workflow_id!r}) command {command.name!r}"
    try:
        message = any_support.unpack(command.payload)
        state = decode_state(
            view.state if view.HasField("state") else None, workflow.state_type, any_support
        )
        ctx = WorkflowCommandContext(
            workflow.name, workflow.steps, command, view, state, workflow.state_type, any_support
        )
        result, failed = await call_handler(
            workflow, command, view.workflow_id, ctx, lambda: handler.call(state, message, ctx)
        )
        if failed is not None:
            reply.client_action.failure.CopyFrom(
                failure(command.id, failed.description, code=failed.status_code)
            )
            return reply
        fill_reply(reply, ctx, handler, workflow.service_descriptor, command.name, result)
    except Exception as e:
        log.exception("Unexpected error in %s", where)
        reply = workflow_pb2.WorkflowCommandReply()
        reply.client_action.failure.CopyFrom(
            failure(
                command.id, f"Unexpected error in {where}: {type(e).__name__}: {e}", code=_INTERNAL
            )
        )
        return reply
    effect = ctx._effect()
    if effect is not None:
        reply.effect.CopyFrom(effect)
    return reply


async def run_step(
    workflow: Workflow, run: workflow_pb2.StepRun, any_support: AnySupport
) -> workflow_pb2.StepReply:
    """Run one attempt of ``run.step`` (or its continuation, when ``run.call_result`` is set)."""
    step = workflow.steps.get(run.step)
    if step is None:
        return _step_failure(
            f"workflow {workflow.name} has no step {run.step!r}; its steps: "
            f"{workflow.step_names()} (was the step renamed or removed while a workflow was in "
            "it?)"
        )
    continuing = run.HasField("call_result")
    handler = step.continuation if continuing else step.handler
    if handler is None:
        return _step_failure(
            f"{step.where} asked for a call, but has no continuation to receive its reply: "
            f"register one with @{step.name}.then"
        )
    ctx: StepContext | None = None
    try:
        state = decode_state(
            run.workflow.state if run.workflow.HasField("state") else None,
            workflow.state_type,
            any_support,
        )
        if continuing:
            argument = any_support.unpack(run.call_result.reply)
        else:
            argument = any_support.unpack(run.input) if run.HasField("input") else None
        ctx = StepContext(
            workflow.name, workflow.steps, run, state, workflow.state_type, any_support
        )
        command = _step_command(run)
        with handler_span(workflow.name, command, run.workflow.workflow_id):
            result = await handler.call(state, argument, ctx)
    except Exception as e:
        log.info(
            "Attempt failed: %s: %s: %s", ctx._where() if ctx else step.where, type(e).__name__, e
        )
        return _step_failure(str(e) or type(e).__name__)
    finally:
        if ctx is not None:
            ctx._finish()
    return _step_outcome(ctx, result, step.where)


def _step_outcome(ctx: StepContext, result: Any, where: str) -> workflow_pb2.StepReply:
    """What a step or continuation did, as the ``StepReply``."""
    effect = ctx._effect()
    if ctx._call is not None:
        if effect is not None or ctx._effects:
            return _step_failure(
                f"{ctx._where()} asked for a call and also made a transition, a state update or "
                "side effects: do those in its continuation, which receives the call's reply"
            )
        return workflow_pb2.StepReply(call=ctx._call)
    if isinstance(result, workflow_pb2.StepCall):
        return _step_failure(f"{ctx._where()} returned a call it did not make with ctx.call()")
    if ctx._transition is None:
        return _step_failure(
            f"{ctx._where()} made no transition: call ctx.go_to(step, input), ctx.pause(), "
            "ctx.end() or ctx.fail_workflow(reason), or return ctx.call(...) from the step"
        )
    assert effect is not None
    return workflow_pb2.StepReply(effect=effect, side_effects=ctx._effects)


def _step_failure(description: str) -> workflow_pb2.StepReply:
    return workflow_pb2.StepReply(failure=workflow_pb2.StepFailure(description=description))


def _step_command(run: workflow_pb2.StepRun) -> entity_pb2.Command:
    """What the trace span of a step names: the step as a command of the workflow."""
    return entity_pb2.Command(entity_id=run.workflow.workflow_id, name=run.step)


class WorkflowsServicer(ComponentServicer[Workflow]):
    """Serves every registered workflow (dispatching on ``service_name``)."""

    def _find(self, service_name: str) -> tuple[Workflow, AnySupport]:
        workflow = self._components.get(service_name)
        if workflow is None:
            raise LookupError(
                f"unknown workflow service {service_name!r}; this user function serves "
                f"{sorted(self._components)}"
            )
        return workflow, self._any_support[workflow.name]

    async def describe(
        self, request: workflow_pb2.DescribeWorkflow, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workflow_pb2.WorkflowDefinition:
        try:
            workflow, _ = self._find(request.service_name)
        except LookupError as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        return workflow.describe()

    async def handleCommand(
        self, request: workflow_pb2.WorkflowCommand, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workflow_pb2.WorkflowCommandReply:
        try:
            workflow, any_support = self._find(request.service_name)
        except LookupError as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        return await handle_command(workflow, request, any_support)

    async def runStep(
        self, request: workflow_pb2.StepRun, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workflow_pb2.StepReply:
        try:
            workflow, any_support = self._find(request.service_name)
        except LookupError as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        return await run_step(workflow, request, any_support)


def add_workflows_servicer(server: Any, workflows: Sequence[Workflow]) -> None:
    """Add the ``Workflows`` servicer for ``workflows`` to a ``grpc.aio.Server``."""
    workflow_pb2_grpc.add_WorkflowsServicer_to_server(WorkflowsServicer(workflows), server)


__all__ = ["WorkflowsServicer", "add_workflows_servicer", "handle_command", "run_step"]
