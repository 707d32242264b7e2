"""Crash safety of durable calls, timers and idempotency keys, shown with the bank example
(examples/bank) and real processes killed with SIGKILL, then counted.

A thousand transfers between fifty accounts run through the proxy while a chaos task kills and
restarts the proxy (or one of three proxy nodes sharing PostgreSQL) and the user function at
random points of the load. Every client call carries an idempotency key and is retried with it
until it gets a definite answer. Once every durable task has settled, the journals must show:
money conserved; every transfer COMPLETED or EXPIRED (no timer lost); no dead letter; at most one
deposit per transfer and, for an expired one, exactly one refund or void; no timer fired twice;
and no ``DuplicateIgnored`` — the bank's audit event for a repeat that reached an entity: the
proxy's keys must stop every redelivery and every client retry before the user function.

Each run draws a seed (printed; ``BANK_FAULTS_SEED=N`` replays its transfers and the points of
the load where the kills happen — the timing around them is the machine's).

A last test stops every process with a transfer's 30 s timer pending, keeps them down past its
due time, and shows the timer fires once the processes are back, and refunds.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from cloudstate.proxy.stores.registry import open_store
from tests.backends import BACKENDS
from tests.durable.bank_faults import (
    ACCOUNTS,
    SEED_CENTS,
    BankLoad,
    BankProcesses,
    account,
    audit_store,
    bank_pb2,
    chaos,
    domain_pb2,
    plan_faults,
    plan_transfers,
    read_journal,
    settle,
)

#: The load and the settling are bounded by their own timeouts; this only stops a hung test.
pytestmark = pytest.mark.timeout(300)

FUNDED = bank_pb2.TransferStatus.FUNDED
EXPIRED = bank_pb2.TransferStatus.EXPIRED

#: The two load tests keep both cores busy for 30-50 s each: never both at once.
HEAVY = pytest.mark.xdist_group("bank-faults")

#: How long the durable tasks get to settle after the load (timers of 2-3 s, quick retries).
SETTLE_WITHIN = 60.0


async def transfers_under_faults(
    tmp: Path, store_url: str, nodes: int, targets: list[str | int], seed: int
) -> None:
    rng = random.Random(seed)
    plan = plan_transfers(rng)
    faults = plan_faults(rng, targets, len(plan))
    bank = await asyncio.to_thread(BankProcesses.start, tmp, store_url, nodes)
    load = BankLoad(bank.ports)
    try:
        began = time.monotonic()
        await load.seed()
        async with asyncio.TaskGroup() as group:
            group.create_task(load.run(plan))
            group.create_task(chaos(bank, faults, load))
        loaded = time.monotonic() - began
        store = await open_store(store_url)
        try:
            settled = await settle(store, SETTLE_WITHIN)
            audit = await audit_store(store, plan)
            pending = len(await store.list_tasks())
        finally:
            await store.close()
        balances = [
            (await load.call("read", "GetBalance", request, None)).balance
            for request in (
                bank_pb2.GetBalanceRequest(account_id=account(n)) for n in range(ACCOUNTS)
            )
        ]
    except BaseException:
        print(f"seed {seed}; proxy warnings:\n{bank.warnings()}")
        raise
    finally:
        await load.close()
        await asyncio.to_thread(bank.stop)
    print(
        f"\nseed {seed}: {len(plan)} transfers, {ACCOUNTS} accounts, {nodes} proxy node(s); "
        f"kills {bank.kills}; load {loaded:.1f}s, settled in {settled:.1f}s\n"
        f"answers {dict(sorted(load.answers.items()))}; retried {dict(load.retried)}\n"
        f"statuses {dict(audit.statuses)}; movements {dict(audit.movements)}; "
        f"timer firings {audit.timer_firings}; dead letters {audit.dead_letters}; "
        f"duplicates {len(audit.duplicates)}; total {audit.total_cents} cents"
    )
    assert len(bank.kills) == len(targets)
    assert audit.total_cents == ACCOUNTS * SEED_CENTS, "money not conserved"
    assert sum(balances) == ACCOUNTS * SEED_CENTS, "the accounts' balances disagree"
    assert audit.problems == [], "\n".join(audit.problems[:20])
    assert audit.duplicates == [], f"repeats reached the entities: {audit.duplicates[:20]}"
    assert audit.dead_letters == 0 and pending == 0
    assert audit.statuses["COMPLETED"] + audit.statuses["EXPIRED"] == len(plan)


@HEAVY
async def test_money_is_conserved_while_the_proxy_and_user_function_are_killed(
    tmp_path: Path,
) -> None:
    """One proxy on a SQLite file: killed three times, then the user function three times."""
    seed = int(os.environ.get("BANK_FAULTS_SEED", random.randrange(10**6)))
    await transfers_under_faults(
        tmp_path, f"sqlite:///{tmp_path}/bank.db", 1, [0, 0, 0, "uf", "uf", "uf"], seed
    )


@HEAVY
@pytest.mark.skipif("postgresql" not in BACKENDS, reason="CLOUDSTATE_TEST_BACKENDS")
async def test_money_is_conserved_while_proxy_nodes_on_postgresql_are_killed(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """Three proxy nodes on one PostgreSQL: one at a time killed, five times, and the user
    function once; the clients move to another node when theirs is down."""
    seed = int(os.environ.get("BANK_FAULTS_SEED", random.randrange(10**6)))
    rng = random.Random(seed + 1)
    targets: list[str | int] = [rng.randrange(3) for _ in range(5)]
    targets.insert(rng.randrange(1, 5), "uf")
    await transfers_under_faults(tmp_path, fresh_postgres_url, 3, targets, seed)


async def test_a_timer_due_while_every_process_is_down_fires_after_the_restart(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path}/bank.db"
    bank = await asyncio.to_thread(BankProcesses.start, tmp_path, store_url)
    load = BankLoad(bank.ports)
    try:
        deposit = bank_pb2.DepositRequest(account_id="alice", amount=100, transfer_id="cash-1")
        await load.call("seed", "Deposit", deposit, "cash-1", 0)
        start = bank_pb2.StartTransfer(
            transfer_id="late",
            from_account="alice",
            to_account="bob",
            amount=30,
            expire_after_seconds=30,
        )
        started = await load.call("start", "Start", start, "start-late", 0)
        assert started is not None
        transfer = bank_pb2.TransferId(transfer_id="late")
        deadline = time.monotonic() + 10
        while (await load.call("read", "GetTransfer", transfer, None)).status != FUNDED:
            assert time.monotonic() < deadline, "the withdrawal was never reported"
            await asyncio.sleep(0.05)
        store = await open_store(store_url)
        try:
            (timer,) = await store.list_tasks("timer:")
        finally:
            await store.close()

        await asyncio.to_thread(bank.kill_all)  # SIGKILL both, 30 s before the timer is due
        await asyncio.sleep(max(0.0, timer.due + 1.0 - time.time()))  # down past the due time
        restart_began = time.time()
        await asyncio.gather(  # the proxy's discovery waits for the user function
            asyncio.to_thread(bank.uf.start),
            asyncio.to_thread(bank.start_node, bank.nodes[0]),
        )
        restart = time.time() - restart_began
        deadline = time.monotonic() + 15
        while (await load.call("read", "GetTransfer", transfer, None)).status != EXPIRED:
            assert time.monotonic() < deadline, "the timer never fired after the restart"
            await asyncio.sleep(0.05)
        balances = [
            (await load.call("read", "GetBalance", request, None)).balance
            for request in (
                bank_pb2.GetBalanceRequest(account_id="alice"),
                bank_pb2.GetBalanceRequest(account_id="bob"),
            )
        ]
        store = await open_store(store_url)
        try:
            await settle(store, 15)
            fired = [
                event.timestamp
                async for event in store.read_events("transfer", "late")
                if event.payload.type_url.endswith(".TransferExpired")
            ]
            transfers = await read_journal(store, "transfer")
            accounts = await read_journal(store, "account")
        finally:
            await store.close()
    finally:
        await load.close()
        await asyncio.to_thread(bank.stop)
    (fired_at,) = fired  # fired once
    down_past_due = restart_began - timer.due
    lateness = fired_at - timer.due
    print(
        f"\ntimer due {timer.due:.3f}; down {down_past_due:.1f}s past it, restart took "
        f"{restart:.1f}s; fired {lateness:.2f}s late ({fired_at - restart_began - restart:.2f}s "
        "after the proxy served again)"
    )
    assert fired_at >= restart_began  # not before the kill: it was 30 s ahead then
    assert lateness <= down_past_due + restart + 2.0
    assert balances == [100, 0]  # the withdrawal went back
    assert [type(e).__name__ for e in transfers["late"]] == [
        "TransferStarted",
        "TransferFunded",
        "TransferExpired",
    ]
    assert accounts["alice"][-1] == domain_pb2.Refunded(transfer_id="late", amount=30)
    assert not any(isinstance(e, domain_pb2.DuplicateIgnored) for e in accounts["alice"])
