"""Dead letters, resets and view rebuilds through the admin API, end to end with ``cloudstate
admin``: a real proxy process with its admin port, the user function of tests/eventing/model.py
(its ``Projection`` fails on the entry named in ``$PROJECTION_FILE.poison``) and, for views, the
views example under ``cloudstate run``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cloudstate.proxy.stores.registry import open_store
from tests.admin.harness import http, start_example
from tests.eventing.model import pb
from tests.eventing.test_event_log import (
    append,
    processes,  # noqa: F401 - the fixture
    projection_uf,
    read_lines,
    start,
    wait_until,
)
from tests.processes import ROOT, Process, free_port, proxy, wait_serving

CONSUMER = "event_log:ledger:evtest.Projection"
EXAMPLES = ROOT / "examples"


def admin(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``cloudstate admin ARGS`` against the admin port, as a user runs it."""
    command = [sys.executable, "-m", "cloudstate.cli", "admin", *args]
    command += ["--admin", f"http://127.0.0.1:{port}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def admin_ok(port: int, *args: str) -> str:
    done = admin(port, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def admin_json(port: int, *args: str) -> Any:
    return json.loads(admin_ok(port, *args, "--json"))


def applied(projection: Path) -> Counter[tuple[str, int]]:
    return Counter((line["subject"], line["n"]) for line in read_lines(projection))


def projection_consumer(port: int) -> dict[str, Any]:
    (found,) = [
        c for c in admin_json(port, "consumers")["consumers"] if c["consumerId"] == CONSUMER
    ]
    return dict(found)


def parked(port: int) -> list[dict[str, Any]]:
    return list(admin_json(port, "consumer-dead-letters", CONSUMER).get("parked", []))


def start_projection(tmp_path: Path, processes: list[Process]) -> tuple[int, int, Path]:  # noqa: F811
    """The projection's user function and a proxy with an admin port that parks a message after
    2 attempts: (client port, admin port, the projection's file)."""
    projection = tmp_path / "projection.jsonl"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    uf = start(processes, projection_uf(tmp_path, projection))
    port = free_port()
    flags = ("--eventing-max-attempts", "2", "--admin-port", str(port), "--log-level", "INFO")
    px = start(processes, proxy(tmp_path, uf.port, store, *flags))
    wait_serving(px.port)
    return px.port, port, projection


def test_park_list_redrive_one_then_all(
    tmp_path: Path,
    processes: list[Process],  # noqa: F811
) -> None:
    """Two poison entries are parked (a#2, then b#2) while the rest flows; the admin lists them
    with the event decoded; the handler is fixed; a redrive of a#2 by its offset applies a#2 once
    and leaves b#2 parked; a redrive of all applies b#2 once; the lag is 0 and nothing is
    parked."""
    client, port, projection = start_projection(tmp_path, processes)
    poison = Path(f"{projection}.poison")
    poison.write_text("a 2")
    asyncio.run(append(client, [pb.AppendRequest(ledger_id="a", count=3)]))
    wait_until(lambda: len(parked(port)) == 1, "a#2 to be parked")
    poison.write_text("b 2")
    asyncio.run(append(client, [pb.AppendRequest(ledger_id="b", count=3)]))
    wait_until(lambda: len(parked(port)) == 2, "b#2 to be parked")
    wait_until(lambda: projection_consumer(port)["pending"] == "0", "the lag to return to 0")
    assert applied(projection) == Counter({("a", 1): 1, ("a", 3): 1, ("b", 1): 1, ("b", 3): 1})
    consumer = projection_consumer(port)
    assert consumer["parked"] == "2" and consumer["kind"] == "eventing", consumer

    first, second = parked(port)
    assert first["what"] == "event 2 of ledger|a" and second["what"] == "event 2 of ledger|b"
    assert first["type"] == "evtest.Entry" and first["data"] == {"ledgerId": "a", "n": 2}
    assert first["metadata"]["ce-subject"] == "a" and first["metadata"]["ce-source"] == "ledger"
    assert first["attempts"] == 2 and "poison a #2" in first["lastError"]
    listing = admin_ok(port, "consumer-dead-letters")
    assert f"{CONSUMER} @ {first['offset']}: event 2 of ledger|a" in listing
    assert '{"ledgerId": "a", "n": 2}' in listing and "2 parked message(s)" in listing

    poison.unlink()  # the handler is fixed
    out = admin_ok(port, "consumer-redrive", CONSUMER, first["offset"])
    assert f"1 parked message(s) of {CONSUMER} marked for redrive" in out
    wait_until(lambda: applied(projection)[("a", 2)] == 1, "the redriven a#2 to be applied")
    wait_until(
        lambda: first["offset"] not in [m["offset"] for m in parked(port)],
        "a#2's dead letter to be gone",
    )
    time.sleep(1.5)  # more than a poll interval: b#2 redriven by mistake would show by now
    assert applied(projection)[("a", 2)] == 1
    assert applied(projection)[("b", 2)] == 0
    (left,) = parked(port)
    assert (left["offset"], left["redrive"]) == (second["offset"], False)

    out = admin_ok(port, "consumer-redrive", CONSUMER, "--all")
    assert f"1 parked message(s) of {CONSUMER} marked for redrive" in out
    wait_until(lambda: applied(projection)[("b", 2)] == 1, "the redriven b#2 to be applied")
    wait_until(lambda: parked(port) == [], "no parked messages")
    time.sleep(1.5)
    assert set(applied(projection).values()) == {1} and len(applied(projection)) == 6
    consumer = projection_consumer(port)
    assert (consumer["pending"], consumer["parked"], consumer["lagSeconds"]) == ("0", "0", 0)

    # A redrive of a message that is not parked names the consumer and the offset.
    done = admin(port, "consumer-redrive", CONSUMER, first["offset"])
    assert done.returncode == 1 and f"no parked message at offset {first['offset']}" in done.stderr


def test_discard_and_resets_to_the_beginning_an_offset_a_time(
    tmp_path: Path,
    processes: list[Process],  # noqa: F811
) -> None:
    """A parked message discarded is never applied; a reset to the beginning replays every
    event once; a reset to an offset replays the events after it; a reset of a consumer that
    does not exist, or to a time that is not one, is refused."""
    client, port, projection = start_projection(tmp_path, processes)
    poison = Path(f"{projection}.poison")
    asyncio.run(append(client, [pb.AppendRequest(ledger_id=i, count=3) for i in "ab"]))
    wait_until(lambda: len(read_lines(projection)) == 6, "the first 6 events")

    # Discard: parked, then forgotten for good.
    poison.write_text("c 1")
    asyncio.run(append(client, [pb.AppendRequest(ledger_id="c", count=2)]))
    wait_until(lambda: len(parked(port)) == 1, "c#1 to be parked")
    (bad,) = parked(port)
    out = admin_ok(port, "consumer-discard", CONSUMER, bad["offset"])
    assert f"1 parked message(s) of {CONSUMER} discarded: {bad['offset']}" in out
    assert parked(port) == []
    poison.unlink()
    time.sleep(1.5)
    assert applied(projection)[("c", 1)] == 0 and applied(projection)[("c", 2)] == 1

    # Reset to the beginning: every stored event is delivered again, once more each.
    before = len(read_lines(projection))  # 7 applied
    reply = admin_json(port, "reset", CONSUMER, "--to-beginning")
    assert (reply["offset"], reply["generation"]) == ("0", "1")
    wait_until(lambda: len(read_lines(projection)) >= before + 8, "a replay of the 8 events")
    time.sleep(1.5)
    again = Counter((line["subject"], line["n"]) for line in read_lines(projection)[before:])
    assert again == Counter(
        {(s, n): 1 for s in "ab" for n in (1, 2, 3)} | {("c", 1): 1, ("c", 2): 1}
    )
    offsets = sorted({int(line["meta"]["ce-id"]) for line in read_lines(projection)})
    assert len(offsets) == 8
    # To an offset: the events after it, and the text form says where it continues.
    seen = len(read_lines(projection))
    out = admin_ok(port, "reset", CONSUMER, "--to-offset", str(offsets[-3]))
    assert f"{CONSUMER} reset: it continues after offset {offsets[-3]} (generation 2)" in out
    wait_until(lambda: len(read_lines(projection)) >= seen + 2, "the last 2 events again")
    time.sleep(1.5)
    replayed = [int(line["meta"]["ce-id"]) for line in read_lines(projection)[seen:]]
    assert sorted(replayed) == offsets[-2:]
    wait_until(lambda: projection_consumer(port)["pending"] == "0", "caught up again")
    # A consumer that does not exist, and a time that is not one, are refused.
    done = admin(port, "reset", "event_log:ledger:no.Such", "--to-beginning")
    assert done.returncode == 1 and "no eventing consumer 'event_log:ledger:no.Such'" in done.stderr
    assert CONSUMER in done.stderr
    done = admin(port, "reset", CONSUMER, "--to-time", "yesterday")
    assert done.returncode == 2 and "ISO 8601" in done.stderr


async def _generations(store_url: str, table_ids: list[str]) -> set[int]:
    store = await open_store(store_url)
    try:
        found = await store.load_view_generations(table_ids)
        return {g.active for g in found.values()}
    finally:
        await store.close()


PRODUCTS = [f"p{i:02d}" for i in range(20)]
CARTS = 30  # 600 events (more than one batch of 500), each product quantity 30


def test_a_view_rebuilt_through_the_admin_api_while_queries_answer(tmp_path: Path) -> None:
    """The popular-products view is rebuilt by ``cloudstate admin rebuild --service --table``
    while a thread queries it: every answer has every product at its full quantity (the old
    rows answer until the new ones are caught up). ``rebuilds`` shows the progress while it runs;
    the new generation is swapped in; a reset of the view's consumer is refused."""
    running = start_example(tmp_path, "cartviews.main", EXAMPLES / "shoppingcart_views")
    port = running.admin_port
    try:
        for cart in range(CARTS):
            for product in PRODUCTS:
                body = {"product_id": product, "name": product.upper(), "quantity": 1}
                running.post(f"/carts/c{cart}/items", body)
        wait_until(
            lambda: all(c["pending"] == "0" for c in admin_json(port, "consumers")["consumers"]),
            "the views to catch up",
        )
        (view,) = [
            c
            for c in admin_json(port, "consumers")["consumers"]
            if c.get("view") == "cartviews.PopularProducts"
        ]
        assert view["kind"] == "view" and view["tables"] == ["products"], view
        signature = view["consumerId"].split(":")[2]
        table_ids = [f"cartviews.PopularProducts/products/{signature}"]
        assert asyncio.run(_generations(running.store, table_ids)) == {0}

        answers: list[dict[str, int]] = []
        stop = threading.Event()

        def query() -> None:
            url = f"http://127.0.0.1:{running.port}/products/top?limit=100"
            while not stop.is_set():
                status, reply = http("GET", url)
                if status != 200:  # seen by the check of every answer below
                    answers.append({f"HTTP {status}: {reply}": 0})
                    continue
                answers.append({p["productId"]: int(p["quantity"]) for p in reply["products"]})

        reader = threading.Thread(target=query)
        reader.start()
        try:
            while not answers:
                time.sleep(0.01)
            out = admin_ok(port, "rebuild", "--service", "PopularProducts", "--table", "products")
            assert f"rebuilding products of {view['consumerId']} into generation 1" in out
            progress: list[dict[str, Any]] = []
            deadline = time.monotonic() + 120
            while asyncio.run(_generations(running.store, table_ids)) != {1}:
                assert time.monotonic() < deadline, "the rebuild did not finish"
                _, listing = http("GET", f"{running.admin}/v1/views/rebuilds")
                progress += listing["rebuilds"]
            count = len(answers)
            wait_until(lambda: len(answers) > count + 3, "queries after the swap")
        finally:
            stop.set()
            reader.join()
        full = dict.fromkeys(PRODUCTS, CARTS)
        assert answers and all(answer == full for answer in answers), [
            a for a in answers if a != full
        ][:3]
        for step in progress:  # what the rebuilds listing showed while it ran
            assert step["consumerId"] == view["consumerId"] and step["generation"] == "1"
            assert int(step["offset"]) <= int(step["headOffset"]) and step["started"], step
        assert admin_ok(port, "rebuilds") == "no view rebuilds running\n"
        print(f"\nadmin rebuild: {len(answers)} answers, progress seen {len(progress)} times")

        # By the consumer id too; a reset of a view's consumer is refused.
        reply = admin_json(port, "rebuild", view["consumerId"])
        assert (reply["generation"], reply["tables"]) == ("2", ["products"])
        done = admin(port, "reset", view["consumerId"], "--to-beginning")
        assert done.returncode == 1 and "rebuild the view instead" in done.stderr
        done = admin(port, "rebuild", "--service", "PopularProducts", "--table", "nope")
        assert done.returncode == 1 and "HTTP 404" in done.stderr
        assert view["consumerId"] in done.stderr  # the view consumers are listed
        wait_until(
            lambda: asyncio.run(_generations(running.store, table_ids)) == {2}, "generation 2"
        )
        _, reply = http("GET", f"http://127.0.0.1:{running.port}/products/top?limit=100")
        assert {p["productId"]: int(p["quantity"]) for p in reply["products"]} == full
    finally:
        assert running.process.terminate() == 0, running.process.log()
