"""The bank transfer workflow (examples/bank/bank/transfer_workflow.py) run by the test kit:
the happy path, a deposit that keeps failing (retries, then the refund), a withdrawal that is
refused, and the workflow's timeout."""

from __future__ import annotations

import sys

import pytest

from tests.processes import ROOT

EXAMPLE = ROOT / "examples" / "bank"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from bank.bank_pb2 import (  # noqa: E402
    Balance,
    DepositRequest,
    RefundRequest,
    TransferId,
    TransferRequest,
    WithdrawRequest,
)
from bank.transfer_workflow import Accounts, transfer  # noqa: E402

from cloudstate import WorkflowStatus  # noqa: E402
from cloudstate.testkit import WorkflowTestKit  # noqa: E402


def started_transfer(amount: int = 30) -> WorkflowTestKit:
    kit = WorkflowTestKit(transfer, "t1")
    kit.mock(Accounts.Withdraw, Balance(account_id="alice", balance=100 - amount))
    kit.mock(Accounts.Refund, Balance(account_id="alice", balance=100))
    result = kit.command(
        "Start",
        TransferRequest(transfer_id="t1", from_account="alice", to_account="bob", amount=amount),
    )
    assert result.failure is None and result.reply.stage == "withdrawing"
    return kit


def test_a_transfer_withdraws_then_deposits_and_completes() -> None:
    kit = started_transfer()
    kit.mock(Accounts.Deposit, Balance(account_id="bob", balance=30))
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert kit.state.stage == "completed"
    assert kit.history == [("withdraw", 1, "ok"), ("deposit", 1, "ok")]
    assert [(c.method, c.message) for c in kit.calls] == [
        ("Withdraw", WithdrawRequest(account_id="alice", amount=30, transfer_id="t1")),
        ("Deposit", DepositRequest(account_id="bob", amount=30, transfer_id="t1")),
    ]
    # Each step execution has its own idempotency key, sent with its call.
    assert kit.calls[0].metadata["idempotency-key"] == "wf:com.example.bank.TransferWorkflow/t1/1"
    assert kit.calls[1].step_key == "wf:com.example.bank.TransferWorkflow/t1/2"
    progress = kit.command("GetProgress", TransferId(transfer_id="t1")).reply
    assert (progress.status, progress.stage) == ("COMPLETED", "completed")


def test_a_deposit_that_keeps_failing_is_retried_then_the_withdrawal_is_refunded() -> None:
    kit = started_transfer()
    kit.mock(Accounts.Deposit, error="account bob is closed")
    assert kit.run_to_end() == WorkflowStatus.FAILED
    failed = [("deposit", n, "failed: account bob is closed") for n in range(1, 6)]
    assert kit.history == [("withdraw", 1, "ok"), *failed, ("refund", 1, "ok")]
    # Every retry of the deposit is the same step execution: the same idempotency key.
    deposit_keys = {c.step_key for c in kit.calls if c.method == "Deposit"}
    assert len(deposit_keys) == 1
    assert [c.metadata["cloudstate-attempt"] for c in kit.calls if c.method == "Deposit"] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert kit.calls[-1].message == RefundRequest(account_id="alice", transfer_id="t1")
    assert kit.state.stage == "refunded"
    assert kit.state.reason == "the deposit kept failing"
    assert kit.reason == "transfer t1 refunded: the deposit kept failing"


def test_a_refused_withdrawal_voids_the_transfer() -> None:
    kit = started_transfer()
    kit.mock(Accounts.Withdraw, error="insufficient funds")
    assert kit.run_to_end() == WorkflowStatus.FAILED
    # The withdrawal's own recovery has max_attempts 0: the proxy's default, 3.
    assert [h[0] for h in kit.history] == ["withdraw"] * 3 + ["refund"]
    assert kit.state.reason == "the withdrawal failed"


def test_a_deposit_that_recovers_within_its_attempts_completes() -> None:
    kit = started_transfer()
    answers = iter([RuntimeError("timeout"), RuntimeError("timeout")])

    def flaky(request: DepositRequest) -> Balance:
        error = next(answers, None)
        if error is not None:
            raise error
        return Balance(account_id=request.account_id, balance=request.amount)

    kit.mock(Accounts.Deposit, flaky)
    assert kit.run_to_end() == WorkflowStatus.COMPLETED
    assert [h[1:] for h in kit.history if h[0] == "deposit"] == [
        (1, "failed: timeout"),
        (2, "failed: timeout"),
        (3, "ok"),
    ]


def test_the_workflow_timeout_runs_the_refund() -> None:
    kit = started_transfer()
    kit.run_step()
    assert kit.current_step == "deposit"
    transition = kit.fire_workflow_timeout()
    assert (transition.kind, transition.step, transition.input) == ("go_to", "expire", None)
    assert kit.run_to_end() == WorkflowStatus.FAILED
    assert [h[0] for h in kit.history] == ["withdraw", "expire", "refund"]
    assert kit.state.reason == "the transfer timed out"
    assert kit.reason == "transfer t1 refunded: the transfer timed out"
    with pytest.raises(RuntimeError, match="only between its start and its end"):
        kit.fire_workflow_timeout()


def test_a_second_start_is_refused_by_the_handler() -> None:
    kit = started_transfer()
    again = kit.command(
        "Start", TransferRequest(transfer_id="t1", from_account="alice", to_account="bob", amount=5)
    )
    assert again.failure is not None and "already started" in again.failure.description
    assert kit.state.amount == 30
