"""Helper process for the SIGKILL durability test (not a test module).

Usage: ``python sqlite_writer.py DB_PATH WRITERS``. Runs WRITERS concurrent appenders, each on its
own entity, forever; after every acknowledged append it prints ``ENTITY SEQUENCE`` and flushes, so
the parent knows exactly which writes were acknowledged when it kills this process.
"""

from __future__ import annotations

import asyncio
import sys

from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.sqlite import SqliteStore


async def main(path: str, writers: int) -> None:
    store = SqliteStore(path)
    await store.start()

    async def append_forever(entity_id: str) -> None:
        sequence = 0
        while True:
            payload = Payload("type.googleapis.com/test.Event", f"{entity_id}:{sequence}".encode())
            sequence = await store.append_events("crash", entity_id, sequence, [payload])
            sys.stdout.write(f"{entity_id} {sequence}\n")
            sys.stdout.flush()

    print("ready", flush=True)
    await asyncio.gather(*(append_forever(f"w{n}") for n in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
