"""``cloudstate eventing``: dead letters, replays and view rebuilds of eventing consumers.

::

    cloudstate eventing dead-letters [CONSUMER] --store sqlite:///data/cloudstate.db
    cloudstate eventing redrive event_log:ledger:evtest.Projection 5007   # one, by offset
    cloudstate eventing redrive event_log:ledger:evtest.Projection --all
    cloudstate eventing discard event_log:ledger:evtest.Projection 5007
    cloudstate eventing position event_log:ledger:evtest.Projection
    cloudstate eventing reset event_log:ledger:evtest.Projection --to-beginning
    cloudstate eventing reset topic:orders:shop.Log --to-time 2026-12-01T00:00:00Z
    cloudstate eventing reset topic:orders:shop.Log --to-offset 1200
    cloudstate eventing rebuild 'evtest.Balances/balances/1a2b3c'

A consumer is named by its offset key (``event_log:<persistence id>:<group>``,
``topic:<topic>:<group>``, ``view:...`` for a view), as the ``consumer`` label of the
``cloudstate_eventing_*`` metrics shows it. Everything works on SQLite and PostgreSQL stores,
also while proxies run: they pick the change up within a second (docs/eventing.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
from typing import Any, TextIO

from cloudstate.tools.inspector import DEFAULT_STORE, _timestamp, check_store_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="eventing_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "dead-letters", help="list parked messages: consumer, offset, event, attempts, error"
    )
    listing.add_argument("consumer", nargs="?", default="", help="only this consumer's")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.add_argument("--limit", type=int, default=1000, metavar="N", help="at most N")
    redrive = actions.add_parser(
        "redrive", help="deliver parked messages again (the running consumer picks them up)"
    )
    discard = actions.add_parser("discard", help="delete parked messages for good")
    for sub in (redrive, discard):
        sub.add_argument("consumer", help="the consumer (see dead-letters)")
        sub.add_argument("offset", nargs="?", type=int, help="the parked message's offset")
        sub.add_argument("--all", action="store_true", help="every message of the consumer")
    position = actions.add_parser("position", help="a consumer's offset and reset generation")
    position.add_argument("consumer")
    reset = actions.add_parser(
        "reset", help="move a consumer's offset: replay from the start, a time or an offset"
    )
    reset.add_argument("consumer")
    where = reset.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-beginning", action="store_true", help="replay everything")
    where.add_argument("--to-offset", type=int, metavar="N", help="continue after offset N")
    where.add_argument(
        "--to-time",
        metavar="TIME",
        help="replay from the first event stored at or after TIME (ISO 8601, or seconds since "
        "the epoch)",
    )
    rebuild = actions.add_parser(
        "rebuild", help="rebuild view tables from the start; old rows answer until caught up"
    )
    rebuild.add_argument("tables", nargs="+", metavar="TABLE_ID", help="<service>/<table>/<sig>")
    for sub in (listing, redrive, discard, position, reset, rebuild):
        sub.add_argument(
            "--store",
            metavar="URL",
            help=f"the store: sqlite:///PATH or postgresql://... (default $CLOUDSTATE_STORE or "
            f"{DEFAULT_STORE})",
        )


def run_from_args(args: argparse.Namespace) -> int:
    store_url = args.store or os.environ.get("CLOUDSTATE_STORE") or DEFAULT_STORE
    problem = check_store_url(store_url)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    command = args.eventing_command
    if command in ("redrive", "discard") and (args.offset is None) == (not args.all):
        print("error: give the offset of one parked message, or --all", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(store_url, args, sys.stdout))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        print(f"error: cannot use {store_url}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


async def _run(store_url: str, args: argparse.Namespace, out: TextIO) -> int:
    from cloudstate.proxy.eventing.operations import EventingOperations
    from cloudstate.proxy.stores.registry import open_store

    store = await open_store(store_url)
    try:
        ops = EventingOperations(store)
        command = args.eventing_command
        if command == "dead-letters":
            messages = [_parked(m) for m in await ops.dead_letters(args.consumer, args.limit)]
            if args.json:
                out.write(json.dumps({"dead_letters": messages}, indent=2) + "\n")
            else:
                render(messages, out)
            return 0
        if command in ("redrive", "discard"):
            operation = ops.redrive if command == "redrive" else ops.discard
            count = await operation(args.consumer, None if args.all else args.offset)
            done = "marked for redrive" if command == "redrive" else "discarded"
            out.write(f"{count} parked message(s) of {args.consumer} {done}\n")
            return 0 if count else 1
        if command == "position":
            where = await ops.position(args.consumer)
            out.write(f"{args.consumer}: offset {where.offset}, generation {where.generation}\n")
            return 0
        if command == "reset":
            if args.to_beginning:
                where = await ops.reset_to_beginning(args.consumer)
            elif args.to_offset is not None:
                where = await ops.reset_to_offset(args.consumer, args.to_offset)
            else:
                where = await ops.reset_to_time(args.consumer, parse_time(args.to_time))
            out.write(
                f"{args.consumer} reset: it continues after offset {where.offset} "
                f"(generation {where.generation})\n"
            )
            return 0
        generation = await ops.rebuild_view(args.tables)
        out.write(
            f"rebuilding {', '.join(args.tables)} into generation {generation}: the current rows "
            "answer queries until the new ones are caught up\n"
        )
        return 0
    finally:
        await store.close()


def parse_time(text: str) -> float:
    """Seconds since the epoch from ISO 8601 (UTC unless it says otherwise) or a number."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--to-time {text!r}: ISO 8601 (2026-12-01T00:00:00Z) or seconds since the epoch"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def _parked(message: Any) -> dict[str, Any]:
    return {
        "consumer": message.consumer_id,
        "offset": message.offset,
        "key": message.key,
        "what": message.what,
        "type_url": message.payload.type_url,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "failed_at": _timestamp(message.failed_at),
        "redrive_requested": message.redrive,
    }


def render(messages: list[dict[str, Any]], out: TextIO) -> None:
    """The text form: one block per parked message."""
    if not messages:
        out.write("no parked messages\n")
        return
    for message in messages:
        redrive = " (redrive requested)" if message["redrive_requested"] else ""
        out.write(f"{message['consumer']} @ {message['offset']}: {message['what']}{redrive}\n")
        out.write(f"  failed {message['attempts']} times, last at {message['failed_at']}\n")
        out.write(f"  last error: {message['last_error'] or '(none)'}\n")
    out.write(
        f"{len(messages)} parked message(s): cloudstate eventing redrive CONSUMER OFFSET (or "
        "--all) delivers again; discard CONSUMER OFFSET forgets one\n"
    )
