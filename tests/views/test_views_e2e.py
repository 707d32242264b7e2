"""Views end to end, on SQLite and PostgreSQL: a real SDK user function and a real proxy (both in
this process, over loopback gRPC); updates from an event log (transformed by the user function,
keyed by product) and from a topic (rows as they are); queries over gRPC and HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio

from cloudstate.proxy import metrics
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.server import Proxy
from cloudstate.proxy.stores.registry import open_store
from tests.views.model import build, pb


class Running:
    def __init__(self, proxy: Proxy, channel: grpc.aio.Channel) -> None:
        self.proxy = proxy
        self.channel = channel

    def method(self, path: str, response: Any, *, streaming: bool = False) -> Any:
        factory = self.channel.unary_stream if streaming else self.channel.unary_unary
        return factory(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )

    async def call(self, path: str, request: Any, response: Any) -> Any:
        return await self.method(path, response)(request, timeout=30)

    async def caught_up(self) -> None:
        """Wait until every view consumer has committed the head of its source."""
        assert self.proxy.views is not None
        for _ in range(1200):
            statuses = await self.proxy.views.status()
            if statuses and all(s.caught_up for s in statuses):
                return
            await asyncio.sleep(0.025)
        raise AssertionError(f"views did not catch up: {statuses}")


@pytest_asyncio.fixture
async def running(store_url: str) -> AsyncIterator[Running]:
    uf = await build().serve_async("127.0.0.1", 0)
    proxy = Proxy(ProxyConfig(user_function=uf.address, port=0, store=store_url, admin_port=-1))
    await proxy.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}")
    try:
        yield Running(proxy, channel)
    finally:
        await channel.close()
        await proxy.stop(0.5)
        await uf.stop(0.5)


CART = "/viewtest.Cart/"
POPULARITY = "/viewtest.Popularity/"


async def add(running: Running, cart: str, product: str, quantity: int) -> None:
    request = pb.AddItem(cart_id=cart, product_id=product, name=product.title(), quantity=quantity)
    await running.call(CART + "Add", request, pb.google_dot_protobuf_dot_empty__pb2.Empty)


def ranking(products: Any) -> list[tuple[str, int]]:
    return [(p.product_id, p.quantity) for p in products]


async def test_popularity_view_over_grpc_after_updates_and_deletes(running: Running) -> None:
    for cart, product, quantity in [
        ("c1", "apple", 3),
        ("c2", "apple", 4),
        ("c1", "bread", 10),
        ("c3", "cherry", 1),
        ("c2", "donut", 5),
        ("c3", "donut", 1),
    ]:
        await add(running, cart, product, quantity)
    await running.caught_up()

    apple = await running.call(
        POPULARITY + "GetProduct", pb.ProductRequest(product_id="apple"), pb.Product
    )
    assert (apple.name, apple.quantity) == ("Apple", 7)  # summed over carts c1 and c2
    top = await running.call(POPULARITY + "Top", pb.TopRequest(count=2), pb.Products)
    assert ranking(top.products) == [("bread", 10), ("apple", 7)]
    page2 = await running.call(POPULARITY + "Top", pb.TopRequest(count=2, skip=2), pb.Products)
    assert ranking(page2.products) == [("donut", 6), ("cherry", 1)]
    at_least = await running.call(POPULARITY + "Top", pb.TopRequest(min_quantity=6), pb.Products)
    assert ranking(at_least.products) == [("bread", 10), ("apple", 7), ("donut", 6)]
    streamed = running.method(POPULARITY + "StreamTop", pb.Product, streaming=True)
    rows = [row async for row in streamed(pb.TopRequest(count=3), timeout=30)]
    assert ranking(rows) == [("bread", 10), ("apple", 7), ("donut", 6)]
    by_ids = await running.call(
        POPULARITY + "ByIds", pb.IdsRequest(ids=["donut", "apple", "zebra"]), pb.Products
    )
    assert ranking(by_ids.products) == [("apple", 7), ("donut", 6)]

    # An update after the first ones, and a delete (ProductRemoved -> the handler's DELETE).
    await add(running, "c4", "cherry", 20)
    await running.call(
        CART + "Remove",
        pb.RemoveProduct(cart_id="c1", product_id="bread"),
        pb.google_dot_protobuf_dot_empty__pb2.Empty,
    )
    await running.caught_up()
    top = await running.call(POPULARITY + "Top", pb.TopRequest(), pb.Products)
    assert ranking(top.products) == [("cherry", 21), ("apple", 7), ("donut", 6)]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await running.call(
            POPULARITY + "GetProduct", pb.ProductRequest(product_id="bread"), pb.Product
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no row matches" in (missing.value.details() or "")

    # The projection lag of each view consumer is exported like an eventing consumer's.
    await running.proxy._refresh_metrics()
    assert running.proxy.views is not None
    (status,) = [s for s in await running.proxy.views.status() if "Popularity" in s.consumer_id]
    assert status.consumer_id.startswith("view:viewtest.Popularity:") and status.source == "vcart"
    labels = {"consumer": status.consumer_id, "source": "vcart"}
    pending = metrics.REGISTRY.get_sample_value("cloudstate_eventing_pending_events", labels)
    lag = metrics.REGISTRY.get_sample_value("cloudstate_eventing_lag_seconds", labels)
    assert (pending, lag) == (0, 0) and status.head_offset > 0

    # Update methods are for the view's source only.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.call(
            POPULARITY + "OnAdded", pb.ItemAdded(product_id="x", quantity=1), pb.Product
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_views_over_http_and_a_topic_fed_view(running: Running) -> None:
    for cart, product, quantity in [("h1", "apple", 2), ("h2", "bread", 5), ("h1", "fig", 1)]:
        await add(running, cart, product, quantity)
    products = [
        pb.Product(product_id="p1", name="Pear", price=3, details=pb.Details(category="fruit")),
        pb.Product(product_id="p2", name="Kiwi", price=2, details=pb.Details(category="fruit")),
        pb.Product(product_id="p3", name="Lox", price=30, details=pb.Details(category="fish")),
        pb.Product(product_id="p4", name="Gold", price=500, details=pb.Details(category="fruit")),
    ]
    for product in products:
        await running.call("/viewtest.Catalog/Publish", product, pb.Product)
    # A later message for p1 replaces its row (rows are keyed by product_id).
    moved = pb.Product(product_id="p1", name="Pear", price=3, details=pb.Details(category="veg"))
    await running.call("/viewtest.Catalog/Publish", moved, pb.Product)
    await running.caught_up()

    base = f"http://127.0.0.1:{running.proxy.port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        one = await http.get("/views/products/bread")
        assert one.status_code == 200, one.text
        assert one.json() == {"productId": "bread", "name": "Bread", "quantity": "5"}
        top = await http.get("/views/top", params={"count": 2})
        assert top.status_code == 200, top.text
        assert [p["productId"] for p in top.json()["products"]] == ["bread", "apple"]
        missing = await http.get("/views/products/nothing")
        assert missing.status_code == 404, missing.text
        fruit = await http.post("/views/catalog", json={"category": "fruit"})
        assert fruit.status_code == 200, fruit.text
        # p1 moved to "veg", p4 costs too much (price < 100 in the query): Kiwi only.
        assert [p["name"] for p in fruit.json()["products"]] == ["Kiwi"]
        veg = await http.post("/views/catalog", json={"category": "veg"})
        assert [p["productId"] for p in veg.json()["products"]] == ["p1"]
    by_prefix = await running.call(
        "/viewtest.CatalogView/ByNamePrefix", pb.NamePrefix(prefix="L"), pb.Products
    )
    assert [p.name for p in by_prefix.products] == ["Lox"]
    everything = await running.call(
        "/viewtest.CatalogView/ByNamePrefix", pb.NamePrefix(), pb.Products
    )
    assert [p.name for p in everything.products] == ["Gold", "Kiwi", "Lox", "Pear"]


async def test_view_resumes_without_applying_updates_twice(store_url: str) -> None:
    """Stop the proxy after some updates, add more, start a new proxy on the same store: the sums
    count every event exactly once (rows and offsets are committed together)."""
    uf = await build().serve_async("127.0.0.1", 0)
    try:
        for round_, quantity in enumerate((2, 3)):
            proxy = Proxy(
                ProxyConfig(user_function=uf.address, port=0, store=store_url, admin_port=-1)
            )
            await proxy.start()
            running = Running(proxy, grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}"))
            try:
                await asyncio.gather(
                    *(add(running, f"r{round_}-{i}", "apple", quantity) for i in range(20))
                )
                await running.caught_up()
                top = await running.call(POPULARITY + "Top", pb.TopRequest(), pb.Products)
            finally:
                await running.channel.close()
                await proxy.stop(0.5)
        assert ranking(top.products) == [("apple", 20 * 2 + 20 * 3)]
        store = await open_store(store_url)
        try:
            offsets = [await store.load_offset(s) for s in (await _consumer_ids(store_url))]
            assert offsets and all(o > 0 for o in offsets)
        finally:
            await store.close()
    finally:
        await uf.stop(0.5)


async def _consumer_ids(store_url: str) -> list[str]:
    """The offset keys of the Popularity view's consumer (computed like the proxy does)."""
    from cloudstate.proxy.eventing.subscriptions import event_subscriptions
    from cloudstate.proxy.views.model import discover_views
    from tests.views.test_discovery import model_of

    model = model_of(pb.DESCRIPTOR)
    view = discover_views(model)["viewtest.Popularity"]
    return [
        view.consumer_id(s.consumer_id)
        for s in event_subscriptions(model)
        if s.service == "viewtest.Popularity"
    ]


