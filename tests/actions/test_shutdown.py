"""SIGTERM with streamed calls open: the proxy does not wait its whole grace for streams that
would never end; unary calls in flight still complete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from tests.actions.conftest import action_user_function
from tests.actions.model import pb
from tests.processes import proxy, wait_serving

GRACE = 30.0


async def test_sigterm_cancels_open_streams_without_waiting_the_grace(tmp_path: Path) -> None:
    uf = action_user_function(tmp_path).start()
    px = proxy(tmp_path, uf.port, "memory:", "--shutdown-grace", str(GRACE)).start()
    try:
        wait_serving(px.port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{px.port}") as channel:

            def method(kind: str, path: str, reply: Any) -> Any:
                return getattr(channel, kind)(
                    path,
                    request_serializer=pb.Item.SerializeToString
                    if "Both" in path or "Echo" in path
                    else pb.StreamRequest.SerializeToString,
                    response_deserializer=reply.FromString,
                )

            # ~1,000 s of items: a stream that will not end by itself during the test.
            out = method("unary_stream", "/acttest.Streams/Out", pb.Item)
            endless = out(pb.StreamRequest(prefix="x", count=1000, delay_ms=1000))
            first = await endless.read()
            assert first.text == "x0"

            async def items() -> AsyncIterator[pb.Item]:
                yield pb.Item(text="a")
                await asyncio.Event().wait()  # the client never half-closes

            duplex = method("stream_stream", "/acttest.Streams/Both", pb.Item)(items())
            assert (await duplex.read()).text == "A"  # Both upper-cases
            echo = await method("unary_unary", "/acttest.Echo/Echo", pb.Item)(
                pb.Item(text="still served")
            )
            assert echo.text == "still served"

            started = time.monotonic()
            code = await asyncio.to_thread(px.terminate, GRACE + 15)
            took = time.monotonic() - started
            assert code == 0
            assert took < GRACE / 3, f"the proxy took {took:.1f} s to stop (grace {GRACE} s)"
            for call in (endless, duplex):
                try:
                    while await call.read() is not grpc.aio.EOF:
                        pass
                except grpc.aio.AioRpcError:
                    pass
                assert await call.code() != grpc.StatusCode.OK
            duplex.cancel()
        assert "cancelling 2 open streamed calls" in px.log()
    finally:
        px.terminate()
        uf.terminate()
