"""Durable encoding of CRDT state (JSON; element bytes in base64), versioned for migrations."""

from __future__ import annotations

import base64
import json
from typing import Any

from cloudstate.proxy.crdt.types import (
    CRDT_TYPES,
    Crdt,
    Elem,
    Flag,
    GCounter,
    GSet,
    LWWRegister,
    ORMap,
    ORSet,
    PNCounter,
    Vote,
)

FORMAT_VERSION = 1
TYPE_URL = "type.cloudstate.io/proxy.CrdtState.v1"  # the stored Payload's type_url


def _elem(e: Elem) -> list[str]:
    return [e[0], base64.b64encode(e[1]).decode("ascii")]


def _unelem(data: list[str]) -> Elem:
    return (data[0], base64.b64decode(data[1]))


def to_json(state: Crdt) -> dict[str, Any]:
    body: dict[str, Any]
    if isinstance(state, GCounter):
        body = {"counts": state.counts}
    elif isinstance(state, PNCounter):
        body = {"p": state.increments.counts, "n": state.decrements.counts}
    elif isinstance(state, GSet):
        body = {"elements": [_elem(e) for e in sorted(state.elements)]}
    elif isinstance(state, ORSet):
        body = _orset_json(state)
    elif isinstance(state, LWWRegister):
        body = {"elem": _elem(state.elem), "clock": state.clock, "node": state.node}
    elif isinstance(state, Flag):
        body = {"enabled": state.enabled}
    elif isinstance(state, Vote):
        body = {"votes": {n: [v, b] for n, (v, b) in sorted(state.votes.items())}}
    elif isinstance(state, ORMap):
        body = {
            "keys": _orset_json(state.keys),
            "slots": [[_elem(k), list(d), to_json(v)] for (k, d), v in sorted(state.slots.items())],
        }
    else:  # pragma: no cover - every type is listed above
        raise TypeError(state)
    return {"type": state.kind, **body}


def _orset_json(state: ORSet) -> dict[str, Any]:
    return {
        "entries": [
            [_elem(e), sorted(map(list, dots))] for e, dots in sorted(state.entries.items())
        ],
        "context": state.context,
    }


def _orset_from(data: dict[str, Any]) -> ORSet:
    return ORSet(
        entries={_unelem(e): {(d[0], int(d[1])) for d in dots} for e, dots in data["entries"]},
        context={k: int(v) for k, v in data["context"].items()},
    )


def from_json(data: dict[str, Any]) -> Crdt:
    kind = data["type"]
    if kind not in CRDT_TYPES:
        raise ValueError(f"unknown CRDT type {kind!r} in stored state")
    if kind == "gcounter":
        return GCounter(counts={k: int(v) for k, v in data["counts"].items()})
    if kind == "pncounter":
        return PNCounter(GCounter(dict(data["p"])), GCounter(dict(data["n"])))
    if kind == "gset":
        return GSet(elements={_unelem(e) for e in data["elements"]})
    if kind == "orset":
        return _orset_from(data)
    if kind == "lwwregister":
        return LWWRegister(_unelem(data["elem"]), int(data["clock"]), data["node"])
    if kind == "flag":
        return Flag(bool(data["enabled"]))
    if kind == "vote":
        return Vote(votes={n: (int(v), bool(b)) for n, (v, b) in data["votes"].items()})
    return ORMap(
        keys=_orset_from(data["keys"]),
        slots={(_unelem(k), (d[0], int(d[1]))): from_json(v) for k, d, v in data["slots"]},
    )


def encode(state: Crdt) -> bytes:
    return json.dumps(
        {"v": FORMAT_VERSION, "state": to_json(state)}, separators=(",", ":"), sort_keys=True
    ).encode()


def decode(data: bytes) -> Crdt:
    document = json.loads(data)
    if document.get("v") != FORMAT_VERSION:
        raise ValueError(f"unsupported stored CRDT format {document.get('v')!r}")
    return from_json(document["state"])
