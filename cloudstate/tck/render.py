"""Readable renderings of what a case expected and what it got.

Protobuf messages are shown in protobuf text format. ``google.protobuf.Any`` payloads are expanded:
``type.googleapis.com/...`` messages the TCK knows as their fields, Cloudstate primitives
(``p.cloudstate.io/string`` ...) and JSON (``json.cloudstate.io/...``) as their decoded value::

    >>> from google.protobuf import wrappers_pb2
    >>> from cloudstate.tck.messages import primitive_string
    >>> print(render(primitive_string("a")))
    [p.cloudstate.io/string] { value: "a" }
"""

from __future__ import annotations

import difflib
from typing import Any

from google.protobuf import any_pb2, descriptor_pool, text_format, wrappers_pb2
from google.protobuf.message import DecodeError, Message

_PRIMITIVES: dict[str, type[Message]] = {
    "string": wrappers_pb2.StringValue,
    "bytes": wrappers_pb2.BytesValue,
    "int32": wrappers_pb2.Int32Value,
    "int64": wrappers_pb2.Int64Value,
    "float": wrappers_pb2.FloatValue,
    "double": wrappers_pb2.DoubleValue,
    "bool": wrappers_pb2.BoolValue,
}


def _any_formatter(message: Message, indent: int, as_one_line: bool) -> str | None:
    if not isinstance(message, any_pb2.Any):
        return None
    url = message.type_url
    wrapper: type[Message] | None = None
    if url.startswith("p.cloudstate.io/"):
        wrapper = _PRIMITIVES.get(url.rsplit("/", 1)[-1])
    elif url.startswith("json.cloudstate.io/"):
        wrapper = wrappers_pb2.BytesValue
    if wrapper is None:
        return None
    try:
        value = wrapper.FromString(message.value)
    except DecodeError:
        return None
    body = text_format.MessageToString(value, as_one_line=True, as_utf8=True).strip()
    if url.startswith("json.cloudstate.io/"):
        body = f"json: {value.value.decode('utf-8', 'replace')!r}"  # type: ignore[attr-defined]
    return f"[{url}] {{ {body} }}" if body else f"[{url}] {{ }}"


def render(value: Any, *, raw: bool = False) -> str:
    """Protobuf text for messages (Any payloads expanded unless ``raw``), ``repr`` otherwise."""
    if isinstance(value, Message):
        if isinstance(value, any_pb2.Any) and not raw:
            formatted = _any_formatter(value, 0, True)
            if formatted is not None:
                return formatted
        text = text_format.MessageToString(
            value,
            as_utf8=True,
            descriptor_pool=None if raw else descriptor_pool.Default(),
            message_formatter=None if raw else _any_formatter,
        ).rstrip()
        kind = value.DESCRIPTOR.full_name
        return f"{kind} {{}}" if not text else f"{kind} {{\n{_indent(text)}\n}}"
    if isinstance(value, list | tuple) and any(isinstance(v, Message) for v in value):
        return "[\n" + ",\n".join(_indent(render(v, raw=raw)) for v in value) + "\n]"
    return repr(value)


def render_pair(expected: Any, actual: Any) -> tuple[str, str]:
    """Renderings of ``expected`` and ``actual`` that differ whenever the values do.

    If the friendly renderings look the same although the messages differ (e.g. non-canonical
    bytes inside an ``Any``), the raw renderings are used.
    """
    left, right = render(expected), render(actual)
    if left == right and expected != actual:
        left, right = render(expected, raw=True), render(actual, raw=True)
        if left == right:
            right += "\n(differs in serialized bytes, e.g. field order or unknown fields)"
    return left, right


def diff(expected: str, actual: str) -> str:
    """A unified diff of two multi-line renderings ('' when either is a single line)."""
    if "\n" not in expected and "\n" not in actual:
        return ""
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "expected", "actual", lineterm="", n=2
    )
    return "\n".join(lines)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
