"""The bank example (examples/bank) under faults, for tests/durable/test_bank_faults.py: its user
function and proxies as real processes, a load of transfers from clients that retry every call
with the same idempotency key until it gets a definite answer, a chaos task that SIGKILLs and
restarts the processes while the load runs, and an audit of the journals afterwards.

Example::

    bank = BankProcesses.start(tmp, "sqlite:///tmp/bank.db", nodes=1)
    plan = plan_transfers(random.Random(7))
    load = BankLoad(bank.ports)
    await load.seed()
    await asyncio.gather(load.run(plan), chaos(bank, faults, load))
    audit = await audit_store(bank.store, plan)
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from cloudstate.proxy.stores.base import Store
from tests.processes import ROOT, Process, free_port, proxy, wait_serving
from tests.scaleout.cluster import CHANNEL_OPTIONS

BANK_DIR = ROOT / "examples" / "bank"
if str(BANK_DIR) not in sys.path:
    sys.path.insert(0, str(BANK_DIR))

from bank import bank_pb2, bank_pb2_grpc, domain_pb2  # noqa: E402

ACCOUNTS = 50
TRANSFERS = 1000
SEED_CENTS = 10_000
#: Transfers in flight at once (each a Start, then maybe a Confirm).
IN_FLIGHT = 16
CONFIRMED_SHARE = 0.7
#: Quick re-deliveries, so that the tasks a crash interrupted settle within seconds.
PROXY_FLAGS = (
    "--durable-retry-min",
    "100ms",
    "--durable-retry-max",
    "1s",
    "--shutdown-grace",
    "1",
)
#: Answers after which a call may or may not have run: retried with the same key.
TRANSPORT_ERRORS = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
#: How long one call may keep failing with transport errors before the test gives up.
CALL_PATIENCE = 60.0


def account(n: int) -> str:
    return f"acct-{n:02d}"


def bank_user_function(tmp: Path, port: int | None = None) -> Process:
    """``python -m bank.main`` in examples/bank, as its README runs it."""
    port = port or free_port()
    return Process(
        "bank user function",
        [sys.executable, "-m", "bank.main"],
        port,
        tmp / f"bank-uf-{port}.log",
        cwd=BANK_DIR,
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


# -- the processes ---------------------------------------------------------------------------------


@dataclass
class BankProcesses:
    """One bank user function and ``nodes`` proxies in front of it, on one store."""

    tmp: Path
    store: str
    uf: Process
    nodes: list[Process]
    #: What the chaos did, in order: ("proxy 1", seconds down), ("user function", ...).
    kills: list[tuple[str, float]] = field(default_factory=list)

    @classmethod
    def start(cls, tmp: Path, store: str, nodes: int = 1) -> BankProcesses:
        uf = bank_user_function(tmp).start()
        started = cls(tmp, store, uf, [])
        try:
            for _ in range(nodes):
                node = proxy(tmp, uf.port, store, *PROXY_FLAGS)
                started.nodes.append(node)
                started.start_node(node)
        except BaseException:
            started.stop()
            raise
        return started

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start_node(self, node: Process) -> float:
        """Start (or restart) a proxy; the seconds until it serves."""
        began = time.monotonic()
        node.start()
        try:
            wait_serving(node.port)
        except TimeoutError as error:
            raise RuntimeError(f"{error}\n--- proxy log ---\n{node.log()[-4000:]}") from error
        return time.monotonic() - began

    def stop(self) -> None:
        for process in (*self.nodes, self.uf):
            process.terminate()

    def kill_all(self) -> None:
        for process in (*self.nodes, self.uf):
            process.kill()

    def warnings(self) -> str:
        """The proxies' warnings and errors (for a failure's message)."""
        lines = [
            line
            for node in self.nodes
            for line in node.log().splitlines()
            if "WARNING" in line or "ERROR" in line
        ]
        return "\n".join(lines[-40:])


@dataclass(frozen=True)
class Fault:
    """SIGKILL ``target`` ("uf" or the index of a proxy node) once ``at`` transfers are done,
    and restart it ``down`` seconds later."""

    at: int
    target: str | int
    down: float


def plan_faults(rng: random.Random, targets: Sequence[str | int], total: int) -> list[Fault]:
    """One fault per target, in that order, at random points of the load (between 5% and 85% of
    the transfers done, at least 4% apart)."""
    count = len(targets)
    span = int(total * 0.8) - int(total * 0.04) * (count - 1)
    points = sorted(rng.randrange(span) for _ in range(count))
    return [
        Fault(int(total * 0.05) + point + n * int(total * 0.04), target, rng.uniform(0.2, 1.0))
        for n, (point, target) in enumerate(zip(points, targets, strict=True))
    ]


async def chaos(bank: BankProcesses, faults: Sequence[Fault], load: BankLoad) -> None:
    """Carry out ``faults`` while ``load`` runs: each waits for its point of the load."""
    for fault in faults:
        await load.reached(fault.at)
        process = bank.uf if fault.target == "uf" else bank.nodes[int(fault.target)]
        await asyncio.to_thread(process.kill)
        await asyncio.sleep(fault.down)
        if fault.target == "uf":
            await asyncio.to_thread(process.start)
        else:
            await asyncio.to_thread(bank.start_node, process)
        name = "user function" if fault.target == "uf" else f"proxy {fault.target}"
        bank.kills.append((name, fault.down))


# -- the load --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedTransfer:
    transfer_id: str
    from_account: str
    to_account: str
    amount: int
    expire_after_seconds: int
    confirm: bool


def plan_transfers(rng: random.Random, total: int = TRANSFERS) -> list[PlannedTransfer]:
    """``total`` transfers between random accounts: 1 to 15 units of 100 cents (some find the
    source short of funds), expiring after 2 or 3 s, ~70% of them confirmed."""
    planned = []
    for n in range(total):
        source, target = rng.sample(range(ACCOUNTS), 2)
        planned.append(
            PlannedTransfer(
                f"t{n:04d}",
                account(source),
                account(target),
                rng.randint(1, 15) * 100,
                rng.choice((2, 3)),
                rng.random() < CONFIRMED_SHARE,
            )
        )
    return planned


@dataclass
class BankLoad:
    """Clients of the bank spread over the proxy nodes (``ports``): every call carries an
    idempotency key and is retried with it, on the next node, until it gets a definite answer
    (a reply, or a failure of the bank's own such as insufficient funds)."""

    ports: Sequence[int]
    #: Transfers whose calls all got their definite answer.
    done: int = 0
    #: Definite answers by call ("start", "confirm", "seed") and status code name.
    answers: Counter[str] = field(default_factory=Counter)
    #: Transport errors retried, by code name.
    retried: Counter[str] = field(default_factory=Counter)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
            for port in self.ports
        ]
        self._accounts = [bank_pb2_grpc.AccountsStub(c) for c in self._channels]
        self._transfers = [bank_pb2_grpc.TransfersStub(c) for c in self._channels]

    async def reached(self, count: int) -> None:
        """Return once ``count`` transfers are done."""
        while self.done < count:
            self._progress.clear()
            await self._progress.wait()

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def call(
        self, what: str, method: str, request: Any, key: str | None, node: int = 0
    ) -> Any:
        """``method`` of the Accounts or Transfers stub with ``key`` (None: a read, no key),
        first on node ``node``, until a definite answer; the reply, or None after a failure of
        the bank's own."""
        metadata = (("idempotency-key", key),) if key else ()
        deadline = time.monotonic() + CALL_PATIENCE
        while True:
            stubs = self._accounts if method in ("Deposit", "GetBalance") else self._transfers
            stub = stubs[node % len(stubs)]
            try:
                reply = await getattr(stub, method)(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as error:
                if error.code() not in TRANSPORT_ERRORS:
                    self.answers[f"{what} {error.code().name}"] += 1
                    return None
                self.retried[error.code().name] += 1
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{method} with key {key} kept failing for {CALL_PATIENCE}s: "
                        f"{error.code().name}: {error.details()}"
                    ) from error
                node += 1  # another node, if there is one
                await asyncio.sleep(random.uniform(0.05, 0.2))
                continue
            self.answers[f"{what} OK"] += 1
            return reply

    async def seed(self) -> None:
        """SEED_CENTS into every account, each a keyed deposit."""
        await asyncio.gather(
            *(
                self.call(
                    "seed",
                    "Deposit",
                    bank_pb2.DepositRequest(
                        account_id=account(n), amount=SEED_CENTS, transfer_id=f"seed-{n}"
                    ),
                    f"seed-{n}",
                    n,
                )
                for n in range(ACCOUNTS)
            )
        )

    async def transfer(self, n: int, planned: PlannedTransfer) -> None:
        start = bank_pb2.StartTransfer(
            transfer_id=planned.transfer_id,
            from_account=planned.from_account,
            to_account=planned.to_account,
            amount=planned.amount,
            expire_after_seconds=planned.expire_after_seconds,
        )
        await self.call("start", "Start", start, f"start-{n}", n)
        if planned.confirm:
            confirm = bank_pb2.TransferId(transfer_id=planned.transfer_id)
            await self.call("confirm", "Confirm", confirm, f"confirm-{n}", n + 1)
        self.done += 1
        self._progress.set()

    async def run(self, plan: Sequence[PlannedTransfer]) -> None:
        """Every planned transfer, IN_FLIGHT at a time."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(len(plan)):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                await self.transfer(n, plan[n])

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


# -- the audit -------------------------------------------------------------------------------------

_DOMAIN = {
    descriptor.full_name: getattr(domain_pb2, name)
    for name, descriptor in domain_pb2.DESCRIPTOR.message_types_by_name.items()
}


async def settle(store: Store, within: float) -> float:
    """Wait until no durable task is pending (every timer fired or was cancelled, every durable
    effect delivered); the seconds it took. AssertionError naming what is left after ``within``."""
    began = time.monotonic()
    while True:
        pending = await store.list_tasks()
        if not pending:
            return time.monotonic() - began
        if time.monotonic() - began > within:
            shown = [(t.name, t.attempts, t.last_error) for t in pending[:5]]
            raise AssertionError(
                f"{len(pending)} durable tasks still pending after {within}s: {shown}"
            )
        await asyncio.sleep(0.2)


async def read_journal(store: Store, persistence_id: str) -> dict[str, list[Any]]:
    """Every entity's events of ``persistence_id``, decoded, in sequence order."""
    journal: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    after = 0
    while True:
        page = [item async for item in store.read_all_events(persistence_id, after, 1000)]
        if not page:
            break
        for entity_id, event in page:
            name = event.payload.type_url.rsplit("/", 1)[-1]
            message = _DOMAIN[name].FromString(event.payload.value)
            journal[entity_id].append((event.sequence, message))
            after = max(after, event.offset)
    ordered = {}
    for entity_id, events in journal.items():
        events.sort(key=lambda pair: pair[0])
        assert [s for s, _ in events] == list(range(1, len(events) + 1)), entity_id
        ordered[entity_id] = [message for _, message in events]
    return ordered


