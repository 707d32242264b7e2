"""The router's forward / side-effect semantics, in-process with scripted component handlers.

The end-to-end tests (``test_proxy_actions.py``) show the same through real processes; here every
ordering and bound is checked exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from cloudstate.any_support import pack_message
from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.errors import (
    CommandFailed,
    ForwardLoop,
    ProtocolError,
    ProxyError,
    UnknownMethod,
)
from cloudstate.proxy.model import ALL_ENTITY_TYPES, MethodModel, UserFunctionModel, build_model
from cloudstate.proxy.router import Router, merge_metadata
from tests.actions.model import pb
from tests.actions.uf import build

Script = Callable[[MethodModel, bytes, entity_pb2.Metadata | None], Any]


def model() -> UserFunctionModel:
    return build_model(build().discovery_servicer().entity_spec(), ALL_ENTITY_TYPES)


class Scripted:
    """A component handler whose outcomes come from a script; records every call."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[tuple[str, bytes, entity_pb2.Metadata | None]] = []

    async def handle(
        self,
        method: MethodModel,
        entity_id: str,
        payload: bytes,
        metadata: entity_pb2.Metadata | None,
    ) -> Outcome:
        self.calls.append((f"{method.service.name}.{method.name}", payload, metadata))
        result = self.script(method, payload, metadata)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, Outcome)
        return result

    async def close(self) -> None:
        pass


def reply(message: str, *effects: entity_pb2.SideEffect) -> Outcome:
    action = entity_pb2.ClientAction(
        reply=entity_pb2.Reply(payload=pack_message(pb.Response(message=message)))
    )
    return Outcome(action, list(effects))


def note_effect(text: str, synchronous: bool, key: str = "k") -> entity_pb2.SideEffect:
    return entity_pb2.SideEffect(
        service_name="acttest.Recorder",
        command_name="Record",
        payload=pack_message(pb.Note(key=key, text=text)),
        synchronous=synchronous,
    )


def setup(script: Script, **options: Any) -> tuple[Router, Scripted, list[str]]:
    m = model()
    handler = Scripted(script)
    reported: list[str] = []

    async def report(message: str) -> None:
        reported.append(message)

    router = Router(m, dict.fromkeys(m.services, handler), report, **options)  # type: ignore[arg-type]
    return router, handler, reported


def note_text(payload: bytes) -> str:
    return str(pb.Note.FromString(payload).text)


def recorder_script(fail: set[str] | None = None) -> Script:
    """Counter.Add replies with effects decided by the test; Recorder.Record fails on demand."""

    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        if method.name == "Record":
            text = note_text(payload)
            if fail and text in fail:
                return CommandFailed(f"refused {text}")
            return reply(text)
        raise AssertionError(method.name)

    return script


def add_bytes(id_: str = "c") -> bytes:
    return bytes(pb.AddRequest(id=id_, amount=1).SerializeToString())


async def test_sync_effects_in_order_before_the_reply_async_ones_after() -> None:
    recorder = recorder_script()

    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        if method.name == "Add":
            return reply(
                "done",
                note_effect("s1", True),
                note_effect("a1", False),
                note_effect("s2", True),
                note_effect("a2", False),
            )
        return recorder(method, payload, metadata)

    router, handler, _ = setup(script)
    result = await router.call(router.method("acttest.Counter", "Add"), add_bytes(), None)
    assert pb.Response.FromString(result.payload).message == "done"
    # When the reply is handed back, the synchronous effects are done, in order, and the
    # asynchronous ones have not run yet.
    assert [note_text(p) for name, p, _ in handler.calls[1:]] == ["s1", "s2"]
    assert router.async_effects_in_flight == 2
    await router.drain()
    assert [note_text(p) for name, p, _ in handler.calls[1:]] == ["s1", "s2", "a1", "a2"]


async def test_a_failing_sync_effect_fails_the_call_and_stops_the_rest() -> None:
    recorder = recorder_script(fail={"s1"})

    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        if method.name == "Add":
            return reply("done", note_effect("a0", False), note_effect("s1", True))
        return recorder(method, payload, metadata)

    router, handler, _ = setup(script)
    with pytest.raises(ProxyError) as error:
        await router.call(router.method("acttest.Counter", "Add"), add_bytes(), None)
    assert error.value.status == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.message == (
        "synchronous side effect acttest.Recorder.Record of acttest.Counter.Add failed: refused s1"
        " (the command itself was applied; its state change is kept)"
    )
    await router.drain()
    assert [name for name, _, _ in handler.calls] == [
        "acttest.Counter.Add",
        "acttest.Recorder.Record",
    ]


