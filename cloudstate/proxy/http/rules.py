"""HTTP rules of the discovered methods: ``google.api.http`` annotations, or the default rule.

Every method of every discovered service gets at least one :class:`Binding`:

* its ``google.api.http`` rule (``get``/``put``/``post``/``delete``/``patch``/``custom``) and
  each of its ``additional_bindings``;
* a method without an annotation gets the default rule ``POST /package.Service/Method`` with
  ``body: "*"`` (the whole request message as the JSON body).

Annotations are read from the serialized method options (extension 72295728), so it does not
matter whether ``google/api/annotations.proto`` is registered in the proxy's descriptor pool.
Example::

    routes = build_routes(model)          # RouteTrie[Binding]; HttpRuleError if a rule is bad
    match = routes.match("GET", "/carts/alice")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.api import http_pb2
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from cloudstate.proxy.http.template import (
    ANY_METHOD,
    PathTemplate,
    RouteTrie,
    TemplateError,
    parse_template,
)
from cloudstate.proxy.model import MethodModel, UserFunctionModel

HTTP_RULE_FIELD = 72295728  # google.api.http on MethodOptions
HTTP_BODY = "google.api.HttpBody"
_VERBS = ("get", "put", "post", "delete", "patch")

#: Well-known message types whose JSON form is a scalar (usable in paths and query strings).
SCALAR_MESSAGES = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value",
        "google.protobuf.Int32Value",
        "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",
        "google.protobuf.StringValue",
        "google.protobuf.BytesValue",
    }
)

_message_class: Callable[[Descriptor], Any] = message_factory.GetMessageClass


def message_of(fd: FieldDescriptor) -> Descriptor:
    """The message type of a message field (asserted, for the type checker)."""
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def message_name(fd: FieldDescriptor) -> str:
    """The full name of a field's message type, or "" for non-message fields."""
    return fd.message_type.full_name if fd.message_type is not None else ""


def is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


class HttpRuleError(ValueError):
    """A ``google.api.http`` annotation that cannot be served (reported at start-up)."""


@dataclass(slots=True)
class Binding:
    """One HTTP rule of one method: how a request maps onto the input message and back."""

    method: MethodModel
    http_method: str  # GET, POST, ... or "*" (custom kind "*")
    template: PathTemplate
    body: str  # "" (no body), "*" (whole message) or a top-level field name
    response_body: str  # "" (whole output message) or a top-level field name
    path_fields: dict[str, list[FieldDescriptor]]  # variable -> field chain
    body_field: FieldDescriptor | None
    response_field: FieldDescriptor | None
    output_class: type[Message]
    default_rule: bool = False

    @property
    def http_body_in(self) -> bool:
        """The request body is raw bytes for a ``google.api.HttpBody``."""
        if self.body == "*":
            return self.method.input_type.full_name == HTTP_BODY
        return self.body_field is not None and _is_http_body(self.body_field)

    @property
    def http_body_out(self) -> bool:
        if self.response_field is not None:
            return _is_http_body(self.response_field)
        return self.method.output_type.full_name == HTTP_BODY

    def describe(self) -> str:
        return f"{self.http_method} {self.template.text}"


def _is_http_body(fd: FieldDescriptor) -> bool:
    return (
        fd.type == FieldDescriptor.TYPE_MESSAGE
        and message_name(fd) == HTTP_BODY
        and not fd.is_repeated
    )


def http_rule(options: descriptor_pb2.MethodOptions) -> http_pb2.HttpRule | None:
    """The method's ``google.api.http`` rule, read from the options' wire form, or None."""
    data = options.SerializeToString()
    chunks: list[bytes] = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if number == HTTP_RULE_FIELD:
                chunks.append(data[pos : pos + length])
            pos += length
        elif wire == 5:
            pos += 4
        else:
            break
    if not chunks:
        return None
    rule = http_pb2.HttpRule()
    try:
        rule.ParseFromString(b"".join(chunks))  # repeated occurrences merge, as protobuf does
    except DecodeError as e:
        raise HttpRuleError(f"unreadable google.api.http option: {e}") from e
    return rule


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _method_protos(
    file_set: descriptor_pb2.FileDescriptorSet,
) -> dict[tuple[str, str], descriptor_pb2.MethodDescriptorProto]:
    found: dict[tuple[str, str], descriptor_pb2.MethodDescriptorProto] = {}
    for f in file_set.file:
        prefix = f"{f.package}." if f.package else ""
        for service in f.service:
            for m in service.method:
                found[(prefix + service.name, m.name)] = m
    return found


