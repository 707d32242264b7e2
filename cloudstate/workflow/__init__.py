"""Workflows: durable multi-step processes (sagas) whose state and current step the proxy
persists after every transition, retrying failed steps and running their recovery.

* :mod:`~cloudstate.workflow.entity` — :class:`Workflow`, its steps and :class:`Recovery`;
* :mod:`~cloudstate.workflow.context` — :class:`WorkflowCommandContext`, :class:`StepContext`
  and :class:`WorkflowStatus`;
* :mod:`~cloudstate.workflow.servicer` — the ``cloudstate.workflow.Workflows`` protocol
  service (unary calls: ``describe``, ``handleCommand``, ``runStep``).

A protocol extension (``cloudstate.workflows/1``, docs/protocol-workflows.md): workflows are
announced only to a proxy that lists it. Service code imports these names from
:mod:`cloudstate`; see docs/workflows.md.
"""

from __future__ import annotations

from cloudstate.registry import EntityKind, register_kind
from cloudstate.workflow.context import (
    StepContext,
    WorkflowCommandContext,
    WorkflowContext,
    WorkflowStatus,
)
from cloudstate.workflow.entity import (
    WORKFLOW_TYPE,
    WORKFLOWS_EXTENSION,
    Recovery,
    Step,
    Workflow,
)
from cloudstate.workflow.servicer import add_workflows_servicer

#: The workflow kind: its protocol service, servicer and extension (:mod:`cloudstate.registry`).
WORKFLOW = register_kind(
    EntityKind(WORKFLOW_TYPE, add_workflows_servicer, extension=WORKFLOWS_EXTENSION)
)

__all__ = [
    "WORKFLOW",
    "WORKFLOWS_EXTENSION",
    "WORKFLOW_TYPE",
    "Recovery",
    "Step",
    "StepContext",
    "Workflow",
    "WorkflowCommandContext",
    "WorkflowContext",
    "WorkflowStatus",
]
