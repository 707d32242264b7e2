"""Write fixtures/cart_v1_journal.json: the journal today's shopping cart (examples/shoppingcart,
event types of domain.proto version 1) writes for a few commands, run behind a real proxy.

    PYTHONPATH=examples/shoppingcart .venv/bin/python -m tests.lifecycle.make_cart_fixture

The test of schema evolution (test_schema_evolution.py) replays it through version 2 of the
cart's events. Regenerate it only if version 1 itself changes (it should not: it is history).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from cloudstate.proxy.stores.registry import open_store
from tests.e2e.test_shoppingcart import PID, Cart
from tests.processes import proxy, shoppingcart_user_function, wait_serving

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "cart_v1_journal.json"


async def dump(url: str) -> dict[str, object]:
    store = await open_store(url)
    try:
        entities: dict[str, object] = {}
        for entity_id in await store.list_entity_ids(PID):
            snapshot = await store.load_snapshot(PID, entity_id)
            entities[entity_id] = {
                "events": [
                    {"type_url": e.payload.type_url, "value": e.payload.value.hex()}
                    async for e in store.read_events(PID, entity_id)
                ],
                "snapshot": None
                if snapshot is None
                else {
                    "sequence": snapshot.sequence,
                    "type_url": snapshot.payload.type_url,
                    "value": snapshot.payload.value.hex(),
                },
            }
        return {"persistence_id": PID, "entities": entities}
    finally:
        await store.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cart.db"
        uf = shoppingcart_user_function(Path(tmp)).start()
        running = proxy(Path(tmp), uf.port, url).start()
        try:
            wait_serving(running.port)
            cart = Cart(running.port)
            cart.add("alice", "apple", 2)
            cart.add("alice", "pear", 1)
            cart.add("alice", "apple", 3)
            cart.remove("alice", "pear")
            cart.add("alice", "fig", 4)  # the snapshot at 5
            cart.add("alice", "kiwi", 1)
            cart.add("bob", "tea", 1)
            cart.add("bob", "milk", 2)
            cart.remove("bob", "tea")
            cart.close()
        finally:
            running.terminate()
            uf.terminate()
        FIXTURE.write_text(json.dumps(asyncio.run(dump(url)), indent=1) + "\n")


if __name__ == "__main__":
    main()
