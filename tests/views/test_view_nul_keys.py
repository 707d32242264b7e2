"""A view query whose key parameter holds a NUL character (issue 22) is the client's error on
every backend: INVALID_ARGUMENT over gRPC, 400 over HTTP (PostgreSQL cannot compare text with NUL;
it used to answer UNAVAILABLE / 503, which invites retries)."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from tests.views.model import pb
from tests.views.test_views_e2e import POPULARITY, Running, running

__all__ = ["running"]  # the fixture, shared with the end-to-end suite


@pytest.mark.parametrize(
    ("method", "request_", "response"),
    [
        ("GetProduct", pb.ProductRequest(product_id="a\x00b"), pb.Product),
        ("ByIds", pb.IdsRequest(ids=["apple", "\x00"]), pb.Products),
    ],
    ids=["equals", "in"],
)
async def test_grpc_nul_in_a_view_key_is_invalid_argument(
    running: Running, method: str, request_: Any, response: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.call(POPULARITY + method, request_, response)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert "NUL" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.call(
            "/viewtest.CatalogView/ByNamePrefix", pb.NamePrefix(prefix="L\x00"), pb.Products
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()


async def test_http_nul_in_a_view_key_is_400(running: Running) -> None:
    base = f"http://127.0.0.1:{running.proxy.port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        reply = await http.get("/views/products/a%00b")
        assert reply.status_code == 400, reply.text
        assert "NUL" in reply.text, reply.text
        reply = await http.post("/views/catalog", json={"category": "fr\u0000uit"})
        assert reply.status_code == 400, reply.text
        assert (await http.get("/views/products/nothing")).status_code == 404
