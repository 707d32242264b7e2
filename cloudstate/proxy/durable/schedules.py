"""Recurring schedules: the ``(cloudstate.schedule)`` method option, read and checked at start,
and the durable task of each schedule's next tick.

A schedule is one pending task, ``schedule:<service>.<method>``, due at its next tick and keyed
``schedule:<service>.<method>@<tick, RFC 3339>`` (the delivery's idempotency key). When a tick is
delivered — or dead-lettered: a tick that failed for good must not end the schedule — the
scheduler replaces it with the next tick, the next grid point strictly after now. Ticks missed
while every proxy was down collapse into one call at start (the pending task is simply overdue).

At start (and whenever a node takes the deliveries over) :func:`upsert_schedules` writes the
task of every schedule that has none, or whose option changed (the option's text is kept in the
task's metadata entry ``cloudstate-schedule-spec``), and cancels the tasks of schedules the user
function no longer declares.

Example::

    schedules = discover_schedules(model)   # DiscoveryError naming service.method and the text
    await upsert_schedules(store, schedules, time.time())
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cronsim import CronSim, CronSimError

from cloudstate import schedule_pb2
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.durable.delivery import SCHEDULE_SPEC, rfc3339
from cloudstate.proxy.durable.tasks import SCHEDULE_PREFIX, TaskChange
from cloudstate.proxy.durations import parse_duration
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.model import ACTION, MethodModel, UserFunctionModel, method_option
from cloudstate.proxy.stores.base import DurableTask, Payload, Store, TaskCancel

_UTC = datetime.UTC


@dataclass(frozen=True, slots=True)
class Schedule:
    """One method called on a fixed interval (``every`` seconds) or a cron expression."""

    service: str
    method: str
    input_type_url: str
    every: float | None = None
    cron: str = ""
    time_zone: str = ""

    @property
    def task_name(self) -> str:
        return f"{SCHEDULE_PREFIX}{self.service}.{self.method}"

    @property
    def spec(self) -> str:
        """The option as text (``every 30s``, ``cron 0 3 * * * in Europe/Paris``): a change of
        it reschedules the method at start."""
        if self.every is not None:
            return f"every {self.every:g}s"
        return f"cron {self.cron}" + (f" in {self.time_zone}" if self.time_zone else "")

    def next_tick(self, after: float) -> float:
        """The first tick strictly after ``after`` (seconds since the epoch). Intervals are
        aligned on the epoch (``every: "1h"`` ticks on the hour, UTC)."""
        if self.every is not None:
            return (math.floor(after / self.every) + 1) * self.every
        zone = zoneinfo.ZoneInfo(self.time_zone) if self.time_zone else _UTC
        start = datetime.datetime.fromtimestamp(after, tz=zone)
        return float(next(CronSim(self.cron, start)).timestamp())

    def task(self, tick: float) -> DurableTask:
        """The task of the tick at ``tick``."""
        spec = entity_pb2.Metadata(
            entries=[entity_pb2.MetadataEntry(key=SCHEDULE_SPEC, string_value=self.spec)]
        )
        return DurableTask(
            self.task_name,
            f"{self.task_name}@{rfc3339(tick)}",
            self.service,
            self.method,
            Payload(self.input_type_url, b""),
            tick,
            metadata=spec.SerializeToString(),
        )


def stored_spec(task: DurableTask) -> str:
    """The ``cloudstate-schedule-spec`` a schedule task was written with ("" if none)."""
    if not task.metadata:
        return ""
    for entry in entity_pb2.Metadata.FromString(task.metadata).entries:
        if entry.key == SCHEDULE_SPEC:
            return entry.string_value
    return ""


def method_schedule(model: UserFunctionModel, method: MethodModel) -> Any | None:
    """The ``cloudstate.Schedule`` option of a method, or None if it has none."""
    return method_option(model, method, schedule_pb2.schedule)


def discover_schedules(model: UserFunctionModel) -> list[Schedule]:
    """Every schedule the user function declares, in service and method order; DiscoveryError
    listing every bad one (an option on an entity or streamed method, an ``every`` or ``cron``
    that does not parse, an unknown time zone), each naming ``service.method`` and the text."""
    schedules: list[Schedule] = []
    problems: list[str] = []
    for service in sorted(model.services.values(), key=lambda s: s.name):
        for method in service.methods.values():
            option = method_schedule(model, method)
            if option is None:
                continue
            try:
                schedules.append(_schedule(method, option))
            except ValueError as error:
                problems.append(f"{service.name}.{method.name}: {error}")
    if problems:
        raise DiscoveryError("(cloudstate.schedule): " + "; ".join(problems))
    return schedules


def _schedule(method: MethodModel, option: Any) -> Schedule:
    service = method.service
    if service.entity_type != ACTION:
        kind = service.entity_type.rsplit(".", 1)[-1]
        raise ValueError(
            f"only methods of actions may carry a schedule, and {service.name} is a {kind} "
            "(an entity method has no entity id to call): move the schedule to an action that "
            "calls the entities"
        )
    if method.client_streaming or method.server_streaming:
        raise ValueError("a scheduled method must be unary (it is called with an empty request)")
    kind = option.WhichOneof("every_or_cron")
    if kind is None:
        raise ValueError('the schedule sets neither every ("30s") nor cron ("0 3 * * *")')
    if kind == "every":
        return Schedule(
            service.name, method.name, method.input_type_url, every=parse_duration(option.every)
        )
    schedule = Schedule(
        service.name,
        method.name,
        method.input_type_url,
        cron=option.cron.strip(),
        time_zone=option.time_zone.strip(),
    )
    if len(schedule.cron.split()) != 5:
        raise ValueError(
            f"cron {option.cron!r} is not a five-field cron expression "
            "(minute hour day-of-month month day-of-week, e.g. '0 3 * * *')"
        )
    if schedule.time_zone:
        try:
            zoneinfo.ZoneInfo(schedule.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"time_zone {option.time_zone!r} is not an IANA time zone (e.g. Europe/Paris)"
            ) from None
    try:
        schedule.next_tick(0.0)
    except (CronSimError, StopIteration) as error:
        raise ValueError(
            f"cron {option.cron!r} does not parse: {error or 'no tick ever'}"
        ) from None
    return schedule


async def upsert_schedules(store: Store, schedules: Iterable[Schedule], now: float) -> int:
    """Write the next tick of every schedule that has no task or one written from another
    option, and cancel the tasks of schedules no longer declared; a task that is there with the
    same option is left as it is (an overdue one fires at once: the missed ticks collapse into
    that call). Returns how many tasks were written or cancelled."""
    pending = {task.name: task for task in await store.list_tasks(SCHEDULE_PREFIX, 100_000)}
    changes: list[TaskChange] = []
    declared = set()
    for schedule in schedules:
        declared.add(schedule.task_name)
        task = pending.get(schedule.task_name)
        if task is None or stored_spec(task) != schedule.spec:
            changes.append(schedule.task(schedule.next_tick(now)))
    changes.extend(TaskCancel(name) for name in pending if name not in declared)
    if changes:
        await store.write_tasks(changes)
    return len(changes)
