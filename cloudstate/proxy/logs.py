"""Proxy logging: plain text or one JSON object per line (``--log-format json``).

JSON lines carry, where known, the ``service``, ``command``, ``entity`` and ``request_id`` of the
request being handled. The router sets them (:func:`set_request`) when a client request enters;
entity actors set theirs for the command they run. The request id is the client's
``x-request-id`` header when it sent one, otherwise a number unique within this proxy process.

Example::

    configure("INFO", "json")
    set_request("com.example.Cart", "AddItem", "alice", "req-1")
    logging.getLogger("x").info("hello")
    # {"time": "...", "level": "INFO", "logger": "x", "message": "hello",
    #  "service": "com.example.Cart", "command": "AddItem", "entity": "alice",
    #  "request_id": "req-1"}
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from contextvars import ContextVar

from cloudstate.protocol import entity_pb2

#: (service, command, entity, request id) of the request this task works for.
_REQUEST: ContextVar[tuple[str, str, str, str] | None] = ContextVar(
    "cloudstate_request", default=None
)
_ids = itertools.count(1)

#: True when records are tagged with their request (JSON logs); the router checks it so that
#: text logging costs nothing per request.
tagging = False

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def next_request_id() -> str:
    """A request id unique within this process."""
    return str(next(_ids))


def set_request(service: str, command: str, entity: str, request_id: str) -> None:
    """Tag the log records of the current task (and tasks it starts) with this request."""
    _REQUEST.set((service, command, entity, request_id))


def clear_request() -> None:
    _REQUEST.set(None)


def client_request_id(metadata: entity_pb2.Metadata | None) -> str:
    """The ``x-request-id`` the client sent, or ""."""
    if metadata is not None:
        for entry in metadata.entries:
            if entry.key.lower() == "x-request-id" and entry.HasField("string_value"):
                return entry.string_value
    return ""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, the request's
    fields when known, and ``exception`` with the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = _REQUEST.get()
        if request is not None:
            service, command, entity, request_id = request
            entry["service"] = service
            if command:
                entry["command"] = command
            if entity:
                entry["entity"] = entity
            if request_id:
                entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, log_format: str = "text") -> None:
    """Set up the root logger: ``level`` (DEBUG, INFO, ...) and ``text`` or ``json`` lines on
    stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    global tagging
    tagging = log_format == "json"
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
