"""Money is conserved whatever order the proxy's deliveries come in, within its guarantees.

A small simulation plays the proxy around the test kits of one transfer and its two accounts:
Hypothesis chooses an interleaving of client calls (Start, retried; Confirm), Start's synchronous
withdrawal — which a crash may cut before it runs — timer firings (also late ones, racing a
cancellation), and deliveries of durable effects (the account's report to the transfer, the
deposit, the refund; each at least once, possibly repeated). At the end every durable effect is
delivered and a still-pending timer fires, as the proxy guarantees; then the two balances must add
up to what there was, and agree with the transfer's final status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bank.account_entity import entity as account_entity
from bank.bank_pb2 import TransferStatus
from bank.transfer_entity import entity as transfer_entity
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudstate.testkit import EventSourcedTestKit, SideEffect

TOTAL = 100
AMOUNT = 30
OPERATIONS = ("start", "withdraw", "crash", "confirm", "timer", "deliver")


@dataclass
class Bank:
    alice: EventSourcedTestKit = field(
        default_factory=lambda: EventSourcedTestKit(account_entity, "alice")
    )
    bob: EventSourcedTestKit = field(
        default_factory=lambda: EventSourcedTestKit(account_entity, "bob")
    )
    transfer: EventSourcedTestKit = field(
        default_factory=lambda: EventSourcedTestKit(transfer_entity, "t1")
    )
    #: Start's synchronous withdrawals not performed yet (a crash drops one).
    withdrawals: list[Any] = field(default_factory=list)
    #: Durable effects asked for; a delivered one stays here: it may be delivered again.
    durable: list[SideEffect] = field(default_factory=list)
    undelivered: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.alice.deposit(account_id="alice", amount=TOTAL, transfer_id="cash-1")

    def target(self, effect: SideEffect) -> EventSourcedTestKit:
        if effect.service == "com.example.bank.Transfers":
            return self.transfer
        return self.alice if effect.message.account_id == "alice" else self.bob

    def ask(self, result: Any) -> None:
        """Record the durable effects of a result; keep its synchronous withdrawal."""
        for effect in result.effects:
            if effect.durable:
                self.undelivered.add(len(self.durable))
                self.durable.append(effect)
            elif effect.synchronous:
                self.withdrawals.append(effect.message)

    def run(self, operation: str, n: int) -> None:
        if operation == "start":
            self.ask(
                self.transfer.start(
                    transfer_id="t1", from_account="alice", to_account="bob", amount=AMOUNT
                )
            )
        elif operation in ("withdraw", "crash") and self.withdrawals:
            request = self.withdrawals.pop(n % len(self.withdrawals))
            if operation == "withdraw":
                self.ask(self.alice.withdraw(request))
        elif operation == "confirm":
            self.ask(self.transfer.confirm(transfer_id="t1"))
        elif operation == "timer" and self.transfer.pending_timers:
            self.ask(self.transfer.fire_timer("expire-t1"))
        elif operation == "timer" and self.transfer.events:
            # A delivery that was under way when the timer was cancelled, or a repeated one.
            self.ask(self.transfer.expire(transfer_id="t1"))
        elif operation == "deliver" and self.durable:
            # Even n: the oldest undelivered effect (progress); odd n: any, maybe again.
            if n % 2 == 0 and self.undelivered:
                self.deliver(min(self.undelivered))
            else:
                self.deliver(n % len(self.durable))

    def deliver(self, index: int) -> None:
        effect = self.durable[index]
        result = self.target(effect).call(effect.method, effect.message)
        assert result.succeeded, result  # durable deliveries in this flow never fail
        self.undelivered.discard(index)
        self.ask(result)

    def settle(self) -> None:
        """What the proxy guarantees eventually: pending timers fire, durable effects land."""
        if self.transfer.pending_timers:
            self.ask(self.transfer.fire_timer("expire-t1"))
        while self.undelivered:
            self.deliver(min(self.undelivered))

    def balance(self, kit: EventSourcedTestKit) -> int:
        return int(kit.get_balance(account_id=kit.entity_id).reply.balance)


@settings(max_examples=1000, deadline=None, database=None)
@given(
    st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 7)), min_size=4, max_size=30),
)
def test_money_is_conserved_in_any_interleaving(steps: list[tuple[str, int]]) -> None:
    bank = Bank()
    for operation, n in steps:
        bank.run(operation, n)
        assert bank.balance(bank.alice) + bank.balance(bank.bob) <= TOTAL  # nothing created
    bank.settle()
    alice, bob = bank.balance(bank.alice), bank.balance(bank.bob)
    assert alice + bob == TOTAL
    status = bank.transfer.get_transfer(transfer_id="t1").reply.status
    if status == TransferStatus.COMPLETED:
        assert (alice, bob) == (TOTAL - AMOUNT, AMOUNT)
    else:
        assert status in (TransferStatus.UNKNOWN, TransferStatus.EXPIRED), status
        assert (alice, bob) == (TOTAL, 0)
