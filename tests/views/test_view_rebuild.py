"""A view rebuilt from the beginning while queries keep answering, on SQLite and PostgreSQL: the
old rows answer until the new generation has caught up, then the new ones replace them in one
step. A concurrent query loop never sees an empty or half-built table."""

from __future__ import annotations

import asyncio
import time

from cloudstate.proxy.stores.base import view_generation_id
from tests.views.model import pb
from tests.views.test_views_e2e import POPULARITY, Running, add, ranking, running  # noqa: F401

PRODUCTS = [f"p{i:02d}" for i in range(40)]
CARTS = 25  # each product added by 25 carts, quantity 2: 1,000 events, 50 per product


async def top(running: Running) -> list[tuple[str, int]]:  # noqa: F811
    """Every row of the popularity view, as (product, quantity)."""
    reply = await running.call(POPULARITY + "Top", pb.TopRequest(), pb.Products)
    return ranking(reply.products)


async def test_a_view_rebuilt_while_queries_keep_answering(running: Running) -> None:  # noqa: F811
    for cart in range(CARTS):
        await asyncio.gather(*(add(running, f"c{cart}", p, 2) for p in PRODUCTS))
    await running.caught_up()
    views = running.proxy.views
    assert views is not None
    (consumer,) = [c for c in views.consumers if "Popularity" in c.consumer_id]
    consumer.batch_size = 40  # a rebuild of 25 batches at least: queries run while it does
    store = consumer.store
    before = ranking(
        (await running.call(POPULARITY + "Top", pb.TopRequest(), pb.Products)).products
    )
    assert sorted(before) == [(p, 50) for p in PRODUCTS]

    answers: list[list[tuple[str, int]]] = []
    during: list[int] = []  # the rebuild's committed offsets seen while it ran
    done = asyncio.Event()

    async def query_loop() -> None:
        while not done.is_set():
            answers.append(await top(running))

    async def writer() -> None:
        # New events during the rebuild: they reach the old rows now and the new ones later.
        for n in range(20):
            await add(running, "late", PRODUCTS[n % 4], 1)
            await asyncio.sleep(0.02)

    queries = asyncio.create_task(query_loop())
    generation = await views.rebuild(consumer.consumer_id)
    assert generation == 1
    writes = asyncio.create_task(writer())
    deadline = time.monotonic() + 120
    while True:
        status = await consumer.rebuild_status()
        if status is not None:
            during.append(status.committed_offset)
        found = await store.load_view_generations(consumer.table_ids())
        if all(g.active == generation for g in found.values()):
            break
        assert time.monotonic() < deadline, f"the rebuild did not finish: {found}"
        await asyncio.sleep(0.01)
    await writes
    await running.caught_up()
    done.set()
    await queries

    # Every answer was complete: all 40 products, none below its total before the rebuild.
    assert len(answers) >= 5, len(answers)
    for answer in answers:
        assert sorted(p for p, _ in answer) == PRODUCTS, answer
        assert all(quantity >= 50 for _, quantity in answer), answer
    # Progress was visible, and nothing was lost or counted twice across the swap.
    assert any(0 < offset for offset in during), during
    final = await top(running)
    late = {p: 50 + 5 for p in PRODUCTS[:4]}
    assert sorted(final) == sorted((p, late.get(p, 50)) for p in PRODUCTS)
    old = [view_generation_id(table, 0) for table in consumer.table_ids()]
    print(
        f"\nrebuild: {len(answers)} queries answered while it ran, all complete; progress seen "
        f"{len(during)} times (offsets {min(during, default=0)}..{max(during, default=0)})"
    )
    for table in old:
        assert await store.load_view_rows(table, PRODUCTS) == {}
    assert await consumer.rebuild_status() is None
    assert all("~rebuild" not in s.consumer_id for s in await views.status())


async def test_a_rebuild_requested_during_a_rebuild_starts_over(running: Running) -> None:  # noqa: F811
    """A second rebuild while the first runs supersedes it: the new generation is built from
    offset 0 (not from where the first had got), and it is the one swapped in."""
    for cart in range(CARTS):
        await asyncio.gather(*(add(running, f"c{cart}", p, 2) for p in PRODUCTS))
    await running.caught_up()
    views = running.proxy.views
    assert views is not None
    (consumer,) = [c for c in views.consumers if "Popularity" in c.consumer_id]
    consumer.batch_size = 40
    assert await views.rebuild(consumer.consumer_id) == 1
    for _ in range(2000):
        status = await consumer.rebuild_status()
        if status is not None and status.committed_offset > 0:
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("the first rebuild made no progress")
    assert await views.rebuild(consumer.consumer_id) == 2
    for _ in range(2400):
        found = await consumer.store.load_view_generations(consumer.table_ids())
        if all(g.active == 2 for g in found.values()):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"generation 2 was not swapped in: {found}")
    await running.caught_up()
    assert sorted(await top(running)) == [(p, 50) for p in PRODUCTS]
