"""SIGTERM and SIGINT for the long-running commands (``cloudstate proxy``, ``cloudstate run``).

The first signal asks for a graceful stop: :attr:`StopSignals.requested` is set, and whatever
the command is doing — waiting for the user function, serving — ends; calls in flight get the
shutdown grace, entities passivate, the store closes. A signal that arrives once the stop is under
way (a second Ctrl-C, or a SIGTERM while unary calls are still finishing) ends the process at
once: ``on_force`` runs first (``cloudstate run`` kills its user function there), then the
process exits with status 128 + the signal number.

Example::

    signals = StopSignals.install(on_force=child.kill)
    await signals.requested.wait()
    signals.stopping()   # a signal from now on ends the process at once
    await proxy.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """See the module docstring."""

    def __init__(self, on_force: Callable[[], None] | None = None) -> None:
        self.requested = asyncio.Event()
        self.on_force = on_force
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def install(cls, on_force: Callable[[], None] | None = None) -> StopSignals:
        """Handle SIGTERM and SIGINT on the running loop from now on."""
        signals = cls(on_force)
        signals._loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            signals._loop.add_signal_handler(sig, signals.received, sig)
        return signals

    def uninstall(self) -> None:
        if self._loop is not None:
            for sig in _SIGNALS:
                self._loop.remove_signal_handler(sig)
            self._loop = None

    def stopping(self) -> None:
        """The stop is under way: a signal now ends the process at once."""
        self._stopping = True

    def received(self, sig: signal.Signals) -> None:
        if self.requested.is_set() or self._stopping:
            self.force(sig)  # never returns
        log.info("%s: stopping (send it again to stop at once)", sig.name)
        self.requested.set()

    def force(self, sig: signal.Signals) -> NoReturn:
        log.warning("%s again: stopping at once, without waiting for calls in flight", sig.name)
        try:
            if self.on_force is not None:
                self.on_force()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(128 + int(sig))
