"""The TCK against our own SDK (the Python TCK model) and our own proxy: every case must pass
or be skipped with a reason.

Each case is one test (via the TCK's pytest plugin); the two targets run in one session each.
"""

from __future__ import annotations

import pytest

from cloudstate.tck.framework import Case
from cloudstate.tck.pytest_plugin import ThreadedSession, check


@pytest.mark.tck(target="language-support", start_model=True)
def test_language_support(tck_case: Case, tck_session: ThreadedSession) -> None:
    check(tck_session, tck_case)


@pytest.mark.tck(target="proxy", start_model=True, start_proxy=True)
def test_proxy(tck_case: Case, tck_session: ThreadedSession) -> None:
    check(tck_session, tck_case)