async def test_value_entity_states_are_the_rows_of_a_view(running: Running) -> None:
    empty = pb.google_dot_protobuf_dot_empty__pb2.Empty
    for sku, count in [("a", 5), ("b", 1), ("c", 50), ("d", 3), ("a", 2)]:
        await running.call("/viewtest.Stock/Set", pb.SetStock(sku=sku, count=count), empty)
    await running.call("/viewtest.Stock/Clear", pb.ClearStock(sku="d"), empty)
    await running.call("/viewtest.Stock/Clear", pb.ClearStock(sku="never-set"), empty)
    await running.caught_up()
    low = await running.call(
        "/viewtest.StockView/LowStock", pb.LowStockRequest(below=10), pb.StockLevels
    )
    # "a" was set twice (the latest state is the row), "d" was deleted, "c" has 50.
    assert [(level.sku, level.count) for level in low.levels] == [("b", 1), ("a", 2)]
    await running.call("/viewtest.Stock/Set", pb.SetStock(sku="d", count=4), empty)
    await running.caught_up()
    low = await running.call(
        "/viewtest.StockView/LowStock", pb.LowStockRequest(below=10), pb.StockLevels
    )
    assert [(level.sku, level.count) for level in low.levels] == [("b", 1), ("a", 2), ("d", 4)]


