"""What forwarding one command to its owning worker costs: the local channel alone, both ends
in one process (so the CPU measured is the sum of the sender's and the owner's share).

Usage: ``python benchmarks/profile_forwarding.py [--commands 20000] [--concurrency 64]
[--profile]``

A :class:`~cloudstate.proxy.workers.channel.PeerClient` sends the cart's AddItem (request bytes
and metadata as a client sends them) to an
:class:`~cloudstate.proxy.workers.channel.OwnerServer` whose entity answers at once with a
typical outcome (a reply of a 3-item cart); ``--concurrency`` commands are in flight. Prints
CPU microseconds per forwarded command; ``--profile`` adds cProfile's top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "shoppingcart"))

from google.protobuf import any_pb2  # noqa: E402
from shoppingcart import shoppingcart_pb2  # noqa: E402

from cloudstate.protocol import entity_pb2  # noqa: E402
from cloudstate.proxy import event_loop  # noqa: E402
from cloudstate.proxy.entities.base import Outcome  # noqa: E402
from cloudstate.proxy.workers.channel import (  # noqa: E402
    OwnerServer,
    PeerClient,
    socket_address,
    tcp_address,
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def forward(commands: int, concurrency: int, tcp: bool = False) -> float:
    cart = shoppingcart_pb2.Cart(
        items=[
            shoppingcart_pb2.LineItem(product_id=f"p{i}", name="item", quantity=i) for i in range(3)
        ]
    )
    reply = entity_pb2.ClientAction(
        reply=entity_pb2.Reply(
            payload=any_pb2.Any(
                type_url="type.googleapis.com/com.example.shoppingcart.Cart",
                value=cart.SerializeToString(),
            )
        )
    )
    outcome = Outcome(reply)

    async def serve(*_: object) -> Outcome:
        return outcome

    if tcp:  # the cluster's channel between nodes: the same frames over TCP loopback
        server = OwnerServer(tcp_address("127.0.0.1", 0), serve)
        address = tcp_address("127.0.0.1", await server.start())
    else:
        address = socket_address(f"profile-{os.getpid()}", 1)
        server = OwnerServer(address, serve)
        await server.start()
    client = PeerClient("w1", address, timeout=30.0)
    payload = shoppingcart_pb2.AddLineItem(
        user_id="cart-1", product_id="p1", name="item", quantity=1
    ).SerializeToString()
    metadata = entity_pb2.Metadata(
        entries=[entity_pb2.MetadataEntry(key="x-request-id", string_value="abc")]
    )
    service = "com.example.shoppingcart.ShoppingCart"

    async def sender(count: int) -> None:
        for _ in range(count):
            await client.call(service, "AddItem", "cart-1", metadata, payload)

    await sender(100)  # connect, warm up
    started = _cpu()
    share = commands // concurrency
    await asyncio.gather(*(sender(share) for _ in range(concurrency)))
    used = _cpu() - started
    client.close()
    await server.close()
    return used / (share * concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--tcp", action="store_true", help="over TCP loopback (the cluster's)")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    per_command = event_loop.run(forward(args.commands, args.concurrency, args.tcp))
    if profiler is not None:
        profiler.disable()
    print(
        f"forwarding over the local channel ({event_loop.chosen()}): "
        f"{per_command * 1e6:.1f} us CPU per command (sender + owner), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
