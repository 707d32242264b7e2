"""The bank's transfer workflow (examples/bank/bank/transfer_workflow.py) under load and faults.

A thousand transfers start at once, 64 in flight, between fifty accounts of 10,000 cents; one in
ten goes to a closed account, whose deposit fails for good, so that workflow must refund the
withdrawal (the saga's compensation). Meanwhile the proxy is SIGKILLed (SQLite), or one of three
proxy nodes on one PostgreSQL is SIGKILLed and left dead (its workflows resume on the other nodes
from their wake-up tasks). Once every workflow has ended, the accounts' journals must show: money
conserved; every transfer to a closed account refunded; every other transfer completed or
refunded for want of funds; each withdrawal, deposit and refund applied once; no workflow left
running, no durable task pending, no dead letter.

``TRANSFER_FAULTS_SEED=N`` replays a run's transfers.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from cloudstate.proxy.stores.registry import open_store
from tests.backends import BACKENDS
from tests.durable.bank_faults import (
    SEED_CENTS,
    TRANSPORT_ERRORS,
    BankProcesses,
    account,
    bank_pb2,
    bank_pb2_grpc,
    read_journal,
    settle,
)
from tests.scaleout.cluster import CHANNEL_OPTIONS

pytestmark = [pytest.mark.timeout(420), pytest.mark.xdist_group("bank-faults")]

OPEN_ACCOUNTS = 50
CLOSED_ACCOUNTS = 5
TRANSFERS = 1000
IN_FLIGHT = 64
#: One transfer in ten goes to a closed account.
TO_CLOSED_EVERY = 10
ENDED = ("COMPLETED", "FAILED", "CANCELLED")
#: Deposits retry with back-off (5 attempts from 1 s) before the refund: allow for it.
END_WITHIN = 150.0


def closed(n: int) -> str:
    return f"closed-{n}"


@dataclass(frozen=True)
class Planned:
    transfer_id: str
    from_account: str
    to_account: str
    amount: int

    @property
    def to_closed(self) -> bool:
        return self.to_account.startswith("closed-")


def transfer_id(transfer: Planned) -> bank_pb2.TransferId:
    return bank_pb2.TransferId(transfer_id=transfer.transfer_id)


def plan(rng: random.Random) -> list[Planned]:
    planned = []
    for n in range(TRANSFERS):
        source, target = rng.sample(range(OPEN_ACCOUNTS), 2)
        to = closed(rng.randrange(CLOSED_ACCOUNTS)) if n % TO_CLOSED_EVERY == 0 else account(target)
        planned.append(Planned(f"wt{n:04d}", account(source), to, rng.randint(1, 15) * 100))
    return planned


@dataclass
class Clients:
    """Clients spread over the live nodes; each call retried on another node until it gets a
    definite answer."""

    bank: BankProcesses
    answers: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    started: int = 0
    #: Set once a third of the transfers started (when the chaos strikes).
    third_started: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
            for port in self.bank.ports
        ]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def call(self, service: str, method: str, request: Any, node: int) -> Any:
        deadline = time.monotonic() + 60
        while True:
            live = [i for i, n in enumerate(self.bank.nodes) if n.alive] or [0]
            channel = self._channels[live[node % len(live)]]
            stub = (
                bank_pb2_grpc.AccountsStub(channel)
                if service == "accounts"
                else bank_pb2_grpc.TransferWorkflowStub(channel)
            )
            try:
                reply = await getattr(stub, method)(request, timeout=10)
            except grpc.aio.AioRpcError as error:
                if error.code() not in TRANSPORT_ERRORS:
                    self.answers[f"{method} {error.code().name}"] += 1
                    return None
                self.retried[error.code().name] += 1
                if time.monotonic() > deadline:
                    raise AssertionError(f"{method} kept failing: {error.details()}") from error
                node += 1
                await asyncio.sleep(random.uniform(0.05, 0.2))
                continue
            self.answers[f"{method} OK"] += 1
            return reply

    async def seed(self) -> None:
        for n in range(OPEN_ACCOUNTS):
            deposit = bank_pb2.DepositRequest(
                account_id=account(n), amount=SEED_CENTS, transfer_id=f"seed-{n}"
            )
            await self.call("accounts", "Deposit", deposit, n)
        for n in range(CLOSED_ACCOUNTS):
            await self.call("accounts", "Close", bank_pb2.CloseRequest(account_id=closed(n)), n)

    async def start_all(self, planned: list[Planned]) -> None:
        queue = list(enumerate(planned))

        async def client() -> None:
            while queue:
                n, transfer = queue.pop()
                request = bank_pb2.TransferRequest(
                    transfer_id=transfer.transfer_id,
                    from_account=transfer.from_account,
                    to_account=transfer.to_account,
                    amount=transfer.amount,
                )
                # A retry after an unknown outcome may find the workflow started: "already
                # started" (FAILED_PRECONDITION) is a definite answer too.
                await self.call("transfers", "Start", request, n)
                self.started += 1
                if self.started >= TRANSFERS // 3:
                    self.third_started.set()

        await asyncio.gather(*(client() for _ in range(IN_FLIGHT)))

    async def wait_ended(self, planned: list[Planned]) -> dict[str, Any]:
        """Every transfer's final progress; AssertionError naming the stuck ones."""
        ended: dict[str, Any] = {}
        deadline = time.monotonic() + END_WITHIN
        while True:
            waiting = [t for t in planned if t.transfer_id not in ended]
            for start in range(0, len(waiting), IN_FLIGHT):
                batch = waiting[start : start + IN_FLIGHT]
                replies = await asyncio.gather(
                    *(
                        self.call(
                            "transfers",
                            "GetProgress",
                            bank_pb2.TransferId(transfer_id=t.transfer_id),
                            n,
                        )
                        for n, t in enumerate(batch)
                    )
                )
                for transfer, reply in zip(batch, replies, strict=True):
                    if reply is not None and reply.status in ENDED:
                        ended[transfer.transfer_id] = reply
            if len(ended) == len(planned):
                return ended
            if time.monotonic() > deadline:
                stuck = [t.transfer_id for t in planned if t.transfer_id not in ended][:10]
                raise AssertionError(f"{len(planned) - len(ended)} workflows never ended: {stuck}")
            await asyncio.sleep(0.5)


