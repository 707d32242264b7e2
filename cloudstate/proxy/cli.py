"""``cloudstate proxy`` and ``python -m cloudstate.proxy``: the proxy's command line.

::

    python -m cloudstate.proxy --user-function 127.0.0.1:8080 --port 9000 --store sqlite:///data/cs.db

The flags and environment variables are those of :mod:`cloudstate.proxy.config`; an unusable
setting stops the command with one line per problem (``cloudstate proxy: error: ...``) and exit
status 2. The ``cloudstate`` command (:mod:`cloudstate.cli`) adds its other commands around this
one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from cloudstate.proxy import config, config_check, event_loop, logs, ports
from cloudstate.proxy.config import ConfigError
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.stores.base import StoreError

DESCRIPTION = "Discover the user function, then serve its services to clients."


def load(args: argparse.Namespace) -> config.ProxyConfig:
    """The checked config of parsed flags and the environment, with logging set up by it."""
    loaded = config_check.load(args)
    logs.configure(loaded.log_level, loaded.log_format)
    return loaded


def run(args: argparse.Namespace) -> int:
    """Run the proxy the parsed flags describe until SIGTERM or SIGINT.

    Raises :class:`~cloudstate.proxy.ports.ListenError` for a port it cannot listen on and
    :class:`~cloudstate.proxy.errors.DiscoveryError` when the user function never answers.
    """
    from cloudstate.proxy.server import Proxy

    loaded = load(args)
    ports.ensure_free(loaded)
    if loaded.workers > 1:  # a parent of N proxies (docs/scale-out.md, "Workers on one node")
        from cloudstate.proxy.workers.supervisor import Supervisor

        return Supervisor(loaded).run()
    proxy = Proxy(loaded)
    try:
        event_loop.run(proxy.run_until_signalled())
    except KeyboardInterrupt:
        pass
    return 0


#: What stops the proxy's start with a one-line message instead of a traceback (a store that
#: cannot be opened, or is refused as damaged or foreign, is a StoreError).
StartError = (ConfigError, ports.ListenError, DiscoveryError, StoreError)


def exit_on_start_error(
    command: str,
    error: ConfigError | ports.ListenError | DiscoveryError | StoreError,
    subcommand: str = "proxy",
) -> NoReturn:
    """Print ``error`` as ``COMMAND: error: ...`` (one line per problem) and exit: status 2 for
    a setting (a bad flag, a busy port), 1 for a user function that was never discovered or a
    store that cannot be used."""
    if isinstance(error, ConfigError):
        for problem in error.problems:
            print(f"{command}: error: {problem}", file=sys.stderr)
        sys.exit(2)
    if isinstance(error, ports.ListenError):
        advice = ports.advice(error, subcommand)
        print(f"{command}: error: {error}: {advice}", file=sys.stderr)
        sys.exit(2)
    if isinstance(error, DiscoveryError) and error.logged and logging.getLogger().handlers:
        sys.exit(1)  # its ERROR line is in the log already: one line, not two
    print(f"{command}: error: {error}", file=sys.stderr)
    sys.exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cloudstate proxy", description=DESCRIPTION)
    config.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        sys.exit(run(args))
    except StartError as error:
        exit_on_start_error("cloudstate proxy", error)


__all__ = ["StartError", "exit_on_start_error", "load", "main", "run"]
