"""``make bench``: workflows (issue 18) — the 3-step bank transfer (withdraw → deposit → record
completion) on our stack and as a Restate workflow, on the same machine in the same run.

Each side starts its processes on fresh storage (fsync on commit on both: our SQLite store, and
Restate's local log, whose WAL fsync is on by default), seeds one source account per client with
plenty of money, then drives closed-loop transfers for ``--seconds`` at each concurrency
(1, 16, 64). Client *i* moves 1 cent from ``src-i`` to ``dst-i`` over and over, each transfer a
new workflow id, so clients never wait for each other's accounts. One transfer's latency is
*start → the client sees it completed*:

* **Restate**: ``POST /Transfer/<id>/run`` on the ingress, which answers when the workflow has
  ended (the closest Restate has to "start and wait": its result, not a poll).
* **Cloudstate**: ``Start`` on the workflow service, then ``GetStatus`` until the status is final
  (see :func:`run_cloudstate_side`).

Recorded per row: completed workflows/s, p50/p99 end-to-end latency, transfers that did not
complete, CPU seconds per 1,000 workflows of each process (server/proxy, service/user function,
and this client), peak RSS; at the end of each side, whether money is conserved (the sum of the
destination balances equals the completed transfers).

The client is Python asyncio (aiohttp for Restate's HTTP ingress, grpc.aio for ours), in this
process, on the same two cores: a "start, then wait for the end" loop with a fresh id per
request is beyond h2load/wrk. Its CPU per 1,000 workflows is reported so that one can see it is
not the bottleneck.

    python benchmarks/bench_workflows.py [--seconds 10] [--concurrency 1 16 64]
        [--sides restate cloudstate] [--quick]

Results: ``benchmarks/results/workflows.json`` and the table printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import restate_stack  # noqa: E402
from benchmarks.common import (  # noqa: E402
    LoadResult,
    cpu_seconds,
    machine,
    own_cpu_seconds,
    rss_mb,
    write_results,
)

#: Cents each client's source account starts with: never runs out in a benchmark run.
SEED = 10**12
AMOUNT = 1
WARMUP_SECONDS = 1.0

#: One transfer, from the start to the client seeing it ended: (client index) -> completed?
Transfer = Callable[[int], Awaitable[bool]]


async def closed_loop(transfer: Transfer, concurrency: int, seconds: float) -> LoadResult:
    """``concurrency`` clients, each starting its next transfer when its last one ended."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                completed = await transfer(index)
            except Exception:
                completed = False
            if completed:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    cpu = own_cpu_seconds()
    began = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    elapsed = time.monotonic() - began
    latencies.sort()
    return LoadResult(len(latencies), errors, elapsed, latencies, own_cpu_seconds() - cpu)


#: Opens a client (a connection pool of the loop it runs on) for one load run.
OpenClient = Callable[[], AbstractAsyncContextManager[Transfer]]


async def load(open_client: OpenClient, concurrency: int, seconds: float) -> LoadResult:
    async with open_client() as transfer:
        return await closed_loop(transfer, concurrency, seconds)


def measure(
    side: str,
    concurrency: int,
    seconds: float,
    open_client: OpenClient,
    processes: dict[str, int],
    warmup: bool = False,
) -> dict[str, Any]:
    """One row: :func:`closed_loop` with the CPU of each of ``processes`` (name → pid) per 1,000
    completed workflows and their peak RSS."""
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    result = asyncio.run(load(open_client, concurrency, seconds))
    row: dict[str, Any] = {"side": side, "concurrency": concurrency, **result.summary()}
    row["workflows_per_s"] = row.pop("ops_per_s")
    row["client_cpu_s_per_1k"] = row.pop("loadgen_cpu_s_per_1k")
    ops = max(result.ops, 1)
    for name, pid in processes.items():
        row[f"{name}_cpu_s_per_1k"] = (cpu_seconds(pid) - before[name]) / ops * 1000
        row[f"{name}_peak_rss_mb"] = rss_mb(pid, "VmHWM")
    print(
        f"{side:10} c={concurrency:<3} {row['workflows_per_s']:8.1f} wf/s  "
        f"{'(warm-up) ' if warmup else ''}"
        f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}",
        flush=True,
    )
    return row


# -- Restate ---------------------------------------------------------------------------------------


