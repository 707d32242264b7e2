"""The durable side effects of a reply, as the tasks the store keeps.

A side effect with ``durable`` set is not performed by the router: it becomes a
:class:`~cloudstate.proxy.stores.base.DurableTask` (a durable side effect or a timer start) or a
:class:`~cloudstate.proxy.stores.base.TaskCancel` (a timer cancellation), written with the entity's
state in one transaction (entities) or on its own right after the response (actions, CRDT
entities), and delivered later by :mod:`cloudstate.proxy.durable.scheduler`.

Names and keys (the key is the delivery's ``idempotency-key``, unique per scheduled instance;
the name is unique among pending tasks):

* a durable effect of an entity reply that journals events: name and key
  ``effect:<persistence id>/<entity id>/<sequence of its last event>/<index>``;
* a durable effect of another entity reply (value entities, replies that journal nothing):
  ``effect:<persistence id>/<entity id>/<uuid hex of the reply>/<index>`` — a value entity's
  next version is not known before its write, and a reply that writes nothing has no sequence
  of its own, so a random part keeps two commands' keys apart;
* a durable effect of an action or CRDT entity: ``effect:<uuid4>``;
* a timer: name ``timer:<timer name>``, key ``timer:<timer name>#<uuid4 hex>``.

A key is at most 255 printable ASCII characters (what an idempotency key may be); one built from
an entity id or timer name that does not fit gets the SHA-256 of that part instead.

Example::

    durable = DurableTasks(model, store)
    ordinary, calls = split_side_effects(reply.side_effects)
    changes = durable.changes(calls, Origin("bank.Account.Open", "accounts", "alice", sequence=7))
    await store.append_events(..., tasks=changes)
    durable.written(changes)        # wakes the scheduler if one is due before its next wake-up
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import ProtocolError, ProxyError
from cloudstate.proxy.model import UserFunctionModel
from cloudstate.proxy.stores.base import DurableTask, Payload, Store, TaskCancel

#: The protocol extension this package implements (listed in ProxyInfo.extensions).
DURABLE_CALLS_EXTENSION = "cloudstate.durable-calls/1"
EFFECT_PREFIX = "effect:"
TIMER_PREFIX = "timer:"
SCHEDULE_PREFIX = "schedule:"
#: The longest idempotency key (docs/protocol-durable-calls.md, Idempotency keys).
MAX_KEY_LENGTH = 255

TaskChange = DurableTask | TaskCancel


def split_side_effects(
    effects: Iterable[entity_pb2.SideEffect],
) -> tuple[list[entity_pb2.SideEffect], list[entity_pb2.SideEffect]]:
    """``(ordinary, durable)``: the side effects the router performs now, and those it records."""
    ordinary: list[entity_pb2.SideEffect] = []
    durable: list[entity_pb2.SideEffect] = []
    for effect in effects:
        (durable if effect.HasField("durable") else ordinary).append(effect)
    return ordinary, durable


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked for durable calls: ``what`` names it in errors (``Svc.Method`` or ``entity 'x'
    of Svc``); an entity gives its ids, and ``sequence`` when its reply journals events (the
    sequence of the last one, which no other write of the entity will ever have)."""

    what: str
    persistence_id: str = ""
    entity_id: str = ""
    sequence: int | None = None