@dataclass
class Audit:
    """What the journals say happened (see :func:`audit_store`)."""

    total_cents: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    #: Journaled movements by kind: Deposited, Withdrawn, Refunded, WithdrawalVoided.
    movements: Counter[str] = field(default_factory=Counter)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timer_firings: int = 0
    dead_letters: int = 0


def transfer_status(events: Sequence[Any]) -> str:
    kinds = {type(event).__name__ for event in events}
    if "TransferExpired" in kinds:
        return "EXPIRED"
    if {"TransferFunded", "TransferConfirmed"} <= kinds:
        return "COMPLETED"
    return "FUNDED" if "TransferFunded" in kinds else "PENDING"


async def audit_store(store: Store, plan: Sequence[PlannedTransfer]) -> Audit:
    """Read both journals and check every transfer against them (problems listed, not raised)."""
    audit = Audit(dead_letters=len(await store.list_dead_letters()))
    accounts = await read_journal(store, "account")
    transfers = await read_journal(store, "transfer")
    # (account, transfer id) -> kinds of movement, with repeats
    moves: dict[tuple[str, str], list[str]] = defaultdict(list)
    for account_id, events in accounts.items():
        balance = 0
        for event in events:
            kind = type(event).__name__
            if isinstance(event, domain_pb2.DuplicateIgnored):
                audit.duplicates.append(f"{account_id}: {event.command} {event.transfer_id}")
                continue
            audit.movements[kind] += 1
            moves[(account_id, event.transfer_id)].append(kind)
            if isinstance(event, domain_pb2.Deposited | domain_pb2.Refunded):
                balance += event.amount
            elif isinstance(event, domain_pb2.Withdrawn):
                balance -= event.amount
            if balance < 0:
                audit.problems.append(f"{account_id} overdrawn ({balance}) by {event}")
        audit.total_cents += balance
    for planned in plan:
        events = transfers.get(planned.transfer_id, [])
        for event in events:
            if isinstance(event, domain_pb2.DuplicateIgnored):
                audit.duplicates.append(f"{planned.transfer_id}: {event.command}")
        status = transfer_status(events)
        audit.statuses[status] += 1
        expired = sum(isinstance(e, domain_pb2.TransferExpired) for e in events)
        audit.timer_firings += expired
        source = moves[(planned.from_account, planned.transfer_id)]
        deposits = moves[(planned.to_account, planned.transfer_id)]
        givebacks = source.count("Refunded") + source.count("WithdrawalVoided")
        what = f"{planned.transfer_id} ({status}): source {source}, destination {deposits}"
        if expired > 1:
            audit.problems.append(f"{what}: its timer fired {expired} times")
        if source.count("Withdrawn") > 1 or deposits.count("Deposited") > 1 or givebacks > 1:
            audit.problems.append(f"{what}: a movement applied twice")
        if status == "COMPLETED" and (source, deposits) != (["Withdrawn"], ["Deposited"]):
            audit.problems.append(f"{what}: completed, but not withdrawn once and deposited once")
        refunded = source.count("Withdrawn") == source.count("Refunded")
        if status == "EXPIRED" and (givebacks != 1 or not refunded or deposits):
            audit.problems.append(f"{what}: expired, but not given back exactly once")
        if status not in ("COMPLETED", "EXPIRED"):
            audit.problems.append(f"{what}: never finished (a lost timer?)")
    return audit
