"""Proxy configuration: every setting, its default, and the flag / environment variable for it.

Precedence: command-line flag, then environment variable, then default. The reference lives in
docs/proxy-configuration.md; keep both in step.

One concern: the settings themselves — their names, defaults, flags and variables (checking them
together is :mod:`cloudstate.proxy.config_check`'s).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields


class ConfigError(ValueError):
    """The proxy's configuration is unusable; ``problems`` lists every wrong setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(slots=True)
class ProxyConfig:
    """Settings of one proxy process.

    Example::

        config = ProxyConfig(user_function="127.0.0.1:8080", port=9000,
                             store="sqlite:///data/cloudstate.db")
    """

    #: host:port of the user function (env USER_FUNCTION_HOST / USER_FUNCTION_PORT).
    user_function: str = "127.0.0.1:8080"
    #: Interface the client-facing port binds to.
    host: str = "127.0.0.1"
    #: Client-facing port: gRPC, HTTP/JSON and gRPC-web. 0 picks a free port.
    port: int = 9000
    #: Store URL: memory:, sqlite:///PATH, postgresql://...
    store: str = "sqlite:///data/cloudstate.db"
    #: Seconds an entity may stay idle before it is passivated (entity types may override).
    passivation_timeout: float = 30.0
    #: Seconds the user function may take to answer one command before it is restarted.
    command_timeout: float = 30.0
    #: Refuse user functions that report a protocol version other than 0.2 (default: warn on 0.x).
    strict_protocol: bool = False
    #: Longest chain of forwards / side effects before the call is cut off as a loop.
    max_forward_depth: int = 32
    #: Most asynchronous side effects running at once (further ones wait for a slot, up to 8 times
    #: as many in flight; beyond that they are dropped and logged).
    max_async_effects: int = 1024
    #: Seconds to keep retrying discovery before giving up (0: retry forever).
    discovery_timeout: float = 0.0
    #: Seconds in-flight requests get to finish on SIGTERM.
    shutdown_grace: float = 10.0
    #: Log level name.
    log_level: str = "INFO"
    #: ``text`` or ``json`` (one object per line, with service, command, entity and request id).
    log_format: str = "text"
    #: HTTP/JSON replies keep proto field names (``user_id``) instead of lowerCamelCase.
    http_proto_names: bool = False
    #: HTTP/JSON replies include fields holding their default value.
    http_emit_defaults: bool = False
    #: Comma-separated origins allowed by CORS (HTTP/JSON and gRPC-web); ``*`` allows any.
    cors_origins: str = ""
    #: Largest HTTP request body accepted, in bytes.
    http_max_body: int = 4 * 1024 * 1024
    #: With ``jwt_key``: gRPC server reflection and ``/openapi.json`` need no token (by default
    #: they need a valid one, like the services).
    public_api_docs: bool = False
    #: Methods without a ``google.api.http`` annotation are served at ``POST
    #: /package.Service/Method``; False: only annotated methods are reachable over HTTP/JSON.
    http_default_routes: bool = True
    #: Also serve native gRPC directly (no relay) on this port; -1: off, 0: a free port.
    grpc_port: int = -1
    #: Who serves native gRPC on the client port: ``h2``, the proxy's own HTTP/2 server (unary
    #: and server-streaming user methods served there, other streams relayed per stream to
    #: grpc.aio), or ``relay``, every native gRPC connection relayed whole to grpc.aio.
    grpc_front: str = "h2"
    #: Requests handled at once (unary and streamed); more wait in line (below). 0: no limit.
    max_concurrent_requests: int = 10000
    #: Requests that may wait for a slot of ``max_concurrent_requests``, first come first
    #: served, each at most ``queue_timeout`` seconds; more, or longer, are refused with
    #: RESOURCE_EXHAUSTED / HTTP 429 and a retry hint. 0: refused at once.
    max_queued_requests: int = 1000
    queue_timeout: float = 1.0
    #: Commands one entity may hold (running or waiting); more are refused. 0: no limit.
    max_requests_per_entity: int = 1000
    #: Streamed calls open at once; more are refused. 0: no limit.
    max_streams: int = 10000
    #: Largest gRPC message a client may send, in bytes (HTTP bodies: ``http_max_body``).
    max_message_size: int = 4 * 1024 * 1024
    #: Connections of the client port open at once; more are closed at once (logged). 0: none.
    http_max_connections: int = 4096
    #: Seconds an HTTP/1.1 request's headers may take to arrive (from its first byte), and
    #: its body (from its headers; HTTP/2 streams: from the HEADERS); then 408. 0: no limit.
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    #: Seconds a connection may stay without a request (keep-alive, or never used). 0: forever.
    http_idle_timeout: float = 60.0
    #: Requests at once on one h2c connection (HTTP/JSON, gRPC-web over HTTP/2).
    http2_max_streams: int = 100
    #: Request bytes (h2c headers and bodies, HTTP/1.1 bodies) held by all connections, and by
    #: one connection, until their requests are answered; past either: 503. 0: no limit.
    http_max_buffered: int = 64 * 1024 * 1024
    http_max_buffered_per_connection: int = 16 * 1024 * 1024
    #: Stream resets per second one HTTP/2 client may send before GOAWAY (rapid reset). 0: any.
    http2_max_reset_rate: int = 200
    #: PEM certificate chain and private key: the client port speaks TLS (gRPC, HTTP/JSON and
    #: gRPC-web over TLS) instead of plaintext. Both or neither.
    tls_cert: str = ""
    tls_key: str = ""
    #: JWT bearer authentication: file with the HMAC secret (HS256) or PEM public key (RS256 /
    #: ES256) client tokens are signed with; "" turns authentication off.
    jwt_key: str = ""
    #: Required ``iss`` / ``aud`` claims ("" : not checked).
    jwt_issuer: str = ""
    jwt_audience: str = ""
    #: Comma-separated ``package.Service/Method``, ``package.Service/*`` callable without token.
    jwt_allow_anonymous: str = ""
    #: ``CLAIM=VALUE`` every admin API call's token must carry (with ``jwt_key``), so that a
    #: client's token is not an operator's; "": any valid token.
    admin_jwt_claim: str = ""
    #: External broker for topics (``nats://host:4222``, NATS JetStream); empty: the embedded
    #: topic log only. ``broker_stream``: the JetStream stream; ``broker_subject_prefix``: topic
    #: ``t`` is the subject ``<prefix>.t``.
    broker: str = ""
    broker_stream: str = "CLOUDSTATE"
    broker_subject_prefix: str = "cloudstate"
    #: Topic retention in the embedded log: an age (``7d``, ``12h``; empty or 0: forever) and/or
    #: the newest N messages per topic (0: no limit); only what every reader has passed goes.
    topic_retention: str = ""
    topic_retention_messages: int = 0
    #: How long the answer to a call with an idempotency key is kept for its retries (``24h``,
    #: ``7d``; 0: forever). Older keys are ignored, then deleted.
    idempotency_retention: str = "24h"
    #: How often one node purges the value entities and CRDTs whose time-to-live ran out
    #: (``option (cloudstate.entity_ttl)``); 0: never (they still read as absent).
    ttl_purge_interval: str = "10s"
    #: Internal admin port serving ``/metrics`` (Prometheus); -1: off, 0: a free port.
    admin_port: int = -1
    #: Interface the admin port binds to (loopback: keep internal endpoints internal).
    admin_host: str = "127.0.0.1"
    #: OpenTelemetry tracing: export spans over OTLP (configured by the ``OTEL_*`` variables).
    tracing: bool = False
    #: mTLS to the user function: CA certificate (PEM) the user function's certificate must be
    #: signed by; with it the proxy connects over TLS. ``uf_tls_cert``/``uf_tls_key``: the
    #: proxy's client certificate and key (PEM), for user functions requiring client certificates.
    uf_tls_ca: str = ""
    uf_tls_cert: str = ""
    uf_tls_key: str = ""
    #: PEM certificate chain and key: the admin port serves HTTPS. Both or neither.
    admin_tls_cert: str = ""
    admin_tls_key: str = ""
    #: The developer console (a web page) at ``/console/`` of the admin port (needs
    #: ``admin_port``); ``cloudstate run`` turns it on, ``cloudstate proxy`` with ``--console``.
    console: bool = False
    #: Durable calls and timers: failed attempts before a delivery becomes a dead letter (a
    #: call may set its own), the back-off between attempts (doubling from the minimum to the
    #: maximum, with jitter; durations like 500ms, 1s, 5m) and the deliveries in flight at once.
    durable_max_attempts: int = 20
    #: Eventing consumers and view updaters: failed attempts at one message before it is parked
    #: as a dead letter (``forever`` or 0: retry forever, never skip), with per-consumer
    #: overrides ``CONSUMER=N`` (comma-separated): ``10,event_log:carts:shop.Log=forever``.
    eventing_max_attempts: str = "10"
    durable_retry_min: str = "1s"
    durable_retry_max: str = "5m"
    durable_concurrency: int = 64
    #: Deleting an event-sourced entity: time from its tombstone to the physical removal of its
    #: events (a duration: ``24h``, ``30s``; 0: at once). Consumers that are behind by more lose
    #: the entity's earlier events (docs/eventsourced.md#deleting-an-entity).
    deletion_grace: str = "24h"
    #: Journal compaction after each snapshot: ``*`` (every event-sourced service) or
    #: comma-separated service names; empty: off (docs/eventsourced.md#journal-compaction).
    journal_compaction: str = ""
    #: Proxy processes on this node sharing the client port (SO_REUSEPORT), each owning a share
    #: of the keyed entities and forwarding the others' commands (docs/scale-out.md).
    workers: int = 1
    #: User-function processes on consecutive ports from ``user_function``'s: proxy worker i
    #: talks to port + i mod this (``CloudState().start(workers=N)`` serves them).
    user_function_workers: int = 1
    #: Nodes in a cluster on one PostgreSQL (docs/scale-out.md): the port other nodes forward
    #: commands for this node's entities to; -1: no cluster, 0: a free port. With ``workers``,
    #: worker i listens on this + i (each worker is a member).
    cluster_port: int = -1
    #: Interface of the cluster port (default: ``host``).
    cluster_host: str = ""
    #: The host other nodes reach the cluster port at (default: this host's address).
    cluster_address: str = ""
    #: How often a node renews its membership row.
    cluster_heartbeat: str = "1s"
    #: A member whose last heartbeat is older than this is dead: its entities move.
    cluster_member_ttl: str = "5s"
    #: Mutual TLS between the nodes (all three or none): this node's certificate chain and key,
    #: presented both as the cluster port's server and as a client of the other nodes, and the
    #: CA every node's certificate must be signed by.
    cluster_tls_cert: str = ""
    cluster_tls_key: str = ""
    cluster_tls_ca: str = ""


