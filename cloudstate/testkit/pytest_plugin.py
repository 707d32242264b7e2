"""pytest fixtures for end-to-end tests of a Cloudstate service (loaded automatically once
``cloudstate`` is installed: it is registered as a ``pytest11`` plugin).

Say what to serve with a ``cloudstate_entities`` fixture, then ask for ``cloudstate_client``
(a typed client of the one service) or ``cloudstate_service`` (a
:class:`~cloudstate.testkit.LocalService`: several services, addresses, the store)::

    # conftest.py
    @pytest.fixture
    def cloudstate_entities():
        return [shopping_cart_entity]

    # test_cart.py
    async def test_add_item(cloudstate_client) -> None:
        await cloudstate_client.add_item(user_id="alice", product_id="apple", quantity=1)
        cart = await cloudstate_client.get_cart(user_id="alice")
        assert cart.items[0].quantity == 1

Every test gets a fresh service (starting one takes about 10 ms) on a fresh store: in memory by
default, a temporary SQLite database with ``pytest --cloudstate-store=sqlite``, or any store URL
(``--cloudstate-store=postgresql://...``); override the ``cloudstate_store`` fixture to choose in
code.

``async def`` tests that use these fixtures need no other plugin: this one runs each on a fresh
event loop. Where pytest-asyncio (marked or auto mode) or anyio takes a test, it runs it instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cloudstate.client import ServiceClient
    from cloudstate.testkit.service import LocalService


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cloudstate")
    group.addoption(
        "--cloudstate-store",
        default="memory",
        metavar="STORE",
        help="store of the cloudstate_service fixture: memory (default), sqlite (temporary) "
        "or a store URL",
    )


_OUR_FIXTURES = frozenset({"cloudstate_service", "cloudstate_client"})


@pytest.hookimpl
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test that uses our fixtures when no async plugin has taken it.

    pytest itself only skips coroutine tests; pytest-asyncio wraps the ones it takes in a plain
    function before this hook sees them, and anyio's tests carry ``anyio_backend``.
    """
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    if _OUR_FIXTURES.isdisjoint(pyfuncitem.fixturenames) or "anyio_backend" in pyfuncitem.funcargs:
        return None
    names = inspect.signature(function).parameters
    asyncio.run(function(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture
def cloudstate_entities() -> Sequence[Any]:
    """Override this fixture: the entities (or one configured CloudState) to serve."""
    pytest.fail(
        "the cloudstate_service / cloudstate_client fixtures need to know what to serve: define "
        "a fixture named cloudstate_entities returning your entities (e.g. in conftest.py: "
        "`return [shopping_cart_entity]`)",
        pytrace=False,
    )


@pytest.fixture
def cloudstate_store(request: pytest.FixtureRequest) -> str:
    """The store of ``cloudstate_service``: ``--cloudstate-store`` (default ``memory``)."""
    return str(request.config.getoption("--cloudstate-store"))


@pytest.fixture
def cloudstate_service(
    cloudstate_entities: Sequence[Any] | Any, cloudstate_store: str
) -> Iterator[LocalService]:
    """User function + proxy in-process, serving ``cloudstate_entities`` on a fresh store."""
    from cloudstate.server import CloudState
    from cloudstate.testkit.service import LocalService

    entities = cloudstate_entities
    if isinstance(entities, CloudState) or not isinstance(entities, Sequence):
        entities = [entities]
    with LocalService(*entities, store=cloudstate_store) as service:
        yield service


@pytest.fixture
def cloudstate_client(cloudstate_service: LocalService) -> ServiceClient:
    """A typed client (:class:`~cloudstate.client.ServiceClient`) of the one served service."""
    return cloudstate_service.client()
