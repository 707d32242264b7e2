"""JSON ↔ protobuf for HTTP requests and replies, per a :class:`~.rules.Binding`.

Requests: the body (``body: "*"`` → the whole message, ``body: "field"`` → that field, no body →
nothing), then the query string (only when the body is not ``*``: ``a.b=1``, repeated ``x=1&x=2``,
enums by name or number, well-known types in their JSON string form), then the path variables,
which win. Everything goes through protobuf's canonical JSON parser, so both ``lowerCamelCase``
and ``proto_name`` spellings are accepted and every error names the field. Replies are printed
in the canonical JSON mapping (``lowerCamelCase`` unless ``JsonOptions.proto_names``).

Example::

    options = JsonOptions()
    payload = build_request(binding, {"user_id": "alice"}, "", b'{"productId": "p1"}', pool)
    text = render_reply(binding, reply_bytes, options, pool)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from cloudstate.proxy.errors import BadRequest, ProtocolError
from cloudstate.proxy.http.rules import (
    HTTP_BODY,
    SCALAR_MESSAGES,
    Binding,
    field_chain,
    is_map,
    message_name,
)


@dataclass(frozen=True, slots=True)
class JsonOptions:
    """How replies are printed (requests accept both spellings regardless)."""

    #: Keep proto field names (``user_id``) instead of lowerCamelCase (``userId``).
    proto_names: bool = False
    #: Print fields that hold their default value (0, "", [], false) instead of omitting them.
    emit_defaults: bool = False


def _where(binding: Binding) -> str:
    return f"{binding.method.service.name}.{binding.method.name}"


def build_request(
    binding: Binding,
    path_values: dict[str, str],
    query: str,
    body: bytes,
    content_type: str,
    pool: descriptor_pool.DescriptorPool,
) -> bytes:
    """The serialized input message for an HTTP request; BadRequest naming the culprit."""
    method = binding.method
    message = method.input_class()
    where = _where(binding)
    if binding.body:
        _merge_body(binding, message, body, content_type, pool, where)
    elif body.strip():
        raise BadRequest(
            f"{binding.describe()} ({where}) takes no request body; "
            "send the fields in the path and query string"
        )
    if query:
        if binding.body == "*":
            name = parse_qsl(query, keep_blank_values=True)[:1]
            raise BadRequest(
                f"query parameter {name[0][0] if name else query!r} is not allowed on "
                f"{binding.describe()} ({where}): the JSON body carries the whole request"
            )
        _merge_query(binding, message, query, pool, where)
    for path, text in path_values.items():
        chain = binding.path_fields[path]
        try:
            value = _scalar_json(chain[-1], text)
            json_format.ParseDict(_nest(path.split("."), value), message, descriptor_pool=pool)
        except (json_format.ParseError, ValueError) as e:
            raise BadRequest(
                f"path variable {{{path}}} of {binding.template.text} ({where}): {e}"
            ) from None
    return message.SerializeToString()


def _merge_body(
    binding: Binding,
    message: Message,
    body: bytes,
    content_type: str,
    pool: descriptor_pool.DescriptorPool,
    where: str,
) -> None:
    if binding.http_body_in:
        target: Any = message if binding.body == "*" else getattr(message, binding.body)
        target.content_type = content_type
        target.data = body
        return
    if not body.strip():
        return  # an empty body is an empty message
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BadRequest(f"request body for {where} is not valid JSON: {e}") from None
    if binding.body == "*":
        if not isinstance(document, dict):
            raise BadRequest(
                f"request body for {where} must be a JSON object "
                f"({binding.method.input_type.full_name})"
            )
    else:
        document = {binding.body: document}
    try:
        json_format.ParseDict(document, message, descriptor_pool=pool)
    except (json_format.ParseError, RecursionError) as e:
        raise BadRequest(f"request body for {where}: {e}") from None


def _merge_query(
    binding: Binding,
    message: Message,
    query: str,
    pool: descriptor_pool.DescriptorPool,
    where: str,
) -> None:
    values: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    except ValueError as e:
        raise BadRequest(f"query string of {where} does not parse: {e}") from None
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    document: dict[str, Any] = {}
    input_type = binding.method.input_type
    for key, texts in values.items():
        try:
            chain = field_chain(input_type, _proto_path(input_type, key), where)
        except ValueError:
            raise BadRequest(
                f"query parameter {key!r} is not a field of {input_type.full_name} ({where})"
            ) from None
        top = chain[0].name
        if ".".join(fd.name for fd in chain) in binding.path_fields or (
            binding.body_field is not None and top == binding.body_field.name
        ):
            raise BadRequest(
                f"query parameter {key!r} of {where} is already bound by the path or the body"
            )
        leaf = chain[-1]
        if is_map(leaf):
            raise BadRequest(f"query parameter {key!r} of {where} is a map, not supported")
        if leaf.type == FieldDescriptor.TYPE_MESSAGE and (
            message_name(leaf) not in SCALAR_MESSAGES
        ):
            raise BadRequest(
                f"query parameter {key!r} of {where} is a message "
                f"({message_name(leaf)}); set its fields as {key}.FIELD"
            )
        repeated = leaf.is_repeated
        if not repeated and len(texts) > 1:
            raise BadRequest(f"query parameter {key!r} of {where} is not repeated but given twice")
        try:
            converted = [_scalar_json(leaf, text) for text in texts]
        except ValueError as e:
            raise BadRequest(f"query parameter {key!r} of {where}: {e}") from None
        _deep_set(document, [fd.name for fd in chain], converted if repeated else converted[0])
    try:
        json_format.ParseDict(document, message, descriptor_pool=pool)
    except json_format.ParseError as e:
        raise BadRequest(f"query string of {where}: {e}") from None


def _proto_path(message: Descriptor, key: str) -> str:
    """Translate a dotted path that may use JSON names into proto field names."""
    names = []
    current: Descriptor | None = message
    for part in key.split("."):
        if current is None:
            names.append(part)
            continue
        fd = current.fields_by_name.get(part)
        if fd is None:
            fd = next((f for f in current.fields if f.json_name == part), None)
        if fd is None:
            names.append(part)
            current = None
            continue
        names.append(fd.name)
        current = fd.message_type if fd.type == FieldDescriptor.TYPE_MESSAGE else None
    return ".".join(names)


def _nest(names: list[str], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = {}
    _deep_set(document, names, value)
    return document


def _deep_set(document: dict[str, Any], names: list[str], value: Any) -> None:
    for name in names[:-1]:
        document = document.setdefault(name, {})
    document[names[-1]] = value


_BOOL = {"true": True, "false": False, "1": True, "0": False}


def _scalar_json(fd: FieldDescriptor, text: str) -> Any:
    """The JSON value protobuf's parser expects for a path/query string of field ``fd``."""
    if fd.type == FieldDescriptor.TYPE_BOOL or (
        fd.type == FieldDescriptor.TYPE_MESSAGE and message_name(fd) == "google.protobuf.BoolValue"
    ):
        try:
            return _BOOL[text.lower()]
        except KeyError:
            raise ValueError(f"{text!r} is not a boolean (true or false)") from None
    if fd.type == FieldDescriptor.TYPE_ENUM and text.lstrip("-").isdigit():
        if fd.enum_type is None or fd.enum_type.values_by_name.get(text) is None:
            return int(text)
    return text


