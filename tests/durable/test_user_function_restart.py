"""A user function restarted under a running proxy is told again what the proxy supports.

A language support learns of ``cloudstate.durable-calls/1`` only from ``discover``; a restarted
user function process has not been called by the proxy. Without a new discovery, the Python SDK
fails every command asking for a timer or a durable effect with UNIMPLEMENTED (and a keyed call
stores that failure): after a user-function crash, transfers could no longer start and timers of
transfers already started went to the dead letters (tests/durable/test_bank_faults.py found it).
The proxy now calls ``discover`` again, before the next call reaches the user function, whenever
its connection was lost (:mod:`cloudstate.proxy.reannounce`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.durable.bank_faults import BankLoad, BankProcesses, bank_pb2
from tests.durable.harness import effect, running_stack
from tests.durable.uf import UserFunction

DISCOVERY_LINE = "Discovery call from proxy"


async def test_a_restarted_sdk_user_function_runs_timers_and_durable_effects_again(
    tmp_path: Path,
) -> None:
    bank = await asyncio.to_thread(BankProcesses.start, tmp_path, f"sqlite:///{tmp_path}/b.db")
    load = BankLoad(bank.ports)
    try:
        deposit = bank_pb2.DepositRequest(account_id="alice", amount=100, transfer_id="cash-1")
        await load.call("seed", "Deposit", deposit, "cash-1")
        await asyncio.to_thread(bank.uf.kill)
        await asyncio.to_thread(bank.uf.start)  # the same port: the proxy reconnects
        start = bank_pb2.StartTransfer(
            transfer_id="t1", from_account="alice", to_account="bob", amount=30
        )
        # A timer, a synchronous withdrawal, then the account's durable report to the transfer.
        started = await load.call("start", "Start", start, "start-t1")
        confirmed = await load.call(
            "confirm", "Confirm", bank_pb2.TransferId(transfer_id="t1"), "confirm-t1"
        )
        assert started is not None and confirmed is not None, (
            f"{load.answers}; the user function's log:\n{bank.uf.log()[-2000:]}"
        )
        bob = bank_pb2.GetBalanceRequest(account_id="bob")
        deadline = time.monotonic() + 15
        while (await load.call("read", "GetBalance", bob, None)).balance != 30:
            assert time.monotonic() < deadline, "the durable deposit never landed"
            await asyncio.sleep(0.05)
    finally:
        await load.close()
        await asyncio.to_thread(bank.stop)
    assert bank.uf.log().count(DISCOVERY_LINE) == 2  # at the proxy's start, after the restart
    assert "needs the protocol extension" not in bank.uf.log()
    assert "told the restarted user function what this proxy supports" in bank.nodes[0].log()


async def test_an_action_call_after_a_restart_is_preceded_by_a_new_discovery(
    tmp_path: Path,
) -> None:
    first = UserFunction(("Jobs",)).start()
    second: UserFunction | None = None
    try:
        async with running_stack(tmp_path, ("Jobs",), uf=first) as stack:
            await stack.ask(effect("before"))
            await first.wait_for(lambda: first.delivered("before"))
            first.stop()
            second = UserFunction(("Jobs",), port=first.port).start()
            await stack.ask(effect("after"))
            await second.wait_for(lambda: second.delivered("after"))
            info = second.discovery.proxy_info
            assert info is not None, "the restarted user function was never told about the proxy"
            assert "cloudstate.durable-calls/1" in info.extensions
    finally:
        first.stop()
        if second is not None:
            second.stop()
