"""A transfer between two accounts as an event-sourced entity (one per ``transfer_id``).

``Start`` records the transfer and starts its expiry timer, then withdraws from the source account
(a synchronous side effect, so that the client learns of insufficient funds). The account reports
the withdrawal with a durable effect to ``Funded``. The transfer completes — it asks for the deposit
into the destination account as a durable effect and cancels its timer, in one write — in the
command that finds it both funded and confirmed (``Funded`` or ``Confirm``, whichever comes second).
The timer calls ``Expire``, which asks for the refund as a durable effect unless the transfer
completed. A repeat of a fact the transfer already recorded (a second report of the withdrawal, a
second firing of the timer) changes nothing but for an audit event, ``DuplicateIgnored``.
examples/bank/README.md explains why this conserves money under crashes and retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import grpc

from bank.bank_pb2 import (
    _ACCOUNTS,
    _TRANSFERS,
    DepositRequest,
    FundedRequest,
    RefundRequest,
    StartTransfer,
    TransferId,
    TransferStatus,
    WithdrawRequest,
)
from bank.bank_pb2 import DESCRIPTOR as BANK_FILE
from bank.domain_pb2 import DESCRIPTOR as DOMAIN_FILE
from bank.domain_pb2 import (
    DuplicateIgnored,
    TransferConfirmed,
    TransferExpired,
    TransferFunded,
    TransferStarted,
)
from cloudstate import EventSourcedCommandContext, EventSourcedEntity, service

Accounts = service(_ACCOUNTS)
Transfers = service(_TRANSFERS)

#: How long a transfer may take to complete when the request does not say.
DEFAULT_EXPIRY = timedelta(minutes=5)


@dataclass
class Transfer:
    transfer_id: str
    from_account: str = ""
    to_account: str = ""
    amount: int = 0
    started: bool = False
    funded: bool = False
    confirmed: bool = False
    expired: bool = False

    @property
    def completed(self) -> bool:
        return self.funded and self.confirmed

    @property
    def status(self) -> TransferStatus.Status.ValueType:
        if self.expired:
            return TransferStatus.EXPIRED
        if self.completed:
            return TransferStatus.COMPLETED
        if self.funded:
            return TransferStatus.FUNDED
        if self.confirmed:
            return TransferStatus.CONFIRMED
        return TransferStatus.PENDING if self.started else TransferStatus.UNKNOWN


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
    transfer.started = True


@entity.event_handler(TransferFunded)
def funded(transfer: Transfer, event: TransferFunded) -> None:
    transfer.funded = True


@entity.event_handler(TransferConfirmed)
def confirmed(transfer: Transfer, event: TransferConfirmed) -> None:
    transfer.confirmed = True


@entity.event_handler(TransferExpired)
def expired(transfer: Transfer, event: TransferExpired) -> None:
    transfer.expired = True


@entity.event_handler(DuplicateIgnored)
def duplicate_ignored(transfer: Transfer, event: DuplicateIgnored) -> None:
    """Only an audit record: the repeated command changed nothing."""


# -- commands --------------------------------------------------------------------------------------


def check_start(
    transfer: Transfer, request: StartTransfer, ctx: EventSourcedCommandContext
) -> None:
    if transfer.started:
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


def not_started(transfer: Transfer, ctx: EventSourcedCommandContext) -> None:
    if not transfer.started:
        ctx.fail(
            f"transfer {transfer.transfer_id} was never started", code=grpc.StatusCode.NOT_FOUND
        )


def complete(transfer: Transfer, ctx: EventSourcedCommandContext) -> None:
    """Funded and confirmed: the deposit, durably, and no expiry any more (one write with the
    event that completed the transfer)."""
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


@entity.command_handler("Start")
def start(
    transfer: Transfer, request: StartTransfer, ctx: EventSourcedCommandContext
) -> TransferStatus:
    check_start(transfer, request, ctx)
    if not transfer.started:
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
    if not transfer.funded and not transfer.expired:
        # New, or a retry before the withdrawal was reported: withdrawing again is a no-op on
        # the account once applied. Synchronous, so that the client sees a refusal.
        ctx.effect(
            Accounts.Withdraw,
            WithdrawRequest(
                account_id=transfer.from_account,
                amount=transfer.amount,
                transfer_id=transfer.transfer_id,
                report_to_transfer=True,
            ),
            synchronous=True,
        )
    return status_of(transfer)


@entity.command_handler("Funded")
def funded_command(
    transfer: Transfer, request: FundedRequest, ctx: EventSourcedCommandContext
) -> TransferStatus:
    not_started(transfer, ctx)
    if (request.account_id, request.amount) != (transfer.from_account, transfer.amount):
        ctx.fail(
            f"transfer {transfer.transfer_id} takes {transfer.amount} from "
            f"{transfer.from_account}, not {request.amount} from {request.account_id}",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    if transfer.funded:  # a repeated report
        ctx.emit(DuplicateIgnored(transfer_id=transfer.transfer_id, command="Funded"))
    elif not transfer.expired:  # expired: the refund gives the withdrawal back
        ctx.emit(TransferFunded())
        if transfer.completed:
            complete(transfer, ctx)
    return status_of(transfer)


@entity.command_handler("Confirm")
def confirm(
    transfer: Transfer, request: TransferId, ctx: EventSourcedCommandContext
) -> TransferStatus:
    not_started(transfer, ctx)
    if transfer.expired:
        ctx.fail(
            f"transfer {transfer.transfer_id} expired: its money went back to "
            f"{transfer.from_account}",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    if not transfer.confirmed:
        ctx.emit(TransferConfirmed())
        if transfer.completed:
            complete(transfer, ctx)
    return status_of(transfer)


@entity.command_handler("Expire")
def expire(
    transfer: Transfer, request: TransferId, ctx: EventSourcedCommandContext
) -> TransferStatus:
    if transfer.expired:  # the timer fired twice
        ctx.emit(DuplicateIgnored(transfer_id=transfer.transfer_id, command="Expire"))
    elif transfer.started and not transfer.completed:
        ctx.emit(TransferExpired())
        # The account refunds what was withdrawn for this transfer, or, if nothing was (the
        # withdrawal failed or has not run yet), voids the transfer so that it never will be.
        ctx.effect(
            Accounts.Refund,
            RefundRequest(account_id=transfer.from_account, transfer_id=transfer.transfer_id),
            durable=True,
        )
    # Completed: a delivery of the timer that raced its cancellation, nothing to do.
    return status_of(transfer)


@entity.command_handler("GetTransfer")
def get_transfer(transfer: Transfer, request: TransferId) -> TransferStatus:
    return status_of(transfer)
