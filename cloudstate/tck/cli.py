"""``cloudstate tck``: run the conformance kit from the command line.

::

    cloudstate tck language-support --user-function 127.0.0.1:8080
    cloudstate tck proxy --start --user-function 127.0.0.1:8080
    cloudstate tck proxy --proxy 127.0.0.1:9000 --relay-port 8090 --user-function 127.0.0.1:8080
    cloudstate tck list

Exit status: 0 when no case failed, 1 when some did, 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import textwrap

import grpc

from cloudstate.tck.framework import LANGUAGE_SUPPORT, PROXY, Target, all_cases
from cloudstate.tck.report import passed
from cloudstate.tck.session import TckSettings, TckSetupError

MODEL_COMMAND = f"{sys.executable} -m cloudstate.tck.model"


def model_command(target: Target) -> str:
    """How to start our TCK model for ``target`` (the same model for both targets)."""
    return MODEL_COMMAND


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tck`` sub-commands to ``parser`` (the ``cloudstate tck`` parser)."""
    targets = parser.add_subparsers(dest="tck_target", required=True, metavar="TARGET")
    ls = targets.add_parser(
        "language-support",
        help="check a user function (language support) directly through the protocol",
        description="Drive the TCK model user function through the Cloudstate protocol, as a "
        "proxy would, and check every reply.",
    )
    _common(ls)
    proxy = targets.add_parser(
        "proxy",
        help="check a proxy in front of a TCK model user function",
        description="Call a proxy as a client and record, through a relay posing as the user "
        "function, everything the proxy and the user function exchange.",
    )
    _common(proxy)
    where = proxy.add_mutually_exclusive_group()
    where.add_argument("--proxy", metavar="HOST:PORT", help="a running proxy to check")
    where.add_argument(
        "--start", action="store_true", help="start our proxy (python -m cloudstate.proxy)"
    )
    where.add_argument(
        "--proxy-command",
        metavar="CMD",
        help="start CMD as the proxy; it gets USER_FUNCTION_HOST/USER_FUNCTION_PORT (the relay) "
        "and HTTP_PORT (where it must serve) in its environment",
    )
    proxy.add_argument(
        "--relay-port",
        type=int,
        default=0,
        help="port of the relay (the proxy's user function; default: free, required with --proxy)",
    )
    proxy.add_argument("--relay-host", default="127.0.0.1", help="interface of the relay")
    proxy.add_argument(
        "--proxy-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for our proxy with --start (repeatable)",
    )
    proxy.add_argument("--proxy-store", metavar="URL", help="store of our proxy with --start")
    proxy.add_argument(
        "--failure-status",
        default="INVALID_ARGUMENT",
        help="gRPC status the proxy gives user failures (ours: INVALID_ARGUMENT; the original "
        "Akka proxy: UNKNOWN)",
    )
    proxy.add_argument(
        "--failure-http-status",
        type=int,
        default=400,
        help="HTTP status the proxy gives user failures (ours: 400; the original: 500)",
    )
    protos = targets.add_parser(
        "protos",
        help="copy the TCK model protos (and the Cloudstate protos they import) to a directory",
    )
    protos.add_argument("out", help="directory to copy to (created if missing)")
    listing = targets.add_parser("list", help="list the cases and their original counterparts")
    listing.add_argument("-k", dest="patterns", action="append", default=[], metavar="TEXT")
    listing.add_argument(
        "--markdown", action="store_true", help="as Markdown tables, one per group (docs/tck.md)"
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user-function",
        metavar="HOST:PORT",
        help="the user function implementing the TCK model (default 127.0.0.1:8080; with "
        "--start-model / --user-function-command: a free port)",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--user-function-command",
        metavar="CMD",
        help="start CMD as the user function, with HOST and PORT (from --user-function) set",
    )
    start.add_argument(
        "--start-model",
        action="store_true",
        help="start the Python SDK's TCK model (python -m cloudstate.tck.model) as the user "
        "function",
    )
    parser.add_argument(
        "-k",
        dest="patterns",
        action="append",
        default=[],
        metavar="TEXT",
        help="only cases whose id contains TEXT (repeatable)",
    )
    parser.add_argument("--junit-xml", metavar="PATH", help="also write JUnit XML to PATH")
    parser.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait for each expected message"
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the user function and the proxy to come up",
    )
    parser.add_argument("--work-dir", help="directory for logs and our proxy's store")
    parser.add_argument("--log-level", default="WARNING", help="log level of the TCK itself")


