"""Durable side effects and timers in handler contexts: what ``ctx.effect(..., durable=True)``
and ``ctx.timers`` put on the wire (``SideEffect.durable``, docs/protocol-durable-calls.md), and
whether the proxy can take them.

::

    ctx.effect(Account.Deposit, deposit, durable=True)
    ctx.timers.start(f"expire-{transfer_id}", Transfers.Expire, expire, delay=timedelta(hours=1))
    ctx.timers.cancel(f"expire-{transfer_id}")

A proxy that supports the extension lists :data:`DURABLE_CALLS` in ``ProxyInfo.extensions`` when
it calls ``discover``; :func:`record_proxy` remembers the latest ``ProxyInfo`` for the whole
process (a user function serves one proxy; the latest discover wins). A handler asking for a
durable effect or a timer when that proxy did not list the extension — or before any proxy called
``discover`` — fails its command with :class:`DurableCallsUnsupported`: a 0.2 proxy would ignore
field 100 and perform the call at once, as an ordinary side effect (a timer would fire at once).
The test kit plays a proxy that has the extension (:func:`assume_proxy`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from cloudstate.any_support import AnySupport
from cloudstate.errors import CommandFailure
from cloudstate.protocol import durable_pb2, entity_pb2
from cloudstate.targets import MetadataLike, make_side_effect

log = logging.getLogger(__name__)

#: The extension a proxy lists in ``ProxyInfo.extensions`` when it takes ``SideEffect.durable``.
DURABLE_CALLS = "cloudstate.durable-calls/1"
#: The extension a proxy lists when it takes ``EventSourcedReply.delete_entity``.
LIFECYCLE = "cloudstate.lifecycle/1"
#: The longest timer name: it travels in the ``cloudstate-timer`` metadata entry and inside the
#: delivery's idempotency key (at most 255 characters with its prefix and suffix).
MAX_TIMER_NAME = 200
#: ``DurableCall.max_attempts`` is an int32.
MAX_ATTEMPTS_LIMIT = 2**31 - 1

_UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ProxySeen:
    """What a proxy said about itself in ``discover``."""

    name: str
    version: str
    extensions: frozenset[str]

    @property
    def label(self) -> str:
        """``"cloudstate-proxy 0.3.0"`` (placeholders for an unnamed or unversioned proxy)."""
        return f"{self.name or '<unnamed proxy>'} {self.version or '<unversioned>'}"


_discovered: ProxySeen | None = None
_assumed: ContextVar[ProxySeen | None] = ContextVar("cloudstate_assumed_proxy", default=None)
_logged: set[tuple[ProxySeen | None, str]] = set()


def record_proxy(info: entity_pb2.ProxyInfo) -> ProxySeen:
    """Remember the ``ProxyInfo`` of a ``discover`` call (the discovery service calls this)."""
    global _discovered
    _discovered = ProxySeen(info.proxy_name, info.proxy_version, frozenset(info.extensions))
    return _discovered


def current_proxy() -> ProxySeen | None:
    """The proxy durable calls are checked against: the one :func:`assume_proxy` names in this
    task, else the one that last called ``discover`` (``None`` if none has)."""
    return _assumed.get() or _discovered


@contextlib.contextmanager
def assume_proxy(
    extensions: Iterable[str] = (DURABLE_CALLS,), name: str = "cloudstate-testkit"
) -> Iterator[ProxySeen]:
    """Within this block (this task and the tasks it starts), check durable calls against a proxy
    listing ``extensions`` instead of the discovered one. The test kit plays such a proxy::

        with assume_proxy():
            reply = await instance.handle_command(command)
    """
    from cloudstate import __version__

    seen = ProxySeen(name, __version__, frozenset(extensions))
    token = _assumed.set(seen)
    try:
        yield seen
    finally:
        _assumed.reset(token)


class DurableCallsUnsupported(CommandFailure):
    """The command asked for a durable effect or a timer, but the proxy did not list
    :data:`DURABLE_CALLS` in discovery: the command fails (status ``UNIMPLEMENTED``)."""


def require_durable_calls(operation: str, where: str) -> None:
    """Raise :class:`DurableCallsUnsupported` unless the proxy has the extension (logged once per
    proxy). ``operation`` is what the handler called, ``where`` the command it runs."""
    require_extension(DURABLE_CALLS, operation, where)


def require_extension(extension: str, operation: str, where: str) -> None:
    """Raise :class:`DurableCallsUnsupported` unless the proxy listed ``extension`` (logged once
    per proxy), e.g. ``require_extension(LIFECYCLE, "delete_entity()", "command 'Close'")``."""
    proxy = current_proxy()
    if proxy is not None and extension in proxy.extensions:
        return
    if proxy is None:
        why = (
            "no proxy has called discover since this user function started (restart the proxy "
            "so that it discovers the user function again)"
        )
    else:
        listed = ", ".join(sorted(proxy.extensions)) or "none"
        why = (
            f"proxy {proxy.label} did not list it in discovery (its extensions: {listed}); "
            "run a proxy that supports it"
        )
    description = (
        f"{operation} in {where} needs the protocol extension {extension}, but {why}. "
        + (
            "Nothing was sent: a proxy without the extension would perform the call at once, as "
            "an ordinary side effect"
            if extension == DURABLE_CALLS
            else "Nothing was sent: a proxy without the extension would ignore it"
        )
    )
    if (proxy, extension) not in _logged:
        _logged.add((proxy, extension))
        log.error("%s (logged once per proxy)", description)
    raise DurableCallsUnsupported(description, _UNIMPLEMENTED)


# -- building SideEffect.durable ----------------------------------------------------------------


def check_max_attempts(operation: str, max_attempts: Any) -> int:
    """``max_attempts`` as the int32 of ``DurableCall`` (0: the proxy's default)."""
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool):
        raise TypeError(f"{operation}: max_attempts must be an int, not {max_attempts!r}")
    if not 0 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise ValueError(
            f"{operation}: max_attempts must be 0 (the proxy's default, --durable-max-attempts) "
            f"or a positive number of attempts up to {MAX_ATTEMPTS_LIMIT}, not {max_attempts}"
        )
    return max_attempts


