"""The bank transfer as a workflow: withdraw from one account, deposit into the other, and when
the deposit keeps failing, refund the withdrawal (the saga's compensation).

The proxy persists the state and the step after every transition, so a crash anywhere resumes
the transfer at the step it was in; each step's call to an account carries the step's
idempotency key, so a retried withdrawal or deposit is applied once (the accounts also apply a
movement once per ``transfer_id``). See docs/workflows.md.
"""

from __future__ import annotations

from datetime import timedelta

import grpc

from bank.bank_pb2 import (
    _TRANSFERWORKFLOW,
    DESCRIPTOR,
    Balance,
    DepositRequest,
    RefundRequest,
    TransferId,
    TransferProgress,
    TransferRequest,
    TransferWorkflowState,
    WithdrawRequest,
)
from cloudstate import (
    Recovery,
    StepContext,
    Workflow,
    WorkflowCommandContext,
    service,
)

Accounts = service("com.example.bank.Accounts")

transfer = Workflow(
    _TRANSFERWORKFLOW,
    [DESCRIPTOR],
    persistence_id="transfer-workflow",
    state_type=TransferWorkflowState,
    timeout=timedelta(minutes=10),
    timeout_step="expire",
    default_recovery=Recovery(
        max_attempts=3, min_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=30)
    ),
)


@transfer.command_handler("Start")
def start(
    state: TransferWorkflowState | None, request: TransferRequest, ctx: WorkflowCommandContext
) -> TransferProgress:
    if state is not None:
        same = (state.from_account, state.to_account, state.amount) == (
            request.from_account,
            request.to_account,
            request.amount,
        )
        if same:
            return progress(state, ctx)  # a client's retry: the transfer is under way
        ctx.fail(
            f"transfer {request.transfer_id} was already started with other accounts or amount",
            code=grpc.StatusCode.ALREADY_EXISTS,
        )
    if request.amount <= 0 or request.from_account == request.to_account:
        ctx.fail(
            "a transfer moves a positive amount between two different accounts",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    new_state = TransferWorkflowState(
        transfer_id=request.transfer_id,
        from_account=request.from_account,
        to_account=request.to_account,
        amount=request.amount,
        stage="withdrawing",
    )
    ctx.update_state(new_state)
    ctx.go_to(
        "withdraw",
        WithdrawRequest(
            account_id=request.from_account,
            amount=request.amount,
            transfer_id=request.transfer_id,
        ),
    )
    return progress(new_state, ctx)


@transfer.command_handler("GetProgress")
def get_progress(
    state: TransferWorkflowState | None, request: TransferId, ctx: WorkflowCommandContext
) -> TransferProgress:
    if state is None:
        ctx.fail(f"no transfer {request.transfer_id} was started")
    return progress(state, ctx)


def progress(state: TransferWorkflowState, ctx: WorkflowCommandContext) -> TransferProgress:
    return TransferProgress(
        transfer_id=state.transfer_id,
        stage=state.stage,
        status=ctx.status.name,
        step=ctx.current_step,
        reason=state.reason or ctx.reason,
    )


# The withdrawal is the saga's first step: when it keeps failing (insufficient funds), the
# refund step voids it on the account, so that a late withdrawal cannot happen.
@transfer.step("withdraw", timeout=timedelta(seconds=5), recovery=Recovery(recover_step="refund"))
def withdraw(state: TransferWorkflowState, request: WithdrawRequest, ctx: StepContext) -> object:
    return ctx.call(Accounts.Withdraw, request)


@withdraw.then
def withdrawn(state: TransferWorkflowState, reply: Balance, ctx: StepContext) -> None:
    state.stage = "depositing"
    ctx.update_state(state)
    ctx.go_to(
        "deposit",
        DepositRequest(
            account_id=state.to_account, amount=state.amount, transfer_id=state.transfer_id
        ),
    )


@transfer.step(
    "deposit",
    timeout=timedelta(seconds=5),
    recovery=Recovery(max_attempts=5, recover_step="refund"),
)
def deposit(state: TransferWorkflowState, request: DepositRequest, ctx: StepContext) -> object:
    return ctx.call(Accounts.Deposit, request)


@deposit.then
def deposited(state: TransferWorkflowState, reply: Balance, ctx: StepContext) -> None:
    state.stage = "completed"
    ctx.update_state(state)
    ctx.end()


# The compensation: give the withdrawal back (Accounts.Refund applies once per transfer, and
# voids the transfer on the account when nothing was withdrawn). Its input is the input of the
# step that failed (None when the workflow timed out). It retries until it succeeds.
@transfer.step("refund", recovery=Recovery(max_attempts=1000, max_backoff=timedelta(minutes=5)))
def refund(state: TransferWorkflowState, failed: object, ctx: StepContext) -> object:
    return ctx.call(
        Accounts.Refund,
        RefundRequest(account_id=state.from_account, transfer_id=state.transfer_id),
    )


@refund.then
def refunded(state: TransferWorkflowState, reply: Balance, ctx: StepContext) -> None:
    if not state.reason:
        state.reason = (
            "the withdrawal failed" if state.stage == "withdrawing" else "the deposit kept failing"
        )
    state.stage = "refunded"
    ctx.update_state(state)
    ctx.fail_workflow(f"transfer {state.transfer_id} refunded: {state.reason}")


# The workflow's timeout (10 minutes) abandons whatever step runs and comes here.
@transfer.step("expire")
def expire(state: TransferWorkflowState, ctx: StepContext) -> None:
    state.reason = "the transfer timed out"
    ctx.update_state(state)
    ctx.go_to("refund")
