"""``cloudstate durable``: the dead letters of durable calls and timers, and what to do with them.

::

    cloudstate durable dead-letters --store sqlite:///data/cloudstate.db
    cloudstate durable redrive 'timer:expire-t1'      # back to pending, delivered at once
    cloudstate durable redrive --all
    cloudstate durable drop 'effect:8d0c...'          # forget it

A dead letter is a durable side effect, timer or schedule tick whose deliveries failed
``--durable-max-attempts`` times (docs/protocol-durable-calls.md). Redriving one makes it pending
again with its attempts reset and its idempotency key unchanged, so an entity that did apply an
earlier delivery still applies it once. Works on SQLite and PostgreSQL stores, also while
proxies run (they pick redriven tasks up within a second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO

from cloudstate.tools.inspector import DEFAULT_STORE, _timestamp, check_store_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="durable_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "dead-letters",
        help="list the dead letters: name, target, attempts, last error, when they died",
    )
    listing.add_argument(
        "--json", action="store_true", help="print one JSON document instead of text"
    )
    listing.add_argument(
        "--limit", type=int, default=1000, metavar="N", help="show at most N (newest first)"
    )
    redrive = actions.add_parser(
        "redrive", help="make dead letters pending again (delivered at once, attempts reset)"
    )
    redrive.add_argument("name", nargs="?", help="the dead letter's name (see dead-letters)")
    redrive.add_argument("--all", action="store_true", help="redrive every dead letter")
    drop = actions.add_parser("drop", help="delete a dead letter for good")
    drop.add_argument("name", help="the dead letter's name (see dead-letters)")
    for sub in (listing, redrive, drop):
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
    command = args.durable_command
    if command == "redrive" and bool(args.name) == bool(args.all):
        print("error: give the name of one dead letter, or --all", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(store_url, args, sys.stdout))
    except Exception as e:
        print(f"error: cannot use {store_url}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


async def _run(store_url: str, args: argparse.Namespace, out: TextIO) -> int:
    from cloudstate.proxy.stores.registry import open_store

    store = await open_store(store_url)
    try:
        command = args.durable_command
        if command == "dead-letters":
            letters = await store.list_dead_letters(limit=args.limit)
            document = [_dead_letter(letter) for letter in letters]
            if args.json:
                out.write(json.dumps({"dead_letters": document}, indent=2) + "\n")
            else:
                render_dead_letters(document, out)
            return 0
        if command == "drop":
            if await store.drop_dead_letter(args.name):
                out.write(f"dropped {args.name}\n")
                return 0
            out.write(_missing(args.name))
            return 1
        names = (
            [letter.task.name for letter in await store.list_dead_letters(limit=1_000_000)]
            if args.all
            else [args.name]
        )
        missing = 0
        for name in names:
            if await store.redrive_dead_letter(name, time.time()):
                out.write(f"redriven {name}: pending again, delivered at once\n")
            else:
                out.write(_missing(name))
                missing += 1
        if args.all and not names:
            out.write("no dead letters\n")
        return 1 if missing else 0
    finally:
        await store.close()


def _missing(name: str) -> str:
    return f"no dead letter named {name!r} (see: cloudstate durable dead-letters)\n"


def _dead_letter(letter: Any) -> dict[str, Any]:
    task = letter.task
    return {
        "name": task.name,
        "key": task.key,
        "target": f"{task.service}.{task.method}",
        "attempts": task.attempts,
        "last_error": task.last_error,
        "due": _timestamp(task.due),
        "failed_at": _timestamp(letter.failed_at),
    }


def render_dead_letters(letters: list[dict[str, Any]], out: TextIO) -> None:
    """The text form: one block per dead letter, newest first."""
    if not letters:
        out.write("no dead letters\n")
        return
    for letter in letters:
        out.write(f"{letter['name']}  -> {letter['target']}\n")
        out.write(f"  failed {letter['attempts']} times, last at {letter['failed_at']}\n")
        out.write(f"  last error: {letter['last_error'] or '(none)'}\n")
    out.write(
        f"{len(letters)} dead letter(s): cloudstate durable redrive NAME (or --all) delivers "
        "again; drop NAME forgets one\n"
    )