async def test_a_failing_async_effect_is_logged_and_the_reply_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = recorder_script(fail={"a1"})

    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        if method.name == "Add":
            return reply("done", note_effect("a1", False), note_effect("a2", False))
        return recorder(method, payload, metadata)

    router, handler, _ = setup(script)
    with caplog.at_level(logging.WARNING, "cloudstate.proxy.router"):
        result = await router.call(router.method("acttest.Counter", "Add"), add_bytes(), None)
        await router.drain()
    assert pb.Response.FromString(result.payload).message == "done"
    assert len(handler.calls) == 3
    assert (
        "asynchronous side effect acttest.Recorder.Record of acttest.Counter.Add failed: "
        "refused a1" in caplog.text
    )


async def test_a_failure_performs_no_side_effects() -> None:
    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        action = entity_pb2.ClientAction(failure=entity_pb2.Failure(description="no"))
        return Outcome(action, [note_effect("s", True), note_effect("a", False)])

    router, handler, _ = setup(script)
    with pytest.raises(CommandFailed, match=r"^no$"):
        await router.call(router.method("acttest.Relay", "Call"), b"", None)
    await router.drain()
    assert len(handler.calls) == 1


async def test_async_effects_run_at_most_max_at_once_and_the_backlog_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    running = 0
    peak = 0

    async def record(method: MethodModel, payload: bytes, metadata: Any) -> Outcome:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return reply("ok")

    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        if method.name == "Add":
            return reply("done", *(note_effect(str(i), False) for i in range(12)))
        return record(method, payload, metadata)

    # One at a time, at most 8 in flight: of 12 effects, 8 are admitted and 4 dropped.
    router, handler, _ = setup(script, max_async_effects=1)
    with caplog.at_level(logging.ERROR, "cloudstate.proxy.router"):
        await router.call(router.method("acttest.Counter", "Add"), add_bytes(), None)
    assert router.async_effects_in_flight == 8
    assert caplog.text.count("dropped") == 4
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == 1
    release.set()
    await router.drain()
    assert peak == 1
    assert len(handler.calls) == 1 + 8

    # With room for all of them, they run concurrently.
    release.clear()
    peak = 0
    router, handler, _ = setup(script, max_async_effects=4)
    await router.call(router.method("acttest.Counter", "Add"), add_bytes(), None)
    for _ in range(10):
        await asyncio.sleep(0)
    assert running == 4
    release.set()
    await router.drain()
    assert peak == 4
    assert len(handler.calls) == 13


async def test_forward_chains_and_metadata_flows() -> None:
    def hop_script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        hops = pb.Hops.FromString(payload)
        if not hops.services:
            return reply(f"end {hops.message}")
        forward = entity_pb2.Forward(
            service_name=f"acttest.{hops.services[0]}",
            command_name="Call",
            payload=pack_message(pb.Hops(services=hops.services[1:], message=hops.message)),
        )
        if method.service.name == "acttest.Relay2":
            forward.metadata.entries.add(key="x-hop", string_value="2")
            forward.metadata.entries.add(key="X-Trace", string_value="replaced")
        return Outcome(entity_pb2.ClientAction(forward=forward))

    router, handler, _ = setup(hop_script)
    metadata = entity_pb2.Metadata()
    metadata.entries.add(key="x-trace", string_value="t")
    metadata.entries.add(key="x-user", string_value="u")
    request = pb.Hops(services=["Relay2", "Relay3", "Relay"], message="m").SerializeToString()
    result = await router.call(router.method("acttest.Relay", "Call"), request, metadata)
    assert pb.Response.FromString(result.payload).message == "end m"
    names = [name for name, _, _ in handler.calls]
    relays = ["acttest.Relay.Call", "acttest.Relay2.Call", "acttest.Relay3.Call"]
    assert names == [*relays, "acttest.Relay.Call"]
    seen = [[(e.key, e.string_value) for e in md.entries] for _, _, md in handler.calls]
    assert seen[1] == [("x-trace", "t"), ("x-user", "u")]
    assert seen[2] == seen[3] == [("x-user", "u"), ("x-hop", "2"), ("X-Trace", "replaced")]


async def test_a_forward_loop_is_cut_with_the_hops_named() -> None:
    def script(method: MethodModel, payload: bytes, metadata: Any) -> Any:
        forward = entity_pb2.Forward(
            service_name="acttest.Relay",
            command_name="Loop",
            payload=pack_message(pb.LoopRequest(id="x")),
        )
        return Outcome(entity_pb2.ClientAction(forward=forward))

    router, handler, reported = setup(script, max_forward_depth=10)
    with pytest.raises(ForwardLoop) as error:
        await router.call(router.method("acttest.Relay", "Loop"), b"", None)
    assert len(handler.calls) == 11
    hop = "acttest.Relay.Loop"
    assert error.value.status == grpc.StatusCode.INTERNAL
    assert error.value.message == (
        f"forward from {hop} to {hop} cut off: the chain of forwards and side effects is longer "
        "than 10 hops (--max-forward-depth), probably a loop: "
        f"{' -> '.join([hop] * 4)} -> ... -> {' -> '.join([hop] * 4)}. Break the loop, or raise "
        "--max-forward-depth if the chain is meant to be this long"
    )
    assert reported == [error.value.message]


