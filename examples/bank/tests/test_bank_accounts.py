"""Unit tests of the bank's account entity with the Cloudstate test kit: balances, refusals, and
every movement applied once per transfer id (a repeat journals only the audit event
``DuplicateIgnored``)."""

from __future__ import annotations

import grpc
from bank.account_entity import entity
from bank.bank_pb2 import Balance, FundedRequest, WithdrawRequest
from bank.domain_pb2 import Deposited, DuplicateIgnored, Refunded, WithdrawalVoided, Withdrawn

from cloudstate.testkit import EventSourcedTestKit, SideEffect


def test_a_deposit_for_the_same_transfer_applies_once() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    first = alice.deposit(account_id="alice", amount=100, transfer_id="cash-1")
    again = alice.deposit(account_id="alice", amount=100, transfer_id="cash-1")
    assert first.reply == again.reply == Balance(account_id="alice", balance=100)
    assert first.events == [Deposited(transfer_id="cash-1", amount=100)]
    assert again.events == [DuplicateIgnored(transfer_id="cash-1", command="Deposit")]


def test_a_withdrawal_needs_the_funds() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    alice.deposit(account_id="alice", amount=20, transfer_id="cash-1")
    result = alice.withdraw(account_id="alice", amount=30, transfer_id="t1")
    assert result.failure is not None
    assert result.failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert result.failure.description == (
        "insufficient funds: account alice holds 20, transfer t1 needs 30"
    )
    assert alice.get_balance(account_id="alice").reply.balance == 20


def test_a_withdrawal_and_its_refund_apply_once_each() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    alice.deposit(account_id="alice", amount=100, transfer_id="cash-1")
    assert alice.withdraw(account_id="alice", amount=30, transfer_id="t1").events == [
        Withdrawn(transfer_id="t1", amount=30)
    ]
    assert alice.withdraw(account_id="alice", amount=30, transfer_id="t1").events == [
        DuplicateIgnored(transfer_id="t1", command="Withdraw")
    ]
    assert alice.refund(account_id="alice", transfer_id="t1").events == [
        Refunded(transfer_id="t1", amount=30)
    ]
    assert alice.refund(account_id="alice", transfer_id="t1").events == [
        DuplicateIgnored(transfer_id="t1", command="Refund")
    ]
    assert alice.get_balance(account_id="alice").reply.balance == 100


def test_a_refund_before_the_withdrawal_voids_the_transfer() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    alice.deposit(account_id="alice", amount=100, transfer_id="cash-1")
    voided = alice.refund(account_id="alice", transfer_id="t1")
    assert voided.events == [WithdrawalVoided(transfer_id="t1")]
    assert alice.refund(account_id="alice", transfer_id="t1").events == [
        DuplicateIgnored(transfer_id="t1", command="Refund")
    ]
    late = alice.withdraw(account_id="alice", amount=30, transfer_id="t1")
    assert late.failure is not None
    assert late.failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired before its withdrawal" in late.failure.description
    assert alice.get_balance(account_id="alice").reply.balance == 100


def test_bad_amounts_and_missing_ids_are_refused() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    for result in (
        alice.deposit(account_id="alice", amount=0, transfer_id="cash-1"),
        alice.withdraw(account_id="alice", amount=-5, transfer_id="t1"),
        alice.deposit(account_id="alice", amount=10, transfer_id=""),
    ):
        assert result.failure is not None
        assert result.failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert alice.events == []


def test_what_the_account_remembers_survives_a_snapshot_and_replay() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    for n in range(25):  # past the snapshot at 20
        alice.deposit(account_id="alice", amount=10, transfer_id=f"cash-{n}")
    alice.withdraw(account_id="alice", amount=30, transfer_id="t1")
    alice.refund(account_id="alice", transfer_id="t2")
    alice.restart()
    assert alice.snapshot_sequence == 20
    assert alice.deposit(account_id="alice", amount=10, transfer_id="cash-3").events == [
        DuplicateIgnored(transfer_id="cash-3", command="Deposit")
    ]
    assert alice.withdraw(account_id="alice", amount=30, transfer_id="t1").events == [
        DuplicateIgnored(transfer_id="t1", command="Withdraw")
    ]
    assert alice.withdraw(account_id="alice", amount=30, transfer_id="t2").failure is not None
    assert alice.get_balance(account_id="alice").reply.balance == 220


def test_a_withdrawal_for_a_transfer_reports_it_durably_once() -> None:
    alice = EventSourcedTestKit(entity, "alice")
    alice.deposit(account_id="alice", amount=100, transfer_id="cash-1")
    request = WithdrawRequest(
        account_id="alice", amount=30, transfer_id="t1", report_to_transfer=True
    )
    first = alice.withdraw(request)
    assert first.effects == [
        SideEffect(
            "com.example.bank.Transfers",
            "Funded",
            FundedRequest(transfer_id="t1", account_id="alice", amount=30),
            durable=True,
        )
    ]
    again = alice.withdraw(request)  # a retry: the first report is already recorded
    assert again.events == [DuplicateIgnored(transfer_id="t1", command="Withdraw")]
    assert again.effects == []
