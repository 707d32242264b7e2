"""A workflow over HTTP/JSON (its google.api.http routes) and its SSE progress feed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.workflows.harness import running_stack
from tests.workflows.uf import UserFunction

pytestmark = pytest.mark.asyncio


async def test_http_json_route_of_a_workflow_method(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        base = f"http://127.0.0.1:{stack.proxy.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            started = await client.post("/transfers/h1", json={"from": "a", "to": "b", "amount": 3})
            assert started.status_code == 200, started.text
            assert started.json()["status"] == "NOT_STARTED"
            await stack.wait_status("h1", "COMPLETED")
            got = await client.get("/transfers/h1")
            assert got.json()["status"] == "COMPLETED"
            assert got.json()["state"]["note"] == "done"
            again = await client.post("/transfers/h1", json={"from": "a", "to": "b", "amount": 3})
            assert again.status_code == 409, again.text  # a transition of an ended workflow
            assert "COMPLETED" in again.json()["message"]


async def _events(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> list[dict[str, object]]:
    events = []
    wanted = {"accept": "text/event-stream", **(headers or {})}
    async with client.stream("GET", path, headers=wanted) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert kind == "workflow"
                events.append(json.loads(line.removeprefix("data: ")))
    return events


async def test_sse_streams_every_change_and_ends_after_a_terminal_status(tmp_path: Path) -> None:
    uf = UserFunction().start()
    hold = threading.Event()
    uf.script.hold = hold  # the withdrawal waits: the feed starts while the step runs
    try:
        async with running_stack(tmp_path, uf=uf) as stack:
            base = f"http://127.0.0.1:{stack.proxy.port}"
            async with httpx.AsyncClient(base_url=base, timeout=20) as client:
                await stack.start("e1")
                feed = asyncio.create_task(
                    _events(client, "/cloudstate/workflows/wftest.Transfers/e1/events")
                )
                await asyncio.to_thread(uf.script.entered.wait, 10)
                await asyncio.sleep(0.2)  # the feed sent the current record
                hold.set()
                events = await asyncio.wait_for(feed, 15)
                steps = [(e["status"], e["step"], e["transitions"]) for e in events]
                assert steps == [
                    ("RUNNING", "withdraw", 1),
                    ("RUNNING", "deposit", 2),
                    ("COMPLETED", "deposit", 3),
                ]
                assert events[0]["state"] == {"from": "alice", "to": "bob", "amount": "10"}
                assert events[-1]["state"]["note"] == "done"  # type: ignore[index]
                missing = await client.get(
                    "/cloudstate/workflows/wftest.Accounts/e1/events",
                    headers={"accept": "text/event-stream"},
                )
                assert missing.status_code == 404
                assert "wftest.Accounts is not a workflow service" in missing.json()["message"]
    finally:
        hold.set()
        uf.stop()


async def test_the_feed_needs_what_the_services_methods_need(tmp_path: Path) -> None:
    secret = "a-test-secret-of-at-least-32-bytes!!"
    key = tmp_path / "jwt.secret"
    key.write_text(secret + "\n")
    async with running_stack(tmp_path, jwt_key=str(key), jwt_audience="wf") as stack:
        base = f"http://127.0.0.1:{stack.proxy.port}"
        path = "/cloudstate/workflows/wftest.Transfers/j1/events"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            refused = await client.get(path, headers={"accept": "text/event-stream"})
            assert refused.status_code == 401, refused.text
            claims = {"sub": "ann", "aud": "wf", "exp": int(time.time() + 300)}
            bearer = {"authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}
            signal = await client.post(
                "/wftest.Transfers/Signal", json={"id": "j1", "action": "end"}, headers=bearer
            )
            assert signal.status_code == 200, signal.text
            events = await _events(client, path, bearer)
            assert [e["status"] for e in events] == ["COMPLETED"]
