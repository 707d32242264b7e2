"""Admin operations on durable calls: pending timers / side effects / schedule ticks, and dead
letters (list, redrive one or all, drop); the same as ``cloudstate durable`` on a store, but
through the running proxy.

Example (HTTP)::

    GET  /v1/timers?prefix=timer:
    GET  /v1/dead-letters
    POST /v1/dead-letters:redrive   {"name": "timer:expire-t1"}   or   {"all": true}
    POST /v1/dead-letters:drop      {"name": "effect:8d0c..."}
"""

from __future__ import annotations

import time

from cloudstate.protocol import admin_pb2
from cloudstate.proxy.admin.decode import PayloadDecoder, timestamp
from cloudstate.proxy.admin.operations import NotFound, ProxyState, bounded, operation, ready
from cloudstate.proxy.errors import BadRequest
from cloudstate.proxy.stores.base import DurableTask

LIMIT, MOST = 1000, 100_000


def _task(task: DurableTask, decoder: PayloadDecoder, failed_at: float = 0.0) -> admin_pb2.Task:
    request_type, request = decoder.decode(task.payload)
    found = admin_pb2.Task(
        name=task.name,
        key=task.key,
        target=f"{task.service}.{task.method}",
        attempts=task.attempts,
        last_error=task.last_error,
        request_type=request_type,
        request=decoder.value(request),
    )
    if task.due:
        found.due.CopyFrom(timestamp(task.due))
    if failed_at:
        found.failed_at.CopyFrom(timestamp(failed_at))
    return found


@operation("ListTimers")
async def list_timers(
    request: admin_pb2.ListTimersRequest, proxy: ProxyState
) -> admin_pb2.ListTimersResponse:
    store, model = ready(proxy)
    limit = bounded(request.limit, LIMIT, MOST, "limit")
    tasks = await store.list_tasks(request.prefix, limit)
    decoder = PayloadDecoder(model.pool)
    return admin_pb2.ListTimersResponse(timers=[_task(task, decoder) for task in tasks])


@operation("ListDeadLetters")
async def list_dead_letters(
    request: admin_pb2.ListDeadLettersRequest, proxy: ProxyState
) -> admin_pb2.ListDeadLettersResponse:
    store, model = ready(proxy)
    limit = bounded(request.limit, LIMIT, MOST, "limit")
    letters = await store.list_dead_letters(limit=limit)
    decoder = PayloadDecoder(model.pool)
    return admin_pb2.ListDeadLettersResponse(
        dead_letters=[_task(letter.task, decoder, letter.failed_at) for letter in letters]
    )


def _missing(name: str) -> NotFound:
    return NotFound(f"no dead letter named {name!r} (list them: cloudstate admin dead-letters)")


@operation("RedriveDeadLetters")
async def redrive_dead_letters(
    request: admin_pb2.RedriveDeadLettersRequest, proxy: ProxyState
) -> admin_pb2.RedriveDeadLettersResponse:
    store, _ = ready(proxy)
    if bool(request.name) == request.all:
        raise BadRequest("RedriveDeadLetters: give the name of one dead letter, or all: true")
    if request.all:
        names = [letter.task.name for letter in await store.list_dead_letters(limit=MOST)]
    else:
        names = [request.name]
    now = time.time()
    redriven = [name for name in names if await store.redrive_dead_letter(name, now)]
    if redriven and proxy.scheduler is not None:
        proxy.scheduler.notify(now)  # delivered now, not at the next poll
    if request.name and not redriven:
        raise _missing(request.name)
    return admin_pb2.RedriveDeadLettersResponse(redriven=redriven)


@operation("DropDeadLetter")
async def drop_dead_letter(
    request: admin_pb2.DropDeadLetterRequest, proxy: ProxyState
) -> admin_pb2.DropDeadLetterResponse:
    store, _ = ready(proxy)
    if not request.name:
        raise BadRequest("DropDeadLetter: give the name of the dead letter")
    if not await store.drop_dead_letter(request.name):
        raise _missing(request.name)
    return admin_pb2.DropDeadLetterResponse(dropped=request.name)
