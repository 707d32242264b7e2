"""Durable side effects over a real proxy, a raw user function and a SQLite file: recorded with
the command's write (or, for actions, before the reply), delivered after it with the delivery
metadata, never when the command fails, and refused when they name a bad target."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from cloudstate.proxy.durable.tasks import DURABLE_CALLS_EXTENSION
from cloudstate.proxy.stores.base import Payload
from cloudstate.proxy.stores.registry import open_store
from tests.durable.harness import effect, eventually, no_tasks, running_stack
from tests.durable.uf import jobs_pb2


async def test_the_proxy_lists_the_extension_in_proxy_info(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        info = stack.uf.discovery.proxy_info
        assert info is not None
        assert DURABLE_CALLS_EXTENSION in info.extensions


async def test_an_actions_durable_effect_is_delivered_with_its_own_metadata_only(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.ask(effect("a1", note="from-the-effect"), metadata=(("x-secret", "token"),))
        await stack.uf.wait_for(lambda: stack.uf.delivered("a1"))
        (delivery,) = stack.uf.delivered("a1")
        assert delivery.method == "Deliver"
        assert re.fullmatch(r"effect:[0-9a-f-]{36}", delivery.metadata["idempotency-key"])
        assert delivery.metadata["cloudstate-attempt"] == "1"
        assert delivery.metadata["x-note"] == "from-the-effect"
        assert "x-secret" not in delivery.metadata  # the command's metadata is not stored
        await eventually(lambda: no_tasks(stack))  # finished: deleted from the store


async def test_a_value_entitys_durable_effect_is_written_with_its_state_and_delivered(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        stack.uf.recorder.failures["v1"] = -1  # keep it pending: it must be in the store
        await stack.update("alice", effect("v1"))
        (task,) = await stack.store.list_tasks("effect:")
        assert re.fullmatch(r"effect:accounts/alice/[0-9a-f]{32}/0", task.name)
        assert task.key == task.name
        assert (task.service, task.method) == ("durabletest.Jobs", "Deliver")
        stored = await stack.store.load_value("accounts", "alice")
        assert stored is not None and stored.version == 1
        await stack.uf.wait_for(lambda: stack.uf.delivered("v1"))
        assert stack.uf.delivered("v1")[0].metadata["idempotency-key"] == task.key


async def test_an_event_sourced_effect_is_keyed_by_the_sequence_of_its_events(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.record("bob", effect("e1"), effect("e2"))
        await stack.record("bob", effect("e3"))
        await stack.uf.wait_for(lambda: all(stack.uf.delivered(t) for t in ("e1", "e2", "e3")))
        keys = {t: stack.uf.delivered(t)[0].metadata["idempotency-key"] for t in ("e1", "e2", "e3")}
        assert keys == {
            "e1": "effect:ledger/bob/1/0",
            "e2": "effect:ledger/bob/1/1",
            "e3": "effect:ledger/bob/2/0",
        }


async def test_a_reply_that_writes_nothing_still_records_its_durable_effects(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        stack.uf.recorder.failures["n1"] = -1
        stack.uf.recorder.failures["n2"] = -1
        await stack.update("carol", effect("n1"), write=False)
        await stack.record("carol", effect("n2"), write=False)
        assert await stack.store.load_value("accounts", "carol") is None
        assert await stack.store.highest_sequence("ledger", "carol") == 0
        names = sorted(task.name for task in await stack.store.list_tasks("effect:"))
        assert len(names) == 2 and names[0].startswith("effect:accounts/carol/")
        assert names[1].startswith("effect:ledger/carol/")
        await stack.uf.wait_for(lambda: stack.uf.delivered("n1") and stack.uf.delivered("n2"))


@pytest.mark.parametrize("kind", ["action", "value entity", "event sourced"])
async def test_a_failed_command_records_and_delivers_nothing(tmp_path: Path, kind: str) -> None:
    async with running_stack(tmp_path) as stack:
        call = {
            "action": lambda: stack.ask(effect("f1"), fail=True),
            "value entity": lambda: stack.update("dave", effect("f1"), fail=True),
            "event sourced": lambda: stack.record("dave", effect("f1"), fail=True),
        }[kind]
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call()
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert await stack.store.list_tasks() == []
        # A later command's effect is delivered, the failed one's never was.
        await stack.ask(effect("after"))
        await stack.uf.wait_for(lambda: stack.uf.delivered("after"))
        assert stack.uf.delivered("f1") == []


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (effect("x", service="durabletest.Nope"), "unknown method durabletest.Nope/Deliver"),
        (effect("x", method="AskStream"), "a streamed method"),
        (effect("x", type_url="type.googleapis.com/durabletest.Plan"), "takes durabletest.Job"),
        (effect("", service="durabletest.Accounts", method="Deposit"), "entity key field 'id'"),
        (jobs_pb2.Call(kind="cancel"), "names none"),
    ],
)
async def test_an_invalid_durable_call_fails_the_command_and_writes_nothing(
    tmp_path: Path, call: jobs_pb2.Call, problem: str
) -> None:
    async with running_stack(tmp_path) as stack:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stack.update("erin", call)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        assert problem in (failed.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError):
            await stack.ask(call)
        assert await stack.store.list_tasks() == []
        assert await stack.store.load_value("accounts", "erin") is None
        assert any(problem in message for message in stack.uf.recorder.reported)


async def test_streamed_action_responses_record_their_durable_effects(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        assert await stack.ask_stream(effect("s1"), effect("s2")) == 2
        await stack.uf.wait_for(lambda: stack.uf.delivered("s1") and stack.uf.delivered("s2"))


async def test_an_entity_target_gets_the_idempotency_key(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.ask(jobs_pb2.Call(kind="effect", tag="c1", credit_account="frank"))
        await stack.uf.wait_for(lambda: stack.uf.delivered("c1"))
        (delivery,) = stack.uf.delivered("c1")
        assert delivery.method == "Deposit"
        assert delivery.metadata["idempotency-key"].startswith("effect:")

        async def stored() -> bool:  # the user function answered; the proxy writes after that
            return await stack.store.load_value("accounts", "frank") is not None

        await eventually(stored, what="the delivered Deposit's value written")


async def test_a_write_that_loses_its_condition_records_none_of_its_durable_calls(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        await stack.record("judy", write=False)  # the entity is active, at sequence 0
        other = await open_store(f"sqlite:///{stack.db}")  # another writer appends first
        try:
            event = Payload("type.googleapis.com/durabletest.AccountPlan", b"")
            assert await other.append_events("ledger", "judy", 0, [event]) == 1
        finally:
            await other.close()
        stack.uf.recorder.failures["lost"] = -1  # keep the tasks pending to count them
        await stack.record("judy", effect("lost"))  # loses its condition, re-runs on sequence 1
        assert [task.name for task in await stack.store.list_tasks()] == ["effect:ledger/judy/2/0"]
