"""Stored payloads as JSON, for people: protobuf messages (with the descriptors a user function
module registers), Cloudstate's primitive and JSON encodings, and the proxy's CRDT states.

A payload whose type is unknown is shown raw, never dropped::

    decoder = PayloadDecoder()
    decoder.to_json("p.cloudstate.io/string", b"\\n\\x05hello")       # 'hello'
    decoder.to_json("type.googleapis.com/x.Unknown", b"\\x08\\x01")   # {'@type': ..., '@raw': ...}
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf import any_pb2, json_format

from cloudstate.any_support import JSON_PREFIX, PRIMITIVE_PREFIX, PROTOBUF_PREFIX, AnySupport

#: The ``type_url`` of CRDT states as the proxy stores them.
CRDT_STATE_TYPE_URL = "type.cloudstate.io/proxy.CrdtState.v1"


def import_user_modules(modules: Iterable[str], path: str | None = None) -> None:
    """Import ``modules`` (from ``path``, default the current directory) so that their generated
    protobuf code registers its descriptors. The modules are imported, not run as ``__main__``."""
    if not modules:
        return
    resolved = str(Path(path or ".").resolve())
    if resolved not in sys.path:
        sys.path.insert(0, resolved)
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as e:
            raise SystemExit(
                f"cannot import {module} to decode payloads ({type(e).__name__}: {e}); "
                "check --module and --path"
            ) from e


class PayloadDecoder:
    """Turns ``(type_url, bytes)`` into JSON-able values (see the module documentation)."""

    def __init__(self, any_support: AnySupport | None = None) -> None:
        self._any = any_support or AnySupport()

    def to_json(self, type_url: str, value: bytes) -> Any:
        """The payload as a JSON-able value; ``{"@type", "@raw"}`` (base64) when unknown."""
        try:
            if type_url == CRDT_STATE_TYPE_URL:
                return self._crdt(value)
            return self._value(self._any.unpack(any_pb2.Any(type_url=type_url, value=value)))
        except Exception:
            return {"@type": type_url, "@raw": base64.b64encode(value).decode("ascii")}

    def type_name(self, type_url: str) -> str:
        """A short readable name of a payload type: the message name, ``string``, ``json``."""
        for prefix in (PROTOBUF_PREFIX, PRIMITIVE_PREFIX):
            if type_url.startswith(prefix):
                return type_url[len(prefix) :]
        if type_url.startswith(JSON_PREFIX):
            return "json:" + type_url[len(JSON_PREFIX) :]
        if type_url == CRDT_STATE_TYPE_URL:
            return "CRDT state"
        return type_url

    def _value(self, value: Any) -> Any:
        from google.protobuf.message import Message

        if isinstance(value, Message):
            return json_format.MessageToDict(value, preserving_proto_field_name=True)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        return value

    def _element(self, elem: tuple[str, bytes]) -> Any:
        return self.to_json(elem[0], elem[1])

    def _crdt(self, data: bytes) -> Any:
        from cloudstate.proxy.crdt import codec, types

        state = codec.decode(data)
        return {"crdt": state.kind, "value": self._crdt_value(state, types)}

    def _crdt_value(self, state: Any, types: Any) -> Any:
        if isinstance(state, types.GSet | types.ORSet):
            return [self._element(e) for e in sorted(state.value())]
        if isinstance(state, types.LWWRegister):
            return self._element(state.value())
        if isinstance(state, types.Vote):
            votes = {node: vote for node, (_, vote) in sorted(state.votes.items())}
            return {"votes": votes, "votes_for": sum(votes.values()), "voters": len(votes)}
        if isinstance(state, types.ORMap):
            return [
                {"key": self._element(key), "value": self._crdt_value(value, types)}
                for key, value in sorted(state.value().items(), key=lambda kv: kv[0])
            ]
        return state.value()


def dumps(value: Any) -> str:
    """One-line JSON (UTF-8 kept readable)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
