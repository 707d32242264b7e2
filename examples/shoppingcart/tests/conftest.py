"""What the end-to-end tests serve: the cloudstate_service / cloudstate_client fixtures of the
Cloudstate pytest plugin start this entity behind a real proxy, in-process."""

from __future__ import annotations

from typing import Any

import pytest
from shoppingcart.shopping_cart_entity import entity


@pytest.fixture
def cloudstate_entities() -> list[Any]:
    return [entity]