_ENV = {
    "host": "CLOUDSTATE_PROXY_HOST",
    "port": "HTTP_PORT",
    "store": "CLOUDSTATE_STORE",
    "passivation_timeout": "CLOUDSTATE_PASSIVATION_TIMEOUT",
    "command_timeout": "CLOUDSTATE_COMMAND_TIMEOUT",
    "shutdown_grace": "CLOUDSTATE_SHUTDOWN_GRACE",
    "log_level": "CLOUDSTATE_LOG_LEVEL",
    "log_format": "CLOUDSTATE_LOG_FORMAT",
    "cors_origins": "CLOUDSTATE_CORS_ORIGINS",
    "grpc_port": "CLOUDSTATE_GRPC_PORT",
    "admin_port": "CLOUDSTATE_ADMIN_PORT",
    "workers": "CLOUDSTATE_PROXY_WORKERS",
    "ttl_purge_interval": "CLOUDSTATE_TTL_PURGE_INTERVAL",
    "cluster_port": "CLOUDSTATE_CLUSTER_PORT",
    "cluster_address": "CLOUDSTATE_CLUSTER_ADDRESS",
    "cluster_tls_cert": "CLOUDSTATE_CLUSTER_TLS_CERT",
    "cluster_tls_key": "CLOUDSTATE_CLUSTER_TLS_KEY",
    "cluster_tls_ca": "CLOUDSTATE_CLUSTER_TLS_CA",
    "tls_cert": "CLOUDSTATE_TLS_CERT",
    "tls_key": "CLOUDSTATE_TLS_KEY",
    "jwt_key": "CLOUDSTATE_JWT_KEY",
    "broker": "CLOUDSTATE_BROKER",
    "admin_host": "CLOUDSTATE_ADMIN_HOST",
    "admin_jwt_claim": "CLOUDSTATE_ADMIN_JWT_CLAIM",
    "tracing": "CLOUDSTATE_TRACING",
    "uf_tls_ca": "CLOUDSTATE_UF_TLS_CA",
    "uf_tls_cert": "CLOUDSTATE_UF_TLS_CERT",
    "uf_tls_key": "CLOUDSTATE_UF_TLS_KEY",
    "console": "CLOUDSTATE_CONSOLE",
}