async def chaos(bank: BankProcesses, clients: Clients, victim: int, restart: bool) -> None:
    """SIGKILL node ``victim`` once a third of the transfers started; restart it or not."""
    await clients.third_started.wait()
    await asyncio.to_thread(bank.nodes[victim].kill)
    bank.kills.append((f"proxy {victim}", 0.0))
    if restart:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(bank.start_node, bank.nodes[victim])


async def transfers_under_faults(tmp: Path, store_url: str, nodes: int, restart: bool) -> None:
    seed = int(os.environ.get("TRANSFER_FAULTS_SEED", random.randrange(10**6)))
    planned = plan(random.Random(seed))
    bank = await asyncio.to_thread(BankProcesses.start, tmp, store_url, nodes)
    clients = Clients(bank)
    try:
        began = time.monotonic()
        await clients.seed()
        async with asyncio.TaskGroup() as group:
            group.create_task(clients.start_all(planned))
            group.create_task(chaos(bank, clients, nodes - 1, restart))
        progress = await clients.wait_ended(planned)
        took = time.monotonic() - began
        store = await open_store(store_url)
        try:
            await settle(store, 60.0)
            journals = await read_journal(store, "account")
            dead_letters = len(await store.list_dead_letters())
        finally:
            await store.close()
    except BaseException:
        print(f"seed {seed}; proxy warnings:\n{bank.warnings()}")
        raise
    finally:
        await clients.close()
        await asyncio.to_thread(bank.stop)

    statuses = Counter(f"{p.status}/{p.stage}" for p in progress.values())
    print(
        f"\nseed {seed}: {TRANSFERS} transfer workflows, {nodes} node(s), kills {bank.kills}; "
        f"all ended {took:.1f}s after the start\nstatuses {dict(statuses)}\n"
        f"answers {dict(sorted(clients.answers.items()))}; retried {dict(clients.retried)}"
    )
    # What each account applied, per transfer, from the journals.
    total = 0
    applied: Counter[tuple[str, str, str]] = Counter()
    for account_id, events in journals.items():
        for event in events:
            kind = type(event).__name__
            if kind in ("Deposited", "Refunded"):
                total += event.amount
            elif kind == "Withdrawn":
                total -= event.amount
            if kind in ("Deposited", "Withdrawn", "Refunded", "WithdrawalVoided"):
                applied[(account_id, event.transfer_id, kind)] += 1
    assert total == OPEN_ACCOUNTS * SEED_CENTS, "money not conserved"
    repeated = [key for key, count in applied.items() if count > 1]
    assert repeated == [], f"applied more than once: {repeated[:10]}"
    for transfer in planned:
        reply = progress[transfer.transfer_id]
        withdrawn = applied[(transfer.from_account, transfer.transfer_id, "Withdrawn")]
        deposited = applied[(transfer.to_account, transfer.transfer_id, "Deposited")]
        undone = (
            applied[(transfer.from_account, transfer.transfer_id, "Refunded")]
            + applied[(transfer.from_account, transfer.transfer_id, "WithdrawalVoided")]
        )
        if transfer.to_closed:
            assert (reply.status, reply.stage) == ("FAILED", "refunded"), (transfer, reply)
        if reply.status == "COMPLETED":
            assert (withdrawn, deposited, undone) == (1, 1, 0), (transfer, reply)
        else:
            assert (reply.status, reply.stage) == ("FAILED", "refunded"), (transfer, reply)
            assert deposited == 0 and undone == 1, (transfer, reply, withdrawn)
    assert dead_letters == 0
    assert len(bank.kills) == 1


async def test_transfer_workflows_on_sqlite_with_the_proxy_killed(tmp_path: Path) -> None:
    await transfers_under_faults(tmp_path, f"sqlite:///{tmp_path}/bank.db", 1, restart=True)


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="CLOUDSTATE_TEST_BACKENDS")
async def test_transfer_workflows_on_three_postgresql_nodes_one_killed(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    await transfers_under_faults(tmp_path, fresh_postgres_url, 3, restart=False)
