"""The progress feed of a workflow over SSE, on the client port:
``GET /cloudstate/workflows/<service>/<id>/events`` (``Accept: text/event-stream``).

One ``event: workflow`` per persisted change this node writes (status, step, transitions,
attempt, state as JSON like the HTTP transcoder prints it, reason), starting with the current
record; the stream ends after a terminal status. Authentication is that of the service's methods
(``--jwt-key``: a token its first method accepts); a service that is not a workflow is a 404
naming it.

Example::

    curl -N -H 'accept: text/event-stream' \\
        http://localhost:9000/cloudstate/workflows/bank.Transfer/t1/events
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.errors import ProxyError, UnknownMethod
from cloudstate.proxy.http.api import SSE, HttpRequest, HttpResponse
from cloudstate.proxy.http.status import metadata_from_http
from cloudstate.proxy.http.transcode import JsonOptions, dumps, to_json_value
from cloudstate.proxy.model import MethodModel
from cloudstate.proxy.workflows.engine import WorkflowHandler
from cloudstate.proxy.workflows.record import ENDED, Record, status_name

PREFIX = "/cloudstate/workflows/"

#: Checks a client may call a method (the router's authentication); raises ProxyError.
CheckAccess = Callable[[MethodModel, entity_pb2.Metadata | None], None]


def record_json(
    record: Record, pool: descriptor_pool.DescriptorPool, options: JsonOptions
) -> dict[str, Any]:
    """The JSON of one feed event."""
    view = record.view
    state: Any = None
    if view.HasField("state"):
        name = view.state.type_url.rsplit("/", 1)[-1]
        try:
            cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
            state = to_json_value(cls.FromString(view.state.value), options, pool)
        except (KeyError, Exception):
            state = {"@type": view.state.type_url}
    return {
        "id": view.workflow_id,
        "status": status_name(view.status),
        "step": view.step,
        "transitions": view.transitions,
        "attempt": record.attempt,
        "state": state,
        "reason": view.reason or record.last_error,
    }


class WorkflowEvents:
    """Serves the feed for the workflow engines of one proxy."""

    def __init__(
        self,
        engines: dict[str, WorkflowHandler],
        pool: descriptor_pool.DescriptorPool,
        check_access: CheckAccess,
        options: JsonOptions | None = None,
    ) -> None:
        self.engines = engines
        self.pool = pool
        self.check_access = check_access
        self.options = options or JsonOptions()

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer ``GET /cloudstate/workflows/<service>/<id>/events``; ProxyError otherwise."""
        rest = request.path[len(PREFIX) :]
        service, _, tail = rest.partition("/")
        workflow_id, _, last = tail.rpartition("/")
        if request.method != "GET" or last != "events" or not workflow_id:
            raise UnknownMethod(
                f"no route for {request.method} {request.path}; the workflow feed is "
                f"GET {PREFIX}<service>/<workflow id>/events"
            )
        workflow_id = urllib.parse.unquote(workflow_id)
        engine = self.engines.get(service)
        if engine is None:
            raise ProxyError(
                f"{service} is not a workflow service of this proxy: no events to stream "
                f"(workflows: {', '.join(self.engines) or 'none'})",
                grpc.StatusCode.NOT_FOUND,
            )
        methods = list(engine.service.methods.values())
        if methods:
            self.check_access(methods[0], metadata_from_http(request.headers))
        return HttpResponse(
            200,
            [("content-type", SSE), ("cache-control", "no-cache")],
            stream=self._stream(engine, workflow_id),
        )

    async def _stream(self, engine: WorkflowHandler, workflow_id: str) -> AsyncIterator[bytes]:
        async with engine.changes(workflow_id) as queue:
            record = await engine.read(workflow_id)
            last = -1
            while True:
                if record is not None:
                    key = (record.view.transitions, record.attempt, record.SerializeToString())
                    if hash(key) != last:
                        last = hash(key)
                        event = dumps(record_json(record, self.pool, self.options))
                        yield b"event: workflow\ndata: " + event + b"\n\n"
                    if record.view.status in ENDED:
                        return
                record = await queue.get()
