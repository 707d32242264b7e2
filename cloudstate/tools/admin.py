"""``cloudstate admin``: the admin API of a running proxy (its ``--admin-port``), as tables or
JSON.

::

    cloudstate admin services --admin http://127.0.0.1:9090
    cloudstate admin entities ShoppingCart --prefix a --page-size 50
    cloudstate admin entity ShoppingCart alice --json
    cloudstate admin consumers
    cloudstate admin timers
    cloudstate admin dead-letters
    cloudstate admin redrive 'timer:expire-t1'        # or --all
    cloudstate admin drop 'effect:8d0c...'
    cloudstate admin delete-entity ShoppingCart alice   # event-sourced: tombstone, then purge
    cloudstate admin consumer-dead-letters event_log:ledger:evtest.Projection
    cloudstate admin consumer-redrive event_log:ledger:evtest.Projection 5007   # or --all
    cloudstate admin reset event_log:ledger:evtest.Projection --to-beginning
    cloudstate admin rebuild --service PopularProducts --table products
    cloudstate admin rebuilds       # (eventing operations: cloudstate/tools/admin_eventing.py)

It speaks HTTP/JSON to the routes of ``cloudstate.admin.Admin`` (docs/admin.md); ``--token``
(or ``$CLOUDSTATE_TOKEN``) is sent as ``authorization: Bearer`` when the proxy has ``--jwt-key``.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

from cloudstate.tools import admin_eventing
from cloudstate.tools.admin_common import Op, table
from cloudstate.tools.admin_common import dumps as _dumps
from cloudstate.tools.admin_common import query as _query
from cloudstate.tools.admin_common import quote as _q

DEFAULT_ADMIN = "http://127.0.0.1:9090"

#: Exit statuses: the API refused or failed (1), bad usage (2), no credentials accepted (3).
FAILED, USAGE, UNAUTHENTICATED = 1, 2, 3


def _services(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    services = reply.get("services", [])
    rows = [(s["name"], s.get("kind", ""), s.get("persistenceId", "")) for s in services]
    table(rows, ("SERVICE", "KIND", "PERSISTENCE ID"), out)


def _entities(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    ids = reply.get("entityIds", [])
    if not ids:
        out.write(f"no entities in {reply.get('service', args.service)}\n")
    for entity_id in ids:
        out.write(f"{entity_id}\n")
    token = reply.get("nextPageToken")
    if token:
        out.write(f"more: --page-token {token}\n")


def _entity(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    title = f"{reply.get('service')} / {reply.get('entityId')} ({reply.get('kind')})"
    if not reply.get("found"):
        out.write(f"{title}: nothing stored\n")
        return
    out.write(title + "\n")
    snapshot = reply.get("snapshot")
    if snapshot:
        out.write(f"snapshot at sequence {snapshot.get('sequence', 0)}  {snapshot.get('type')}\n")
        out.write(f"  {_dumps(snapshot.get('data'))}\n")
    events = reply.get("events", [])
    total = int(reply.get("eventsTotal", 0))
    if total:
        more = f", the last {len(events)} shown" if len(events) < total else ""
        out.write(f"journal: {total} events{more}\n")
        table(
            [
                (e["sequence"], e.get("time", "-"), e.get("type", ""), _dumps(e.get("data")))
                for e in events
            ],
            ("SEQ", "TIME", "TYPE", "DATA"),
            out,
        )
    value = reply.get("value")
    if value:
        what = "state" if reply.get("kind") == "crdt" else "value"
        out.write(f"{what} (version {value.get('version', 0)})  {value.get('type')}\n")
        out.write(f"  {_dumps(value.get('data'))}\n")


def _consumers(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    consumers = reply.get("consumers", [])
    if not consumers:
        out.write("no eventing consumers or views\n")
        return
    rows = [
        (
            c["consumerId"],
            c.get("kind", ""),
            c.get("source", ""),
            c.get("offset", "0"),
            c.get("headOffset", "0"),
            c.get("pending", "0"),
            f"{c.get('lagSeconds', 0):.1f}s",
            c.get("parked", "0"),
            c.get("lastError", ""),
        )
        for c in consumers
    ]
    header = (
        *("CONSUMER", "KIND", "SOURCE", "OFFSET", "HEAD", "PENDING", "LAG", "PARKED"),
        "LAST ERROR",
    )
    table(rows, header, out)


def _tasks(key: str, empty: str) -> Callable[[dict[str, Any], argparse.Namespace, TextIO], None]:
    def render(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
        tasks = reply.get(key, [])
        if not tasks:
            out.write(empty + "\n")
            return
        when = "failedAt" if key == "deadLetters" else "due"
        rows = [
            (
                t["name"],
                t.get("target", ""),
                t.get(when, "-"),
                t.get("attempts", 0),
                t.get("lastError", ""),
            )
            for t in tasks
        ]
        header = ("NAME", "TARGET", "FAILED AT" if when == "failedAt" else "DUE")
        table(rows, (*header, "ATTEMPTS", "LAST ERROR"), out)

    return render


def _redriven(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    names = reply.get("redriven", [])
    for name in names:
        out.write(f"redriven {name}: pending again, delivered at once\n")
    if not names:
        out.write("no dead letters\n")


def _dropped(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    out.write(f"dropped {reply.get('dropped', args.name)}\n")


def _deleted(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    out.write(
        f"deleted {reply.get('service')} / {reply.get('entityId')}: tombstone at sequence "
        f"{reply.get('tombstoneSequence')}, events purged at {reply.get('purgeAt')}\n"
    )


OPS: dict[str, Op] = {
    "services": Op("GET", lambda a: "/v1/services", _services),
    "entities": Op(
        "GET",
        lambda a: (
            f"/v1/services/{_q(a.service)}/entities"
            + _query(prefix=a.prefix, page_size=a.page_size, page_token=a.page_token)
        ),
        _entities,
    ),
    "entity": Op(
        "GET",
        lambda a: "/v1/entity" + _query(service=a.service, entity_id=a.entity_id, limit=a.limit),
        _entity,
    ),
    "consumers": Op("GET", lambda a: "/v1/consumers", _consumers),
    "timers": Op(
        "GET",
        lambda a: "/v1/timers" + _query(prefix=a.prefix, limit=a.limit),
        _tasks("timers", "no pending timers, durable calls or schedule ticks"),
    ),
    "dead-letters": Op(
        "GET",
        lambda a: "/v1/dead-letters" + _query(limit=a.limit),
        _tasks("deadLetters", "no dead letters"),
    ),
    "redrive": Op(
        "POST",
        lambda a: "/v1/dead-letters:redrive",
        _redriven,
        body=lambda a: {"name": a.name or "", "all": bool(a.all)},
    ),
    "drop": Op(
        "POST", lambda a: "/v1/dead-letters:drop", _dropped, body=lambda a: {"name": a.name}
    ),
    "delete-entity": Op(
        "DELETE",
        lambda a: f"/v1/services/{_q(a.service)}/entities/{_q(a.entity_id)}",
        _deleted,
    ),
    **admin_eventing.OPS,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ops = parser.add_subparsers(dest="admin_command", required=True, metavar="OPERATION")
    subs = {
        "services": ops.add_parser("services", help="the services with their kind"),
        "entities": ops.add_parser("entities", help="a service's entity ids, a page at a time"),
        "entity": ops.add_parser("entity", help="one entity: journal, snapshot, value or state"),
        "consumers": ops.add_parser("consumers", help="eventing consumers: offset, head, lag"),
        "timers": ops.add_parser("timers", help="pending timers, durable effects, ticks"),
        "dead-letters": ops.add_parser("dead-letters", help="durable dead letters"),
        "redrive": ops.add_parser("redrive", help="make dead letters pending again"),
        "drop": ops.add_parser("drop", help="delete a dead letter for good"),
        "delete-entity": ops.add_parser(
            "delete-entity",
            help="delete an event-sourced entity (its events purged after --deletion-grace)",
        ),
    }
    for name in ("entities", "entity", "delete-entity"):
        subs[name].add_argument(
            "service", help="full name, last part (ShoppingCart) or persistence id"
        )
    subs["entities"].add_argument("--prefix", default="", help="only ids starting with it")
    subs["entities"].add_argument("--page-size", type=int, default=0, metavar="N")
    subs["entities"].add_argument("--page-token", default="", metavar="TOKEN")
    subs["entity"].add_argument("entity_id")
    subs["delete-entity"].add_argument("entity_id")
    subs["entity"].add_argument("--limit", type=int, default=0, help="the last N events")
    subs["timers"].add_argument("--prefix", default="", help="timer:, effect: or schedule:")
    for name in ("timers", "dead-letters"):
        subs[name].add_argument("--limit", type=int, default=0, metavar="N")
    subs["redrive"].add_argument("name", nargs="?", help="the dead letter's name")
    subs["redrive"].add_argument("--all", action="store_true", help="every dead letter")
    subs["drop"].add_argument("name", help="the dead letter's name")
    subs.update(admin_eventing.add_arguments(ops))
    for sub in subs.values():
        add_connection_arguments(sub)


def add_connection_arguments(sub: argparse.ArgumentParser) -> None:
    """``--admin``, ``--token``, ``--ca`` and ``--json`` (every admin-API command has them)."""
    sub.add_argument(
        "--admin",
        metavar="URL",
        help=f"the proxy's admin port (default $CLOUDSTATE_ADMIN or {DEFAULT_ADMIN}); "
        "https:// when it has --admin-tls-cert",
    )
    sub.add_argument("--token", metavar="JWT", help="bearer token (default $CLOUDSTATE_TOKEN)")
    sub.add_argument("--ca", metavar="PEM", help="with https: the CA to trust")
    sub.add_argument("--json", action="store_true", help="print the reply as JSON")


def run_from_args(args: argparse.Namespace) -> int:
    if args.admin_command == "redrive" and bool(args.name) == bool(args.all):
        print("error: give the name of one dead letter, or --all", file=sys.stderr)
        return USAGE
    problem = admin_eventing.usage_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return USAGE
    return run_op(OPS[args.admin_command], args)


def run_op(op: Op, args: argparse.Namespace) -> int:
    """Call ``op`` on the admin port ``args`` name; print its reply (table or ``--json``)."""
    base = (args.admin or os.environ.get("CLOUDSTATE_ADMIN") or DEFAULT_ADMIN).rstrip("/")
    if "://" not in base:
        base = "http://" + base
    token = args.token or os.environ.get("CLOUDSTATE_TOKEN") or ""
    url = base + op.path(args)
    status, reply = request(op.method, url, op.body(args) if op.body else None, token, args.ca)
    if status != 200:
        message = reply.get("message", "") if isinstance(reply, dict) else str(reply)
        print(f"error: {message or 'no message'} (HTTP {status})", file=sys.stderr)
        if status == 401:
            print("hint: pass a valid token: --token JWT or $CLOUDSTATE_TOKEN", file=sys.stderr)
            return UNAUTHENTICATED
        return FAILED
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    else:
        op.render(reply, args, sys.stdout)
    return 0


def request(
    method: str, url: str, body: dict[str, Any] | None, token: str, ca: str | None
) -> tuple[int, Any]:
    """(HTTP status, parsed JSON reply); status 0 when the admin port cannot be reached."""
    headers = {"accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    context = ssl.create_default_context(cafile=ca) if ca else None
    call = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30, context=context) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return int(error.code), json.loads(text)
        except ValueError:
            return int(error.code), {"message": text.decode("utf-8", "replace").strip()}
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return 0, {
            "message": f"cannot reach the admin port at {url}: {reason}; is the proxy running "
            "with --admin-port, and is --admin right?"
        }
