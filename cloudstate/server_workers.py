"""Several user-function processes on consecutive ports (``CloudState().start(workers=N)``),
one per proxy worker (``cloudstate proxy --workers N --user-function-workers N``).

The parent forks the children before any gRPC object exists (gRPC must not be forked once
started); child ``i`` serves on ``port + i``. The parent passes SIGTERM / SIGINT on, and
restarts a child that dies (the proxy worker talking to it reconnects and re-announces).

Example::

    CloudState(port=8080).register_event_sourced_entity(cart).start(workers=2)  # 8080, 8081
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger(__name__)

#: The default number of processes of ``CloudState.start()`` (``cloudstate run --workers``).
WORKERS_ENV = "CLOUDSTATE_WORKERS"


def serve_processes(serve: Callable[[int], None], count: int) -> None:
    """Run ``serve(i)`` in ``count`` forked processes until SIGTERM / SIGINT; restart those that
    die meanwhile."""
    context = multiprocessing.get_context("fork")
    stopping: list[int] = []

    def start(index: int) -> BaseProcess:
        process = context.Process(target=serve, args=(index,), name=f"user function {index}")
        process.start()
        return process

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate() if len(stopping) == 1 else process.kill()

    processes = [start(index) for index in range(count)]
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            if stopping:
                for process in processes:
                    process.join()
                return
            for index, process in enumerate(processes):
                if not process.is_alive():
                    log.warning(
                        "user function process %d exited (%s); restarting it",
                        index,
                        process.exitcode,
                    )
                    time.sleep(0.2)
                    if not stopping:
                        processes[index] = start(index)
            time.sleep(0.1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
