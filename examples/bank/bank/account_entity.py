"""A bank account as an event-sourced entity (one per ``account_id``).

Every movement of money names the transfer it belongs to, and the account remembers which
transfers it has applied: a deposit, withdrawal or refund for a transfer it has already applied
changes nothing but for an audit event, ``DuplicateIgnored``. The proxy already applies a durable
delivery at most once (its idempotency key); this is the belt to those braces, what makes a
client's own retry without a key safe, and the audit shows every repeat that got to the account.

For one transfer the account moves, in order, through: nothing -> withdrawn -> refunded, or
nothing -> voided (refunded before anything was withdrawn: a later withdrawal is refused). Those
steps run one at a time on the account, so a refund racing a withdrawal is safe either way. A
withdrawal for a transfer is reported to the transfer (``Transfers.Funded``) by a durable effect
recorded with the withdrawal's event: it happened if and only if the report will arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from bank.bank_pb2 import (
    _ACCOUNTS,
    _TRANSFERS,
    Balance,
    CloseRequest,
    DepositRequest,
    FundedRequest,
    GetBalanceRequest,
    RefundRequest,
    WithdrawRequest,
)
from bank.bank_pb2 import DESCRIPTOR as BANK_FILE
from bank.domain_pb2 import DESCRIPTOR as DOMAIN_FILE
from bank.domain_pb2 import (
    AccountClosed,
    AccountSnapshot,
    Deposited,
    DuplicateIgnored,
    Refunded,
    WithdrawalVoided,
    Withdrawn,
)
from cloudstate import EventSourcedCommandContext, EventSourcedEntity, service

Transfers = service(_TRANSFERS)


@dataclass
class Account:
    account_id: str
    balance: int = 0
    deposited: set[str] = field(default_factory=set)
    #: transfer id -> the amount withdrawn for it
    withdrawn: dict[str, int] = field(default_factory=dict)
    refunded: set[str] = field(default_factory=set)
    voided: set[str] = field(default_factory=set)
    closed: bool = False


def init(account_id: str) -> Account:
    return Account(account_id)


entity = EventSourcedEntity(
    _ACCOUNTS, [BANK_FILE, DOMAIN_FILE], init, persistence_id="account", snapshot_every=20
)


def balance_of(account: Account) -> Balance:
    return Balance(account_id=account.account_id, balance=account.balance, closed=account.closed)


# -- events ----------------------------------------------------------------------------------------


@entity.event_handler(Deposited)
def deposited(account: Account, event: Deposited) -> None:
    account.balance += event.amount
    account.deposited.add(event.transfer_id)


@entity.event_handler(Withdrawn)
def withdrawn(account: Account, event: Withdrawn) -> None:
    account.balance -= event.amount
    account.withdrawn[event.transfer_id] = event.amount


@entity.event_handler(Refunded)
def refunded(account: Account, event: Refunded) -> None:
    account.balance += event.amount
    account.refunded.add(event.transfer_id)


@entity.event_handler(WithdrawalVoided)
def withdrawal_voided(account: Account, event: WithdrawalVoided) -> None:
    account.voided.add(event.transfer_id)


@entity.event_handler(AccountClosed)
def closed(account: Account, event: AccountClosed) -> None:
    account.closed = True


@entity.event_handler(DuplicateIgnored)
def duplicate_ignored(account: Account, event: DuplicateIgnored) -> None:
    """Only an audit record: the repeated command changed nothing."""


@entity.snapshot()
def snapshot(account: Account) -> AccountSnapshot:
    return AccountSnapshot(
        balance=account.balance,
        deposited=sorted(account.deposited),
        withdrawn=account.withdrawn,
        refunded=sorted(account.refunded),
        voided=sorted(account.voided),
        closed=account.closed,
    )


@entity.snapshot_handler()
def restore(account: Account, snapshot: AccountSnapshot) -> None:
    account.balance = snapshot.balance
    account.deposited = set(snapshot.deposited)
    account.withdrawn = dict(snapshot.withdrawn)
    account.refunded = set(snapshot.refunded)
    account.voided = set(snapshot.voided)
    account.closed = snapshot.closed


# -- commands --------------------------------------------------------------------------------------


def check_movement(
    ctx: EventSourcedCommandContext, what: str, amount: int, transfer_id: str
) -> None:
    if amount <= 0:
        ctx.fail(
            f"{what} of {amount} on account {ctx.entity_id}: the amount must be positive (cents)",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    if not transfer_id:
        ctx.fail(
            f"{what} on account {ctx.entity_id} without a transfer_id: name the movement, so that "
            "a retry applies once",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )


@entity.command_handler("Deposit")
def deposit(account: Account, request: DepositRequest, ctx: EventSourcedCommandContext) -> Balance:
    check_movement(ctx, "deposit", request.amount, request.transfer_id)
    if request.transfer_id in account.deposited:
        ctx.emit(DuplicateIgnored(transfer_id=request.transfer_id, command="Deposit"))
        return balance_of(account)  # a retry: already applied
    if account.closed:
        ctx.fail(
            f"account {account.account_id} is closed: it takes no deposits (transfer "
            f"{request.transfer_id})",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    ctx.emit(Deposited(transfer_id=request.transfer_id, amount=request.amount))
    return balance_of(account)


@entity.command_handler("Close")
def close(account: Account, request: CloseRequest, ctx: EventSourcedCommandContext) -> Balance:
    if not account.closed:
        ctx.emit(AccountClosed())
    return balance_of(account)


@entity.command_handler("Withdraw")
def withdraw(
    account: Account, request: WithdrawRequest, ctx: EventSourcedCommandContext
) -> Balance:
    check_movement(ctx, "withdrawal", request.amount, request.transfer_id)
    if request.transfer_id in account.withdrawn:
        ctx.emit(DuplicateIgnored(transfer_id=request.transfer_id, command="Withdraw"))
        return balance_of(account)  # a retry: already applied
    if request.transfer_id in account.voided:
        ctx.fail(
            f"transfer {request.transfer_id} expired before its withdrawal from account "
            f"{account.account_id}: start a new transfer",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    if account.balance < request.amount:
        ctx.fail(
            f"insufficient funds: account {account.account_id} holds {account.balance}, "
            f"transfer {request.transfer_id} needs {request.amount}",
            code=grpc.StatusCode.FAILED_PRECONDITION,
        )
    ctx.emit(Withdrawn(transfer_id=request.transfer_id, amount=request.amount))
    if request.report_to_transfer:
        ctx.effect(
            Transfers.Funded,
            FundedRequest(
                transfer_id=request.transfer_id,
                account_id=account.account_id,
                amount=request.amount,
            ),
            durable=True,
        )
    return balance_of(account)


@entity.command_handler("Refund")
def refund(account: Account, request: RefundRequest, ctx: EventSourcedCommandContext) -> Balance:
    transfer_id = request.transfer_id
    if transfer_id in account.refunded or transfer_id in account.voided:
        ctx.emit(DuplicateIgnored(transfer_id=transfer_id, command="Refund"))
        return balance_of(account)  # a retry: already applied
    amount = account.withdrawn.get(transfer_id)
    if amount is None:
        ctx.emit(WithdrawalVoided(transfer_id=transfer_id))
    else:
        ctx.emit(Refunded(transfer_id=transfer_id, amount=amount))
    return balance_of(account)


@entity.command_handler("GetBalance")
def get_balance(account: Account, request: GetBalanceRequest) -> Balance:
    return balance_of(account)
