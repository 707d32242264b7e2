"""``cloudstate admin`` operations on eventing consumers and views: their parked messages (list,
redrive, discard), resets and view rebuilds, over the admin API's HTTP/JSON routes
(cloudstate/proxy/admin/eventing.py).

::

    cloudstate admin consumer-dead-letters event_log:ledger:evtest.Projection
    cloudstate admin consumer-redrive event_log:ledger:evtest.Projection 5007   # or --all
    cloudstate admin consumer-discard event_log:ledger:evtest.Projection 5007   # or --all
    cloudstate admin reset event_log:ledger:evtest.Projection --to-beginning
    cloudstate admin rebuild --service PopularProducts --table products          # or CONSUMER
    cloudstate admin rebuilds
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any, TextIO

from cloudstate.tools.admin_common import Op, Render, table
from cloudstate.tools.admin_common import dumps as _dumps
from cloudstate.tools.admin_common import query as _query
from cloudstate.tools.eventing import parse_time


def _parked(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    parked = reply.get("parked", [])
    if not parked:
        out.write("no parked messages\n")
        return
    for m in parked:
        redrive = " (redrive requested)" if m.get("redrive") else ""
        out.write(f"{m['consumerId']} @ {m['offset']}: {m.get('what', '')}{redrive}\n")
        out.write(f"  {m.get('type', '')} {_dumps(m.get('data'))}\n")
        out.write(f"  failed {m.get('attempts', 0)} times, last at {m.get('failedAt', '-')}\n")
        out.write(f"  last error: {m.get('lastError') or '(none)'}\n")
    out.write(
        f"{len(parked)} parked message(s): cloudstate admin consumer-redrive CONSUMER OFFSET "
        "(or --all) delivers again; consumer-discard CONSUMER OFFSET forgets one\n"
    )


def _parked_changed(done: str) -> Render:
    def render(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
        offsets = reply.get("offsets", [])
        where = ", ".join(str(o) for o in offsets)
        out.write(f"{len(offsets)} parked message(s) of {args.consumer} {done}: {where or '-'}\n")

    return render


def _reset(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    out.write(
        f"{reply.get('consumerId', args.consumer)} reset: it continues after offset "
        f"{reply.get('offset', '0')} (generation {reply.get('generation', '0')})\n"
    )


def _rebuild(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    out.write(
        f"rebuilding {', '.join(reply.get('tables', []))} of {reply.get('consumerId')} into "
        f"generation {reply.get('generation', '0')}: the current rows answer queries until the "
        "new ones are caught up (progress: cloudstate admin rebuilds)\n"
    )


def _rebuilds(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    rebuilds = reply.get("rebuilds", [])
    if not rebuilds:
        out.write("no view rebuilds running\n")
        return
    rows = [
        (
            r["consumerId"],
            ",".join(r.get("tables", [])),
            r.get("generation", "0"),
            r.get("offset", "0"),
            r.get("headOffset", "0"),
            r.get("pending", "0"),
            f"{r.get('lagSeconds', 0):.1f}s",
            r.get("started", "-"),
        )
        for r in rebuilds
    ]
    header = ("CONSUMER", "TABLES", "GENERATION", "OFFSET", "HEAD", "PENDING", "LAG", "STARTED")
    table(rows, header, out)


def _reset_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"consumer_id": args.consumer}
    if args.to_beginning:
        body["beginning"] = True
    elif args.to_offset is not None:
        body["offset"] = args.to_offset
    else:
        when = datetime.datetime.fromtimestamp(parse_time(args.to_time), tz=datetime.UTC)
        body["time"] = when.isoformat().replace("+00:00", "Z")
    return body


def _one_or_all(args: argparse.Namespace) -> dict[str, Any]:
    return {"consumer_id": args.consumer, "offset": args.offset or 0, "all": bool(args.all)}


OPS: dict[str, Op] = {
    "consumer-dead-letters": Op(
        "GET",
        lambda a: "/v1/parked-messages" + _query(consumer_id=a.consumer, limit=a.limit),
        _parked,
    ),
    "consumer-redrive": Op(
        "POST",
        lambda a: "/v1/parked-messages:redrive",
        _parked_changed("marked for redrive (delivered again at once)"),
        body=_one_or_all,
    ),
    "consumer-discard": Op(
        "POST",
        lambda a: "/v1/parked-messages:discard",
        _parked_changed("discarded"),
        body=_one_or_all,
    ),
    "reset": Op("POST", lambda a: "/v1/consumers:reset", _reset, body=_reset_body),
    "rebuild": Op(
        "POST",
        lambda a: "/v1/views:rebuild",
        _rebuild,
        body=lambda a: {
            "consumer_id": a.consumer or "",
            "service": a.service or "",
            "table": a.table or "",
        },
    ),
    "rebuilds": Op("GET", lambda a: "/v1/views/rebuilds", _rebuilds),
}


def add_arguments(
    ops: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> dict[str, argparse.ArgumentParser]:
    subs = {
        "consumer-dead-letters": ops.add_parser(
            "consumer-dead-letters", help="messages eventing consumers and views parked"
        ),
        "consumer-redrive": ops.add_parser(
            "consumer-redrive", help="deliver a consumer's parked messages again"
        ),
        "consumer-discard": ops.add_parser(
            "consumer-discard", help="delete a consumer's parked messages for good"
        ),
        "reset": ops.add_parser(
            "reset", help="move a consumer's offset: replay from the start, a time or an offset"
        ),
        "rebuild": ops.add_parser(
            "rebuild", help="rebuild a view from the start; old rows answer until caught up"
        ),
        "rebuilds": ops.add_parser("rebuilds", help="running view rebuilds and their progress"),
    }
    subs["consumer-dead-letters"].add_argument(
        "consumer", nargs="?", default="", help="only this consumer's (cloudstate admin consumers)"
    )
    subs["consumer-dead-letters"].add_argument("--limit", type=int, default=0, metavar="N")
    for name in ("consumer-redrive", "consumer-discard"):
        subs[name].add_argument("consumer", help="the consumer (cloudstate admin consumers)")
        subs[name].add_argument("offset", nargs="?", type=int, help="the parked message's offset")
        subs[name].add_argument("--all", action="store_true", help="every one of the consumer's")
    subs["reset"].add_argument("consumer", help="an eventing consumer (not a view's: rebuild)")
    where = subs["reset"].add_mutually_exclusive_group(required=True)
    where.add_argument("--to-beginning", action="store_true", help="replay everything")
    where.add_argument("--to-offset", type=int, metavar="N", help="continue after offset N")
    where.add_argument(
        "--to-time", metavar="TIME", help="from this time on (ISO 8601, or seconds since epoch)"
    )
    subs["rebuild"].add_argument("consumer", nargs="?", help="the view consumer's id")
    subs["rebuild"].add_argument("--service", help="or the view service (e.g. PopularProducts)")
    subs["rebuild"].add_argument("--table", help="... and one of its tables")
    return subs


def usage_problem(args: argparse.Namespace) -> str:
    """What is wrong with the arguments of an eventing operation ("": nothing)."""
    command = args.admin_command
    if command in ("consumer-redrive", "consumer-discard") and (
        (args.offset is None) == (not args.all)
    ):
        return "give the offset of one parked message, or --all"
    if command == "rebuild" and bool(args.consumer) == bool(args.service and args.table):
        return "give the view consumer's id, or --service and --table"
    if command == "reset" and args.to_time is not None:
        try:
            parse_time(args.to_time)
        except ValueError as error:
            return str(error)
    return ""
