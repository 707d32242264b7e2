"""A workflow's stored record and the durable tasks that wake it.

The record (``cloudstate.workflow.WorkflowRecord``) is the value of entity ``<workflow id>`` under
the service's persistence id, written with ``Store.save_value`` conditional on its version: one
writer per transition, however many nodes run. Every write of a ``RUNNING`` or ``WAITING``
record carries its **wake** task (``workflow:<service>/<id>``, one per workflow: writing
replaces it), due when the current attempt should be over, the back-off ends or the pause times
out; an ended record cancels it. A workflow with a timeout also has its **deadline** task
(``workflow-deadline:<service>/<id>``). The scheduler hands both to the engine instead of the
router (:mod:`cloudstate.proxy.durable.delivery`).

Example::

    record = new_record("t1")
    payload = encode(record)                # what save_value stores
    wake = wake_task("bank.Transfer", record, due=time.time() + 35)
    step_key("bank.Transfer", "t1", 3)      # 'wf:bank.Transfer/t1/3'
"""

from __future__ import annotations

import hashlib
import uuid

from cloudstate.protocol import workflow_pb2
from cloudstate.proxy.stores.base import DurableTask, Payload, StoredValue, TaskCancel

Record = workflow_pb2.WorkflowRecord
Status = workflow_pb2.Status

RECORD_TYPE_URL = "type.googleapis.com/cloudstate.workflow.WorkflowRecord"
WAKE_PREFIX = "workflow:"
DEADLINE_PREFIX = "workflow-deadline:"
#: The history keeps the newest entries only.
HISTORY_LIMIT = 100
#: Added to a step's timeout for its wake-up: the node running it writes its outcome first.
WAKE_GRACE = 5.0
#: The method of a wake written at the start of a back-off (see :func:`wake_task`).
RETRY_KIND = "retry"
MAX_KEY_LENGTH = 255

ENDED = frozenset({workflow_pb2.COMPLETED, workflow_pb2.FAILED, workflow_pb2.CANCELLED})


def status_name(status: int) -> str:
    """``RUNNING`` for ``workflow_pb2.RUNNING``."""
    return workflow_pb2.Status.Name(status)


def new_record(workflow_id: str) -> Record:
    """The record of a workflow no command has touched (``NOT_STARTED``)."""
    record = Record()
    record.view.workflow_id = workflow_id
    return record


def decode(workflow_id: str, stored: StoredValue | None) -> tuple[Record, int]:
    """The record and version of a stored value (a new record and version 0 when none)."""
    if stored is None:
        return new_record(workflow_id), 0
    return Record.FromString(stored.payload.value), stored.version


def encode(record: Record) -> Payload:
    return Payload(RECORD_TYPE_URL, record.SerializeToString())


def step_key(service: str, workflow_id: str, transitions: int) -> str:
    """The idempotency key of a step execution's call (the same in every attempt)."""
    key = f"wf:{service}/{workflow_id}/{transitions}"
    if len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key):
        return key
    return "wf:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def wake_name(service: str, workflow_id: str) -> str:
    return f"{WAKE_PREFIX}{service}/{workflow_id}"


def deadline_name(service: str, workflow_id: str) -> str:
    return f"{DEADLINE_PREFIX}{service}/{workflow_id}"


def _task(name: str, service: str, kind: str, record: Record, due: float) -> DurableTask:
    marker = workflow_pb2.WorkflowView(
        workflow_id=record.view.workflow_id,
        transitions=record.view.transitions,
        status=record.view.status,
    )
    # Unique per write: the scheduler finishes a delivered task only if its key is unchanged,
    # so a wake replaced while it was delivered is left alone.
    key = f"{kind}#{uuid.uuid4().hex}"
    return DurableTask(
        name,
        key,
        service,
        kind,
        Payload("type.googleapis.com/cloudstate.workflow.WorkflowView", marker.SerializeToString()),
        due,
    )


def wake_task(service: str, record: Record, due: float, kind: str = "wake") -> DurableTask:
    """The wake-up of ``record``'s workflow, due at ``due`` (seconds since the epoch). ``kind``
    (the task's method): ``wake`` while an attempt runs or a pause waits, :data:`RETRY_KIND` at
    the end of a back-off."""
    return _task(wake_name(service, record.view.workflow_id), service, kind, record, due)


def deadline_task(service: str, record: Record) -> DurableTask:
    """The workflow-timeout task, due at ``record.deadline``."""
    name = deadline_name(service, record.view.workflow_id)
    return _task(name, service, "deadline", record, record.deadline)


def wake_cancel(service: str, workflow_id: str) -> TaskCancel:
    return TaskCancel(wake_name(service, workflow_id))


def deadline_cancel(service: str, workflow_id: str) -> TaskCancel:
    return TaskCancel(deadline_name(service, workflow_id))


def workflow_of(task: DurableTask) -> str:
    """The workflow id a wake or deadline task is for."""
    return workflow_pb2.WorkflowView.FromString(task.payload.value).workflow_id


def add_history(
    record: Record, step: str, started_at: float, ended_at: float, attempts: int, outcome: str
) -> None:
    """Append a history entry for the current execution, keeping the newest
    :data:`HISTORY_LIMIT`."""
    record.history.add(
        transition=record.view.transitions,
        step=step,
        started_at=started_at,
        ended_at=ended_at,
        attempts=attempts,
        outcome=outcome,
    )
    excess = len(record.history) - HISTORY_LIMIT
    if excess > 0:
        del record.history[:excess]
