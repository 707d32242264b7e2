"""Call the bank example through the proxy.

    python examples/bank/client.py deposit alice 100 cash-1
    python examples/bank/client.py balance alice
    python examples/bank/client.py transfer t1 alice bob 30 --expire-after 60
    python examples/bank/client.py confirm t1
    python examples/bank/client.py status t1

``--port`` selects the proxy's port (default 9000). Every call that moves money carries an
idempotency key, new for each run of the client, and is retried with that key while the proxy is
unreachable: a retry of a call that did run gets its first answer instead of running again. (Run
the client again for a new attempt, e.g. starting a transfer again once the account has the
funds: a new key, so the transfer's own retry logic runs.)
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bank import bank_pb2, bank_pb2_grpc

#: Statuses after which the call may or may not have run: retry it with the same key.
RETRIABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def call_with_key(method: Callable[..., Any], request: Any, key: str, attempts: int = 10) -> Any:
    """``method(request)`` with the metadata ``idempotency-key: key``, retried with the same key
    while the proxy cannot be reached (a crash, a restart)."""
    for attempt in range(1, attempts + 1):
        try:
            return method(request, metadata=[("idempotency-key", key)], timeout=10)
        except grpc.RpcError as e:
            if e.code() not in RETRIABLE or attempt == attempts:
                raise
            time.sleep(min(0.2 * 2**attempt, 5.0))
    raise AssertionError("unreachable")


def new_key(what: str) -> str:
    """An idempotency key for one request of this run, e.g. ``start-t1-3f9a...``."""
    return f"{what}-{uuid.uuid4().hex[:12]}"


def run(args: argparse.Namespace, channel: grpc.Channel) -> str:
    accounts = bank_pb2_grpc.AccountsStub(channel)
    transfers = bank_pb2_grpc.TransfersStub(channel)
    if args.command == "deposit":
        request = bank_pb2.DepositRequest(
            account_id=args.account, amount=args.amount, transfer_id=args.deposit_id
        )
        balance = call_with_key(accounts.Deposit, request, new_key(f"deposit-{args.deposit_id}"))
        return f"{balance.account_id}: {balance.balance}"
    if args.command == "balance":
        balance = accounts.GetBalance(
            bank_pb2.GetBalanceRequest(account_id=args.account), timeout=10
        )
        return f"{balance.account_id}: {balance.balance}"
    if args.command == "transfer":
        start = bank_pb2.StartTransfer(
            transfer_id=args.transfer_id,
            from_account=args.from_account,
            to_account=args.to_account,
            amount=args.amount,
            expire_after_seconds=args.expire_after,
        )
        status = call_with_key(transfers.Start, start, new_key(f"start-{args.transfer_id}"))
    elif args.command == "confirm":
        transfer = bank_pb2.TransferId(transfer_id=args.transfer_id)
        status = call_with_key(transfers.Confirm, transfer, new_key(f"confirm-{args.transfer_id}"))
    else:
        status = transfers.GetTransfer(
            bank_pb2.TransferId(transfer_id=args.transfer_id), timeout=10
        )
    return (
        f"{status.transfer_id}: {bank_pb2.TransferStatus.Status.Name(status.status)} "
        f"({status.amount} from {status.from_account} to {status.to_account})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Bank client")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    commands = parser.add_subparsers(dest="command", required=True)
    deposit = commands.add_parser("deposit", help="put money into an account")
    deposit.add_argument("account")
    deposit.add_argument("amount", type=int)
    deposit.add_argument("deposit_id", help="unique per deposit: a retry applies once")
    balance = commands.add_parser("balance", help="show an account's balance")
    balance.add_argument("account")
    transfer = commands.add_parser("transfer", help="start a transfer")
    transfer.add_argument("transfer_id")
    transfer.add_argument("from_account")
    transfer.add_argument("to_account")
    transfer.add_argument("amount", type=int)
    transfer.add_argument("--expire-after", type=int, default=0, help="seconds (default 300)")
    for name, what in (("confirm", "confirm a transfer"), ("status", "show a transfer")):
        commands.add_parser(name, help=what).add_argument("transfer_id")
    args = parser.parse_args()

    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        try:
            print(run(args, channel))
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