def parse_reply(binding_output: type[Message], payload: bytes, where: str) -> Message:
    message = binding_output()
    try:
        message.ParseFromString(payload)
    except DecodeError as e:
        raise ProtocolError(
            f"{where} replied with bytes that are not a {message.DESCRIPTOR.full_name}: {e}"
        ) from None
    return message


def to_json_value(
    message: Message, options: JsonOptions, pool: descriptor_pool.DescriptorPool
) -> Any:
    """A message as a JSON-compatible value, per the options."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=options.proto_names,
        always_print_fields_with_no_presence=options.emit_defaults,
        descriptor_pool=pool,
    )


def reply_value(
    binding: Binding,
    payload: bytes,
    options: JsonOptions,
    pool: descriptor_pool.DescriptorPool,
) -> Any:
    """The JSON value of a reply: the whole message, or its ``response_body`` field."""
    message = parse_reply(binding.output_class, payload, _where(binding))
    fd = binding.response_field
    if fd is None:
        return to_json_value(message, options, pool)
    if not fd.is_repeated and fd.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json_value(getattr(message, fd.name), options, pool)
    document = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        descriptor_pool=pool,
    )
    value = document.get(fd.name)
    if value is None:
        return [] if fd.is_repeated else None
    if fd.is_repeated and fd.type == FieldDescriptor.TYPE_MESSAGE:
        # Print each element per the options (names, defaults), not with the proto names above.
        items = getattr(message, fd.name)
        if is_map(fd):
            return value
        return [to_json_value(item, options, pool) for item in items]
    return value


def http_body_reply(binding: Binding, payload: bytes) -> tuple[str, bytes]:
    """(content type, data) of a ``google.api.HttpBody`` reply (or response_body field)."""
    message = parse_reply(binding.output_class, payload, _where(binding))
    if binding.response_field is not None:
        message = getattr(message, binding.response_field.name)
    assert message.DESCRIPTOR.full_name == HTTP_BODY
    content_type: str = message.content_type  # type: ignore[attr-defined]
    data: bytes = message.data  # type: ignore[attr-defined]
    return content_type or "application/octet-stream", data


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
