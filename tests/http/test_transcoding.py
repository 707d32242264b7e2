"""HTTP/JSON transcoding against a running proxy and the echo user function: one row per rule.

Each row is a real HTTP request to the proxy's client port; the echo entity answers with the
request message it received, so a row checks what the proxy built from path, query and body.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.http.conftest import Running

pytestmark = pytest.mark.timeout(120)


@dataclass
class Case:
    id: str
    method: str
    path: str
    body: Any = None  # JSON value, or bytes sent as is
    status: int = 200
    request: dict[str, Any] | None = None  # expected "request" of the echo reply (exact)
    reply: Any = None  # expected whole reply (exact), when set
    error: str = ""  # substring of the error message
    code: int | None = None  # gRPC code in the error body
    headers: dict[str, str] = field(default_factory=dict)


CASES = [
    # -- no body: path + query string -----------------------------------------------------
    Case("get-path-only", "GET", "/v1/echo/alice", request={"id": "alice"}),
    Case(
        "get-query-scalars",
        "GET",
        "/v1/echo/a?count=3&big=12345678901234&flag=true&ratio=0.5&name=n%20x",
        request={
            "id": "a",
            "count": 3,
            "big": "12345678901234",
            "flag": True,
            "ratio": 0.5,
            "name": "n x",
        },
    ),
    Case(
        "get-query-repeated",
        "GET",
        "/v1/echo/a?tags=x&tags=y&numbers=1&numbers=2",
        request={"id": "a", "tags": ["x", "y"], "numbers": [1, 2]},
    ),
    Case(
        "get-enum-by-name", "GET", "/v1/echo/a?color=GREEN", request={"id": "a", "color": "GREEN"}
    ),
    Case("get-enum-by-number", "GET", "/v1/echo/a?color=1", request={"id": "a", "color": "RED"}),
    Case(
        "get-nested-query",
        "GET",
        "/v1/echo/a?inner.text=t&inner.deep.leaf=l",
        request={"id": "a", "inner": {"text": "t", "deep": {"leaf": "l"}}},
    ),
    Case(
        "get-well-known-types",
        "GET",
        "/v1/echo/a?when=2020-01-02T03:04:05Z&maybe=",
        request={"id": "a", "when": "2020-01-02T03:04:05Z", "maybe": ""},
    ),
    Case(
        "get-bytes-base64",
        "GET",
        "/v1/echo/a?blob=" + base64.urlsafe_b64encode(b"\xff\x00hi").decode(),
        request={"id": "a", "blob": base64.b64encode(b"\xff\x00hi").decode()},
    ),
    Case(
        "get-json-name-in-query",
        "GET",
        "/v1/echo/a?filePath=f",
        request={"id": "a", "filePath": "f"},
    ),
    Case("get-percent-decoded-path", "GET", "/v1/echo/a%2Fb%20c", request={"id": "a/b c"}),
    # -- templates ------------------------------------------------------------------------
    Case(
        "template-name-pattern",
        "GET",
        "/v1/shelves/s1/books/b2?id=k",
        request={"id": "k", "name": "shelves/s1/books/b2"},
    ),
    Case("template-name-pattern-too-short", "GET", "/v1/shelves/s1?id=k", status=404, code=5),
    Case(
        "template-double-star",
        "GET",
        "/v1/files/a/b/c.txt?id=k",
        request={"id": "k", "filePath": "a/b/c.txt"},
    ),
    Case(
        "template-double-star-keeps-encoded-slash",
        "GET",
        "/v1/files/a%2Fb/c?id=k",
        request={"id": "k", "filePath": "a%2Fb/c"},
    ),
    Case(
        "verb-suffix",
        "POST",
        "/v1/echo/a:reset",
        body={"name": "r"},
        request={"id": "a", "name": "r"},
    ),
    Case(
        "custom-method",
        "SEARCH",
        "/v1/echo/a/search?name=q",
        request={"id": "a", "name": "q"},
    ),
    Case(
        "nested-path-variable",
        "PATCH",
        "/v1/echo/a/deep/leafy",
        body={"inner": {"text": "t"}},
        request={"id": "a", "inner": {"text": "t", "deep": {"leaf": "leafy"}}},
    ),
    Case("delete", "DELETE", "/v1/echo/a?tags=z", request={"id": "a", "tags": ["z"]}),
    Case("int-path-variable", "DELETE", "/v1/echo/a/count/42", request={"id": "a", "count": 42}),
    # -- bodies ---------------------------------------------------------------------------
    Case(
        "body-star-camel-and-snake",
        "POST",
        "/v1/echo/a",
        body={"filePath": "p", "labels": {"k": "v"}, "items": [{"text": "i"}], "big": 7},
        request={
            "id": "a",
            "filePath": "p",
            "labels": {"k": "v"},
            "items": [{"text": "i"}],
            "big": "7",
        },
    ),
    Case(
        "body-star-snake",
        "POST",
        "/v1/echo/a",
        body={"file_path": "p", "color": "GREEN"},
        request={"id": "a", "filePath": "p", "color": "GREEN"},
    ),
    Case(
        "path-wins-over-body",
        "POST",
        "/v1/echo/a",
        body={"id": "other"},
        request={"id": "a"},
    ),
    Case(
        "body-field-plus-query",
        "PUT",
        "/v1/echo/a/inner?count=5",
        body={"text": "t", "number": 3},
        request={"id": "a", "count": 5, "inner": {"text": "t", "number": 3}},
    ),
    Case("empty-body-is-empty-message", "POST", "/v1/echo/a", body=b"", request={"id": "a"}),
    # -- response_body, HttpBody, default rule ---------------------------------------------
    Case("response-body-message", "GET", "/v1/echo/a/inner?inner.text=hi", reply={"text": "hi"}),
    Case("response-body-repeated-empty", "GET", "/v1/echo/a/items", reply=[]),
    Case(
        "default-rule",
        "POST",
        "/httptest.Echo/Plain",
        body={"id": "p", "count": 1},
        request={"id": "p", "count": 1},
    ),
    # -- errors ---------------------------------------------------------------------------
    Case("unknown-route", "GET", "/v1/nothing", status=404, code=5, error="no route"),
    Case("wrong-verb", "PUT", "/v1/echo/a", status=405, code=12, error="use DELETE, GET, POST"),
    Case("default-rule-wrong-verb", "GET", "/httptest.Echo/Plain", status=405, error="POST"),
    Case(
        "bad-json", "POST", "/v1/echo/a", body=b"{nope", status=400, code=3, error="not valid JSON"
    ),
    Case("json-not-object", "POST", "/v1/echo/a", body=[1], status=400, error="JSON object"),
    Case("json-too-deep", "POST", "/v1/echo/a", body=b"[" * 100_000, status=400, error="JSON"),
    Case(
        "json-deep-struct",
        "POST",
        "/v1/echo/a",
        body=b'{"labels": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001,
        status=400,
        error="request body",
    ),
    Case(
        "unknown-body-field",
        "POST",
        "/v1/echo/a",
        body={"nosuch": 1},
        status=400,
        error='no field named "nosuch"',
    ),
    Case("wrong-body-type", "POST", "/v1/echo/a", body={"count": "x"}, status=400, error="count"),
    Case(
        "wrong-path-variable-type",
        "DELETE",
        "/v1/echo/a/count/many",
        status=400,
        error="path variable {count}",
    ),
    Case("unknown-query-field", "GET", "/v1/echo/a?nosuch=1", status=400, error="'nosuch'"),
    Case("wrong-query-type", "GET", "/v1/echo/a?count=x", status=400, error="count"),
    Case("bad-enum", "GET", "/v1/echo/a?color=BLUE", status=400, error="BLUE"),
    Case("bad-bool", "GET", "/v1/echo/a?flag=maybe", status=400, error="'flag'"),
    Case("not-repeated-twice", "GET", "/v1/echo/a?count=1&count=2", status=400, error="twice"),
    Case("map-in-query", "GET", "/v1/echo/a?labels=x", status=400, error="map"),
    Case("message-in-query", "GET", "/v1/echo/a?inner=x", status=400, error="inner.FIELD"),
    Case(
        "query-on-body-star",
        "POST",
        "/v1/echo/a?count=1",
        body={},
        status=400,
        error="JSON body carries the whole request",
    ),
    Case(
        "body-on-no-body-rule",
        "GET",
        "/v1/echo/a",
        body={"x": 1},
        status=400,
        error="no request body",
    ),
    Case("empty-entity-key", "GET", "/v1/shelves/s/books/b", status=400, error="entity key"),
]

# The user function fails with each gRPC code: the HTTP status of the standard mapping.
FAILURES = [
    (3, 400),
    (4, 504),
    (5, 404),
    (6, 409),
    (7, 403),
    (8, 429),
    (9, 400),
    (10, 409),
    (11, 400),
    (12, 501),
    (13, 500),
    (14, 503),
    (15, 500),
    (16, 401),
    (1, 499),
    (2, 500),
]


def _send(client: httpx.Client, url: str, case: Case) -> httpx.Response:
    content: bytes | None
    if case.body is None:
        content = None
    elif isinstance(case.body, bytes):
        content = case.body
    else:
        import json

        content = json.dumps(case.body).encode()
    headers = {"content-type": "application/json", **case.headers} if content is not None else {}
    return client.request(case.method, url, content=content, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(echo: Running, case: Case) -> None:
    with httpx.Client(timeout=10) as client:
        response = _send(client, echo.url(case.path), case)
    assert response.status_code == case.status, response.text
    document = response.json()
    if case.status != 200:
        assert response.headers["content-type"] == "application/json"
        assert set(document) == {"code", "message", "details"}
        assert case.error in document["message"]
        if case.code is not None:
            assert document["code"] == case.code
        return
    if case.reply is not None:
        assert document == case.reply
    if case.request is not None:
        assert document["request"] == case.request


@pytest.mark.parametrize(("code", "status"), FAILURES, ids=[str(c) for c, _ in FAILURES])
def test_user_failure_maps_to_http_status(echo: Running, code: int, status: int) -> None:
    response = httpx.post(
        echo.url("/v1/echo/f/fail"), json={"code": code, "message": f"failed with {code}"}
    )
    assert response.status_code == status
    assert response.json() == {"code": code, "message": f"failed with {code}", "details": []}


def test_http_body_in_and_out(echo: Running) -> None:
    response = httpx.post(
        echo.url("/v1/echo/u/upload"), content=b"a,b\n1,2", headers={"content-type": "text/csv"}
    )
    assert response.json()["metadata"] == {"content-type": "text/csv", "data": "a,b\n1,2"}
    response = httpx.get(echo.url("/v1/echo/d/download?content_type=text/html&text=<b>x</b>"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html"
    assert response.content == b"<b>x</b>"


def test_request_headers_become_metadata(echo: Running) -> None:
    response = httpx.get(
        echo.url("/v1/echo/m"),
        headers={
            "x-custom": "v1",
            "authorization": "Bearer t",
            "token-bin": base64.b64encode(b"\x00\x01").decode(),
            "connection": "keep-alive",
            "te": "trailers",
            "user-agent": "test",
        },
    )
    metadata = response.json()["metadata"]
    assert metadata == {"x-custom": "v1", "authorization": "Bearer t", "token-bin": "bytes:0001"}


def test_json_options_and_cors(echo: Running) -> None:
    default = httpx.get(echo.url("/v1/echo/o?file_path=f")).json()
    assert default["request"] == {"id": "o", "filePath": "f"}
    custom = httpx.get(echo.url("/v1/echo/o?filePath=f", custom=True)).json()
    assert custom["request"]["file_path"] == "f"
    assert custom["request"]["count"] == 0 and custom["request"]["tags"] == []  # emit defaults

    origin = {"origin": "https://app.example"}
    preflight = httpx.options(
        echo.url("/v1/echo/o", custom=True),
        headers={
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-grpc-web",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-headers"] == "content-type, x-grpc-web"
    actual = httpx.get(echo.url("/v1/echo/o", custom=True), headers=origin)
    assert actual.headers["access-control-allow-origin"] == "https://app.example"
    assert "grpc-status" in actual.headers["access-control-expose-headers"]
    refused = httpx.options(
        echo.url("/v1/echo/o", custom=True),
        headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    # The default proxy has no CORS origins: no CORS headers at all.
    plain = httpx.get(echo.url("/v1/echo/o"), headers=origin)
    assert "access-control-allow-origin" not in plain.headers


def test_health_and_openapi(echo: Running) -> None:
    assert httpx.get(echo.url("/health/live")).json() == {"status": "live"}
    assert httpx.get(echo.url("/health/ready")).json() == {"status": "ready"}
    document = httpx.get(echo.url("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert paths["/v1/echo/{id}"]["get"]["operationId"] == "httptest.Echo.Get"
    assert {"post", "delete", "get"} <= set(paths["/v1/echo/{id}"])
    custom = paths["/v1/echo/{id}/search"]  # custom kinds are not OpenAPI 3.0 verbs
    assert list(custom) == ["x-custom-methods"] and "SEARCH" in custom["x-custom-methods"]
    assert paths["/v1/echo/{id}:reset"]["post"]["requestBody"]
    assert paths["/httptest.Echo/Plain"]["post"]["operationId"] == "httptest.Echo.Plain"
    params = {p["name"]: p for p in paths["/v1/echo/{id}"]["get"]["parameters"]}
    assert params["id"]["in"] == "path" and params["inner.deep.leaf"]["in"] == "query"
    assert params["tags"]["schema"]["type"] == "array"
    assert params["big"]["schema"] == {"type": "string", "format": "int64"}
    schema = document["components"]["schemas"]["httptest.EchoRequest"]
    assert schema["properties"]["color"]["enum"] == ["COLOR_UNSPECIFIED", "RED", "GREEN"]
    name = paths["/v1/{name}"]["get"]["parameters"][0]
    assert name["schema"]["description"] == "matches shelves/*/books/*"


def test_http2_prior_knowledge_json(echo: Running) -> None:
    with httpx.Client(http1=False, http2=True) as client:
        response = client.get(echo.url("/v1/echo/h2?count=2"), headers={"x-h2": "yes"})
        assert response.http_version == "HTTP/2"
        assert response.json()["request"] == {"id": "h2", "count": 2}
        assert response.json()["metadata"] == {"x-h2": "yes"}
        failed = client.post(echo.url("/v1/echo/h2/fail"), json={"code": 5})
        assert failed.status_code == 404
