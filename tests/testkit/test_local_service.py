"""LocalService and the pytest plugin: a real proxy and the user function in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloudstate.client import ServiceClient
from cloudstate.cloudstate import CloudState
from cloudstate.proxy.stores.registry import open_store
from cloudstate.testkit import LocalService
from tests.sdk import model as es_model
from tests.sdk import valueentity_model as ve_model

pytest_plugins = ["pytester"]


async def test_several_entity_kinds_on_a_temporary_sqlite_store() -> None:
    async with LocalService(es_model.model, ve_model.model, store="sqlite") as service:
        assert service.store_url.startswith("sqlite:////")
        database = Path(service.store_url.removeprefix("sqlite:///"))
        assert database.exists()  # noqa: ASYNC240
        with pytest.raises(ValueError, match="several services are served"):
            service.client()
        es = service.client(es_model.MODEL)
        ve = service.client(ve_model.model)
        reply = await es.process(id="x", steps=[es_model.Step(emit={"value": "a"})])
        assert reply == es_model.Response(message="a")
        reply = await ve.process(id="x", actions=[ve_model.RequestAction(update={"value": "v"})])
        assert reply == ve_model.Response(message="v")
        store = await open_store(service.store_url)
        try:
            events = [e async for e in store.read_events("sdk-model", "x")]
            assert [e.payload.type_url for e in events] == ["type.googleapis.com/sdktest.Persisted"]
            value = await store.load_value("ve-model", "x")
            assert value is not None
        finally:
            await store.close()
    assert not database.exists()  # noqa: ASYNC240 - the temporary store is gone


def test_sync_use_with_a_cloudstate_and_an_explicit_store_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kept.db"
    user_function = CloudState().register_event_sourced_entity(es_model.model)

    async def emit(client: ServiceClient, value: str) -> str:
        reply = await client.process(id="x", steps=[es_model.Step(emit={"value": value})])
        await client.close()
        return str(reply.message)

    for value, expected in (("a", "a"), ("b", "ab")):  # the second sees what the first stored
        with LocalService(user_function, store=url) as service:
            assert asyncio.run(emit(service.client(), value)) == expected
    assert (tmp_path / "kept.db").exists()


def test_misuse_is_explained() -> None:
    service = LocalService(es_model.model)
    with pytest.raises(RuntimeError, match="start the service first"):
        service.client()
    with pytest.raises(TypeError, match="either one CloudState or entities"):
        LocalService(CloudState(), es_model.model)


def test_the_fixtures_in_a_user_project(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from tests.sdk.model import model

        @pytest.fixture
        def cloudstate_entities():
            return [model]
        """
    )
    pytester.makepyfile(
        test_uses_client="""
        import grpc, pytest
        from tests.sdk.model import Response, Step

        async def test_calls(cloudstate_client, cloudstate_service):
            reply = await cloudstate_client.process(id="x", steps=[Step(emit={"value": "z"})])
            assert reply == Response(message="z")
            assert cloudstate_service.store_url.startswith("sqlite:////")  # --cloudstate-store

        async def test_fresh_store_per_test(cloudstate_client):
            reply = await cloudstate_client.process(id="x", steps=[Step(emit={"value": "y"})])
            assert reply == Response(message="y")

        async def test_failure(cloudstate_client):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await cloudstate_client.process(id="x", steps=[Step(fail={"message": "no"})])
            assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        """,
        test_no_entities="""
        def test_forgot(cloudstate_service, cloudstate_entities):
            pass
        """,
    )
    pytester.syspathinsert(Path(__file__).resolve().parents[2])
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "--cloudstate-store=sqlite",
        "test_uses_client.py",
    )
    result.assert_outcomes(passed=3)
    # No async plugin at all: the testkit's plugin runs the async tests itself.
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "--cloudstate-store=sqlite",
        "test_uses_client.py",
    )
    result.assert_outcomes(passed=3)
    (pytester.path / "conftest.py").unlink()
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", "test_no_entities.py"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a fixture named cloudstate_entities*"])
