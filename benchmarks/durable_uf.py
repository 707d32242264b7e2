"""The user function of ``benchmarks/bench_durable.py``: the durable-calls tests' raw user function
(``tests/durable/uf.py``, service ``durabletest.Jobs``) in a process of its own, so that its CPU
is measured apart from the proxy's and the load generator's, and writing one line per call of its
target ``Jobs/Deliver`` to ``--arrivals``::

    <tag> TAB <timer name or empty> TAB <attempt> TAB <arrival, seconds since the epoch>

Each line is flushed when written: the benchmark reads the file while the user function runs.

    python benchmarks/durable_uf.py --port 9100 --arrivals /tmp/arrivals.tsv

The benchmark starts it with :func:`durable_user_function` and reads the log with
:class:`Arrivals`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import TextIO

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudstate.protocol import action_pb2_grpc, entity_pb2, entity_pb2_grpc  # noqa: E402
from tests.durable.uf import Actions, Discovery, Recorder  # noqa: E402
from tests.processes import Process, free_port  # noqa: E402


class ArrivalLog(Recorder):
    """Writes every delivery to a file instead of keeping it (10,000s of them)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def record(self, method: str, tag: str, metadata: entity_pb2.Metadata) -> bool:
        at = time.time()
        entries = {e.key: e.string_value for e in metadata.entries}
        line = (
            f"{tag}\t{entries.get('cloudstate-timer', '')}\t"
            f"{entries.get('cloudstate-attempt', '')}\t{at:.6f}\n"
        )
        with self.lock:
            self.out.write(line)
            self.out.flush()
        return False  # every delivery succeeds


def durable_user_function(arrivals: Path) -> Callable[[Path], Process]:
    """What :func:`benchmarks.stack.stack` starts: this script on a free port, logging to
    ``arrivals``."""

    def start(tmp: Path) -> Process:
        port = free_port()
        return Process(
            "durable benchmark user function",
            [sys.executable, str(ROOT / "benchmarks" / "durable_uf.py"), "--port", str(port),
             "--arrivals", str(arrivals)],
            port,
            tmp / f"durable-uf-{port}.log",
        )  # fmt: skip

    return start


class Arrivals:
    """The target's arrival log (``durable_uf.py``), read as it grows: first arrival per tag."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.first: dict[str, float] = {}
        self.timers: dict[str, float] = {}
        self.repeats = 0

    def read(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is read next time
        self.offset += len(complete)
        for line in complete.decode().splitlines():
            tag, timer, _attempt, at = line.split("\t")
            if tag in self.first:
                self.repeats += 1
                continue
            self.first[tag] = float(at)
            if timer:
                self.timers[timer] = float(at)

    def wait_for(self, tags: int | set[str], timeout: float) -> bool:
        """Wait until ``tags`` (a set, or a count of timers) have all arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.read()
            if isinstance(tags, int):
                done = len(self.timers) >= tags
            else:
                done = tags <= self.first.keys()
            if done:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--arrivals", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    with open(args.arrivals, "a", encoding="utf-8") as out:
        recorder = ArrivalLog(out)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
        entity_pb2_grpc.add_EntityDiscoveryServicer_to_server(
            Discovery(("Jobs",), recorder), server
        )
        action_pb2_grpc.add_ActionProtocolServicer_to_server(Actions(recorder), server)
        server.add_insecure_port(f"127.0.0.1:{args.port}")
        server.start()
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        while not stopped.wait(0.5):
            pass
        server.stop(0).wait()


if __name__ == "__main__":
    main()