def settings_from(args: argparse.Namespace) -> TckSettings:
    target = Target(args.tck_target)
    command = model_command(target) if args.start_model else args.user_function_command
    user_function = args.user_function
    if user_function is None:
        user_function = f"127.0.0.1:{_free_port()}" if command else "127.0.0.1:8080"
    settings = TckSettings(
        targets=(target,),
        user_function=user_function,
        user_function_command=command,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        patterns=tuple(args.patterns),
        work_dir=args.work_dir,
    )
    if target is PROXY:
        if args.proxy and not args.relay_port:
            raise SystemExit(
                "cloudstate tck proxy --proxy: also give --relay-port, the port the proxy uses "
                "as its user function"
            )
        try:
            status = grpc.StatusCode[args.failure_status.upper()]
        except KeyError:
            raise SystemExit(f"unknown gRPC status {args.failure_status!r}") from None
        settings.proxy = args.proxy
        settings.start_proxy = args.start or not (args.proxy or args.proxy_command)
        settings.proxy_command = args.proxy_command
        settings.proxy_args = tuple(args.proxy_arg)
        settings.proxy_store = args.proxy_store
        settings.relay_host = args.relay_host
        settings.relay_port = args.relay_port
        settings.failure_status = status
        settings.failure_http_status = args.failure_http_status
    return settings


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def list_cases(patterns: list[str]) -> int:
    for target in (LANGUAGE_SUPPORT, PROXY):
        for c in all_cases():
            if c.target is not target or (patterns and not any(p in c.id for p in patterns)):
                continue
            original = f"original: {c.original!r}" if c.original else "new (not in the original)"
            print(f"{c.id}\n    {original}")
            if c.requires:
                print(f"    requires: {', '.join(c.requires)}")
            print(textwrap.indent(textwrap.fill(c.description, 92), "    "))
    return 0


def markdown_tables() -> str:
    """The case list as Markdown: per group, each case's id and its original counterpart."""
    lines: list[str] = []
    group = None
    for c in all_cases():
        key = f"{c.target.value}: {c.group}"
        if key != group:
            group = key
            lines += ["", f"#### {key}", "", "| case | original counterpart |", "| --- | --- |"]
        original = f"`{c.original}`" if c.original else "new"
        lines.append(f"| `{c.id.split('/', 2)[2]}` | {original} |")
    return "\n".join(lines[1:]) + "\n"


def copy_protos(out: str) -> int:
    """Copy ``cloudstate/tck/model/*.proto`` and their Cloudstate imports under ``out``."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "protos"
    files = sorted((root / "cloudstate" / "tck" / "model").glob("*.proto"))
    files += [root / "cloudstate" / name for name in ("entity_key.proto", "eventing.proto")]
    for source in files:
        target = Path(out) / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        print(target)
    print(
        "They also import google/api/annotations.proto (googleapis) and Google's well-known types.",
        file=sys.stderr,
    )
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    """Entry point of ``cloudstate tck``; returns the exit status."""
    if args.tck_target == "protos":
        return copy_protos(args.out)
    if args.tck_target == "list":
        if args.markdown:
            print(markdown_tables(), end="")
            return 0
        return list_cases(args.patterns)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    from cloudstate.tck.runner import run

    settings = settings_from(args)
    try:
        results = asyncio.run(run(settings, sys.stdout, args.junit_xml))
    except TckSetupError as e:
        print(f"cloudstate tck: cannot start: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if passed(results) else 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="cloudstate tck", description=__doc__)
    add_arguments(parser)
    sys.exit(run_from_args(parser.parse_args()))


if __name__ == "__main__":
    main()
