"""How often an eventing consumer (or view updater) tries one message before it parks it.

A consumer retries a failing handler with exponential backoff; after ``max_attempts`` failed
attempts for one message it *parks* it (a dead letter in the store, ``parked_messages``) and moves
on. ``max_attempts`` 0 (``forever``) keeps the old behaviour: retry until it succeeds, never skip.
The setting is one proxy option, ``--eventing-max-attempts``, with per-consumer overrides::

    --eventing-max-attempts 10                                   # every consumer (the default)
    --eventing-max-attempts forever                              # never park anything
    --eventing-max-attempts "10,event_log:ledger:evtest.Projection=forever,topic:orders:x=3"

Example::

    attempts = MaxAttempts.parse("5,event_log:ledger:evtest.Projection=forever")
    attempts.of("event_log:ledger:evtest.Projection")   # 0: retry forever
    attempts.of("topic:orders:shop.Log")                # 5
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from cloudstate.proxy.stores.base import OffsetWasReset

_R = TypeVar("_R")

#: Failed attempts at one message before a consumer parks it (docs/eventing.md).
DEFAULT_MAX_ATTEMPTS = 10
#: ``max_attempts`` meaning "retry forever, never park".
FOREVER = 0


class GaveUp(Exception):
    """A message failed ``attempts`` times: the consumer parks it. ``error`` is the last one."""

    def __init__(self, attempts: int, error: Exception) -> None:
        super().__init__(f"gave up after {attempts} attempts: {error}")
        self.attempts = attempts
        self.error = error


@dataclass(frozen=True, slots=True)
class MaxAttempts:
    """The attempts setting: a default and overrides by consumer id (the offset key, as
    ``cloudstate_eventing_pending_events`` labels it)."""

    default: int = DEFAULT_MAX_ATTEMPTS
    overrides: Mapping[str, int] = field(default_factory=dict)

    def of(self, consumer_id: str) -> int:
        """The attempts of one consumer (0: forever). A view's rebuild (``<id>~rebuild-g<n>``)
        has its view consumer's."""
        base = consumer_id.split("~rebuild", 1)[0]
        return self.overrides.get(consumer_id, self.overrides.get(base, self.default))

    @classmethod
    def parse(cls, text: str | int) -> MaxAttempts:
        """``N``, ``forever`` (0), and ``CONSUMER=N`` overrides, separated by commas; ValueError
        naming the bad part otherwise."""
        if isinstance(text, int):
            return cls(_count(str(text)))
        default = DEFAULT_MAX_ATTEMPTS
        overrides: dict[str, int] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if "=" in part:
                consumer, _, value = part.rpartition("=")
                overrides[consumer.strip()] = _count(value)
            else:
                default = _count(part)
        return cls(default, overrides)


def _count(text: str) -> int:
    value = text.strip().lower()
    if value in ("forever", "0"):
        return FOREVER
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(
            f"--eventing-max-attempts: {text.strip()!r} is not a number of attempts (N >= 1, "
            "or 'forever'); overrides are CONSUMER=N, e.g. event_log:carts:shop.Log=forever"
        )
    return count


async def retry(
    operation: Callable[[], Awaitable[_R]],
    min_backoff: float,
    max_backoff: float,
    failed: Callable[[Exception, int, float], None],
    max_attempts: int = FOREVER,
) -> _R:
    """Run ``operation`` until it succeeds, waiting ``min_backoff`` seconds after the first
    failure and twice as long after each further one (at most ``max_backoff``); ``failed`` is
    told of every error, the number of failed attempts so far and the delay before the next
    one. After ``max_attempts`` failures (0: never) raise :class:`GaveUp` instead of waiting.
    Cancellation and :class:`OffsetWasReset` are not retried."""
    attempt = 0
    while True:
        try:
            return await operation()
        except (asyncio.CancelledError, OffsetWasReset):
            raise
        except Exception as error:
            attempt += 1
            if max_attempts and attempt >= max_attempts:
                raise GaveUp(attempt, error) from error
            delay = min(max_backoff, min_backoff * 2 ** (attempt - 1))
            failed(error, attempt, delay)
            await asyncio.sleep(delay)
