"""Stores are chosen by URL scheme through a registry: one line per backend, outside backends
registered the same way."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from cloudstate.proxy.stores import registry
from cloudstate.proxy.stores.memory import MemoryStore
from cloudstate.proxy.stores.sqlite import SqliteStore


class OutsideStore(MemoryStore):
    """A backend from another package (here: a renamed memory store)."""

    name = "outside"
    opened_with: str = ""

    @classmethod
    def from_url(cls, url: str) -> OutsideStore:
        store = cls()
        store.opened_with = url
        return store


@pytest.fixture
def outside_backend() -> Iterator[None]:
    registry.register_backend("outside", f"{__name__}:OutsideStore")
    yield
    del registry.BACKENDS["outside"]


async def test_each_scheme_opens_its_backend(tmp_path: object) -> None:
    memory = await registry.open_store("memory:")
    assert type(memory) is MemoryStore
    await memory.close()
    sqlite = await registry.open_store(f"sqlite:///{tmp_path}/registry.db")
    assert type(sqlite) is SqliteStore
    await sqlite.close()
    assert registry.backend_for("postgres://").__name__ == "PostgresStore"
    assert registry.backend_for("POSTGRESQL://host/db").__name__ == "PostgresStore"


async def test_an_outside_backend_registers_with_one_line(outside_backend: None) -> None:
    store = await registry.open_store("outside://somewhere")
    assert isinstance(store, OutsideStore)
    assert store.opened_with == "outside://somewhere"
    assert registry.known_url("outside://x")
    assert "outside:..." in registry.describe_schemes()
    await store.close()


async def test_an_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'mysql://db'.*memory:, sqlite:///PATH, postgresql://"):
        await registry.open_store("mysql://db")
    assert not registry.known_url("no-scheme")


def test_a_backend_is_written_module_colon_class() -> None:
    with pytest.raises(ValueError, match="module:Class"):
        registry.register_backend("bad", "just_a_module")


def test_the_package_never_imports_the_contract_suite_or_pytest() -> None:
    """``cloudstate.proxy.stores.contract`` ships for outside backends' tests; the proxy, the
    CLI and every backend run without it and without pytest (not a runtime dependency)."""
    code = (
        "import sys\n"
        "import cloudstate, cloudstate.cli, cloudstate.proxy.server\n"
        "from cloudstate.proxy.stores.registry import BACKENDS, backend_for\n"
        "for scheme in BACKENDS:\n"
        "    backend_for(scheme + ':')\n"
        "print(sorted({'pytest', 'pytest_asyncio', 'cloudstate.proxy.stores.contract'}"
        " & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
