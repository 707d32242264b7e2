"""A transfer between two accounts as an event-sourced entity (one per ``transfer_id``).

``Start`` records the transfer and starts its expiry timer, then withdraws from the source
account (a synchronous side effect) and forwards to ``Funded``, which runs only if the withdrawal
succeeded. ``Confirm`` asks for the deposit into the destination account as a durable effect and
cancels the timer, in the same write. The timer calls ``Expire``, which asks for the refund as a
durable effect. examples/bank/README.md explains why this conserves money under crashes and
retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import grpc

from bank.bank_pb2 import (
    _ACCOUNTS,
    _TRANSFERS,
    DepositRequest,
    RefundRequest,
    StartTransfer,
    TransferId,
    TransferStatus,
    WithdrawRequest,
)
from bank.bank_pb2 import DESCRIPTOR as BANK_FILE
from bank.domain_pb2 import DESCRIPTOR as DOMAIN_FILE
from bank.domain_pb2 import (
    TransferConfirmed,
    TransferExpired,
    TransferFunded,
    TransferStarted,
)
from cloudstate import EventSourcedCommandContext, EventSourcedEntity, service

Accounts = service(_ACCOUNTS)
Transfers = service(_TRANSFERS)

#: How long a transfer waits for Confirm when the request does not say.
DEFAULT_EXPIRY = timedelta(minutes=5)

PENDING = TransferStatus.PENDING
FUNDED = TransferStatus.FUNDED
COMPLETED = TransferStatus.COMPLETED
EXPIRED = TransferStatus.EXPIRED


@dataclass
class Transfer:
    transfer_id: str
    from_account: str = ""
    to_account: str = ""
    amount: int = 0
    status: TransferStatus.Status.ValueType = TransferStatus.UNKNOWN


def init(transfer_id: str) -> Transfer:
    return Transfer(transfer_id)


entity = EventSourcedEntity(_TRANSFERS, [BANK_FILE, DOMAIN_FILE], init, persistence_id="transfer")


def timer_name(transfer_id: str) -> str:
    """Timer names are unique across the whole user function: the transfer id is in it."""
    return f"expire-{transfer_id}"


def status_of(transfer: Transfer) -> TransferStatus:
    return TransferStatus(
        transfer_id=transfer.transfer_id,
        from_account=transfer.from_account,
        to_account=transfer.to_account,
        amount=transfer.amount,
        status=transfer.status,
    )


# -- events ----------------------------------------------------------------------------------------


@entity.event_handler(TransferStarted)
def started(transfer: Transfer, event: TransferStarted) -> None:
    transfer.from_account = event.from_account
    transfer.to_account = event.to_account
    transfer.amount = event.amount
    transfer.status = PENDING


@entity.event_handler(TransferFunded)
def funded(transfer: Transfer, event: TransferFunded) -> None:
    transfer.status = FUNDED


@entity.event_handler(TransferConfirmed)
def confirmed(transfer: Transfer, event: TransferConfirmed) -> None:
    transfer.status = COMPLETED


@entity.event_handler(TransferExpired)
def expired(transfer: Transfer, event: TransferExpired) -> None:
    transfer.status = EXPIRED


# -- commands --------------------------------------------------------------------------------------


def check_start(
    transfer: Transfer, request: StartTransfer, ctx: EventSourcedCommandContext
) -> None:
    if transfer.status != TransferStatus.UNKNOWN:
        same = (transfer.from_account, transfer.to_account, transfer.amount) == (
            request.from_account,
            request.to_account,
            request.amount,
        )
        if not same:
            ctx.fail(
                f"transfer {transfer.transfer_id} was started with other fields ("
                f"{transfer.amount} from {transfer.from_account} to {transfer.to_account}): use a "
                "new transfer id for a new transfer",
                code=grpc.StatusCode.ALREADY_EXISTS,
            )
        return
    if request.amount <= 0:
        ctx.fail(
            f"transfer {transfer.transfer_id}: the amount must be positive (cents), not "
            f"{request.amount}",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    if not request.from_account or not request.to_account:
        ctx.fail(
            f"transfer {transfer.transfer_id}: name both accounts (from_account, to_account)",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    if request.from_account == request.to_account:
        ctx.fail(
            f"transfer {transfer.transfer_id}: from_account and to_account are both "
            f"{request.from_account!r}",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )


@entity.command_handler("Start")
def start(
    transfer: Transfer, request: StartTransfer, ctx: EventSourcedCommandContext
) -> TransferStatus | None:
    check_start(transfer, request, ctx)
    if transfer.status in (COMPLETED, EXPIRED):
        return status_of(transfer)  # a retry of a finished transfer: nothing to do
    if transfer.status == TransferStatus.UNKNOWN:
        ctx.emit(
            TransferStarted(
                from_account=request.from_account,
                to_account=request.to_account,
                amount=request.amount,
            )
        )
        expiry = (
            timedelta(seconds=request.expire_after_seconds)
            if request.expire_after_seconds > 0
            else DEFAULT_EXPIRY
        )
        ctx.timers.start(
            timer_name(transfer.transfer_id),
            Transfers.Expire,
            TransferId(transfer_id=transfer.transfer_id),
            delay=expiry,
        )
    # New, or a retry of a PENDING / FUNDED transfer: withdrawing again is a no-op on the account
    # once applied, and Funded runs only if the withdrawal succeeded.
    ctx.effect(
        Accounts.Withdraw,
        WithdrawRequest(
            account_id=transfer.from_account,
            amount=transfer.amount,
            transfer_id=transfer.transfer_id,
        ),
        synchronous=True,
    )
    ctx.forward(Transfers.Funded, TransferId(transfer_id=transfer.transfer_id))
    return None


@entity.command_handler("Funded")
def funded_command(
    transfer: Transfer, request: TransferId, ctx: EventSourcedCommandContext
) -> TransferStatus:
    if transfer.status == PENDING:
        ctx.emit(TransferFunded())
    elif transfer.status == TransferStatus.UNKNOWN:
        ctx.fail(
            f"transfer {transfer.transfer_id} was never started",
            code=grpc.StatusCode.NOT_FOUND,
        )
    return status_of(transfer)


@entity.command_handler("Confirm")
def confirm(
    transfer: Transfer, request: TransferId, ctx: EventSourcedCommandContext
) -> TransferStatus:
    if transfer.status == FUNDED:
        ctx.emit(TransferConfirmed())
        ctx.timers.cancel(timer_name(transfer.transfer_id))
        ctx.effect(
            Accounts.Deposit,
            DepositRequest(
                account_id=transfer.to_account,
                amount=transfer.amount,
                transfer_id=transfer.transfer_id,
            ),
            durable=True,
        )
    elif transfer.status == TransferStatus.UNKNOWN:
        ctx.fail(
            f"transfer {transfer.transfer_id} was never started",
            code=grpc.StatusCode.NOT_FOUND,
        )
    elif transfer.status == PENDING:
        ctx.fail(
            f"transfer {transfer.transfer_id} is not funded: the withdrawal from "
            f"{transfer.from_account} has not succeeded (start it again to retry the withdrawal)",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    elif transfer.status == EXPIRED:
        ctx.fail(
            f"transfer {transfer.transfer_id} expired: its money went back to "
            f"{transfer.from_account}",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    return status_of(transfer)  # COMPLETED: a retry


@entity.command_handler("Expire")
def expire(
    transfer: Transfer, request: TransferId, ctx: EventSourcedCommandContext
) -> TransferStatus:
    if transfer.status in (PENDING, FUNDED):
        ctx.emit(TransferExpired())
        # The account refunds what was withdrawn for this transfer, or, if nothing was (the
        # withdrawal failed or has not run yet), voids the transfer so that it never will be.
        ctx.effect(
            Accounts.Refund,
            RefundRequest(account_id=transfer.from_account, transfer_id=transfer.transfer_id),
            durable=True,
        )
    # UNKNOWN, COMPLETED, EXPIRED: a late or repeated delivery of the timer; nothing to do.
    return status_of(transfer)


@entity.command_handler("GetTransfer")
def get_transfer(transfer: Transfer, request: TransferId) -> TransferStatus:
    return status_of(transfer)