def check_timer_name(operation: str, name: Any) -> str:
    """A timer name: 1 to :data:`MAX_TIMER_NAME` printable ASCII characters (it travels in
    metadata and in the delivery's idempotency key, which allow nothing else)."""
    if not isinstance(name, str):
        raise TypeError(f"{operation}: the timer name must be a str, not {name!r}")
    if not name:
        raise ValueError(
            f"{operation}: the timer name is empty; name it after what it is for and the entity "
            "(names are unique across the whole user function), e.g. 'expire-' + transfer_id"
        )
    if len(name) > MAX_TIMER_NAME:
        raise ValueError(
            f"{operation}: the timer name {name[:40]!r}... has {len(name)} characters; at most "
            f"{MAX_TIMER_NAME} are allowed"
        )
    bad = next((c for c in name if not " " <= c <= "~"), None)
    if bad is not None:
        raise ValueError(
            f"{operation}: the timer name {name!r} contains {bad!r}; only printable ASCII "
            "characters are allowed (the name travels in metadata and idempotency keys)"
        )
    return name


def duration_of(operation: str, delay: Any) -> duration_pb2.Duration:
    """A ``timedelta`` or a number of seconds (``>= 0``) as a ``Duration``."""
    if isinstance(delay, timedelta):
        total_us = (delay.days * 86400 + delay.seconds) * 1_000_000 + delay.microseconds
        nanos_total = total_us * 1000
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        if not math.isfinite(delay):
            raise ValueError(f"{operation}: delay must be a finite number of seconds, not {delay}")
        nanos_total = round(delay * 1_000_000_000)
    else:
        raise TypeError(
            f"{operation}: delay must be a datetime.timedelta or a number of seconds, not {delay!r}"
        )
    if nanos_total < 0:
        raise ValueError(
            f"{operation}: delay {delay!r} is negative; a timer fires after a delay >= 0"
        )
    seconds, nanos = divmod(nanos_total, 1_000_000_000)
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


def timestamp_of(operation: str, at: Any) -> timestamp_pb2.Timestamp:
    """A timezone-aware ``datetime`` as a ``Timestamp``."""
    if not isinstance(at, datetime):
        raise TypeError(f"{operation}: at must be a datetime.datetime, not {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"{operation}: at={at.isoformat()} has no time zone, so the time it names is "
            "ambiguous; pass an aware datetime, e.g. datetime.now(UTC) + timedelta(hours=1)"
        )
    elapsed = at - _EPOCH
    seconds = elapsed.days * 86400 + elapsed.seconds
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=elapsed.microseconds * 1000)


