"""Durations written as text, one grammar for every flag and option that takes one: a number and
a unit of ``ms``, ``s``, ``m``, ``h``, ``d`` or ``w`` (``500ms``, ``30s``, ``5m``, ``2h``,
``1d``, ``2w``).

* :func:`parse_duration` — a positive duration, unit required (schedules' ``every``,
  ``--durable-retry-min`` / ``--durable-retry-max``);
* :func:`parse_age` — an age limit: the unit may be left out (seconds) and ``0`` or empty means
  no limit (``--topic-retention``, ``--idempotency-retention``).

Example::

    >>> parse_duration("500ms")
    0.5
    >>> parse_age("24h", "--idempotency-retention")
    86400.0
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def _parse(text: str) -> tuple[float, str | None] | None:
    match = _DURATION.match(text.lower())
    return None if match is None else (float(match.group(1)), match.group(2))


def parse_duration(text: str) -> float:
    """Seconds of ``text``: a positive number and its unit. ValueError naming the text
    otherwise."""
    parsed = _parse(text)
    if parsed is None or parsed[1] is None or parsed[0] <= 0:
        raise ValueError(
            f"{text!r} is not a duration: a positive number followed by one of ms, s, m, h, d, w "
            "(500ms, 30s, 5m, 2h, 1d)"
        )
    return parsed[0] * _UNITS[parsed[1]]


def parse_age(text: str, flag: str, zero: str = "means no limit") -> float:
    """Seconds of an age limit (``12h``, ``7d``, plain seconds); ``0`` or empty: 0.0 (no
    limit). ValueError naming ``flag`` and what 0 means (``zero``) otherwise."""
    if not text.strip():
        return 0.0
    parsed = _parse(text)
    if parsed is None:
        raise ValueError(
            f"bad {flag} {text!r}: a number with an optional unit ms, s, m, h, d or w (e.g. 7d); "
            f"0 {zero}"
        )
    return parsed[0] * _UNITS[parsed[1] or "s"]
