"""What every ``cloudstate admin`` operation is made of: an :class:`Op` (how it is called over
HTTP, how its reply is shown), and the helpers the renderers share.

Example::

    Op("GET", lambda args: "/v1/services" + query(limit=args.limit), render_services)
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

#: How an operation shows its reply.
Render = Callable[[dict[str, Any], argparse.Namespace, TextIO], None]


@dataclass(frozen=True, slots=True)
class Op:
    """One CLI operation: how it is called over HTTP and how its reply is shown."""

    method: str
    path: Callable[[argparse.Namespace], str]
    render: Callable[[dict[str, Any], argparse.Namespace, TextIO], None]
    body: Callable[[argparse.Namespace], dict[str, Any]] | None = None


def quote(text: str) -> str:
    """``text`` as one URL path segment."""
    return urllib.parse.quote(text, safe="")


def query(**values: object) -> str:
    """``?a=1&b=x`` of the values that are set (not empty, 0 or False)."""
    kept = {k: v for k, v in values.items() if v not in (None, "", 0, False)}
    return "?" + urllib.parse.urlencode(kept) if kept else ""


def table(rows: Sequence[Sequence[object]], header: Sequence[str], out: TextIO) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        line = "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False))
        out.write((line + "  " + row[-1] if len(row) > 1 else row[0]).rstrip() + "\n")


def dumps(data: Any) -> str:
    """JSON on one line, keys sorted."""
    # Sorted: decoded payloads travel as google.protobuf.Struct, a map without an order.
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