def is_valid_key(key: str) -> bool:
    """True if ``key`` can be an idempotency key: 1 to 255 printable ASCII characters."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


def _fitting(prefix: str, variable: str, suffix: str = "") -> str:
    """``prefix + variable + suffix``, or with the SHA-256 of ``variable`` when that is not a
    valid key (non-ASCII, control characters, too long)."""
    key = prefix + variable + suffix
    if is_valid_key(key):
        return key
    return prefix + hashlib.sha256(variable.encode("utf-8", "surrogatepass")).hexdigest() + suffix


def timer_task_name(timer_name: str) -> str:
    """The task name of the timer ``timer_name``."""
    return TIMER_PREFIX + timer_name


def _seconds(timestamp: object) -> float:
    seconds = getattr(timestamp, "seconds", 0)
    nanos = getattr(timestamp, "nanos", 0)
    return float(seconds) + nanos / 1e9


def task_changes(
    model: UserFunctionModel,
    effects: Sequence[entity_pb2.SideEffect],
    origin: Origin,
    now: float,
) -> list[TaskChange]:
    """The store changes of the durable side effects ``effects`` (in order: a later start or
    cancel of the same timer wins). ProtocolError naming ``origin`` and the call if one is
    invalid: unknown, streamed or wrongly typed target, an unusable payload, a cancel or timer
    without a name."""
    changes: list[TaskChange] = []
    batch = uuid.uuid4().hex  # one per reply: the keys of entity replies without a sequence
    for index, effect in enumerate(effects):
        call = effect.durable
        if call.cancel:
            if not call.timer_name:
                raise ProtocolError(
                    f"durable call #{index} of {origin.what} cancels a timer but names none: "
                    "set timer_name to the timer to cancel"
                )
            _check_name(origin, index, call.timer_name)
            changes.append(TaskCancel(timer_task_name(call.timer_name)))
            continue
        kind = f"timer {call.timer_name!r}" if call.timer_name else "durable side effect"
        what = f"{kind} of {origin.what}"
        target = model.target(
            what, effect.service_name, effect.command_name, effect.payload.type_url
        )
        payload = bytes(effect.payload.value)
        if target.key_fields:
            try:
                target.entity_id(payload)  # a delivery that can never be routed: refuse it now
            except ProxyError as error:
                raise ProtocolError(f"{what}: {error.message}") from None
        metadata = effect.metadata.SerializeToString() if effect.HasField("metadata") else b""
        max_attempts = max(0, call.max_attempts)
        task_payload = Payload(target.input_type_url, payload)
        if call.timer_name:
            _check_name(origin, index, call.timer_name)
            if call.HasField("at"):
                due = _seconds(call.at)
            elif call.HasField("delay"):
                due = now + max(0.0, _seconds(call.delay))
            else:
                due = now
            name = timer_task_name(call.timer_name)
            key = _fitting(TIMER_PREFIX, call.timer_name, "#" + uuid.uuid4().hex)
        else:
            due = now
            if origin.persistence_id:
                instance = batch if origin.sequence is None else str(origin.sequence)
                entity = f"{origin.persistence_id}/{origin.entity_id}"
                key = _fitting(EFFECT_PREFIX, entity, f"/{instance}/{index}")
            else:
                key = EFFECT_PREFIX + str(uuid.uuid4())
            name = key
        changes.append(
            DurableTask(
                name,
                key,
                target.service.name,
                target.name,
                task_payload,
                due,
                metadata=metadata,
                max_attempts=max_attempts,
            )
        )
    return changes


def _check_name(origin: Origin, index: int, timer_name: str) -> None:
    if "\x00" in timer_name:
        raise ProtocolError(
            f"timer {timer_name!r} (durable call #{index} of {origin.what}): a timer name "
            "cannot contain a NUL character (\\0)"
        )


def earliest_due(changes: Iterable[TaskChange]) -> float | None:
    """The earliest ``due`` of the tasks started by ``changes`` (None: only cancellations)."""
    dues = [change.due for change in changes if isinstance(change, DurableTask)]
    return min(dues) if dues else None


class DurableTasks:
    """What entity actors and the router need to record durable calls: the model (targets are
    checked against it), the store (for writes with no entity write to join) and who to tell
    when tasks were written (the scheduler's ``notify``).

    Example::

        durable = DurableTasks(model, store, notify=scheduler.notify)
        changes = durable.changes(calls, Origin("shop.Checkout.Pay"))
        await durable.write(changes)          # its own transaction, then notifies
    """

    def __init__(
        self,
        model: UserFunctionModel,
        store: Store,
        notify: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model
        self.store = store
        #: Called with the earliest due of freshly committed tasks.
        self.notify = notify
        self.clock = clock

    def changes(self, effects: Sequence[entity_pb2.SideEffect], origin: Origin) -> list[TaskChange]:
        """:func:`task_changes` at the current time."""
        return task_changes(self.model, effects, origin, self.clock())

    def written(self, changes: Iterable[TaskChange]) -> None:
        """Tell the scheduler that ``changes`` are committed."""
        due = earliest_due(changes)
        if due is not None and self.notify is not None:
            self.notify(due)

    async def write(self, changes: Sequence[TaskChange]) -> None:
        """Write ``changes`` in their own transaction (StoreError if that fails), then
        :meth:`written`."""
        if not changes:
            return
        await self.store.write_tasks(changes)
        self.written(changes)
