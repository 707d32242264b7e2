"""Bounds of the client port's connections: how many, how long a request may take to arrive,
and how many request bytes they may hold, per connection and in all.

What each bound protects (the flags are in docs/proxy-configuration.md):

* ``max_connections`` — file descriptors and per-connection memory: beyond it a new connection is
  closed at once (one WARNING per interval with a count), so the proxy never runs out of file
  descriptors and keeps serving the connections it has;
* ``header_timeout`` / ``body_timeout`` — a slow client (bytes trickling in) cannot hold a
  connection forever: HTTP/1.1 gets 408 and the connection is closed; an h2c stream gets 408 and
  is reset;
* ``idle_timeout`` — keep-alive connections with nothing to do, and connections that never send
  a first request, are closed;
* ``http2_max_streams`` — requests at once on one HTTP/2 connection
  (SETTINGS_MAX_CONCURRENT_STREAMS);
* ``max_buffered`` / ``max_buffered_per_connection`` — request bytes held (h2c stream headers and
  bodies, HTTP/1.1 bodies) until their request is answered: a request that would go past either
  is refused (503, ``Retry-After``), its bytes dropped;
* ``http2_max_reset_rate`` — HTTP/2 rapid reset (CVE-2023-44487): a client resetting streams
  faster than this, per second, gets GOAWAY (ENHANCE_YOUR_CALM) and the connection is closed.

Example::

    limits = ConnectionLimits(ConnectionSettings(max_connections=100))
    if limits.connection_opened():      # False: over the cap, close the new connection
        ...
        limits.connection_closed()
    if limits.budget.take(len(chunk)):  # False: refuse the request (503)
        ...
        limits.budget.give(len(chunk))
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cloudstate.proxy import metrics

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Seconds between two WARNING lines about the same limit (connection cap, rapid reset).
LOG_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """The bounds (module docstring); 0 turns a bound off."""

    max_connections: int = 4096
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    http2_max_streams: int = 100
    max_buffered: int = 64 * MiB
    max_buffered_per_connection: int = 16 * MiB
    http2_max_reset_rate: int = 200


class ByteBudget:
    """Request bytes held by every connection of the port together (``max_buffered``)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) if that would pass the limit."""
        if self.limit and self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


class ThrottledWarning:
    """A WARNING logged at once, and the same event again within ``interval`` seconds counted
    and logged as one line when the interval ends: a flood of events is a few log lines."""

    __slots__ = ("_timer", "count", "interval", "latest", "summary")

    def __init__(self, summary: str, interval: float = LOG_INTERVAL) -> None:
        self.summary = summary  # "%d more ... in the last %gs; latest: %s"
        self.interval = interval
        self.count = 0
        self.latest = ""
        self._timer: asyncio.TimerHandle | None = None

    def warn(self, message: str) -> None:
        if self._timer is None:
            log.warning("%s (more in the next %gs are counted)", message, self.interval)
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._flush)
        else:
            self.count += 1
            self.latest = message

    def _flush(self) -> None:
        self._timer = None
        if self.count:
            log.warning(self.summary, self.count, self.interval, self.latest)
            self.count = 0
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._flush)


class ConnectionLimits:
    """The settings, and the state shared by all connections of one port: the connections open
    and the bytes they hold."""

    def __init__(self, settings: ConnectionSettings | None = None, metered: bool = True) -> None:
        """``metered``: this is the client port, whose connections and buffered bytes the
        ``cloudstate_connections_open`` / ``cloudstate_http_buffered_bytes`` gauges show (the
        admin port is not: its scrapes would count against the client port's numbers)."""
        self.settings = settings or ConnectionSettings()
        self.metered = metered
        self.open = 0
        self.budget = ByteBudget(self.settings.max_buffered)
        self.cap_reached = ThrottledWarning(
            "%d more connections refused in the last %gs; latest: %s"
        )
        self.rapid_resets = ThrottledWarning(
            "%d more HTTP/2 connections closed for rapid reset in the last %gs; latest: %s"
        )
        if metered:
            metrics.HTTP_BUFFERED.set_function(lambda: self.budget.used)

    def connection_opened(self) -> bool:
        """Count a new connection; False if the cap is reached (the caller closes it)."""
        cap = self.settings.max_connections
        if cap and self.open >= cap:
            cut(MAX_CONNECTIONS)
            self.cap_reached.warn(
                f"connection refused: {self.open} connections are open, the limit "
                "(--http-max-connections); new connections are closed at once until some end"
            )
            return False
        self.open += 1
        if self.metered:
            metrics.CONNECTIONS_OPEN.inc()
        return True

    def connection_closed(self) -> None:
        self.open -= 1
        if self.metered:
            metrics.CONNECTIONS_OPEN.dec()

    def reset_too_fast(self, peer: object) -> None:
        """Count and log that an HTTP/2 client was cut off for resetting streams too fast."""
        cut(RAPID_RESET)
        self.rapid_resets.warn(
            f"HTTP/2 client {peer} reset streams faster than "
            f"{self.settings.http2_max_reset_rate}/s (--http2-max-reset-rate): connection "
            "closed with GOAWAY (ENHANCE_YOUR_CALM)"
        )


#: ``limit`` labels of ``cloudstate_connections_cut_total``.
MAX_CONNECTIONS, HEADER_TIMEOUT, BODY_TIMEOUT, RAPID_RESET = (
    "max_connections",
    "header_timeout",
    "body_timeout",
    "rapid_reset",
)


def cut(limit: str) -> None:
    """Count a connection (or an h2c stream, for the body timeout) cut by ``limit``."""
    metrics.CONNECTIONS_CUT.labels(limit).inc()


class ResetRate:
    """Token bucket of stream resets one HTTP/2 client may send: ``rate`` per second, bursts of
    up to ``rate``. :meth:`allow` is False once the client goes faster."""

    __slots__ = ("last", "rate", "tokens")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.last = 0.0

    def allow(self, now: float) -> bool:
        if not self.rate:
            return True
        self.tokens = min(float(self.rate), self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= 1.0
        return self.tokens >= 0.0
