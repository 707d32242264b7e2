"""The developer console: a web page at ``/console/`` of the admin port (``--console``; on by
default under ``cloudstate run``), made of the static files in ``static/`` (plain JavaScript,
no build step, nothing fetched from elsewhere). The page reads and calls the proxy only through
the admin API (``/v1/...``); see docs/console.md.

The files themselves hold no data and are served without a token; every API call the page makes
carries the token the user typed (``Authorization: Bearer``), which the admin API checks when
``--jwt-key`` is set.

Example::

    response = console_file("/console/")         # index.html, or None for another path
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

PREFIX = "/console"

#: The only files served, with their content types (no directory listing, no other path).
FILES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "eventing.js": "text/javascript; charset=utf-8",
    "workflows.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

#: Everything from this origin only: no inline script or style, no other site (works offline).
SECURITY_HEADERS = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-cache"),
]


@dataclass(frozen=True, slots=True)
class ConsoleFile:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def console_file(path: str) -> ConsoleFile | None:
    """The response for ``path`` if it is the console's (``/console``, ``/console/``,
    ``/console/<file>``), else None."""
    if path == PREFIX:
        return ConsoleFile(301, [("location", PREFIX + "/")], b"")
    if not path.startswith(PREFIX + "/"):
        return None
    name = path.removeprefix(PREFIX + "/") or "index.html"
    content_type = FILES.get(name)
    if content_type is None:
        return ConsoleFile(404, [("content-type", "text/plain")], b"no such console file\n")
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return ConsoleFile(200, [("content-type", content_type), *SECURITY_HEADERS], body)
