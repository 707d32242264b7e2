"""Property-based tests: JSON → message → JSON round-trips for generated messages, query strings
and path templates; and a fuzz test of random requests against a running proxy (no 500, no
crash)."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from google.protobuf import json_format, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudstate.proxy.http.rules import Binding, all_bindings
from cloudstate.proxy.http.template import Match, RouteTrie, parse_template
from cloudstate.proxy.http.transcode import JsonOptions, build_request, reply_value
from tests.http.conftest import Running
from tests.http.support import echo_model, echo_pb2

MODEL = echo_model()
BINDINGS = all_bindings(MODEL)


def binding(method: str, template: str) -> Binding:
    return next(b for b in BINDINGS if b.method.name == method and b.template.text == template)


POST = binding("Post", "/v1/echo/{id}")
GET = binding("Get", "/v1/echo/{id}")

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
inner = st.builds(
    echo_pb2.Inner,
    text=text,
    number=int32,
    deep=st.builds(echo_pb2.Deep, leaf=text),
)
timestamps = st.builds(
    timestamp_pb2.Timestamp,
    seconds=st.integers(-62135596800, 253402300799),
    nanos=st.integers(0, 999_999_999),
)


@st.composite
def echo_requests(draw: st.DrawFn) -> echo_pb2.EchoRequest:
    message = echo_pb2.EchoRequest(
        id=draw(text),
        name=draw(text),
        count=draw(int32),
        big=draw(int64),
        flag=draw(st.booleans()),
        ratio=draw(st.floats(allow_nan=False)),
        color=draw(st.sampled_from([0, 1, 2])),
        tags=draw(st.lists(text, max_size=3)),
        numbers=draw(st.lists(int32, max_size=3)),
        blob=draw(st.binary(max_size=16)),
        file_path=draw(text),
        labels=draw(st.dictionaries(text, text, max_size=3)),
    )
    if draw(st.booleans()):
        message.inner.CopyFrom(draw(inner))
    if draw(st.booleans()):
        message.when.CopyFrom(draw(timestamps))
    if draw(st.booleans()):
        message.maybe.value = draw(text)
    message.items.extend(draw(st.lists(inner, max_size=2)))
    return message


@settings(max_examples=150, deadline=None)
@given(message=echo_requests(), proto_names=st.booleans())
def test_json_body_round_trips_to_the_same_message(
    message: echo_pb2.EchoRequest, proto_names: bool
) -> None:
    document = json_format.MessageToDict(message, preserving_proto_field_name=proto_names)
    body = json.dumps(document).encode()
    payload = build_request(POST, {"id": message.id}, "", body, "application/json", MODEL.pool)
    assert echo_pb2.EchoRequest.FromString(payload) == message


@settings(max_examples=150, deadline=None)
@given(message=echo_requests(), proto_names=st.booleans(), emit_defaults=st.booleans())
def test_reply_json_parses_back_to_the_same_message(
    message: echo_pb2.EchoRequest, proto_names: bool, emit_defaults: bool
) -> None:
    reply = echo_pb2.EchoReply(request=message, method="Get")
    options = JsonOptions(proto_names=proto_names, emit_defaults=emit_defaults)
    value = reply_value(GET, reply.SerializeToString(), options, MODEL.pool)
    parsed = json_format.ParseDict(json.loads(json.dumps(value)), echo_pb2.EchoReply())
    assert parsed == reply


@settings(max_examples=150, deadline=None)
@given(
    name=text,
    count=int32,
    big=int64,
    flag=st.booleans(),
    color=st.sampled_from(["COLOR_UNSPECIFIED", "RED", "GREEN"]),
    tags=st.lists(text, max_size=3),
    leaf=text,
    path_id=text.filter(lambda s: s != ""),
)
def test_query_string_and_path_fill_the_message(
    name: str,
    count: int,
    big: int,
    flag: bool,
    color: str,
    tags: list[str],
    leaf: str,
    path_id: str,
) -> None:
    query = urlencode(
        [
            ("name", name),
            ("count", count),
            ("big", big),
            ("flag", "true" if flag else "false"),
            ("color", color),
            *[("tags", t) for t in tags],
            ("inner.deep.leaf", leaf),
        ]
    )
    payload = build_request(GET, {"id": path_id}, query, b"", "", MODEL.pool)
    message = echo_pb2.EchoRequest.FromString(payload)
    assert (message.id, message.name, message.count, message.big) == (path_id, name, count, big)
    assert (message.flag, echo_pb2.Color.Name(message.color)) == (flag, color)
    assert list(message.tags) == tags and message.inner.deep.leaf == leaf


segment_text = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~ %/", min_size=1, max_size=8
)
literal = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_trie_extracts_the_variables_of_the_matching_template(data: st.DataObject) -> None:
    shape = data.draw(st.lists(st.sampled_from(["lit", "var"]), min_size=1, max_size=5))
    parts, path_parts, expected = [], [], {}
    for i, kind in enumerate(shape):
        if kind == "lit":
            word = data.draw(literal)
            parts.append(word)
            path_parts.append(word)
        else:
            value = data.draw(segment_text)
            parts.append(f"{{v{i}}}")
            path_parts.append(quote(value, safe=""))
            expected[f"v{i}"] = value
    trie: RouteTrie[str] = RouteTrie()
    trie.add(parse_template("/" + "/".join(parts)), "GET", "target")
    trie.add(parse_template("/" + "/".join(parts) + "/{rest=**}"), "GET", "longer")
    found = trie.match("GET", "/" + "/".join(path_parts))
    assert isinstance(found, Match) and found.value == "target"
    assert found.variables == expected
    found = trie.match("GET", "/" + "/".join([*path_parts, "x", "y"]))
    assert isinstance(found, Match) and found.value == "longer"
    assert found.variables["rest"] == "x/y"


# -- fuzz: random requests against the running proxy ------------------------------------------

_CLIENT = httpx.Client(timeout=10)  # one keep-alive connection for all examples

_PREFIXES = ["/v1/echo/", "/v1/echo/a/", "/v1/shelves/", "/v1/files/", "/httptest.Echo/", "/", ""]
_TOKEN = string.ascii_letters + string.digits + "-"
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "SEARCH", "OPTIONS", "HEAD"])
paths = st.builds(
    lambda prefix, rest: "/" + (prefix + rest).lstrip("/"),
    st.sampled_from(_PREFIXES),
    st.text(alphabet=string.printable.replace("#", "").replace("?", ""), max_size=30).map(
        lambda s: quote(s, safe="/:%=*")
    ),
).filter(lambda p: "fail" not in p.lower())
queries = st.lists(
    st.tuples(st.sampled_from(["count", "tags", "inner.text", "x", "color", "id", "a.b.c"]), text),
    max_size=4,
).map(urlencode)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["id", "count", "name", "inner", "tags", "when", "blob", "labels"]),
        json_values,
        max_size=4,
    ).map(lambda v: json.dumps(v).encode()),
)
headers = st.dictionaries(
    st.text(alphabet=_TOKEN, min_size=1, max_size=10).map(str.lower),
    st.text(alphabet=string.ascii_letters + string.digits + " ;,=/+-", max_size=20),
    max_size=4,
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/grpc-web",
        "application/grpc-web-text",
        "application/x-ndjson",
        "text/plain",
    ]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=methods,
    path=paths,
    query=queries,
    body=bodies,
    extra=headers,
    content_type=content_types,
)
def test_fuzz_no_500_and_no_crash(
    echo: Running,
    method: str,
    path: str,
    query: str,
    body: bytes,
    extra: dict[str, str],
    content_type: str | None,
) -> None:
    request_headers = {
        k: v.strip() for k, v in extra.items() if k not in ("host", "content-length")
    }
    if content_type is not None:
        request_headers["content-type"] = content_type
    url = echo.url(path + ("?" + query if query else ""))
    try:
        response = _CLIENT.request(
            method,
            url,
            content=body if method not in ("GET", "HEAD") else None,
            headers=request_headers,
        )
    except httpx.LocalProtocolError:
        return  # the client refused to send it (an invalid header); nothing reached the proxy
    assert response.status_code < 500, (
        method,
        url,
        body,
        response.status_code,
        response.text,
    )
    if response.status_code >= 400 and method != "HEAD":
        document = response.json()
        assert set(document) == {"code", "message", "details"}


def test_fuzzed_proxy_is_still_healthy(echo: Running) -> None:
    assert echo.default.alive
    assert httpx.get(echo.url("/health/ready")).status_code == 200
    assert "Traceback" not in echo.default.log()