class RestateClient:
    """Calls to Restate's HTTP ingress; counts the transfers seen completed."""

    def __init__(self, ingress_url: str, connections: int) -> None:
        self.url = ingress_url
        self.connections = connections
        self.completed = 0

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[aiohttp.ClientSession]:
        connector = aiohttp.TCPConnector(limit=self.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            yield session

    async def call(
        self, session: aiohttp.ClientSession, path: str, body: object
    ) -> tuple[int, Any]:
        # A handler without input takes no body and no content type (Restate refuses either).
        request = {"json": body} if body is not None else {"skip_auto_headers": ("Content-Type",)}
        async with session.post(f"{self.url}{path}", **request) as response:
            return response.status, await response.json(content_type=None)

    @contextlib.asynccontextmanager
    async def transfers(self) -> AsyncIterator[Transfer]:
        async with self.session() as session:

            async def transfer(index: int) -> bool:
                request = {"from_account": f"src-{index}", "to_account": f"dst-{index}",
                           "amount": AMOUNT}  # fmt: skip
                path = f"/Transfer/{uuid.uuid4().hex}/run"
                status, result = await self.call(session, path, request)
                done = status == 200 and result == "COMPLETED"
                self.completed += done
                return done

            yield transfer

    async def seed(self, accounts: int) -> None:
        async with self.session() as session:
            for index in range(accounts):
                status, _ = await self.call(session, f"/Account/src-{index}/deposit", SEED)
                if status != 200:
                    raise RuntimeError(f"Restate: seeding account src-{index} answered {status}")

    async def destination_total(self, accounts: int) -> int:
        async with self.session() as session:
            total = 0
            for index in range(accounts):
                status, value = await self.call(session, f"/Account/dst-{index}/balance", None)
                if status != 200:
                    raise RuntimeError(
                        f"Restate: balance of dst-{index} answered {status}: {value}"
                    )
                total += int(value)
            return total


def run_restate_side(tmp: Path, concurrencies: list[int], seconds: float) -> dict[str, Any]:
    """The transfer as a Restate workflow (benchmarks/restate/transfer.py) at each concurrency."""
    accounts = max(concurrencies)
    with restate_stack.restate_stack(tmp) as stk:
        client = RestateClient(stk.ingress_url, accounts)
        processes = {"server": stk.server_pid, "service": stk.service_pid}
        asyncio.run(client.seed(accounts))
        measure("restate", min(concurrencies), WARMUP_SECONDS, client.transfers, processes, True)
        rows = [measure("restate", c, seconds, client.transfers, processes) for c in concurrencies]
        total = asyncio.run(client.destination_total(accounts))
    return {"rows": rows, "completed": client.completed, "destination_total": total,
            "money_conserved": total == client.completed * AMOUNT}  # fmt: skip


# ================================ run_cloudstate_side: OUR SIDE ================================
# The bank example's transfer workflow (examples/bank/bank/transfer_workflow.py: withdraw ->
# deposit -> end, the refund as compensation), served by `python -m bank.main` behind our proxy.
# A client starts a transfer with a gRPC call to TransferWorkflow.Start, then follows the
# workflow's progress feed (SSE, docs/workflows.md) until it ends: like Restate's call that
# answers when the workflow has ended, no polling.

WORKFLOW_SERVICE = "com.example.bank.TransferWorkflow"
ACCOUNTS_SERVICE = "com.example.bank.Accounts"
ENDED = ("COMPLETED", "FAILED", "CANCELLED")


class CloudstateClient:
    """Transfers through our proxy's client port: ``Start`` over gRPC, then the SSE feed."""

    def __init__(self, port: int) -> None:
        sys.path.insert(0, str(ROOT / "examples" / "bank"))
        from bank import bank_pb2

        self.pb = bank_pb2
        self.port = port
        self.completed = 0

    def _method(self, channel: Any, service: str, method: str) -> Any:
        descriptor = self.pb.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
        output = descriptor.methods_by_name[method].output_type
        reply_class = getattr(self.pb, output.name)
        return channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply_class.FromString,
        )

    @contextlib.asynccontextmanager
    async def transfers(self) -> AsyncIterator[Transfer]:
        import grpc

        feed = f"http://127.0.0.1:{self.port}/cloudstate/workflows/{WORKFLOW_SERVICE}"
        headers = {"accept": "text/event-stream"}
        connector = aiohttp.TCPConnector(limit=0)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel,
            aiohttp.ClientSession(connector=connector) as session,
        ):
            start = self._method(channel, WORKFLOW_SERVICE, "Start")

            async def transfer(index: int) -> bool:
                transfer_id = uuid.uuid4().hex
                await start(
                    self.pb.TransferRequest(transfer_id=transfer_id, from_account=f"src-{index}",
                                            to_account=f"dst-{index}", amount=AMOUNT),
                    timeout=30,
                )  # fmt: skip
                async with session.get(f"{feed}/{transfer_id}/events", headers=headers) as reply:
                    status = ""
                    async for line in reply.content:
                        if line.startswith(b"data:"):
                            status = json.loads(line[5:])["status"]
                            if status in ENDED:
                                break
                done = status == "COMPLETED"
                self.completed += done
                return done

            yield transfer

    async def seed(self, accounts: int) -> None:
        import grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            deposit = self._method(channel, ACCOUNTS_SERVICE, "Deposit")
            for index in range(accounts):
                await deposit(
                    self.pb.DepositRequest(account_id=f"src-{index}", amount=SEED,
                                           transfer_id=f"seed-{index}"),
                    timeout=30,
                )  # fmt: skip

    async def destination_total(self, accounts: int) -> int:
        import grpc

        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            get_balance = self._method(channel, ACCOUNTS_SERVICE, "GetBalance")
            total = 0
            for index in range(accounts):
                reply = await get_balance(
                    self.pb.GetBalanceRequest(account_id=f"dst-{index}"), timeout=30
                )
                total += reply.balance
            return total


