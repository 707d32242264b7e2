"""``cloudstate inspect ... | head``: the reader stops early, the command ends quietly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from cloudstate.cli import CLOSED_PIPE_STATUS
from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.registry import open_store

#: The ``cloudstate`` command as its console script runs it (imports ``cloudstate.cli``).
CLOUDSTATE = [
    sys.executable,
    "-c",
    "import sys; from cloudstate.cli import main; main(sys.argv[1:])",
]


async def fill(url: str, count: int) -> None:
    store = await open_store(url)
    try:
        for n in range(count):
            entity = f"an-entity-with-a-long-enough-id-to-fill-the-pipe-{n:05d}"
            await store.save_value("things", entity, Payload("p.cloudstate.io/string", b""))
    finally:
        await store.close()


def test_inspect_into_a_pipe_closed_by_head_ends_without_a_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/many.db"
    asyncio.run(fill(url, 4000))  # ~300 kB of ids: far more than a pipe buffers
    inspect = subprocess.Popen(
        [*CLOUDSTATE, "inspect", "--store", url, "--limit", "4000", "things"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert inspect.stdout is not None and inspect.stderr is not None
    head = subprocess.run(["head", "-n", "2"], stdin=inspect.stdout, capture_output=True)
    inspect.stdout.close()  # only head reads it: its exit closes the pipe
    errors = inspect.stderr.read().decode()
    assert inspect.wait(30) == CLOSED_PIPE_STATUS
    assert errors == ""  # no BrokenPipeError, no "Exception ignored" at exit
    assert len(head.stdout.splitlines()) == 2
