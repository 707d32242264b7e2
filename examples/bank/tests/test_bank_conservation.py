"""Money is conserved whatever order the proxy's deliveries come in, within its guarantees.

A small simulation plays the proxy around the test kits of one transfer and its two accounts:
Hypothesis chooses an interleaving of client calls (Start, retried; Confirm), the steps of
Start's synchronous chain (withdraw, then the forward to Funded) — which a crash may cut at any
point — timer firings (also late ones, racing a cancellation), and deliveries of durable
effects (each at least once, possibly repeated). At the end every durable effect is delivered and
a still-pending timer fires, as the proxy guarantees; then the two balances must add up to what
there was, and agree with the transfer's final status.
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
OPERATIONS = ("start", "chain", "crash", "confirm", "timer", "late-timer", "deliver")


@dataclass
class Chain:
    """Start's synchronous side effect (the withdrawal), then its forward to Funded."""

    withdrawal: Any
    withdrawn: bool = False


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
    chains: list[Chain] = field(default_factory=list)
    #: Durable effects asked for; a delivered one stays here: it may be delivered again.
    durable: list[SideEffect] = field(default_factory=list)
    undelivered: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.alice.deposit(account_id="alice", amount=TOTAL, transfer_id="cash-1")

    def account(self, effect: SideEffect) -> EventSourcedTestKit:
        return self.alice if effect.message.account_id == "alice" else self.bob

    def ask(self, result: Any) -> None:
        for effect in result.effects:
            if effect.durable:
                self.undelivered.add(len(self.durable))
                self.durable.append(effect)

    def run(self, operation: str, n: int) -> None:
        if operation == "start":
            started = self.transfer.start(
                transfer_id="t1", from_account="alice", to_account="bob", amount=AMOUNT
            )
            if started.forward is not None:
                self.chains.append(Chain(started.effects[0].message))
        elif operation in ("chain", "crash") and self.chains:
            chain = self.chains[n % len(self.chains)]
            if operation == "crash":
                self.chains.remove(chain)  # the proxy died: the rest of the chain is lost
            elif not chain.withdrawn:
                if self.alice.withdraw(chain.withdrawal).failure is not None:
                    self.chains.remove(chain)  # a failing synchronous effect ends the call
                chain.withdrawn = True
            else:
                self.transfer.funded(transfer_id="t1")
                self.chains.remove(chain)
        elif operation == "confirm":
            self.ask(self.transfer.confirm(transfer_id="t1"))
        elif operation == "timer" and self.transfer.pending_timers:
            self.ask(self.transfer.fire_timer("expire-t1"))
        elif operation == "late-timer" and self.transfer.events:
            self.ask(self.transfer.expire(transfer_id="t1"))
        elif operation == "deliver" and self.durable:
            index = n % len(self.durable)
            effect = self.durable[index]
            self.account(effect).call(effect.method, effect.message)
            self.undelivered.discard(index)

    def settle(self) -> None:
        """What the proxy guarantees eventually: pending timers fire, durable effects land."""
        if self.transfer.pending_timers:
            self.ask(self.transfer.fire_timer("expire-t1"))
        for index in sorted(self.undelivered):
            effect = self.durable[index]
            assert self.account(effect).call(effect.method, effect.message).succeeded
        self.undelivered.clear()

    def balance(self, kit: EventSourcedTestKit) -> int:
        return int(kit.get_balance(account_id=kit.entity_id).reply.balance)


@settings(max_examples=500, deadline=None)
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
        assert status in (TransferStatus.UNKNOWN, TransferStatus.EXPIRED)
        assert (alice, bob) == (TOTAL, 0)
