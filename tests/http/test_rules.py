"""Path templates, route precedence and the validation of ``google.api.http`` rules."""

from __future__ import annotations

import pytest
from google.api import http_pb2
from google.protobuf import descriptor_pb2

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.http.rules import (
    HTTP_RULE_FIELD,
    HttpRuleError,
    build_routes,
    http_rule,
    method_bindings,
)
from cloudstate.proxy.http.template import Match, NoMatch, RouteTrie, TemplateError, parse_template
from cloudstate.proxy.ingress.http_ingress import ClientIngress
from cloudstate.proxy.model import EVENT_SOURCED, build_model
from tests.http.support import echo_model, echo_pb2, file_set

MODEL = echo_model()
GET = MODEL.method("httptest.Echo", "Get")


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("v1/x", "must start with '/'"),
        ("/v1/**/x", "only allowed as the last segment"),
        ("/v1/{a}/{a}", "appears twice"),
        ("/v1/a*", "must be a whole segment"),
        ("/v1/", "must not end with '/'"),
        ("/v1//x", "empty segment"),
        ("/{a=b/{c}}", "nested variables"),
        ("/{a", "unclosed"),
        ("/{1a}", "bad field path"),
        ("/v1/x:", "verb"),
    ],
)
def test_bad_templates_are_refused(template: str, problem: str) -> None:
    with pytest.raises(TemplateError) as error:
        parse_template(template)
    assert problem in str(error.value)


def test_literal_beats_star_beats_double_star_and_methods_are_reported() -> None:
    trie: RouteTrie[str] = RouteTrie()
    trie.add(parse_template("/v1/{rest=**}"), "GET", "double-star")
    trie.add(parse_template("/v1/{id}/x"), "GET", "star")
    trie.add(parse_template("/v1/special/x"), "GET", "literal")
    trie.add(parse_template("/v1/special/x"), "POST", "literal-post")
    trie.add(parse_template("/v1/{id}:run"), "POST", "verb")
    assert _value(trie.match("GET", "/v1/special/x")) == "literal"
    assert _value(trie.match("GET", "/v1/other/x")) == "star"
    assert _value(trie.match("GET", "/v1/other/y")) == "double-star"
    assert _value(trie.match("POST", "/v1/special/x")) == "literal-post"
    assert _value(trie.match("POST", "/v1/t1:run")) == "verb"
    assert trie.match("DELETE", "/v1/special/x") == NoMatch(["GET", "POST"])
    assert trie.match("GET", "/elsewhere") == NoMatch([])


def _value(found: Match[str] | NoMatch) -> str:
    assert isinstance(found, Match), found
    return found.value


def _options(rule: http_pb2.HttpRule) -> descriptor_pb2.MethodOptions:
    data = rule.SerializeToString()
    tag = (HTTP_RULE_FIELD << 3) | 2
    wire = _varint(tag) + _varint(len(data)) + data
    options = descriptor_pb2.MethodOptions()
    options.ParseFromString(wire)
    return options


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_rule_is_read_from_the_options_wire_form() -> None:
    rule = http_pb2.HttpRule(get="/x/{id}", response_body="inner")
    assert http_rule(_options(rule)) == rule
    assert http_rule(descriptor_pb2.MethodOptions()) is None


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (http_pb2.HttpRule(get="/x/{nosuch}"), "has no field 'nosuch'"),
        (http_pb2.HttpRule(get="/x/{tags}"), "path variable tags is repeated"),
        (http_pb2.HttpRule(get="/x/{inner}"), "is a message"),
        (http_pb2.HttpRule(get="/x/{tags.x}"), "not a message"),
        (http_pb2.HttpRule(post="/x/{id}", body="nosuch"), "body field 'nosuch'"),
        (http_pb2.HttpRule(post="/x/{id}", body="id"), "also a path variable"),
        (http_pb2.HttpRule(get="/x/{id}", response_body="nosuch"), "response_body 'nosuch'"),
        (http_pb2.HttpRule(body="*"), "no pattern"),
        (http_pb2.HttpRule(get="x"), "must start with '/'"),
        (
            http_pb2.HttpRule(
                get="/x",
                additional_bindings=[
                    http_pb2.HttpRule(get="/y", additional_bindings=[http_pb2.HttpRule(get="/z")])
                ],
            ),
            "must not contain additional_bindings",
        ),
    ],
)
def test_bad_rules_name_the_method(rule: http_pb2.HttpRule, problem: str) -> None:
    assert GET is not None
    with pytest.raises(HttpRuleError) as error:
        method_bindings(GET, _options(rule))
    assert problem in str(error.value)
    assert "httptest.Echo.Get" in str(error.value)


def test_default_rule_and_clashing_rules() -> None:
    assert GET is not None
    (default,) = method_bindings(GET, None)
    assert (default.http_method, default.template.text, default.body) == (
        "POST",
        "/httptest.Echo/Get",
        "*",
    )
    assert default.default_rule
    one = method_bindings(GET, _options(http_pb2.HttpRule(get="/x/{id}")))
    two = method_bindings(GET, _options(http_pb2.HttpRule(get="/x/{name}")))
    with pytest.raises(HttpRuleError) as error:
        build_routes(one + two)
    assert "GET /x/{name} clashes with GET /x/{id}" in str(error.value)


async def test_a_bad_annotation_is_reported_and_stops_the_start() -> None:
    files = file_set(echo_pb2.DESCRIPTOR)
    echo_file = next(f for f in files.file if f.name == "httptest/echo.proto")
    get = next(m for m in echo_file.service[0].method if m.name == "Get")
    get.options.CopyFrom(_options(http_pb2.HttpRule(get="/v1/{nosuch}")))
    spec = entity_pb2.EntitySpec(
        proto=files.SerializeToString(),
        entities=[entity_pb2.Entity(entity_type=EVENT_SOURCED, service_name="httptest.Echo")],
    )
    model = build_model(spec, [EVENT_SOURCED])
    ingress = ClientIngress(ProxyConfig(port=0))
    reported: list[str] = []

    async def report(message: str) -> None:
        reported.append(message)

    with pytest.raises(DiscoveryError):
        await ingress.activate(model, object(), report)  # type: ignore[arg-type]
    assert reported == [
        "HTTP rule cannot be served: httptest.Echo.Get /v1/{nosuch}: "
        "httptest.EchoRequest has no field 'nosuch' ('nosuch')"
    ]
    await ingress.close(0.1)