async def test_bad_targets_are_reported_to_the_user_function() -> None:
    targets = {
        "unknown": ("acttest.Nope", "Call", pb.Hops(), "targets unknown method acttest.Nope/Call"),
        "streamed": ("acttest.Streams", "Out", pb.StreamRequest(), "a streamed method"),
        "payload": ("acttest.Relay2", "Call", pb.Note(), "payload is type.googleapis.com/"),
        "output": ("acttest.Counter", "Get", pb.GetRequest(id="x"), "the target returns"),
    }
    for case, (service, method_name, message, expected) in targets.items():
        forward = entity_pb2.Forward(
            service_name=service, command_name=method_name, payload=pack_message(message)
        )
        router, handler, reported = setup(
            lambda m, p, md, f=forward: Outcome(entity_pb2.ClientAction(forward=f))
        )
        with pytest.raises(ProtocolError) as error:
            await router.call(router.method("acttest.Relay", "Call"), b"", None)
        assert expected in error.value.message, case
        assert reported == [error.value.message], case
        assert len(handler.calls) == 1, case


def test_merge_metadata() -> None:
    def md(*pairs: tuple[str, str]) -> entity_pb2.Metadata:
        return entity_pb2.Metadata(
            entries=[entity_pb2.MetadataEntry(key=k, string_value=v) for k, v in pairs]
        )

    assert merge_metadata(None, None) is None
    base = md(("a", "1"), ("B", "2"), ("b", "3"))
    assert merge_metadata(base, None) is base
    assert merge_metadata(None, base) is base
    merged = merge_metadata(base, md(("b", "x"), ("c", "y")))
    assert merged is not None
    assert [(e.key, e.string_value) for e in merged.entries] == [("a", "1"), ("b", "x"), ("c", "y")]


class StreamingScripted(Scripted):
    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__(lambda m, p, md: reply("unary"))
        self.outcomes = outcomes
        self.closed = False
        self.received: list[bytes] = []

    async def handle_streamed(
        self,
        method: MethodModel,
        entity_id: str,
        requests: bytes | AsyncIterator[bytes],
        metadata: entity_pb2.Metadata | None,
    ) -> AsyncIterator[Outcome]:
        try:
            if not isinstance(requests, bytes):
                self.received = [r async for r in requests]
            for outcome in self.outcomes:
                yield outcome
            await asyncio.Event().wait()  # an endless stream
        finally:
            self.closed = True


async def test_stream_shapes_and_closing_cancels_the_component_stream() -> None:
    m = model()
    no_reply = Outcome(entity_pb2.ClientAction())
    handler = StreamingScripted([reply("a"), no_reply, reply("b")])

    async def report(message: str) -> None:
        pass

    router = Router(m, dict.fromkeys(m.services, handler), report)  # type: ignore[arg-type]
    out = router.method("acttest.Streams", "Out")
    async with contextlib.aclosing(router.stream(out, b"", None)) as replies:
        got = [pb.Response.FromString((await anext(replies)).payload).message for _ in range(2)]
    assert got == ["a", "b"]
    assert handler.closed

    # Client streaming: bytes are a stream of one message; exactly one reply, even if the
    # component sends none.
    handler = StreamingScripted([no_reply])
    handler.outcomes = [no_reply]
    router = Router(m, dict.fromkeys(m.services, handler), report)  # type: ignore[arg-type]
    in_ = router.method("acttest.Streams", "In")

    async def finite() -> AsyncIterator[Outcome]:
        yield no_reply

    handler.handle_streamed = lambda *args: finite()  # type: ignore[method-assign]
    replies_in = [r async for r in router.stream(in_, b"\x0a\x01x", None)]
    assert [r.payload for r in replies_in] == [b""]

    # A unary method through stream(): one reply.
    relay = router.method("acttest.Relay", "Call")
    assert len([r async for r in router.stream(relay, b"", None)]) == 1


async def test_streamed_method_of_a_type_without_streams_is_unimplemented() -> None:
    router, _, _ = setup(lambda m, p, md: reply("x"))
    with pytest.raises(UnknownMethod, match="only take unary calls"):
        async for _ in router.stream(router.method("acttest.Streams", "Out"), b"", None):
            pass
