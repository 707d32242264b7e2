"""Fixtures of the eventing tests: a real NATS JetStream server for the external-broker tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import nats_server


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """URL of a ``nats-server -js`` started for this session (its store in a temp dir)."""
    if nats_server.find_binary() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must provide nats-server: .ci/run installs the Debian package")
        pytest.skip("no nats-server binary (apt-get install nats-server)")
    directory = Path(tempfile.mkdtemp(prefix="cloudstate-nats-"))
    server = nats_server.start(directory)
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
