"""Checks of a proxy configuration before anything starts.

A wrong flag or environment variable should stop the proxy at once with one line naming the
setting and what it accepts, not with a traceback minutes later (or a proxy that waits forever
for discovery with a value it can never use). ``cloudstate proxy`` / ``cloudstate run`` print
the problems and exit with status 2.

Example::

    problems = check(ProxyConfig(port=70000))
    # ['--port 70000: a port number 0-65535 (0 picks a free port)']
"""

from __future__ import annotations

import argparse
import logging
import os

from cloudstate.proxy import durations
from cloudstate.proxy.auth import key_problem
from cloudstate.proxy.config import ConfigError, ProxyConfig, from_arguments
from cloudstate.proxy.durable.idempotency_trim import parse_retention
from cloudstate.proxy.durations import parse_duration
from cloudstate.proxy.eventing.attempts import MaxAttempts
from cloudstate.proxy.eventing.retention import parse_age
from cloudstate.proxy.expiry_purge import parse_interval
from cloudstate.proxy.stores import registry as stores

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
# Settings given in pairs: both or neither.
_PAIRS = (
    ("tls_cert", "tls_key"),
    ("admin_tls_cert", "admin_tls_key"),
    ("uf_tls_cert", "uf_tls_key"),
)
# Settings naming a file that must exist when set.
_FILES = (
    "tls_cert",
    "tls_key",
    "admin_tls_cert",
    "admin_tls_key",
    "uf_tls_ca",
    "uf_tls_cert",
    "uf_tls_key",
    "cluster_tls_cert",
    "cluster_tls_key",
    "cluster_tls_ca",
    "jwt_key",
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_port(problems: list[str], name: str, value: int, off_allowed: bool) -> None:
    low = -1 if off_allowed else 0
    if not low <= value <= 65535:
        extra = ", -1 turns it off" if off_allowed else ""
        problems.append(
            f"{_flag(name)} {value}: a port number 0-65535 (0 picks a free port{extra})"
        )


def check(config: ProxyConfig) -> list[str]:
    """Every problem with ``config``, one readable line each (empty when it is usable)."""
    problems: list[str] = []
    _check_port(problems, "port", config.port, off_allowed=False)
    _check_port(problems, "grpc_port", config.grpc_port, off_allowed=True)
    _check_port(problems, "admin_port", config.admin_port, off_allowed=True)
    if config.console and config.admin_port < 0:
        problems.append(
            "--console is served on the admin port: give --admin-port PORT (0: a free port)"
        )
    host, sep, port = config.user_function.rpartition(":")
    # gRPC target forms (unix:PATH, dns:///host:port) are passed on as they are.
    named_target = config.user_function.startswith(("unix:", "dns:", "ipv4:", "ipv6:"))
    if not named_target and (
        not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535
    ):
        problems.append(
            f"user function address {config.user_function!r}: HOST:PORT "
            "(env USER_FUNCTION_HOST / USER_FUNCTION_PORT)"
        )
    if not stores.known_url(config.store):
        problems.append(f"--store {config.store!r}: {stores.describe_schemes()}")
    if config.workers > 1 and config.store.startswith("memory:"):
        problems.append(
            f"--workers {config.workers} with --store memory:: each worker would hold its own "
            "memory; use a store the workers share (sqlite:///PATH or postgresql://...)"
        )
    if config.cluster_port >= 0 and not config.store.startswith(("postgresql:", "postgres:")):
        problems.append(
            f"--cluster-port {config.cluster_port} with --store {config.store!r}: the nodes of a "
            "cluster share a PostgreSQL store (--store postgresql://...); drop --cluster-port "
            "to run one node"
        )
    cluster_tls = ("cluster_tls_cert", "cluster_tls_key", "cluster_tls_ca")
    given = [n for n in cluster_tls if getattr(config, n)]
    if given and len(given) < len(cluster_tls):
        missing = ", ".join(_flag(n) for n in cluster_tls if n not in given)
        problems.append(
            f"{', '.join(_flag(n) for n in given)} without {missing}: cluster TLS is mutual and "
            "needs this node's certificate, its key and the CA that signs every node's"
        )
    if given and config.cluster_port < 0:
        problems.append(
            f"{_flag(given[0])} without --cluster-port: cluster TLS protects the port the nodes "
            "forward commands to; give --cluster-port or drop the --cluster-tls-* settings"
        )
    cluster_times: list[float] = []
    for name in ("cluster_heartbeat", "cluster_member_ttl"):
        try:
            cluster_times.append(parse_duration(getattr(config, name)))
        except ValueError as error:
            problems.append(f"{_flag(name)}: {error}")
    if len(cluster_times) == 2 and cluster_times[1] < 2 * cluster_times[0]:
        problems.append(
            f"--cluster-member-ttl {config.cluster_member_ttl} must be at least twice "
            f"--cluster-heartbeat {config.cluster_heartbeat} (one late heartbeat is no death)"
        )
    if config.user_function_workers > 1 and named_target:
        problems.append(
            f"--user-function-workers {config.user_function_workers} needs --user-function "
            f"HOST:PORT (ports PORT.. PORT+{config.user_function_workers - 1}), not "
            f"{config.user_function!r}"
        )
    if config.broker and not config.broker.startswith("nats://"):
        problems.append(f"--broker {config.broker!r}: nats://HOST:PORT (NATS JetStream)")
    try:
        parse_age(config.topic_retention)
    except ValueError as error:
        problems.append(str(error))
    try:
        parse_retention(config.idempotency_retention)
    except ValueError as error:
        problems.append(str(error))
    try:
        parse_interval(config.ttl_purge_interval)
    except ValueError as error:
        problems.append(str(error))
    try:
        MaxAttempts.parse(config.eventing_max_attempts)
    except ValueError as error:
        problems.append(str(error))
    for name in (
        "topic_retention_messages",
        "max_concurrent_requests",
        "max_requests_per_entity",
        "max_streams",
        "max_async_effects",
        "max_queued_requests",
        "http_max_connections",
        "http_max_buffered",
        "http_max_buffered_per_connection",
        "http2_max_reset_rate",
    ):
        if getattr(config, name) < 0:
            problems.append(f"{_flag(name)} {getattr(config, name)}: 0 or more (0: no limit)")
    for name in (
        "max_message_size",
        "http_max_body",
        "max_forward_depth",
        "http2_max_streams",
        "workers",
        "user_function_workers",
    ):
        if getattr(config, name) <= 0:
            problems.append(f"{_flag(name)} {getattr(config, name)}: must be positive")
    for name in ("passivation_timeout", "command_timeout"):
        if getattr(config, name) <= 0:
            problems.append(f"{_flag(name)} {getattr(config, name)}: seconds, more than 0")
    for name in (
        "discovery_timeout",
        "shutdown_grace",
        "queue_timeout",
        "http_header_timeout",
        "http_body_timeout",
        "http_idle_timeout",
    ):
        if getattr(config, name) < 0:
            problems.append(f"{_flag(name)} {getattr(config, name)}: seconds, 0 or more")
    retry: list[float] = []
    for name in ("durable_retry_min", "durable_retry_max"):
        try:
            retry.append(parse_duration(getattr(config, name)))
        except ValueError as error:
            problems.append(f"{_flag(name)}: {error}")
    if len(retry) == 2 and retry[0] > retry[1]:
        problems.append(
            f"--durable-retry-min {config.durable_retry_min} is longer than --durable-retry-max "
            f"{config.durable_retry_max}"
        )
    try:
        durations.parse_age(config.deletion_grace, "--deletion-grace", "purges at once")
    except ValueError as error:
        problems.append(str(error))
    for name in ("durable_max_attempts", "durable_concurrency"):
        if getattr(config, name) < 1:
            problems.append(f"{_flag(name)} {getattr(config, name)}: 1 or more")
    if config.log_level.upper() not in _LOG_LEVELS and not config.log_level.isdigit():
        problems.append(f"--log-level {config.log_level!r}: one of {', '.join(_LOG_LEVELS)}")
    if config.log_format not in ("text", "json"):
        problems.append(f"--log-format {config.log_format!r}: text or json")
    for first, second in _PAIRS:
        if bool(getattr(config, first)) != bool(getattr(config, second)):
            problems.append(f"{_flag(first)} and {_flag(second)} go together: give both or neither")
    if config.admin_jwt_claim:
        claim, equals, value = config.admin_jwt_claim.partition("=")
        if not (claim.strip() and equals and value):
            problems.append(
                f"--admin-jwt-claim {config.admin_jwt_claim!r}: CLAIM=VALUE, e.g. role=admin"
            )
        elif not config.jwt_key:
            problems.append("--admin-jwt-claim needs --jwt-key (the key tokens are checked with)")
    for name in _FILES:
        path = getattr(config, name)
        if path and not os.path.isfile(path):
            problems.append(f"{_flag(name)} {path!r}: no such file")
        elif path and name == "jwt_key":
            problem = key_problem(path)
            if problem:
                problems.append(f"{_flag(name)} {path!r}: {problem}")
    return problems


def ensure_valid(config: ProxyConfig) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``, if any."""
    problems = check(config)
    if problems:
        logging.getLogger(__name__).debug("configuration refused: %s", problems)
        raise ConfigError(problems)


def load(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ProxyConfig:
    """The config of parsed flags, the environment and defaults
    (:func:`~cloudstate.proxy.config.from_arguments`), checked: raises :class:`ConfigError`
    naming every unusable setting."""
    config = from_arguments(args, environ)
    ensure_valid(config)
    return config


__all__ = ["ConfigError", "check", "ensure_valid", "load"]