def add_arguments(parser: argparse.ArgumentParser, *, discovery_timeout: float = 0.0) -> None:
    """Add the proxy's flags to ``parser`` (used by ``cloudstate proxy`` and ``cloudstate run``).

    ``discovery_timeout``: the command's default for ``--discovery-timeout`` when it is not the
    proxy's own (``cloudstate run`` gives up after 30 s; a sidecar proxy waits forever)."""
    d = ProxyConfig()
    parser.add_argument(
        "--user-function",
        metavar="HOST:PORT",
        help=f"where the user function listens (default {d.user_function}; "
        "env USER_FUNCTION_HOST/USER_FUNCTION_PORT)",
    )
    parser.add_argument("--host", help=f"interface to bind (default {d.host})")
    parser.add_argument(
        "--port", type=int, help=f"client-facing port (default {d.port}; env HTTP_PORT)"
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"memory:, sqlite:///PATH or postgresql://... (default {d.store})",
    )
    parser.add_argument(
        "--passivation-timeout",
        type=float,
        metavar="SECONDS",
        help=f"idle time before an entity is passivated (default {d.passivation_timeout:g})",
    )
    parser.add_argument(
        "--command-timeout",
        type=float,
        metavar="SECONDS",
        help=f"time a command may take in the user function (default {d.command_timeout:g})",
    )
    parser.add_argument(
        "--strict-protocol",
        action="store_true",
        default=None,
        help="refuse user functions not reporting protocol 0.2",
    )
    parser.add_argument(
        "--max-forward-depth",
        type=int,
        metavar="N",
        help=f"longest forward/effect chain (default {d.max_forward_depth})",
    )
    parser.add_argument(
        "--max-async-effects",
        type=int,
        metavar="N",
        help=f"asynchronous side effects running at once (default {d.max_async_effects})",
    )
    parser.add_argument(
        "--discovery-timeout",
        type=float,
        metavar="SECONDS",
        default=discovery_timeout or None,
        help="give up if the user function does not answer discovery within SECONDS "
        + (
            f"(default {discovery_timeout:g}; 0: never)"
            if discovery_timeout
            else "(default: never)"
        ),
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM, time unary calls in flight get to finish; streamed calls still open "
        f"then are cancelled (default {d.shutdown_grace}; env CLOUDSTATE_SHUTDOWN_GRACE)",
    )
    parser.add_argument("--log-level", help=f"DEBUG, INFO, WARNING, ERROR (default {d.log_level})")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text, or json: one object per line with service, command, entity and request id "
        f"(default {d.log_format})",
    )
    parser.add_argument(
        "--http-proto-names",
        action="store_true",
        default=None,
        help="HTTP/JSON replies keep proto field names instead of lowerCamelCase",
    )
    parser.add_argument(
        "--http-emit-defaults",
        action="store_true",
        default=None,
        help="HTTP/JSON replies include fields holding their default value",
    )
    parser.add_argument(
        "--cors-origin",
        dest="cors_origins",
        metavar="ORIGINS",
        help="comma-separated origins allowed by CORS, '*' for any (default: none)",
    )
    parser.add_argument(
        "--http-max-body",
        type=int,
        metavar="BYTES",
        help=f"largest HTTP request body (default {d.http_max_body})",
    )
    parser.add_argument(
        "--public-api-docs",
        action="store_true",
        default=None,
        help="with --jwt-key, serve gRPC server reflection and /openapi.json without a token "
        "(default: they need a valid bearer token, like the services)",
    )
    parser.add_argument(
        "--no-http-default-routes",
        dest="http_default_routes",
        action="store_false",
        default=None,
        help="serve only methods with a google.api.http annotation over HTTP/JSON (default: "
        "unannotated methods are served at POST /package.Service/Method)",
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        metavar="PORT",
        help="also serve native gRPC directly on this port, skipping the relay (default: off)",
    )
    parser.add_argument(
        "--grpc-front",
        choices=("h2", "relay"),
        help="native gRPC on the client port: h2, the proxy's HTTP/2 server (cheaper per call), "
        f"or relay, whole connections relayed to grpc.aio (default {d.grpc_front})",
    )
    parser.add_argument(
        "--max-concurrent-requests",
        type=int,
        metavar="N",
        help="requests handled at once; more wait in line (--max-queued-requests) "
        f"(default {d.max_concurrent_requests}; 0: no limit)",
    )
    parser.add_argument(
        "--max-queued-requests",
        type=int,
        metavar="N",
        help="requests that may wait for a slot of --max-concurrent-requests; more are refused "
        f"with RESOURCE_EXHAUSTED / 429 (default {d.max_queued_requests}; 0: refused at once)",
    )
    parser.add_argument(
        "--queue-timeout",
        type=float,
        metavar="SECONDS",
        help="longest wait in line for a slot; then refused with RESOURCE_EXHAUSTED / 429 "
        f"(default {d.queue_timeout:g})",
    )
    parser.add_argument(
        "--max-requests-per-entity",
        type=int,
        metavar="N",
        help="commands one entity may hold, running or waiting; more are refused "
        f"(default {d.max_requests_per_entity}; 0: no limit)",
    )
    parser.add_argument(
        "--max-streams",
        type=int,
        metavar="N",
        help=f"streamed calls open at once; more are refused (default {d.max_streams}; 0: none)",
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        metavar="BYTES",
        help=f"largest gRPC request message (default {d.max_message_size})",
    )
    parser.add_argument(
        "--http-max-connections",
        type=int,
        metavar="N",
        help="connections of the client port open at once; more are closed at once "
        f"(default {d.http_max_connections}; 0: no limit)",
    )
    parser.add_argument(
        "--http-header-timeout",
        type=float,
        metavar="SECONDS",
        help="time an HTTP/1.1 request's headers may take to arrive; then 408 and the "
        f"connection closes (default {d.http_header_timeout:g}; 0: no limit)",
    )
    parser.add_argument(
        "--http-body-timeout",
        type=float,
        metavar="SECONDS",
        help="time an HTTP request's body may take to arrive after its headers; then 408 "
        f"(default {d.http_body_timeout:g}; 0: no limit)",
    )
    parser.add_argument(
        "--http-idle-timeout",
        type=float,
        metavar="SECONDS",
        help="a connection without a request for this long is closed "
        f"(default {d.http_idle_timeout:g}; 0: never)",
    )
    parser.add_argument(
        "--http2-max-streams",
        type=int,
        metavar="N",
        help="requests at once on one h2c connection (HTTP/JSON, gRPC-web over HTTP/2) "
        f"(default {d.http2_max_streams})",
    )
    parser.add_argument(
        "--http-max-buffered",
        type=int,
        metavar="BYTES",
        help="request bytes all HTTP connections may hold until answered; more: 503 "
        f"(default {d.http_max_buffered}; 0: no limit)",
    )
    parser.add_argument(
        "--http-max-buffered-per-connection",
        type=int,
        metavar="BYTES",
        help="request bytes one HTTP/2 connection may hold until answered; more: 503 "
        f"(default {d.http_max_buffered_per_connection}; 0: no limit)",
    )
    parser.add_argument(
        "--http2-max-reset-rate",
        type=int,
        metavar="N",
        help="stream resets per second one HTTP/2 client may send; faster: GOAWAY and close "
        f"(rapid reset; default {d.http2_max_reset_rate}; 0: no limit)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="certificate chain (PEM): serve TLS on the client port (with --tls-key)",
    )
    parser.add_argument("--tls-key", metavar="PEM", help="private key (PEM) of --tls-cert")
    parser.add_argument(
        "--jwt-key",
        metavar="FILE",
        help="require 'authorization: Bearer <JWT>' signed with this HMAC secret or PEM public "
        "key (default: no authentication)",
    )
    parser.add_argument("--jwt-issuer", metavar="ISS", help="required iss claim")
    parser.add_argument("--jwt-audience", metavar="AUD", help="required aud claim")
    parser.add_argument(
        "--jwt-allow-anonymous",
        metavar="METHODS",
        help="comma-separated package.Service/Method or package.Service/* open without a token",
    )
    parser.add_argument(
        "--admin-jwt-claim",
        metavar="CLAIM=VALUE",
        help="with --jwt-key: the admin API needs a token carrying this claim (e.g. role=admin; "
        "default: any valid token)",
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="external broker for topics: nats://HOST:PORT (NATS JetStream; needs "
        "cloudstate[nats]; env CLOUDSTATE_BROKER). Default: the embedded topic log only",
    )
    parser.add_argument(
        "--broker-stream",
        metavar="NAME",
        help=f"JetStream stream of the topics, created if missing (default {d.broker_stream})",
    )
    parser.add_argument(
        "--broker-subject-prefix",
        metavar="PREFIX",
        help="topic T is the subject PREFIX.T; the stream takes PREFIX.> "
        f"(default {d.broker_subject_prefix})",
    )
    parser.add_argument(
        "--topic-retention",
        metavar="AGE",
        help="delete topic messages older than AGE (90s, 30m, 12h, 7d, 2w) once every reader "
        "passed them (default: keep forever)",
    )
    parser.add_argument(
        "--topic-retention-messages",
        type=int,
        metavar="N",
        help="keep at most the newest N messages per topic (of those every reader passed; "
        "default 0: no limit)",
    )
    parser.add_argument(
        "--idempotency-retention",
        metavar="AGE",
        help="keep the answer to a call with an idempotency key this long for its retries "
        f"(90s, 30m, 12h, 7d; 0: forever; default {d.idempotency_retention})",
    )
    parser.add_argument(
        "--ttl-purge-interval",
        metavar="AGE",
        help="how often one node purges the value entities and CRDTs whose time-to-live ran out "
        f"from the store (500ms, 10s, 5m; 0: never, they still read as absent; default "
        f"{d.ttl_purge_interval}; env CLOUDSTATE_TTL_PURGE_INTERVAL)",
    )
    parser.add_argument(
        "--admin-port",
        type=int,
        metavar="PORT",
        help="internal admin port serving /metrics (Prometheus); 0 picks a free port "
        "(default: off; env CLOUDSTATE_ADMIN_PORT)",
    )
    parser.add_argument(
        "--admin-host",
        metavar="HOST",
        help=f"interface of the admin port (default {d.admin_host}, loopback only)",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        default=None,
        help="OpenTelemetry spans exported over OTLP, configured by OTEL_EXPORTER_OTLP_ENDPOINT, "
        "OTEL_SERVICE_NAME, ... (needs cloudstate[otel]; env CLOUDSTATE_TRACING)",
    )
    parser.add_argument(
        "--uf-tls-ca",
        metavar="PEM",
        help="connect to the user function over TLS, trusting this CA (default: plaintext)",
    )
    parser.add_argument(
        "--uf-tls-cert",
        metavar="PEM",
        help="client certificate presented to the user function (mTLS; with --uf-tls-key)",
    )
    parser.add_argument("--uf-tls-key", metavar="PEM", help="private key of --uf-tls-cert")
    parser.add_argument(
        "--admin-tls-cert",
        metavar="PEM",
        help="certificate chain (PEM): the admin port serves HTTPS (with --admin-tls-key)",
    )
    parser.add_argument("--admin-tls-key", metavar="PEM", help="private key of --admin-tls-cert")
    parser.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the developer console at /console/ of the admin port, behind its TLS and "
        "JWT options (cloudstate run: on by default, on a free admin port unless --admin-port; "
        "cloudstate proxy: off by default, needs --admin-port; env CLOUDSTATE_CONSOLE)",
    )
    parser.add_argument(
        "--durable-max-attempts",
        type=int,
        metavar="N",
        help="attempts of a durable call or timer before it becomes a dead letter, unless the "
        f"call sets its own (default {d.durable_max_attempts})",
    )
    parser.add_argument(
        "--eventing-max-attempts",
        metavar="N[,CONSUMER=N...]",
        help="failed attempts of an eventing consumer or view at one message before it parks "
        "it as a dead letter and moves on ('forever': retry forever); CONSUMER=N overrides it "
        f"for one consumer, e.g. 10,event_log:carts:shop.Log=forever "
        f"(default {d.eventing_max_attempts})",
    )
    parser.add_argument(
        "--durable-retry-min",
        metavar="DURATION",
        help="back-off after the first failed delivery of a durable call; it doubles with each "
        f"attempt, with jitter (500ms, 1s, 5m; default {d.durable_retry_min})",
    )
    parser.add_argument(
        "--durable-retry-max",
        metavar="DURATION",
        help=f"longest back-off between deliveries (default {d.durable_retry_max})",
    )
    parser.add_argument(
        "--durable-concurrency",
        type=int,
        metavar="N",
        help=f"durable deliveries in flight at once (default {d.durable_concurrency})",
    )
    parser.add_argument(
        "--deletion-grace",
        metavar="DURATION",
        help="time from an event-sourced entity's deletion (its tombstone) to the physical "
        f"removal of its events (30s, 12h, 7d; 0: at once; default {d.deletion_grace})",
    )
    parser.add_argument(
        "--journal-compaction",
        metavar="SERVICES",
        help="after each snapshot, delete the events before it (those every consumer read): "
        "'*' for every event-sourced service or comma-separated service names (default: off)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="proxy processes sharing the client port, each owning a share of the entities "
        f"(default {d.workers}; env CLOUDSTATE_PROXY_WORKERS)",
    )
    parser.add_argument(
        "--user-function-workers",
        type=int,
        metavar="M",
        help="user-function processes on consecutive ports from --user-function's: proxy "
        f"worker i talks to port + i mod M (default {d.user_function_workers})",
    )
    parser.add_argument(
        "--cluster-port",
        type=int,
        metavar="PORT",
        help="join the cluster of nodes sharing this PostgreSQL store: each entity is owned by "
        "one node and other nodes forward its commands to this port (0: a free port; with "
        "--workers, worker i uses PORT+i; env CLOUDSTATE_CLUSTER_PORT; default: off)",
    )
    parser.add_argument(
        "--cluster-host",
        metavar="HOST",
        help="interface of the cluster port (default: --host)",
    )
    parser.add_argument(
        "--cluster-address",
        metavar="HOST",
        help="host name or IP other nodes reach this node's cluster port at (default: this "
        "host's address; env CLOUDSTATE_CLUSTER_ADDRESS)",
    )
    parser.add_argument(
        "--cluster-heartbeat",
        metavar="DURATION",
        help=f"how often a node renews its membership (default {d.cluster_heartbeat})",
    )
    parser.add_argument(
        "--cluster-member-ttl",
        metavar="DURATION",
        help="a node without a heartbeat for this long is dead and its entities move "
        f"(default {d.cluster_member_ttl})",
    )
    parser.add_argument(
        "--cluster-tls-cert",
        metavar="PEM",
        help="mutual TLS between the nodes: this node's certificate chain (with "
        "--cluster-tls-key and --cluster-tls-ca; env CLOUDSTATE_CLUSTER_TLS_CERT)",
    )
    parser.add_argument(
        "--cluster-tls-key",
        metavar="PEM",
        help="private key of --cluster-tls-cert (env CLOUDSTATE_CLUSTER_TLS_KEY)",
    )
    parser.add_argument(
        "--cluster-tls-ca",
        metavar="PEM",
        help="the CA that signs every node's --cluster-tls-cert; a peer without such a "
        "certificate is refused (env CLOUDSTATE_CLUSTER_TLS_CA)",
    )


