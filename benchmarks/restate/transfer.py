"""The bank transfer of the workflow benchmark for Restate (its Python SDK, ``restate-sdk``).

The same transfer as our workflow example (examples/bank), in Restate's idioms:

* ``Account``: a Virtual Object (one per account id, handlers on one key run one at a time) with
  ``withdraw``, ``deposit`` and the shared (read-only) ``balance``. Amounts are integer cents; a
  withdrawal larger than the balance is a ``TerminalError`` (not retried).
* ``Transfer``: a Workflow (one run per workflow id). ``run`` makes three journaled steps:
  withdraw from ``from_account`` (a durable call to the account object), deposit into
  ``to_account`` (a durable call), record the outcome in the workflow's state (``status``, read by
  the shared handler ``get_status``). A deposit refused for good (a ``TerminalError``) is
  compensated: the withdrawal is refunded with a deposit back into ``from_account`` and the
  transfer ends ``FAILED``. Restate journals every call, so a retried or replayed ``run`` applies
  each step to its account once: no idempotency key of our own is needed.

Served over HTTP/2 (h2c) by hypercorn on uvloop; the benchmark (benchmarks/bench_workflows.py)
registers it with the Restate server's admin API::

    python benchmarks/restate/transfer.py --port 9080
    curl -X POST localhost:9070/deployments -H 'content-type: application/json' \\
        -d '{"uri": "http://127.0.0.1:9080"}'
    curl -X POST localhost:8080/Account/alice/deposit -H 'content-type: application/json' -d 100
    curl -X POST localhost:8080/Transfer/t1/run -H 'content-type: application/json' \\
        -d '{"from_account": "alice", "to_account": "bob", "amount": 30}'
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any, TypedDict

import restate
from restate import (
    ObjectContext,
    ObjectSharedContext,
    TerminalError,
    WorkflowContext,
    WorkflowSharedContext,
)

account = restate.VirtualObject("Account")


@account.handler()
async def withdraw(ctx: ObjectContext, amount: int) -> int:
    """Take ``amount`` cents out of this account; refused (for good) when it holds less."""
    balance: int = await ctx.get("balance") or 0
    if amount <= 0 or amount > balance:
        raise TerminalError(f"account {ctx.key()}: cannot withdraw {amount} from {balance}")
    ctx.set("balance", balance - amount)
    return balance - amount


@account.handler()
async def deposit(ctx: ObjectContext, amount: int) -> int:
    """Put ``amount`` cents into this account."""
    if amount <= 0:
        raise TerminalError(f"account {ctx.key()}: cannot deposit {amount}")
    balance: int = await ctx.get("balance") or 0
    ctx.set("balance", balance + amount)
    return balance + amount


@account.handler(kind="shared")
async def balance(ctx: ObjectSharedContext) -> int:
    """The account's balance in cents (0 for an account never used)."""
    value: int = await ctx.get("balance") or 0
    return value


class TransferRequest(TypedDict):
    from_account: str
    to_account: str
    amount: int


transfer = restate.Workflow("Transfer")


@transfer.main()
async def run(ctx: WorkflowContext, request: TransferRequest) -> str:
    """Withdraw, deposit, record: ``COMPLETED``, or ``FAILED`` (nothing moved) with the reason."""
    amount = request["amount"]
    try:
        await ctx.object_call(withdraw, key=request["from_account"], arg=amount)
    except TerminalError as refused:
        ctx.set("status", f"FAILED: {refused.message}")
        return "FAILED"
    try:
        await ctx.object_call(deposit, key=request["to_account"], arg=amount)
    except TerminalError as refused:
        # The saga's compensation: the money goes back where it came from.
        await ctx.object_call(deposit, key=request["from_account"], arg=amount)
        ctx.set("status", f"FAILED: {refused.message}")
        return "FAILED"
    ctx.set("status", "COMPLETED")
    return "COMPLETED"


@transfer.handler()  # a workflow's other handlers are shared (read-only)
async def get_status(ctx: WorkflowSharedContext) -> str:
    """``RUNNING`` until ``run`` recorded its outcome, then ``COMPLETED`` or ``FAILED: ...``."""
    status: str | None = await ctx.get("status")
    return status or "RUNNING"


app: Any = restate.app([account, transfer])


async def serve(port: int) -> None:
    """Serve :data:`app` on 127.0.0.1:``port`` (HTTP/1.1 and h2c) until cancelled."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    # Restate multiplexes every invocation of a deployment over few HTTP/2 connections.
    config.h2_max_concurrent_streams = 2**31 - 1
    config.accesslog = None
    # Stop on SIGTERM as on Ctrl-C. The SDK takes the loop's SIGTERM handler for its own hooks
    # (a handler of ours or hypercorn's would be replaced): ours joins those hooks.
    from restate.server import install_shutdown_hook

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    install_shutdown_hook(loop, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await hypercorn_serve(app, config, mode="asgi", shutdown_trigger=stop.wait)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9080)
    args = parser.parse_args()
    try:
        import uvloop  # the event loop our proxy runs on: the same for both sides
    except ImportError:
        asyncio.run(serve(args.port))
    else:
        uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
