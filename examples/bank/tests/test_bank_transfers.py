"""Unit tests of the bank's transfer entity with the Cloudstate test kit: what each command asks
the proxy for (a synchronous withdrawal, a timer and its cancellation, a durable deposit, a durable
refund), and firing the expiry timer.

The test kit does not perform side effects: these tests deliver them to the account kits
themselves, as the proxy would (``test_bank_conservation.py`` does so in every order).
"""

from __future__ import annotations

from datetime import timedelta

import grpc
from bank.account_entity import entity as account_entity
from bank.bank_pb2 import (
    DepositRequest,
    FundedRequest,
    RefundRequest,
    TransferId,
    TransferStatus,
    WithdrawRequest,
)
from bank.domain_pb2 import (
    DuplicateIgnored,
    TransferConfirmed,
    TransferExpired,
    TransferFunded,
    TransferStarted,
)
from bank.transfer_entity import entity as transfer_entity

from cloudstate.testkit import EventSourcedTestKit, SideEffect, TimerStarted

ACCOUNTS = "com.example.bank.Accounts"
TRANSFERS = "com.example.bank.Transfers"


def funded_accounts() -> tuple[EventSourcedTestKit, EventSourcedTestKit]:
    alice = EventSourcedTestKit(account_entity, "alice")
    alice.deposit(account_id="alice", amount=100, transfer_id="cash-1")
    return alice, EventSourcedTestKit(account_entity, "bob")


def test_start_withdraws_synchronously_and_starts_the_expiry_timer() -> None:
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    result = transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    assert result.reply.status == TransferStatus.PENDING
    assert result.events == [TransferStarted(from_account="alice", to_account="bob", amount=30)]
    assert result.effects == [
        SideEffect(
            ACCOUNTS,
            "Withdraw",
            WithdrawRequest(
                account_id="alice", amount=30, transfer_id="t1", report_to_transfer=True
            ),
            synchronous=True,
        )
    ]
    assert result.timers == [
        TimerStarted(
            "expire-t1",
            TRANSFERS,
            "Expire",
            TransferId(transfer_id="t1"),
            delay=timedelta(minutes=5),
        )
    ]
    assert list(transfer.pending_timers) == ["expire-t1"]


def test_funded_then_confirmed_asks_for_a_durable_deposit_and_cancels_the_timer() -> None:
    alice, bob = funded_accounts()
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    started = transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    withdrawn = alice.withdraw(started.effects[0].message)  # the synchronous side effect
    funded = transfer.funded(withdrawn.effects[0].message)  # the account's durable report
    assert funded.events == [TransferFunded()]
    assert funded.reply.status == TransferStatus.FUNDED

    confirmed = transfer.confirm(transfer_id="t1")
    assert confirmed.events == [TransferConfirmed()]
    assert confirmed.reply.status == TransferStatus.COMPLETED
    assert confirmed.cancelled_timers == ["expire-t1"]
    assert confirmed.effects == [
        SideEffect(
            ACCOUNTS,
            "Deposit",
            DepositRequest(account_id="bob", amount=30, transfer_id="t1"),
            durable=True,
        )
    ]
    assert transfer.pending_timers == {}
    for _ in range(2):  # delivered at least once: the second delivery changes nothing
        bob.deposit(confirmed.effects[0].message)
    assert alice.get_balance(account_id="alice").reply.balance == 70
    assert bob.get_balance(account_id="bob").reply.balance == 30
    late = transfer.expire(transfer_id="t1")  # a timer delivery that raced the cancellation
    assert late.effects == [] and late.reply.status == TransferStatus.COMPLETED
    assert late.events == []  # legitimate, not a duplicate


def test_confirmed_before_funded_completes_when_the_withdrawal_is_reported() -> None:
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    assert transfer.confirm(transfer_id="t1").reply.status == TransferStatus.CONFIRMED
    report = FundedRequest(transfer_id="t1", account_id="alice", amount=30)
    funded = transfer.funded(report)
    assert funded.reply.status == TransferStatus.COMPLETED
    assert funded.cancelled_timers == ["expire-t1"]
    assert [e.method for e in funded.effects] == ["Deposit"]
    repeated = transfer.funded(report)  # a repeated report: no second deposit
    assert repeated.effects == []
    assert repeated.events == [DuplicateIgnored(transfer_id="t1", command="Funded")]


