"""What the end-to-end tests would serve (the cloudstate_service / cloudstate_client fixtures of
the Cloudstate pytest plugin): both bank entities, behind a real proxy, in-process."""

from __future__ import annotations

from typing import Any

import pytest
from bank.account_entity import entity as account_entity
from bank.transfer_entity import entity as transfer_entity


@pytest.fixture
def cloudstate_entities() -> list[Any]:
    return [account_entity, transfer_entity]