def flag_and_env(name: str) -> str:
    """How a user sets the setting ``name``: its flag, and its environment variable if any
    (``flag_and_env("port") == "--port (or env HTTP_PORT)"``)."""
    flag = "--" + name.replace("_", "-")
    return f"{flag} (or env {_ENV[name]})" if name in _ENV else flag


def from_arguments(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ProxyConfig:
    """Build a config from parsed flags, the environment and defaults, unchecked (see
    :func:`cloudstate.proxy.config_check.load`, which also checks it); raises
    :class:`ConfigError` for an environment variable that is not of its setting's type."""
    env = dict(os.environ if environ is None else environ)
    config = ProxyConfig()
    for f in fields(ProxyConfig):
        var = _ENV.get(f.name)
        if var and env.get(var):
            try:
                setattr(config, f.name, _convert(f.name, env[var]))
            except ValueError:
                kind = type(getattr(config, f.name)).__name__
                problem = f"environment variable {var}={env[var]!r}: not a valid {kind}"
                raise ConfigError([problem]) from None
    if env.get("USER_FUNCTION_HOST") or env.get("USER_FUNCTION_PORT"):
        config.user_function = (
            f"{env.get('USER_FUNCTION_HOST', '127.0.0.1')}:{env.get('USER_FUNCTION_PORT', '8080')}"
        )
    for f in fields(ProxyConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            setattr(config, f.name, value)
    return config


def _convert(name: str, text: str) -> object:
    default = getattr(ProxyConfig(), name)
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text
