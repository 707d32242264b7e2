"""A bare grpc.aio unary echo server: the floor of what any grpc.aio-based server costs per call.

``python benchmarks/echo_server.py PORT`` serves ``/bench.Echo/Echo``, answering every request
with its own bytes (no (de)serialization, no application work). ``benchmarks/run.py`` drives it
with h2load as baseline (b).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc


async def echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


async def serve(port: int) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
