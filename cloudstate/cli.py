"""The ``cloudstate`` command: run the proxy, or a user function together with a proxy, and
the developer tools (``inspect``, ``durable``, ``admin``, ``workflows``, ``call``, ``tck``).

cloudstate proxy --user-function 127.0.0.1:8080 --port 9000 --store sqlite:///data/cs.db
cloudstate run shoppingcart.shopping_cart --path examples/shoppingcart --port 9000 --reload
cloudstate call ShoppingCart.AddItem '{"user_id": "alice", "product_id": "apple", "quantity": 1}'
cloudstate inspect --store sqlite:///data/cs.db shopping-cart alice
cloudstate durable dead-letters --store sqlite:///data/cs.db
cloudstate admin entity ShoppingCart alice --admin http://127.0.0.1:9090
cloudstate eventing dead-letters --store sqlite:///data/cs.db
cloudstate workflows list orders --admin http://127.0.0.1:9090
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Sequence

from cloudstate.proxy import cli as proxy_cli
from cloudstate.proxy import config as proxy_config
from cloudstate.proxy import event_loop, ports


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: ``cloudstate run`` gives up on a user function that does not answer within this many seconds
#: (``--discovery-timeout``; ``cloudstate proxy``, a sidecar, waits as long as it takes).
RUN_DISCOVERY_TIMEOUT = 30.0


def _cmd_run(args: argparse.Namespace) -> int:
    """Start the user function module as a child process and a proxy in front of it."""
    from cloudstate.tools import devserver

    _console_by_default(args)
    config = proxy_cli.load(args)
    ports.ensure_free(config)
    if args.user_function_port:
        ports.check_free("user_function_port", "127.0.0.1", args.user_function_port)
    if config.workers > 1 and args.reload:
        raise proxy_config.ConfigError(["--reload runs one proxy process: leave out --workers"])
    if config.workers > 1:  # N user functions, N proxy workers
        from cloudstate.tools import run_workers

        uf_port = args.user_function_port or run_workers.consecutive_free_ports(config.workers)
        return run_workers.serve(args.module, args.path, uf_port, config)
    uf_port = args.user_function_port or _free_port()
    config.user_function = f"127.0.0.1:{uf_port}"
    if config.tracing:  # the user function (a child, inheriting the environment) traces too
        os.environ.setdefault("CLOUDSTATE_TRACING", "1")
    try:
        if args.reload:
            from pathlib import Path

            watch = [Path(p).resolve() for p in (args.watch or [args.path or "."])]
            event_loop.run(
                devserver.serve_with_reload(
                    args.module, args.path, uf_port, config, watch, describe_services
                )
            )
            return 0
        return event_loop.run(
            devserver.serve(args.module, args.path, uf_port, config, describe_services)
        )
    except KeyboardInterrupt:
        return 0


def _console_by_default(args: argparse.Namespace) -> None:
    """``cloudstate run`` is for development: the console is on (unless ``--no-console`` or
    ``CLOUDSTATE_CONSOLE=0``), on a free admin port when none is given."""
    if args.console is None:
        setting = os.environ.get("CLOUDSTATE_CONSOLE", "")
        args.console = not setting or setting.lower() in ("1", "true", "yes", "on")
    if args.console and args.admin_port is None and not os.environ.get("CLOUDSTATE_ADMIN_PORT"):
        args.admin_port = 0


def describe_services(model: object, host: str, port: int) -> str:
    """A readable list of what is served and how to call it."""
    from cloudstate.proxy.model import UserFunctionModel

    assert isinstance(model, UserFunctionModel)
    lines = [f"Cloudstate proxy ready on {host}:{port} (gRPC, with server reflection)"]
    for service in model.services.values():
        kind = service.entity_type.rsplit(".", 1)[-1]
        if service.entity_type.endswith(".ActionProtocol"):  # stateless: no persistence id
            lines.append(f"  {service.name}  [{kind}]")
        else:
            lines.append(f"  {service.name}  [{kind}, persistence id {service.persistence_id}]")
        for method in service.methods.values():
            stream_in = "stream " if method.client_streaming else ""
            stream_out = "stream " if method.server_streaming else ""
            lines.append(
                f"    rpc {method.name}({stream_in}{method.input_type.full_name}) "
                f"returns ({stream_out}{method.output_type.full_name})"
            )
    lines.append(f"Call it with any gRPC client, e.g. grpcurl -plaintext {host}:{port} list")
    return "\n".join(lines)


_EXAMPLES = """\
examples:
  cloudstate run shoppingcart.shopping_cart --path examples/shoppingcart --reload
                     user function + proxy on :9000, restarted when the code changes
  cloudstate call    list what the proxy on :9000 serves
  cloudstate call ShoppingCart.AddItem '{"user_id": "alice", "product_id": "apple", "quantity": 1}'
  cloudstate inspect --store sqlite:///data/cloudstate.db shopping-cart alice
  cloudstate proxy --user-function 127.0.0.1:8080 --store sqlite:///data/cloudstate.db

