"""The shopping cart example over HTTP/JSON, exactly as the README's curl tour calls it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.processes import Process, shoppingcart_user_function

pytestmark = pytest.mark.timeout(120)


def test_shopping_cart_with_curl_calls(tmp_path: Path, start_proxy: Callable[..., Process]) -> None:
    uf = shoppingcart_user_function(tmp_path).start()
    try:
        base = f"http://127.0.0.1:{start_proxy(uf.port).port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            added = http.post(
                "/cart/alice/items/add",
                json={"productId": "apple", "name": "Red apple", "quantity": 3},
            )
            assert added.status_code == 200 and added.json() == {}
            http.post(
                "/cart/alice/items/add",
                json={"product_id": "pear", "name": "Pear", "quantity": 1},
            )
            cart = http.get("/carts/alice").json()
            assert cart == {
                "items": [
                    {"productId": "apple", "name": "Red apple", "quantity": 3},
                    {"productId": "pear", "name": "Pear", "quantity": 1},
                ]
            }
            items = http.get("/carts/alice/items").json()  # additional binding, response_body
            assert items == cart["items"]
            assert http.post("/cart/alice/items/pear/remove").status_code == 200
            assert http.get("/carts/alice").json()["items"] == [cart["items"][0]]
            refused = http.post(
                "/cart/alice/items/add",
                json={"productId": "apple", "name": "Red apple", "quantity": -1},
            )
            assert refused.status_code == 400
            assert refused.json() == {
                "code": 3,
                "message": "Quantity for item apple must be greater than zero.",
                "details": [],
            }
            missing = http.post("/cart/alice/items/kiwi/remove")
            assert missing.status_code == 400 and "kiwi" in missing.json()["message"]
            assert http.get("/carts/bob").json() == {}  # an empty cart: no items field
            paths = http.get("/openapi.json").json()["paths"]
            assert set(paths) == {
                "/cart/{user_id}/items/add",
                "/cart/{user_id}/items/{product_id}/remove",
                "/carts/{user_id}",
                "/carts/{user_id}/items",
            }
    finally:
        uf.terminate()
