"""Durations written as text: ``500ms``, ``30s``, ``5m``, ``2h``, ``1d`` (schedules' ``every``,
``--durable-retry-min`` / ``--durable-retry-max``).

Example::

    >>> parse_duration("500ms")
    0.5
    >>> parse_duration("5m")
    300.0
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")


def parse_duration(text: str) -> float:
    """Seconds of ``text``: a positive number and one unit of ms, s, m, h, d (no spaces).
    ValueError naming the text otherwise."""
    match = _DURATION.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration: a positive number followed by one of ms, s, m, h, d "
            "(500ms, 30s, 5m, 2h, 1d)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]
