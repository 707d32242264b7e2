"""The console with ``--jwt-key``: the page itself (static files, no data) loads, every admin API
call it makes is refused (401) until a valid token is typed into its token field, and then
succeeds; CallMethod over gRPC too. Plus what the console's file server refuses to serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest

from cloudstate.protocol import admin_pb2, admin_pb2_grpc
from tests.admin.harness import http
from tests.console.browser import check_page, js_errors, open_browser, screenshot, wait_for
from tests.console.test_console import DOCS_IMAGES, Running, all_css, by_css, run_views

SECRET = "a-console-test-secret-of-32-bytes!!"
CART = "cartviews.ShoppingCart"


def token(secret: str = SECRET) -> str:
    claims = {"sub": "dev", "exp": int(time.time() + 600)}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp: Path = tmp_path_factory.mktemp("console-jwt")
    key = tmp / "jwt.secret"
    key.write_text(SECRET + "\n")
    # GetCart is open to anonymous clients on the client port; never on the admin API.
    running = run_views(tmp, "--jwt-key", str(key), "--jwt-allow-anonymous", f"{CART}/GetCart")
    try:
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


def admin(running: Running) -> str:
    return f"http://127.0.0.1:{running.admin_port}"


def add_kiwi(running: Running, bearer: str) -> tuple[int, Any]:
    body = {
        "service": "ShoppingCart",
        "method": "AddItem",
        "request": {"cartId": "jwt", "productId": "kiwi", "name": "Kiwi", "quantity": 1},
    }
    return http("POST", f"{admin(running)}/v1/call", body, token=bearer)


def test_the_api_refuses_calls_without_a_valid_token(guarded: Running) -> None:
    for path in ("/v1/describe", "/v1/metrics", "/v1/services", "/v1/consumers"):
        status, reply = http("GET", admin(guarded) + path)
        assert status == 401, (path, reply)
        status, reply = http(
            "GET", admin(guarded) + path, token=token("another-secret-of-32-bytes!!!!!!")
        )
        assert status == 401, (path, reply)
        assert http("GET", admin(guarded) + path, token=token())[0] == 200, path
    status, reply = add_kiwi(guarded, "")
    assert status == 401, reply
    # An anonymous method of the client port is still behind the admin API's token.
    assert http("GET", f"http://127.0.0.1:{guarded.port}/carts/anyone")[0] == 200
    get_cart = {"service": CART, "method": "GetCart", "request": {"cartId": "anyone"}}
    status, reply = http("POST", f"{admin(guarded)}/v1/call", get_cart)
    assert status == 401, reply
    assert http("POST", f"{admin(guarded)}/v1/call", get_cart, token=token())[0] == 200
    query = "/v1/entity?service=ShoppingCart&entity_id=jwt"
    assert http("GET", admin(guarded) + query, token=token())[1]["found"] is False  # not run
    status, reply = add_kiwi(guarded, token())
    assert status == 200 and reply == {"reply": {}}, reply
    assert http("GET", admin(guarded) + query, token=token())[1]["eventsTotal"] == "1"


def test_call_method_over_grpc_needs_the_token(guarded: Running) -> None:
    request = admin_pb2.CallMethodRequest(service=CART, method="GetCart")
    request.request.struct_value.update({"cartId": "grpc"})
    with grpc.insecure_channel(f"127.0.0.1:{guarded.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.CallMethod(request, timeout=10))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        replies = list(
            stub.CallMethod(request, metadata=[("authorization", f"Bearer {token()}")], timeout=10)
        )
    assert [reply.reply.struct_value for reply in replies] == [
        admin_pb2.CallMethodReply().reply.struct_value
    ]


def test_the_page_asks_for_the_token_then_works(guarded: Running, tmp_path: Path) -> None:
    status, _ = http("GET", f"{admin(guarded)}/console/")
    assert status == 200  # the page holds no data: it loads, its API calls need the token
    with open_browser() as driver:
        driver.get(f"{admin(guarded)}/console/#/services")
        banner = wait_for("the token banner", lambda: by_css(driver, "#banner").is_displayed())
        assert banner
        assert "needs a token (401)" in by_css(driver, "#banner").text
        assert "401 UNAUTHENTICATED" in by_css(driver, "main").text
        check_page(driver, "services without a token")
        screenshot(driver, tmp_path, "token", DOCS_IMAGES)
        for page, shown in (("eventing", "Consumers: 401"), ("health", "Metrics: 401")):
            driver.get(f"{admin(guarded)}/console/#/{page}")
            wait_for(f"the {page} page refused", lambda s=shown: s in by_css(driver, "main").text)
            assert by_css(driver, "#banner").is_displayed()
        driver.get(f"{admin(guarded)}/console/#/services")
        field = by_css(driver, "#token")
        field.send_keys(token())
        field.submit()
        wait_for("the services", lambda: all_css(driver, ".methods a"))
        assert not by_css(driver, "#banner").is_displayed()
        assert driver.execute_script("return sessionStorage.getItem('cloudstate.console.token')")
        by_css(driver, "#token-forget").click()
        wait_for("the banner again", lambda: by_css(driver, "#banner").is_displayed())
        assert js_errors(driver) == []


@pytest.mark.parametrize(
    "path",
    [
        "/console/..%2F__init__.py",
        "/console/../__init__.py",
        "/console/static/console.js",
        "/console/nothing.js",
        "/console/%2e%2e/__init__.py",
    ],
)
def test_only_the_consoles_files_are_served(guarded: Running, path: str) -> None:
    status, body = http("GET", admin(guarded) + path)
    assert status == 404, (path, body)
    assert "One concern" not in str(body) and "import" not in str(body)