def test_an_unconfirmed_transfer_expires_and_its_money_goes_back() -> None:
    alice, _ = funded_accounts()
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    started = transfer.start(
        transfer_id="t1", from_account="alice", to_account="bob", amount=30, expire_after_seconds=60
    )
    assert started.timers[0].delay == timedelta(seconds=60)
    transfer.funded(alice.withdraw(started.effects[0].message).effects[0].message)

    expired = transfer.fire_timer("expire-t1")
    assert expired.events == [TransferExpired()]
    assert expired.reply.status == TransferStatus.EXPIRED
    assert expired.effects == [
        SideEffect(
            ACCOUNTS,
            "Refund",
            RefundRequest(account_id="alice", transfer_id="t1"),
            durable=True,
        )
    ]
    alice.refund(expired.effects[0].message)
    assert alice.get_balance(account_id="alice").reply.balance == 100

    late = transfer.confirm(transfer_id="t1")
    assert late.failure is not None
    assert late.failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert transfer.expire(transfer_id="t1").events == [  # a repeated timer delivery
        DuplicateIgnored(transfer_id="t1", command="Expire")
    ]


def test_a_report_after_the_expiry_is_no_duplicate_and_changes_nothing() -> None:
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    transfer.fire_timer("expire-t1")  # before the withdrawal was reported
    late = transfer.funded(transfer_id="t1", account_id="alice", amount=30)
    assert late.events == [] and late.effects == []  # the refund gives the withdrawal back
    assert late.reply.status == TransferStatus.EXPIRED


def test_a_failed_withdrawal_leaves_the_transfer_pending_until_it_expires() -> None:
    alice = EventSourcedTestKit(account_entity, "alice")
    alice.deposit(account_id="alice", amount=10, transfer_id="cash-1")
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    started = transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    refused = alice.withdraw(started.effects[0].message)
    assert refused.failure is not None and refused.effects == []  # nothing reported
    assert transfer.confirm(transfer_id="t1").reply.status == TransferStatus.CONFIRMED

    expired = transfer.fire_timer("expire-t1")
    alice.refund(expired.effects[0].message)  # nothing was withdrawn: the transfer is voided
    assert alice.withdraw(started.effects[0].message).failure is not None
    assert alice.get_balance(account_id="alice").reply.balance == 10


def test_starting_again_retries_the_withdrawal_until_it_is_reported() -> None:
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    retry = transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    assert retry.events == [] and retry.timers == []
    assert [e.method for e in retry.effects] == ["Withdraw"]
    transfer.funded(transfer_id="t1", account_id="alice", amount=30)
    assert (
        transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30).effects
        == []
    )
    other = transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=31)
    assert other.failure is not None
    assert other.failure.code == grpc.StatusCode.ALREADY_EXISTS


def test_a_report_that_does_not_match_the_transfer_is_refused() -> None:
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    transfer.start(transfer_id="t1", from_account="alice", to_account="bob", amount=30)
    wrong = transfer.funded(transfer_id="t1", account_id="mallory", amount=30)
    assert wrong.failure is not None
    assert wrong.failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert transfer.get_transfer(transfer_id="t1").reply.status == TransferStatus.PENDING


def test_bad_transfers_are_refused_before_anything_happens() -> None:
    transfer = EventSourcedTestKit(transfer_entity, "t1")
    for fields in (
        {"from_account": "alice", "to_account": "bob", "amount": 0},
        {"from_account": "alice", "to_account": "alice", "amount": 5},
        {"from_account": "", "to_account": "bob", "amount": 5},
    ):
        result = transfer.start(transfer_id="t1", **fields)
        assert result.failure is not None
        assert result.failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert result.timers == [] and transfer.pending_timers == {}
    assert transfer.events == []
    unknown = transfer.confirm(transfer_id="t1")
    assert unknown.failure is not None and unknown.failure.code == grpc.StatusCode.NOT_FOUND
