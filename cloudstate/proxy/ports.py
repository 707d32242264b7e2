"""The ports the proxy listens on, and one readable error when one cannot be had.

A port another process holds is a start-up mistake, not a crash: :class:`ListenError` names the
port and the setting that chose it (``port``, ``grpc_port``, ``admin_port``, ...), and the
``cloudstate`` command prints it as one line with the flag to change. :func:`ensure_free` checks
the listening ports of a configuration before anything starts — the direct gRPC port would
otherwise be bound only after discovery, and grpc reports a failed bind with log lines of its own.

Example::

    ensure_free(ProxyConfig(port=9000))  # ListenError(setting="port", port=9000) if it is taken
"""

from __future__ import annotations

import errno
import socket

from cloudstate.proxy.config import ProxyConfig, flag_and_env


class ListenError(OSError):
    """A port the proxy (or ``cloudstate run``) needs cannot be listened on.

    ``setting`` is the configuration field that chose the port (``port``, ``grpc_port``,
    ``admin_port``, or ``user_function_port`` for ``cloudstate run``)."""

    def __init__(self, setting: str, host: str, port: int, error: OSError | None = None) -> None:
        code = error.errno if error is not None else None
        reason = (error.strerror or str(error)) if error is not None else "it cannot be bound"
        super().__init__(code, reason)
        self.setting = setting
        self.host = host
        self.port = port

    @property
    def in_use(self) -> bool:
        return self.errno == errno.EADDRINUSE

    def __str__(self) -> str:
        if self.in_use:
            return f"port {self.port} is in use"
        return f"cannot listen on {self.host}:{self.port}: {self.strerror}"


def bind_error(host: str, port: int) -> OSError | None:
    """Why a listener on ``host:port`` cannot be opened now (None: it can).

    Binds and closes a socket for each address ``host`` resolves to, with SO_REUSEADDR as the
    real listeners use it (connections in TIME_WAIT do not count as "in use")."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        return None  # an unresolvable host: the real bind says so
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return error
    return None


def check_free(setting: str, host: str, port: int) -> None:
    """Raise :class:`ListenError` (naming ``setting``) if ``host:port`` cannot be listened on."""
    error = bind_error(host, port)
    if error is not None:
        raise ListenError(setting, host, port, error)


def ensure_free(config: ProxyConfig) -> None:
    """Raise :class:`ListenError` for the first listening port of ``config`` that is taken (or
    otherwise unusable); ports set to 0 (a free one) or -1 (off) are skipped."""
    for setting, host, port in (
        ("port", config.host, config.port),
        ("grpc_port", config.host, config.grpc_port),
        ("admin_port", config.admin_host, config.admin_port),
    ):
        if port > 0:
            check_free(setting, host, port)


def advice(error: ListenError, command: str = "proxy") -> str:
    """What to do about a port that cannot be listened on, naming the flag that set it."""
    if error.setting == "user_function_port":
        flag = "--user-function-port (or leave it out: a free one is picked)"
    elif error.setting == "port" and command == "run":
        flag = "--port (or PORT=... for make run)"  # the Makefile passes --port $(PORT)
    else:
        flag = flag_and_env(error.setting)
    return f"choose another with {flag}" if error.in_use else f"check {flag}"