async def test_token_paging_over_grpc_and_http(running: Running) -> None:
    """AIP-158 paging: pages of page_size rows, a token for the next page (empty after the last
    page); a token of other parameters or an altered one is INVALID_ARGUMENT naming page_token."""
    for product, quantity in [("a", 50), ("b", 40), ("c", 30), ("d", 20), ("e", 10), ("f", 1)]:
        await add(running, "p1", product, quantity)
    await running.caught_up()
    pages, token = [], ""
    while True:
        request = pb.PageRequest(page_size=2, page_token=token, min_quantity=5)
        page = await running.call(POPULARITY + "TopPages", request, pb.ProductPage)
        pages.append([p.product_id for p in page.products])
        token = page.next_page_token
        if not token:
            break
    # 5 rows of at least 5: the last page is short and has no token.
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    # Four rows of at least 20 in pages of 3: a short last page without a token.
    request = pb.PageRequest(page_size=3, min_quantity=20)
    three = await running.call(POPULARITY + "TopPages", request, pb.ProductPage)
    assert [p.product_id for p in three.products] == ["a", "b", "c"] and three.next_page_token
    request.page_token = three.next_page_token
    last = await running.call(POPULARITY + "TopPages", request, pb.ProductPage)
    assert ([p.product_id for p in last.products], last.next_page_token) == (["d"], "")
    # Exactly a page of rows: no token (the proxy fetched one row more and found none).
    request = pb.PageRequest(page_size=4, min_quantity=20)
    exact = await running.call(POPULARITY + "TopPages", request, pb.ProductPage)
    assert (len(exact.products), exact.next_page_token) == (4, "")
    everything = await running.call(POPULARITY + "TopPages", pb.PageRequest(), pb.ProductPage)
    assert len(everything.products) == 6 and everything.next_page_token == ""  # no page size

    first = await running.call(
        POPULARITY + "TopPages", pb.PageRequest(page_size=2, min_quantity=5), pb.ProductPage
    )
    altered = first.next_page_token[:-2] + ("AA" if first.next_page_token[-2:] != "AA" else "BB")
    for bad, expected in [
        # The token of min_quantity 5 sent with min_quantity 6: other parameters.
        (pb.PageRequest(min_quantity=6, page_token=first.next_page_token), "other parameters"),
        (pb.PageRequest(min_quantity=5, page_token=altered), "not a page token of this query"),
        (pb.PageRequest(min_quantity=5, page_token="%%%"), "not a page token of this query"),
    ]:
        bad.page_size = 2
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await running.call(POPULARITY + "TopPages", bad, pb.ProductPage)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (refused.value.details() or "").startswith("page_token: "), refused.value.details()
        assert expected in (refused.value.details() or "")
    # The page size may change between pages (AIP-158): the token holds an offset.
    bigger = await running.call(
        POPULARITY + "TopPages",
        pb.PageRequest(page_size=10, min_quantity=5, page_token=first.next_page_token),
        pb.ProductPage,
    )
    assert [p.product_id for p in bigger.products] == ["c", "d", "e"]

    base = f"http://127.0.0.1:{running.proxy.port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        params: dict[str, Any] = {"pageSize": 4, "minQuantity": 5}
        one = await http.get("/views/top-pages", params=params)
        assert one.status_code == 200, one.text
        assert [p["productId"] for p in one.json()["products"]] == ["a", "b", "c", "d"]
        next_token = one.json()["nextPageToken"]
        two = await http.get("/views/top-pages", params={**params, "pageToken": next_token})
        assert two.status_code == 200, two.text
        assert [p["productId"] for p in two.json()["products"]] == ["e"]
        assert "nextPageToken" not in two.json()
        bad = await http.get("/views/top-pages", params={**params, "pageToken": "xyz"})
        assert bad.status_code == 400, bad.text
        assert "page_token" in bad.text
