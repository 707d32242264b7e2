"""The views example end to end (user function and proxy in this process, on SQLite): carts
feed the popular-products view, checkout publishes a confirmation that the log action and the
confirmations view both receive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import httpx
import pytest
from cartviews import cartviews_pb2 as pb
from cartviews import cartviews_pb2_grpc as rpc
from cartviews.main import server

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy


async def eventually(check, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(400):
        try:
            if await check():
                return
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def test_popular_products_and_confirmations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "confirmations.txt"
    monkeypatch.setenv("CONFIRMATIONS_FILE", str(log))
    uf = await server().serve_async("127.0.0.1", 0)
    store = f"sqlite:///{tmp_path / 'views.db'}"
    proxy = Proxy(ProxyConfig(user_function=uf.address, port=0, store=store, admin_port=-1))
    await proxy.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            cart = rpc.ShoppingCartStub(channel)
            popular = rpc.PopularProductsStub(channel)
            for cart_id, product, name, quantity in [
                ("alice", "apple", "Apple", 3),
                ("bob", "apple", "Apple", 2),
                ("bob", "bread", "Bread", 1),
                ("carol", "cheese", "Cheese", 4),
            ]:
                request = pb.AddLineItem(
                    cart_id=cart_id, product_id=product, name=name, quantity=quantity
                )
                await cart.AddItem(request, timeout=10)

            async def ranked() -> bool:
                top = await popular.GetTopProducts(pb.TopProductsRequest(limit=2), timeout=10)
                return [(p.product_id, p.quantity, p.carts) for p in top.products] == [
                    ("apple", 5, 2),
                    ("cheese", 4, 1),
                ]

            await eventually(ranked, "the popular products ranking")
            confirmation = await cart.Checkout(pb.CheckoutRequest(cart_id="bob"), timeout=10)
            assert (confirmation.lines, confirmation.total_quantity) == (2, 3)
            with pytest.raises(grpc.aio.AioRpcError) as again:
                await cart.Checkout(pb.CheckoutRequest(cart_id="bob"), timeout=10)
            assert "already checked out" in (again.value.details() or "")

            async def confirmed() -> bool:
                return log.exists() and log.read_text() == "bob 3\n"

            await eventually(confirmed, "the confirmation log action")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as http:

            async def stored() -> bool:
                response = await http.get("/confirmations/bob")
                return response.status_code == 200 and response.json() == {
                    "cartId": "bob",
                    "lines": 2,
                    "totalQuantity": "3",
                }

            await eventually(stored, "the confirmations view")
            apple = await http.get("/products/apple")
            assert apple.json() == {
                "productId": "apple",
                "name": "Apple",
                "quantity": "5",
                "carts": 2,
            }
    finally:
        await proxy.stop(0.5)
        await uf.stop(0.5)
