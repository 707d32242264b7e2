"""Ownership by rendezvous hashing, the channel's frames, and the workers' singleton locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.entities.base import Outcome
from cloudstate.proxy.errors import ProxyError
from cloudstate.proxy.workers import wire
from cloudstate.proxy.workers.ownership import Ownership

SERVICE = "com.example.shoppingcart.ShoppingCart"
KEYS = [f"cart-{n}" for n in range(3000)]


def test_every_member_computes_the_same_owner_in_another_process() -> None:
    here = [Ownership(["w0", "w1", "w2"]).owner(SERVICE, key) for key in KEYS[:200]]
    script = (
        "from cloudstate.proxy.workers.ownership import Ownership\n"
        "o = Ownership(['w2', 'w0', 'w1'])\n"
        f"print(','.join(o.owner({SERVICE!r}, f'cart-{{n}}') for n in range(200)))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")  # another str hash than ours
    there = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert there.stdout.strip().split(",") == here


def test_owners_are_balanced_and_a_leaving_member_moves_only_its_own_keys() -> None:
    three = Ownership(["w0", "w1", "w2"])
    before = {key: three.owner(SERVICE, key) for key in KEYS}
    shares = Counter(before.values())
    assert set(shares) == {"w0", "w1", "w2"}
    assert min(shares.values()) > len(KEYS) / 3 * 0.85, shares
    heard: list[list[str]] = []
    three.on_change(lambda members: heard.append(list(members)))
    three.set_members(["w0", "w1"])
    assert heard == [["w0", "w1"]]
    for key, owner in before.items():
        now = three.owner(SERVICE, key)
        if owner != "w2":
            assert now == owner, f"{key} moved from {owner} to {now} though {owner} stayed"
        else:
            assert now in ("w0", "w1")


def test_an_outcome_and_an_error_cross_the_channel_unchanged() -> None:
    action = entity_pb2.ClientAction(reply=entity_pb2.Reply())
    action.reply.payload.type_url = "type.googleapis.com/x.Cart"
    action.reply.payload.value = b"\x01\x02"
    effect = entity_pb2.SideEffect(service_name="x.Svc", command_name="Do", synchronous=True)
    for published, replayed in ((True, False), (False, True)):
        outcome = Outcome(action, [effect, effect], published=published, replayed=replayed)
        request_id, kind, body = wire.split(wire.encode_outcome(7, outcome)[4:])
        assert (request_id, kind) == (7, wire.OUTCOME)
        assert wire.decode_outcome(body) == outcome
    error = ProxyError("cart-1: the user function is gone", grpc.StatusCode.UNAVAILABLE)
    request_id, kind, body = wire.split(wire.encode_error(8, error)[4:])
    decoded = wire.decode_error(body)
    assert (kind, decoded.status, decoded.message) == (wire.ERROR, error.status, error.message)
    metadata = entity_pb2.Metadata(entries=[entity_pb2.MetadataEntry(key="k", string_value="v")])
    frame = wire.encode_request(9, SERVICE, "AddItem", "cart-é", metadata, b"\x00payload")
    _, kind, body = wire.split(frame[4:])
    assert wire.decode_request(body) == (SERVICE, "AddItem", "cart-é", metadata, b"\x00payload")


_CLAIM = """
import asyncio, sys, time
from cloudstate.proxy.workers.node import _FileLocks
async def main():
    locks = _FileLocks(sys.argv[1])
    while await locks.try_own("consumer:orders") is None:
        await asyncio.sleep(0.02)
    print("owner", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


def _wait_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            return line.strip()
        time.sleep(0.02)
    return ""


def test_one_worker_at_a_time_runs_a_singleton_and_another_takes_over_when_it_dies(
    tmp_path: Path,
) -> None:
    group = f"test-{os.getpid()}-{tmp_path.name}"
    start = [sys.executable, "-c", _CLAIM, group]
    first = subprocess.Popen(start, stdout=subprocess.PIPE, text=True)
    second = None
    try:
        assert _wait_line(first, 30) == "owner"
        second = subprocess.Popen(start, stdout=subprocess.PIPE, text=True)
        assert _wait_line(second, 3) == "", "two workers own the same singleton"
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert _wait_line(second, 30) == "owner", "nobody took over from the killed worker"
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        for leftover in Path(tempfile.gettempdir()).glob(f"cloudstate-proxy-{group}-*.lock"):
            leftover.unlink()


@pytest.mark.parametrize("members", [[], ["w0"]])
def test_no_member_or_one(members: list[str]) -> None:
    ownership = Ownership(members)
    if members:
        assert ownership.owner(SERVICE, "a") == "w0"
    else:
        with pytest.raises(LookupError, match="no live member"):
            ownership.owner(SERVICE, "a")


def test_what_the_proxy_sets_on_a_forwarding_handler_reaches_the_local_handler() -> None:
    """Eventing sets ``on_appended``, ``outbox`` and ``journal_readers`` on the handlers after
    the workers joined: on the local handler they take effect, on the wrapper they would not."""
    from types import SimpleNamespace

    from cloudstate.proxy.workers.node import ForwardingHandler

    local = SimpleNamespace(service=SimpleNamespace(persistence_id="carts"), outbox=None)
    handler = ForwardingHandler("shop.Cart", local, Ownership(["w0"]), {})
    handler.outbox = "publisher"
    handler.journal_readers = ["audit"]
    assert (local.outbox, local.journal_readers) == ("publisher", ["audit"])
    assert handler.service.persistence_id == "carts"  # the local handler's service
    assert handler.service_name == "shop.Cart"