def bank_user_function(tmp: Path) -> Any:
    from tests.processes import Process, free_port

    port = free_port()
    return Process(
        "bank user function",
        [sys.executable, "-m", "bank.main"],
        port,
        tmp / f"bank-uf-{port}.log",
        cwd=ROOT / "examples" / "bank",
        env={"HOST": "127.0.0.1", "PORT": str(port)},
    )


def run_cloudstate_side(tmp: Path, concurrencies: list[int], seconds: float) -> dict[str, Any]:
    """The same transfer as our workflow (examples/bank, a user function + proxy on SQLite with
    fsync on commit: benchmarks/stack.py) at each concurrency."""
    from benchmarks.stack import stack

    accounts = max(concurrencies)
    client = CloudstateClient(0)
    with stack(tmp, bank_user_function, "workflows.db") as stk:
        assert stk.px is not None
        client.port = stk.px.port
        processes = {"proxy": stk.px_pid, "uf": stk.uf_pid}
        asyncio.run(client.seed(accounts))
        measure("cloudstate", min(concurrencies), WARMUP_SECONDS, client.transfers, processes, True)
        rows = [
            measure("cloudstate", c, seconds, client.transfers, processes) for c in concurrencies
        ]
        total = asyncio.run(client.destination_total(accounts))
    return {"rows": rows, "completed": client.completed, "destination_total": total,
            "money_conserved": total == client.completed * AMOUNT}  # fmt: skip


def table(report: dict[str, Any]) -> str:
    """The rows of every side as a Markdown table (README's "Workflows vs Restate")."""
    lines = [
        "| side | concurrency | workflows/s | p50 ms | p99 ms | not completed "
        "| server/proxy CPU s/1k | service/UF CPU s/1k | client CPU s/1k |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for side, result in report["sides"].items():
        for row in result.get("rows", []):
            server = row.get("server_cpu_s_per_1k", row.get("proxy_cpu_s_per_1k", 0.0))
            service = row.get("service_cpu_s_per_1k", row.get("uf_cpu_s_per_1k", 0.0))
            lines.append(
                f"| {side} | {row['concurrency']} | {row['workflows_per_s']:.1f} "
                f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['errors']} "
                f"| {server:.2f} | {service:.2f} | {row['client_cpu_s_per_1k']:.2f} |"
            )
    return "\n".join(lines)


SIDES = {"restate": run_restate_side, "cloudstate": run_cloudstate_side}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--sides", nargs="+", choices=list(SIDES), default=list(SIDES))
    parser.add_argument("--quick", action="store_true", help="3 s per run")
    parser.add_argument("--output", default="workflows.json")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else args.seconds
    report: dict[str, Any] = {"machine": machine(), "seconds": seconds, "sides": {}}
    for side in args.sides:
        with tempfile.TemporaryDirectory(prefix=f"bench-wf-{side}-") as tmp:
            try:
                report["sides"][side] = SIDES[side](Path(tmp), args.concurrency, seconds)
            except Exception as e:  # one side failing still reports the other
                print(f"{side}: {type(e).__name__}: {e}", flush=True)
                report["sides"][side] = {"error": f"{type(e).__name__}: {e}"}
    path = write_results(args.output, report)
    print(table(report))
    print(f"results: {path}")
    return report


if __name__ == "__main__":
    main()
