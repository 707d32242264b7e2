"""With ``--jwt-key`` every admin operation is refused without a valid token: through the CLI
(each operation), over HTTP (each route of admin.proto) and over gRPC (each rpc); with
``--admin-jwt-claim`` a valid token without that claim (a client's) is refused too. ``/metrics``
stays open to scrapers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import jwt
import pytest

from cloudstate.proxy.admin.server import admin_model
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check
from cloudstate.proxy.http.rules import all_bindings
from cloudstate.tools import workflows as workflows_tool
from cloudstate.tools.admin import OPS, UNAUTHENTICATED
from tests.admin.harness import Cart, admin_cli, http, start_cart

SECRET = "an-admin-test-secret-of-32-bytes!!"


def token(secret: str = SECRET, expires_in: float = 300, role: str = "admin") -> str:
    claims = {"sub": "ops", "exp": int(time.time() + expires_in), "role": role}
    return jwt.encode(claims, secret, "HS256")


@pytest.fixture(scope="module")
def cart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cart]:
    tmp = tmp_path_factory.mktemp("admin-auth")
    key = tmp / "jwt.secret"
    key.write_text(SECRET + "\n")
    # --jwt-allow-anonymous opens client methods, never the admin API.
    running = start_cart(
        tmp,
        *("--jwt-key", str(key), "--jwt-allow-anonymous", "*", "--admin-jwt-claim", "role=admin"),
    )
    try:
        running.add_item("alice", "apple")
        yield running
    finally:
        assert running.process.terminate() == 0, running.process.log()


#: Each CLI operation with arguments, and its exit status once the token is accepted (a missing
#: dead letter is 1: the call got through authentication and found nothing).
CLI_CALLS = {
    "services": ((), 0),
    "entities": (("ShoppingCart", "--page-size", "1"), 0),
    "entity": (("ShoppingCart", "alice"), 0),
    "consumers": ((), 0),
    "timers": ((), 0),
    "dead-letters": ((), 0),
    "redrive": (("--all",), 0),
    "drop": (("no-such-letter",), 1),
    "delete-entity": (("ShoppingCart", "nobody"), 1),  # no events: NOT_FOUND
    "consumer-dead-letters": ((), 0),
    "consumer-redrive": (("event_log:carts:no.Such", "--all"), 0),
    "consumer-discard": (("event_log:carts:no.Such", "7"), 1),
    "reset": (("event_log:carts:no.Such", "--to-beginning"), 1),
    "rebuild": (("--service", "NoSuchView", "--table", "rows"), 1),
    "rebuilds": ((), 0),
}
#: ``cloudstate workflows`` operations: the cart has no workflow service (NOT_FOUND, 1), but only
#: once the token is accepted.
WORKFLOW_CALLS = {
    "list": (("ShoppingCart",), 1),
    "show": (("ShoppingCart", "w1"), 1),
    "suspend": (("ShoppingCart", "w1"), 1),
    "resume": (("ShoppingCart", "w1"), 1),
    "cancel": (("ShoppingCart", "w1"), 1),
}


def test_every_cli_operation_is_covered() -> None:
    assert set(CLI_CALLS) == set(OPS)
    assert set(WORKFLOW_CALLS) == set(workflows_tool.OPS)


@pytest.mark.parametrize("operation", sorted(WORKFLOW_CALLS))
def test_workflows_cli_refused_without_a_valid_token(cart: Cart, operation: str) -> None:
    args, accepted = WORKFLOW_CALLS[operation]
    for bad in ("", token(expires_in=-60)):
        done = admin_cli(cart, operation, *args, token=bad, command="workflows")
        assert done.returncode == UNAUTHENTICATED, (bad, done.stdout, done.stderr)
        assert "HTTP 401" in done.stderr and done.stdout == ""
    done = admin_cli(cart, operation, *args, token=token(), command="workflows")
    assert done.returncode == accepted, done.stderr
    assert "HTTP 404" in done.stderr and "no workflow service" in done.stderr


@pytest.mark.parametrize("operation", sorted(CLI_CALLS))
def test_cli_refused_without_a_valid_token(cart: Cart, operation: str) -> None:
    args, accepted = CLI_CALLS[operation]
    for bad in ("", "not-a-jwt", token(expires_in=-60), token(secret="x" * 40)):
        done = admin_cli(cart, operation, *args, token=bad)
        assert done.returncode == UNAUTHENTICATED, (bad, done.stdout, done.stderr)
        assert "HTTP 401" in done.stderr and done.stdout == ""
    done = admin_cli(cart, operation, *args, token=token())
    assert done.returncode == accepted, done.stderr
    assert "HTTP 401" not in done.stderr


def _routes() -> list[tuple[str, str, str]]:
    """(rpc, HTTP method, a concrete path) of every route of the admin API."""
    found = []
    for binding in all_bindings(admin_model(), default_routes=False):
        path = binding.template.text
        path = path.replace("{service}", "ShoppingCart").replace("{entity_id}", "nobody")
        path = path.replace("{workflow_id}", "w1")
        found.append((binding.method.name, binding.http_method, path))
    return found


def test_every_http_route_refused_without_a_token(cart: Cart) -> None:
    routes = _routes()
    assert {name for name, _, _ in routes} == set(
        admin_model().services["cloudstate.admin.Admin"].methods
    )
    for name, method, path in routes:
        body = {} if method == "POST" else None
        status, reply = http(method, cart.admin + path, body)
        assert status == 401, (name, path, reply)
        assert "needs authentication" in reply["message"] and name in reply["message"]
        status, reply = http(method, cart.admin + path, body, token=token(expires_in=-60))
        assert status == 401, (name, path, reply)
        status, reply = http(method, cart.admin + path, body, token=token())
        assert status != 401, (name, path, reply)
    # The API's description is behind the token too; metrics and health are not.
    assert http("GET", f"{cart.admin}/openapi.json")[0] == 401
    assert http("GET", f"{cart.admin}/openapi.json", token=token())[0] == 200
    assert http("GET", f"{cart.admin}/metrics")[0] == 200


def test_every_grpc_method_refused_without_a_token(cart: Cart) -> None:
    methods = admin_model().services["cloudstate.admin.Admin"].methods.values()
    with grpc.insecure_channel(f"127.0.0.1:{cart.admin_port}") as channel:
        for method in methods:
            call = channel.unary_unary(method.path)
            empty = method.input_class().SerializeToString()
            for metadata in ((), (("authorization", f"Bearer {token(secret='y' * 40)}"),)):
                with pytest.raises(grpc.RpcError) as refused:
                    call(empty, timeout=10, metadata=metadata)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name
            try:
                call(empty, timeout=10, metadata=(("authorization", f"Bearer {token()}"),))
            except grpc.RpcError as error:  # e.g. INVALID_ARGUMENT for an empty request
                assert error.code() != grpc.StatusCode.UNAUTHENTICATED, method.name


def test_a_client_token_without_the_admin_claim_is_refused(cart: Cart) -> None:
    client = token(role="shopper")
    done = admin_cli(cart, "services", token=client)
    assert done.returncode == 1 and "HTTP 403" in done.stderr
    assert "role='admin'" in done.stderr and "--admin-jwt-claim" in done.stderr
    for _, method, path in _routes():
        status, reply = http(method, cart.admin + path, {} if method == "POST" else None, client)
        assert status == 403, (path, reply)
    with grpc.insecure_channel(f"127.0.0.1:{cart.admin_port}") as channel:
        call = channel.unary_unary("/cloudstate.admin.Admin/ListServices")
        with pytest.raises(grpc.RpcError) as refused:
            call(b"", timeout=10, metadata=(("authorization", f"Bearer {client}"),))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The client port takes the same token (it has no such rule).
    cart.add_item("alice", "pear")


def test_the_admin_claim_setting_is_checked(tmp_path: Path) -> None:
    key = tmp_path / "jwt.secret"
    key.write_text(SECRET)
    assert check(ProxyConfig(jwt_key=str(key), admin_jwt_claim="role=admin")) == []
    assert check(ProxyConfig(jwt_key=str(key), admin_jwt_claim="role")) == [
        "--admin-jwt-claim 'role': CLAIM=VALUE, e.g. role=admin"
    ]
    assert check(ProxyConfig(admin_jwt_claim="role=admin")) == [
        "--admin-jwt-claim needs --jwt-key (the key tokens are checked with)"
    ]
