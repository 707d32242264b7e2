"""The TCK against our own SDK (the Python TCK model) and our own proxy: every case must pass
or be skipped with a reason.

Each case is one test (via the TCK's pytest plugin); the two targets run in one session each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cloudstate.tck.framework import Case
from cloudstate.tck.pytest_plugin import ThreadedSession, check


@pytest.mark.tck(target="language-support", start_model=True)
def test_language_support(tck_case: Case, tck_session: ThreadedSession) -> None:
    check(tck_session, tck_case)


@pytest.mark.tck(target="proxy", start_model=True, start_proxy=True)
def test_proxy(tck_case: Case, tck_session: ThreadedSession) -> None:
    check(tck_session, tck_case)


#: Our CRDT model on the earlier CRDT format (protocol 0.0), written without the SDK.
CRDT_MODEL_00 = f"{sys.executable} {Path(__file__).parent.parent / 'crdt00' / 'model.py'}"


@pytest.mark.tck(
    target="proxy",
    user_function_command=CRDT_MODEL_00,
    start_proxy=True,
    patterns=["proxy-discovery", "crdt-proxy"],  # the model serves only the CRDT services
)
def test_proxy_with_a_protocol_0_0_crdt_model(tck_case: Case, tck_session: ThreadedSession) -> None:
    """The discovery and CRDT proxy cases against our CRDT model on the earlier format (the relay
    records it; the expectations are translated by cloudstate.tck.crdt_v00)."""
    check(tck_session, tck_case)