'cloudstate COMMAND --help' describes each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudstate",
        description="Cloudstate for Python: the proxy and the developer tools.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    proxy = commands.add_parser(
        "proxy",
        help="run the proxy in front of a running user function",
        description=proxy_cli.DESCRIPTION,
    )
    proxy_config.add_arguments(proxy)
    proxy.set_defaults(func=proxy_cli.run)
    run = commands.add_parser(
        "run",
        help="run a user function module together with a proxy (development)",
        description="Start `python -m MODULE` as the user function (HOST/PORT set for it) and a "
        "proxy in front of it. Stops both on Ctrl-C.",
    )
    run.add_argument("module", help="the user function's module, e.g. shoppingcart.shopping_cart")
    run.add_argument("--path", help="directory to put on the user function's PYTHONPATH")
    run.add_argument(
        "--user-function-port", type=int, help="port for the user function (default: free)"
    )
    run.add_argument(
        "--reload",
        action="store_true",
        help="restart the user function when a .py file changes (the proxy keeps running)",
    )
    run.add_argument(
        "--watch",
        action="append",
        metavar="DIR",
        help="with --reload: directory to watch (repeatable; default: --path, else the current "
        "directory)",
    )
    proxy_config.add_arguments(run, discovery_timeout=RUN_DISCOVERY_TIMEOUT)
    run.set_defaults(func=_cmd_run)
    tck = commands.add_parser(
        "tck",
        help="run the conformance kit against a language support or a proxy",
        description="Check a user function (language-support) or a proxy (proxy) against the "
        "Cloudstate protocol; see docs/tck.md.",
    )
    from cloudstate.tck.cli import add_arguments as add_tck_arguments
    from cloudstate.tck.cli import run_from_args as run_tck

    add_tck_arguments(tck)
    tck.set_defaults(func=run_tck)
    inspect = commands.add_parser(
        "inspect",
        help="show what a store holds: entity types, ids, journals, snapshots, values, timers",
        description="Read a store (never writing to it) and show its contents decoded to JSON. "
        "No argument: the entity types; PERSISTENCE_ID: its entity ids; PERSISTENCE_ID "
        "ENTITY_ID: that entity's snapshot, journal and value; 'timers': the pending timers, "
        "durable calls and schedule ticks; 'workflows [PERSISTENCE_ID]': the workflows.",
        epilog="example: cloudstate inspect --store sqlite:///data/cloudstate.db "
        "--module shoppingcart.shopping_cart --path examples/shoppingcart shopping-cart alice",
    )
    from cloudstate.tools import inspector

    inspector.add_arguments(inspect)
    inspect.set_defaults(func=inspector.run_from_args)
    durable = commands.add_parser(
        "durable",
        help="list, redrive or drop the dead letters of durable calls and timers",
        description="Dead letters are durable side effects, timers and schedule ticks whose "
        "deliveries failed --durable-max-attempts times. List them, make them pending again "
        "(redrive) or delete them (drop); see docs/protocol-durable-calls.md.",
        epilog="example: cloudstate durable dead-letters --store sqlite:///data/cloudstate.db",
    )
    from cloudstate.tools import durable as durable_tool

    durable_tool.add_arguments(durable)
    durable.set_defaults(func=durable_tool.run_from_args)
    admin = commands.add_parser(
        "admin",
        help="the admin API of a running proxy: entities, consumers, timers, dead letters",
        description="Ask a running proxy's admin port (--admin-port) what it holds and does: "
        "services, entity ids (paged), one entity decoded to JSON, eventing consumers with "
        "their lag, pending timers and durable calls, dead letters (redrive, drop). Tables, or "
        "--json; see docs/admin.md.",
        epilog="example: cloudstate admin entity ShoppingCart alice --admin http://127.0.0.1:9090",
    )
    from cloudstate.tools import admin as admin_tool

    admin_tool.add_arguments(admin)
    admin.set_defaults(func=admin_tool.run_from_args)
    eventing = commands.add_parser(
        "eventing",
        help="dead letters, replays and view rebuilds of eventing consumers",
        description="Parked messages (dead letters) of eventing consumers and views: list, "
        "redrive or discard them; move a consumer's offset (reset: replay from the beginning, "
        "a time or an offset); rebuild view tables. See docs/eventing.md and docs/views.md.",
        epilog="example: cloudstate eventing dead-letters --store sqlite:///data/cloudstate.db",
    )
    from cloudstate.tools import eventing as eventing_tool

    eventing_tool.add_arguments(eventing)
    eventing.set_defaults(func=eventing_tool.run_from_args)
    workflows = commands.add_parser(
        "workflows",
        help="the workflows of a running proxy: list, show, suspend, resume, cancel",
        description="Through a running proxy's admin API (--admin-port): a workflow service's "
        "workflows, one workflow's record (state decoded to JSON, input, attempt, history), and "
        "the operator controls. Tables, or --json; see docs/workflows.md#operating-workflows.",
        epilog="example: cloudstate workflows suspend orders o1 --reason 'stuck payment' "
        "--admin http://127.0.0.1:9090",
    )
    from cloudstate.tools import workflows as workflows_tool

    workflows_tool.add_arguments(workflows)
    workflows.set_defaults(func=workflows_tool.run_from_args)
    call = commands.add_parser(
        "call",
        help="call a method through the proxy with a JSON request",
        description="Invoke a method of a service the proxy serves, finding its types through "
        "server reflection, and print the reply as JSON. Without METHOD: list the methods.",
        epilog="example: cloudstate call ShoppingCart.AddItem "
        '\'{"user_id": "alice", "product_id": "apple", "name": "Apple", "quantity": 1}\'',
    )
    from cloudstate.tools import call as call_tool

    call_tool.add_arguments(call)
    call.set_defaults(func=call_tool.run_from_args)
    return parser


#: The exit status of a command whose reader went away (``cloudstate inspect ... | head``):
#: 128 + SIGPIPE, as a shell reports any command stopped that way.
CLOSED_PIPE_STATUS = 141


def _to_a_pipe_that_may_close(command: Callable[[], int]) -> int:
    """Run ``command``; if its standard output is a pipe whose reader stopped reading (``| head``),
    stop quietly with :data:`CLOSED_PIPE_STATUS` instead of a ``BrokenPipeError`` traceback."""
    try:
        status = command()
        sys.stdout.flush()  # output that fitted the buffer meets the closed pipe only here
        return status
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush is quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return CLOSED_PIPE_STATUS


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from cloudstate.tools.diagnose import StartupError

    subcommand = getattr(args, "command", None)
    command = " ".join(filter(None, ["cloudstate", subcommand]))
    try:
        sys.exit(_to_a_pipe_that_may_close(lambda: int(args.func(args))))
    except proxy_cli.StartError as error:
        proxy_cli.exit_on_start_error(command, error, subcommand or "")
    except StartupError as error:
        print(f"{command}: error: {error}", file=sys.stderr)
        sys.exit(error.status)


if __name__ == "__main__":
    main()
