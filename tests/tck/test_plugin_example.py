"""The pytest usage docs/tck.md shows, verbatim, run on the discovery cases of our model."""

import pytest

from cloudstate.tck.pytest_plugin import check


def test_tck(tck_case, tck_session):
    check(tck_session, tck_case)


pytestmark = pytest.mark.tck(
    target="language-support", start_model=True, patterns=["language-support/discovery/"]
)
