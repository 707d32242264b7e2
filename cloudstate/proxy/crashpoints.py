"""Crash points: SIGKILL a process at an exact place in the proxy, for crash-safety tests.

Off unless ``CLOUDSTATE_CRASH_AT`` names a point: then the first time the proxy reaches that point
it SIGKILLs itself, or the process ``CLOUDSTATE_CRASH_PID`` when set (the tests kill the user
function that way, at the same instant), and goes on. A process only crashes once; a restarted
proxy runs without the variables. Points are ``<place>:<detail>``, for example
``workflow.before-write:RUNNING:charge`` (cloudstate/proxy/workflows/: the record that enters the
step ``charge`` is about to be written). When the variable is unset a crash point costs one
attribute read.

Example::

    if crashpoints.ARMED:
        crashpoints.reach(f"workflow.before-write:{label}")
"""

from __future__ import annotations

import logging
import os
import signal

__all__ = ["ARMED", "reach"]

log = logging.getLogger(__name__)

_AT = os.environ.get("CLOUDSTATE_CRASH_AT", "")
_PID = int(os.environ.get("CLOUDSTATE_CRASH_PID") or 0)
#: Whether a crash point is set in this process.
ARMED = bool(_AT)
_fired = False


def reach(point: str) -> None:
    """SIGKILL the target process if ``point`` is the armed crash point, the first time only."""
    global _fired
    if _fired or point != _AT:
        return
    _fired = True
    target = _PID or os.getpid()
    log.warning("crash point %s: SIGKILL to process %d", point, target)
    os.kill(target, signal.SIGKILL)