def build_effect(
    operation: str,
    where: str,
    target: Any,
    method: Any,
    message: Any,
    *,
    synchronous: bool,
    durable: bool,
    max_attempts: int,
    any_support: AnySupport,
    metadata: MetadataLike | None = None,
) -> entity_pb2.SideEffect:
    """The ``SideEffect`` of ``ctx.effect(...)``, durable or not (checked: target, message, the
    flags, and the proxy's extension for a durable one)."""
    if durable and synchronous:
        raise TypeError(
            f"{operation}: synchronous=True and durable=True cannot be combined: a durable effect "
            "runs after the command's write commits and is retried until it succeeds, so the "
            "client's reply never waits for it (use one or the other)"
        )
    if not durable and max_attempts != 0:
        raise TypeError(
            f"{operation}: max_attempts={max_attempts!r} applies to durable effects only "
            "(add durable=True)"
        )
    attempts = check_max_attempts(operation, max_attempts)
    effect = make_side_effect(
        operation,
        target,
        method,
        message,
        synchronous=synchronous,
        any_support=any_support,
        metadata=metadata,
    )
    if durable:
        require_durable_calls(operation, where)
        effect.durable.SetInParent()  # present even when empty: that is what makes it durable
        effect.durable.max_attempts = attempts
    return effect


class Timers:
    """``ctx.timers``: start and cancel named timers, delivered durably by the proxy.

    A timer calls its target with its message once, at ``at`` or after ``delay`` from the
    command's commit, retried until it succeeds (like a durable effect). Names are unique across
    the whole user function: starting a timer whose name is pending replaces it. Like side
    effects, timers of a failed command are dropped::

        ctx.timers.start(f"expire-{transfer_id}", Transfers.Expire, expire, delay=3600)
        ctx.timers.cancel(f"expire-{transfer_id}")
    """

    __slots__ = ("_add", "_any_support", "_check_active", "_where")

    def __init__(
        self,
        add: Callable[[entity_pb2.SideEffect], None],
        check_active: Callable[[str], None],
        any_support: AnySupport,
        where: str,
    ) -> None:
        self._add = add
        self._check_active = check_active
        self._any_support = any_support
        self._where = where

    def start(
        self,
        name: str,
        target: Any,
        method: Any = None,
        message: Any = None,
        *,
        delay: timedelta | float | None = None,
        at: datetime | None = None,
        max_attempts: int = 0,
        metadata: MetadataLike | None = None,
    ) -> None:
        """Start (or restart) the timer ``name``: call ``target`` with ``message`` after ``delay``
        (a ``timedelta`` or seconds) or at ``at`` (an aware ``datetime``; a past time fires at
        once) — exactly one of the two. Same target forms as ``ctx.effect``.
        ``max_attempts`` (0: the proxy's ``--durable-max-attempts``) failed deliveries make it a
        dead letter. ``metadata`` is sent with every delivery."""
        operation = "ctx.timers.start()"
        self._check_active("timers.start")
        check_timer_name(operation, name)
        if (delay is None) == (at is None):
            raise TypeError(
                f"{operation}: give exactly one of delay= (a timedelta or seconds) and at= (an "
                f"aware datetime) for timer {name!r}"
                + ("" if delay is None else f", not both (delay={delay!r}, at={at!r})")
            )
        durable = durable_pb2.DurableCall(
            timer_name=name, max_attempts=check_max_attempts(operation, max_attempts)
        )
        if delay is not None:
            durable.delay.CopyFrom(duration_of(operation, delay))
        else:
            durable.at.CopyFrom(timestamp_of(operation, at))
        effect = make_side_effect(
            operation, target, method, message, any_support=self._any_support, metadata=metadata
        )
        require_durable_calls(operation, self._where)
        effect.durable.CopyFrom(durable)
        self._add(effect)

    def cancel(self, name: str) -> None:
        """Cancel the pending timer ``name`` once the command succeeds (nothing happens if no
        such timer is pending, e.g. it already fired)."""
        operation = "ctx.timers.cancel()"
        self._check_active("timers.cancel")
        check_timer_name(operation, name)
        require_durable_calls(operation, self._where)
        self._add(
            entity_pb2.SideEffect(durable=durable_pb2.DurableCall(timer_name=name, cancel=True))
        )


__all__ = [
    "DURABLE_CALLS",
    "MAX_TIMER_NAME",
    "DurableCallsUnsupported",
    "ProxySeen",
    "Timers",
    "assume_proxy",
    "build_effect",
    "current_proxy",
    "record_proxy",
    "require_durable_calls",
]
