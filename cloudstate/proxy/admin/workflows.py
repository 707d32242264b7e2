"""Admin operations on workflows: the workflows of a workflow service (paged), one record decoded,
and the operator controls (suspend, resume, cancel) of the service's engine
(:class:`~cloudstate.proxy.workflows.engine.WorkflowHandler`).

Example (HTTP)::

    GET  /v1/workflows/orders?page_size=50
    GET  /v1/workflows/orders/o1
    POST /v1/workflows/orders/o1:suspend   {"reason": "investigating a stuck payment"}
    POST /v1/workflows/orders/o1:resume    {}
    POST /v1/workflows/orders/o1:cancel    {"reason": "customer asked"}

A refused control (resuming a running workflow, cancelling an ended one) is the engine's
``TransitionRefused``: FAILED_PRECONDITION, HTTP 409, with its message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cloudstate.protocol import admin_pb2, workflow_pb2
from cloudstate.proxy.admin.decode import PayloadDecoder, timestamp
from cloudstate.proxy.admin.entities import after_token, page_token
from cloudstate.proxy.admin.operations import NotFound, ProxyState, bounded, operation, ready
from cloudstate.proxy.errors import BadRequest
from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.workflows.engine import WorkflowHandler
from cloudstate.proxy.workflows.record import Record, status_name

PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


def find_workflows(proxy: ProxyState, name: str) -> WorkflowHandler:
    """The engine of the workflow service ``name`` names (full name, last part or persistence
    id); NotFound naming the workflow services there are."""
    ready(proxy)
    engines = list(proxy.workflows.engines.values())
    for matches in (
        [e for e in engines if e.service.name == name],
        [e for e in engines if e.service.name.rsplit(".", 1)[-1] == name],
        [e for e in engines if e.service.persistence_id == name],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BadRequest(
                f"workflow service {name!r} is ambiguous: "
                f"{', '.join(e.service.name for e in matches)}; give the full name"
            )
    known = ", ".join(sorted(e.service.name for e in engines)) or "none"
    raise NotFound(f"no workflow service {name!r} (the workflow services are: {known})")


def _summary(record: Record) -> admin_pb2.WorkflowSummary:
    view = record.view
    return admin_pb2.WorkflowSummary(
        workflow_id=view.workflow_id,
        status=status_name(view.status),
        step=view.step,
        attempt=record.attempt,
        transitions=view.transitions,
        reason=view.reason,
    )


def _workflow(
    engine: WorkflowHandler, record: Record, decoder: PayloadDecoder
) -> admin_pb2.Workflow:
    view = record.view
    reply = admin_pb2.Workflow(
        service=engine.service.name,
        workflow_id=view.workflow_id,
        found=True,
        status=status_name(view.status),
        step=view.step,
        transitions=view.transitions,
        reason=view.reason,
        attempt=record.attempt,
        last_error=record.last_error,
    )
    if view.HasField("state"):
        reply.state_type, data = decoder.decode(Payload(view.state.type_url, view.state.value))
        reply.state.CopyFrom(decoder.value(data))
    if record.HasField("input"):
        reply.input_type, data = decoder.decode(Payload(record.input.type_url, record.input.value))
        reply.input.CopyFrom(decoder.value(data))
    if record.started_at:
        reply.started_at.CopyFrom(timestamp(record.started_at))
    if record.deadline:
        reply.deadline.CopyFrom(timestamp(record.deadline))
    if record.pause_until:
        reply.pause_until.CopyFrom(timestamp(record.pause_until))
    if view.status == workflow_pb2.SUSPENDED:
        reply.suspended_from = status_name(record.suspended_from)
    for entry in record.history:
        added = reply.history.add(
            transition=entry.transition,
            step=entry.step,
            attempts=entry.attempts,
            outcome=entry.outcome,
        )
        if entry.started_at:
            added.started_at.CopyFrom(timestamp(entry.started_at))
        if entry.ended_at:
            added.ended_at.CopyFrom(timestamp(entry.ended_at))
    return reply


@operation("ListWorkflows")
async def list_workflows(
    request: admin_pb2.ListWorkflowsRequest, proxy: ProxyState
) -> admin_pb2.ListWorkflowsResponse:
    engine = find_workflows(proxy, request.service)
    size = bounded(request.page_size, PAGE_SIZE, MAX_PAGE_SIZE, "page_size")
    ids, more = await engine.list(after=after_token(request.page_token), limit=size)
    reply = admin_pb2.ListWorkflowsResponse(service=engine.service.name)
    for workflow_id in ids:
        record = await engine.read(workflow_id)
        if record is not None:  # deleted between the listing and the read: left out
            reply.workflows.append(_summary(record))
    if more:
        reply.next_page_token = page_token(more)
    return reply


def _workflow_id(
    request: admin_pb2.GetWorkflowRequest | admin_pb2.WorkflowControl, what: str
) -> str:
    if not request.workflow_id:
        raise BadRequest(f"{what} of {request.service}: give the workflow_id")
    return request.workflow_id


@operation("GetWorkflow")
async def get_workflow(
    request: admin_pb2.GetWorkflowRequest, proxy: ProxyState
) -> admin_pb2.Workflow:
    _, model = ready(proxy)
    engine = find_workflows(proxy, request.service)
    workflow_id = _workflow_id(request, "GetWorkflow")
    record = await engine.read(workflow_id)
    if record is None:
        return admin_pb2.Workflow(
            service=engine.service.name,
            workflow_id=workflow_id,
            status=status_name(workflow_pb2.NOT_STARTED),
        )
    return _workflow(engine, record, PayloadDecoder(model.pool))


async def _control(
    request: admin_pb2.WorkflowControl,
    proxy: ProxyState,
    what: str,
    change: Callable[[WorkflowHandler, str], Awaitable[Record]],
) -> admin_pb2.Workflow:
    _, model = ready(proxy)
    engine = find_workflows(proxy, request.service)
    workflow_id = _workflow_id(request, what)
    # A control of a workflow no command started would write a record for it: refused instead.
    if await engine.read(workflow_id) is None:
        raise NotFound(
            f"no workflow {workflow_id!r} of {engine.service.name}: no command started it "
            f"(list them: cloudstate workflows list {engine.service.name})"
        )
    record = await change(engine, workflow_id)
    return _workflow(engine, record, PayloadDecoder(model.pool))


@operation("SuspendWorkflow")
async def suspend_workflow(
    request: admin_pb2.WorkflowControl, proxy: ProxyState
) -> admin_pb2.Workflow:
    return await _control(
        request, proxy, "SuspendWorkflow", lambda e, i: e.suspend(i, request.reason)
    )


@operation("ResumeWorkflow")
async def resume_workflow(
    request: admin_pb2.WorkflowControl, proxy: ProxyState
) -> admin_pb2.Workflow:
    return await _control(request, proxy, "ResumeWorkflow", lambda e, i: e.resume(i))


@operation("CancelWorkflow")
async def cancel_workflow(
    request: admin_pb2.WorkflowControl, proxy: ProxyState
) -> admin_pb2.Workflow:
    return await _control(
        request, proxy, "CancelWorkflow", lambda e, i: e.cancel(i, request.reason)
    )