def field_chain(message: Descriptor, path: str, where: str) -> list[FieldDescriptor]:
    """Resolve ``a.b.c`` (proto field names) through nested messages; HttpRuleError if not."""
    chain: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for name in path.split("."):
        if current is None:
            raise HttpRuleError(f"{where}: {path!r} goes through a field that is not a message")
        fd = current.fields_by_name.get(name)
        if fd is None:
            raise HttpRuleError(f"{where}: {current.full_name} has no field {name!r} ({path!r})")
        if chain and chain[-1].is_repeated:
            raise HttpRuleError(f"{where}: {path!r} goes through a repeated field")
        chain.append(fd)
        current = fd.message_type if fd.type == FieldDescriptor.TYPE_MESSAGE else None
    return chain


def _bindings_of(rule: http_pb2.HttpRule, where: str) -> Iterator[http_pb2.HttpRule]:
    yield rule
    for extra in rule.additional_bindings:
        if extra.additional_bindings:
            raise HttpRuleError(
                f"{where}: additional_bindings must not contain additional_bindings"
            )
        yield extra


def _make_binding(method: MethodModel, rule: http_pb2.HttpRule, default: bool) -> Binding:
    where = f"{method.service.name}.{method.name}"
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise HttpRuleError(f"{where}: google.api.http rule has no pattern (get, post, ...)")
    if kind == "custom":
        http_method = rule.custom.kind.upper() if rule.custom.kind != "*" else ANY_METHOD
        pattern = rule.custom.path
    else:
        http_method, pattern = kind.upper(), getattr(rule, kind)
    if not http_method or not pattern:
        raise HttpRuleError(f"{where}: {kind} rule with an empty method or path")
    try:
        template = parse_template(pattern)
    except TemplateError as e:
        raise HttpRuleError(f"{where}: {e}") from e
    input_type = method.input_type
    path_fields: dict[str, list[FieldDescriptor]] = {}
    for variable in template.variables:
        chain = field_chain(input_type, variable.field_path, f"{where} {pattern}")
        leaf = chain[-1]
        if leaf.is_repeated:
            raise HttpRuleError(f"{where}: path variable {variable.field_path} is repeated")
        if leaf.type == FieldDescriptor.TYPE_MESSAGE and message_name(leaf) not in SCALAR_MESSAGES:
            raise HttpRuleError(
                f"{where}: path variable {variable.field_path} is a message "
                f"({message_name(leaf)}); use one of its scalar fields"
            )
        path_fields[variable.field_path] = chain
    body_field = None
    if rule.body and rule.body != "*":
        body_field = input_type.fields_by_name.get(rule.body)
        if body_field is None:
            raise HttpRuleError(f"{where}: body field {rule.body!r} is not in {input_type.name}")
        if rule.body in path_fields:
            raise HttpRuleError(f"{where}: body field {rule.body!r} is also a path variable")
    response_field = None
    if rule.response_body:
        response_field = method.output_type.fields_by_name.get(rule.response_body)
        if response_field is None:
            raise HttpRuleError(
                f"{where}: response_body {rule.response_body!r} is not a field of "
                f"{method.output_type.full_name}"
            )
    return Binding(
        method=method,
        http_method=http_method,
        template=template,
        body=rule.body,
        response_body=rule.response_body,
        path_fields=path_fields,
        body_field=body_field,
        response_field=response_field,
        output_class=_message_class(method.output_type),
        default_rule=default,
    )


def method_bindings(
    method: MethodModel, options: descriptor_pb2.MethodOptions | None, default_routes: bool = True
) -> list[Binding]:
    """The bindings of one method: its annotation (with additional bindings) or the default
    (none when ``default_routes`` is off)."""
    rule = http_rule(options) if options is not None else None
    if rule is None:
        if not default_routes:
            return []
        default = http_pb2.HttpRule(post=method.path, body="*")
        return [_make_binding(method, default, True)]
    where = f"{method.service.name}.{method.name}"
    return [_make_binding(method, r, False) for r in _bindings_of(rule, where)]


def all_bindings(model: UserFunctionModel, *, default_routes: bool = True) -> list[Binding]:
    """Every binding of every discovered method, in declaration order (``default_routes`` off:
    only annotated methods; ``--no-http-default-routes``)."""
    protos = _method_protos(model.file_set)
    bindings: list[Binding] = []
    for service in model.services.values():
        for method in service.methods.values():
            proto = protos.get((service.name, method.name))
            options = proto.options if proto is not None and proto.HasField("options") else None
            bindings.extend(method_bindings(method, options, default_routes))
    return bindings


def build_routes(bindings: list[Binding]) -> RouteTrie[Binding]:
    """The trie of all bindings; HttpRuleError if two rules claim the same method and path."""
    trie: RouteTrie[Binding] = RouteTrie()
    for binding in bindings:
        try:
            trie.add(binding.template, binding.http_method, binding)
        except TemplateError as e:
            raise HttpRuleError(f"{binding.method.service.name}.{binding.method.name}: {e}") from e
    return trie
