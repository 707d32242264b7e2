"""Helpers shared by the proxy cases: HTTP/JSON calls and error-status checks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from cloudstate.tck.context import TckContext


async def post_json(t: TckContext, path: str, body: dict[str, Any], expected: Message) -> None:
    """``POST path`` with a JSON body must answer 200, ``application/json``, and a body that
    parses (proto3 JSON) into ``expected`` — so printing default values or not both pass."""
    async with t.session.http.post(
        t.http_url + path, json=body, timeout=aiohttp.ClientTimeout(total=t.timeout)
    ) as response:
        text = await response.text()
        content_type = response.headers.get("Content-Type", "")
        t.check(
            response.status == 200, f"POST {path}: HTTP status", 200, f"{response.status} {text}"
        )
    t.check(
        "application/json" in content_type,
        f"POST {path}: Content-Type",
        "application/json",
        content_type,
    )
    try:
        reply = json_format.Parse(text, type(expected)())
    except (json_format.ParseError, json.JSONDecodeError) as e:
        t.fail(f"POST {path}: the body is not a JSON {expected.DESCRIPTOR.name}: {e}", None, text)
    t.check(reply == expected, f"POST {path}: reply", expected, reply)


async def post_json_fails(t: TckContext, path: str, body: dict[str, Any], description: str) -> None:
    """``POST path`` must answer the proxy's HTTP status for user failures with ``description``
    in the body."""
    async with t.session.http.post(
        t.http_url + path, json=body, timeout=aiohttp.ClientTimeout(total=t.timeout)
    ) as response:
        text = await response.text()
    t.check(
        response.status == t.failure_http_status and description in text,
        f"POST {path}: a user failure",
        f"HTTP {t.failure_http_status} with {description!r} in the body",
        f"HTTP {response.status}: {text}",
    )


async def expect_status(t: TckContext, call: Any, status: grpc.StatusCode, what: str) -> None:
    """The client call must fail with ``status``."""
    try:
        await asyncio.wait_for(call, t.timeout)
    except grpc.aio.AioRpcError as e:
        t.check(
            e.code() == status, f"{what}: status", status.name, f"{e.code().name}: {e.details()}"
        )
        return
    except TimeoutError:
        t.fail(f"{what}: no answer within {t.timeout:g}s")
    t.fail(f"{what}: expected an error", status.name, "a reply")
