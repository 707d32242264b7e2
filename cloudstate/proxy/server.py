"""The proxy process: store, discovery, entity handlers, router and the client-facing server.

One concern: assembling the proxy. Every part lives in its own package (ingress, entities,
durable, workflows, eventing, views, admin); this module starts them in order and stops them in
reverse, and holds no logic of theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from pathlib import Path
from typing import Any

import grpc

from cloudstate.proxy import metrics
from cloudstate.proxy.admin.server import AdminPort
from cloudstate.proxy.auth import JwtAuthenticator
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.discovery import discover, proxy_info, report_error
from cloudstate.proxy.durable.delivery import Delivery
from cloudstate.proxy.durable.idempotency import Idempotency
from cloudstate.proxy.durable.idempotency_trim import IdempotencyTrim, parse_retention
from cloudstate.proxy.durable.scheduler import DurableScheduler, DurableSettings
from cloudstate.proxy.durable.schedules import discover_schedules, upsert_schedules
from cloudstate.proxy.durable.tasks import DurableTasks
from cloudstate.proxy.durations import parse_duration
from cloudstate.proxy.entities import HANDLER_FACTORIES
from cloudstate.proxy.entities.actor import EntityManager
from cloudstate.proxy.entities.base import EntityHandler
from cloudstate.proxy.entities.deletion import PURGE_TASK_PREFIX, lifecycle_settings, run_purge
from cloudstate.proxy.entities.event_sourced import EntitySettings, EventSourcedHandler
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.eventing import EventingManager
from cloudstate.proxy.eventing.attempts import MaxAttempts
from cloudstate.proxy.eventing.operations import EventingOperations
from cloudstate.proxy.expiry_purge import ExpiryPurge, parse_interval
from cloudstate.proxy.ingress.grpc_ingress import add_user_services
from cloudstate.proxy.ingress.http_ingress import ClientIngress
from cloudstate.proxy.model import CRDT, WORKFLOW, UserFunctionModel, auth_options
from cloudstate.proxy.reannounce import Announcer
from cloudstate.proxy.router import Router
from cloudstate.proxy.signals import StopSignals
from cloudstate.proxy.stores.base import Store
from cloudstate.proxy.stores.registry import open_store
from cloudstate.proxy.tracing import Tracing
from cloudstate.proxy.views import ViewManager
from cloudstate.proxy.workers.cluster import ClusterNode, ClusterSettings
from cloudstate.proxy.workers.cluster_tls import ClusterTls
from cloudstate.proxy.workers.node import WorkerNode, worker_node
from cloudstate.proxy.workflows.events import WorkflowEvents
from cloudstate.proxy.workflows.wiring import WorkflowWiring

log = logging.getLogger(__name__)

#: Seconds streamed calls still open at shutdown get once the unary calls are answered (the last
#: replies reach the wire), before they are cancelled.
_STREAM_CUTOFF = 0.5

#: Entity types this proxy serves (advertised to the user function in ProxyInfo).
SUPPORTED_ENTITY_TYPES = tuple(HANDLER_FACTORIES)

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Reconnect to a user function that is not (or no longer) listening at least every second:
    # discovery retries every 2 s, and grpc's own backoff grows to 2 minutes (a user function
    # started a minute after the proxy was found only 10-20 s after it listened).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


#: The dead letters gauge counts at most this many (a scrape reads them all).
DEAD_LETTERS_COUNTED = 100_000


def durable_settings(config: ProxyConfig) -> DurableSettings:
    """The delivery loop's settings from the ``--durable-*`` flags (checked by config_check)."""
    return DurableSettings(
        max_attempts=config.durable_max_attempts,
        retry_min=parse_duration(config.durable_retry_min),
        retry_max=parse_duration(config.durable_retry_max),
        concurrency=config.durable_concurrency,
    )


_TLS_HINT = (
    "; TLS to the user function: check that --uf-tls-ca signed its certificate (and that the "
    "certificate names the --user-function host), and that --uf-tls-cert/--uf-tls-key are a "
    "client certificate it accepts"
)


def user_function_channel(config: ProxyConfig) -> grpc.aio.Channel:
    """The channel to the user function: plaintext, or TLS with ``--uf-tls-ca`` (plus a client
    certificate with ``--uf-tls-cert``/``--uf-tls-key``: mTLS)."""
    if not config.uf_tls_ca:
        if config.uf_tls_cert or config.uf_tls_key:
            raise ValueError("--uf-tls-cert/--uf-tls-key need --uf-tls-ca (the CA to trust)")
        return grpc.aio.insecure_channel(config.user_function, options=_CHANNEL_OPTIONS)
    if bool(config.uf_tls_cert) != bool(config.uf_tls_key):
        raise ValueError("--uf-tls-cert and --uf-tls-key go together (client certificate and key)")
    files = {"--uf-tls-ca": config.uf_tls_ca}
    if config.uf_tls_cert:
        files.update({"--uf-tls-cert": config.uf_tls_cert, "--uf-tls-key": config.uf_tls_key})
    pem: dict[str, bytes] = {}
    for flag, path in files.items():
        try:
            pem[flag] = Path(path).read_bytes()
        except OSError as error:
            raise ValueError(f"{flag} {path}: cannot read it ({error.strerror})") from None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pem["--uf-tls-ca"],
        private_key=pem.get("--uf-tls-key"),
        certificate_chain=pem.get("--uf-tls-cert"),
    )
    return grpc.aio.secure_channel(config.user_function, credentials, options=_CHANNEL_OPTIONS)


def admin_tls_context(config: ProxyConfig) -> ssl.SSLContext | None:
    """The admin port's TLS context (``--admin-tls-cert``/``--admin-tls-key``), or None."""
    if not config.admin_tls_cert and not config.admin_tls_key:
        return None
    if not config.admin_tls_cert or not config.admin_tls_key:
        raise ValueError("--admin-tls-cert and --admin-tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["h2", "http/1.1"])  # gRPC clients need h2 over TLS
    try:
        context.load_cert_chain(config.admin_tls_cert, config.admin_tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(
            f"--admin-tls-cert {config.admin_tls_cert} / --admin-tls-key "
            f"{config.admin_tls_key}: cannot load them ({error})"
        ) from None
    return context


def admin_claim(config: ProxyConfig) -> tuple[str, str] | None:
    """``--admin-jwt-claim CLAIM=VALUE`` as (claim, value); None when not set."""
    if not config.admin_jwt_claim:
        return None
    claim, _, value = config.admin_jwt_claim.partition("=")
    return claim.strip(), value


def cluster_settings(config: ProxyConfig) -> ClusterSettings:
    """The cluster knobs of ``config`` (a worker's config has its own port already); the TLS
    files are loaded here (:class:`ClusterTlsError`, a ValueError, names a bad one)."""
    tls = None
    if config.cluster_tls_cert:
        tls = ClusterTls.load(
            config.cluster_tls_cert, config.cluster_tls_key, config.cluster_tls_ca
        )
    return ClusterSettings(
        port=config.cluster_port,
        host=config.cluster_host or config.host,
        address=config.cluster_address,
        heartbeat=parse_duration(config.cluster_heartbeat),
        ttl=parse_duration(config.cluster_member_ttl),
        tls=tls,
    )


class Proxy:
    """A running proxy.

    Example::

        proxy = Proxy(ProxyConfig(user_function="127.0.0.1:8080", port=0, store="memory:"))
        await proxy.start()          # discovers the user function, then serves
        print(proxy.port)
        await proxy.stop()
    """

    def __init__(self, config: ProxyConfig, *, tracer_provider: Any = None) -> None:
        self.config = config
        #: An OpenTelemetry TracerProvider for the proxy's spans (embedding, tests); else
        #: ``config.tracing`` builds an OTLP-exporting one.
        self.tracer_provider = tracer_provider
        self.tracing: Tracing | None = None
        self.port = 0
        self.store: Store | None = None
        self.model: UserFunctionModel | None = None
        self.router: Router | None = None
        self.eventing: EventingManager | None = None
        self.views: ViewManager | None = None
        #: Dead letters, resets and rebuilds of this proxy's consumers (the admin API's).
        self.operations: EventingOperations | None = None
        #: Delivers durable side effects, timers and schedule ticks (one node at a time).
        self.scheduler: DurableScheduler | None = None
        self._channel: grpc.aio.Channel | None = None
        #: Calls discover again after the user function restarted (it forgot this proxy).
        self._announcer: Announcer | None = None
        self._server: grpc.aio.Server | None = None
        self._handlers: dict[str, EntityHandler] = {}
        self._health = None
        self._ingress: ClientIngress | None = None
        self._stopped = asyncio.Event()
        self._admin: AdminPort | None = None
        self._idempotency_trim: IdempotencyTrim | None = None
        self.worker: WorkerNode | None = None
        #: Purges the values whose time-to-live ran out (one node at a time).
        self.expiry_purge: ExpiryPurge | None = None
        #: This node's part in a cluster (--cluster-port), None when it runs alone.
        self.cluster: ClusterNode | None = None
        #: The workflow services' engines (empty when the user function has none).
        self.workflows = WorkflowWiring()
        #: The admin port (the admin API and ``/metrics``), once started; 0 when off.
        self.admin_port = 0

    @property
    def handlers(self) -> dict[str, EntityHandler]:
        """The entity handlers by service name (the admin API reads which entities are active)."""
        return self._handlers

    def _admin_auth(self) -> JwtAuthenticator | None:
        """The admin API's token check: the client port's key, issuer and audience; no
        anonymous methods (``--jwt-allow-anonymous`` is for the client port)."""
        config = self.config
        if not config.jwt_key:
            return None
        return JwtAuthenticator.from_file(
            config.jwt_key, issuer=config.jwt_issuer, audience=config.jwt_audience
        )

    async def start(self) -> None:
        config = self.config
        self.store = await open_store(config.store)
        if config.cluster_port >= 0:
            # Nodes in a cluster (docs/scale-out.md): every proxy process is a member, a worker
            # of --workers N too (on the cluster port + its index), so no worker-level channel.
            self.cluster = ClusterNode(self.store, cluster_settings(config), config.command_timeout)
        else:
            # One of several workers on this node (--workers): forwards commands to their owners.
            self.worker = worker_node(self.store, config.command_timeout)
        # The client port listens from the start (HTTP /health/live answers during discovery);
        # calls wait for / are refused until discovery is done (see ingress/http_ingress.py).
        self._ingress = ClientIngress(config)
        self.port = await self._ingress.bind()
        if config.admin_port >= 0:
            self._admin = AdminPort(
                self,
                config.admin_host,
                config.admin_port,
                tls=admin_tls_context(config),
                auth=self._admin_auth(),
                claim=admin_claim(config),
                refresh=self._refresh_metrics,
                console=config.console,
            )
            self.admin_port = await self._admin.start()
        self._channel = user_function_channel(config)
        channel = self._channel

        async def report(message: str) -> None:
            await report_error(channel, message)

        self.model = await discover(
            channel,
            strict_protocol=config.strict_protocol,
            supported_types=SUPPORTED_ENTITY_TYPES,
            give_up_after=config.discovery_timeout or None,
            hint=_TLS_HINT if config.uf_tls_ca else "",
            target=config.user_function,
        )
        self._announcer = Announcer(
            channel,
            proxy_info(SUPPORTED_ENTITY_TYPES),
            timeout=config.command_timeout,
            services={(s.name, s.entity_type) for s in self.model.services.values()},
        )
        self._announcer.start()
        settings = EntitySettings(
            passivation_timeout=config.passivation_timeout,
            command_timeout=config.command_timeout,
            max_requests_per_entity=config.max_requests_per_entity,
        )
        for service in self.model.services.values():
            factory = HANDLER_FACTORIES[service.entity_type]  # discovery admitted only these
            self._handlers[service.name] = factory(service, channel, self.store, settings, report)
            handler = self._handlers[service.name]
            if isinstance(handler, EventSourcedHandler):
                handler.deletion_grace, handler.compaction = lifecycle_settings(
                    config, service.name
                )
            if service.entity_type == CRDT and self.store.shared:
                log.info(
                    "%s is a CRDT service on a shared store: nodes merge their states on every "
                    "write; a node sees other nodes' changes when it next writes or activates the "
                    "entity (no push between nodes yet, docs/scale-out.md)",
                    service.name,
                )
        self.workflows = WorkflowWiring(
            {
                n: h
                for n, h in self._handlers.items()
                if self.model.services[n].entity_type == WORKFLOW
            }
        )
        try:
            await self.workflows.describe(channel, within=config.command_timeout)
        except DiscoveryError as error:
            await report(str(error))
            raise
        self._announcer.after_announce = lambda: self.workflows.describe_again(
            channel, within=config.command_timeout
        )
        attempts = MaxAttempts.parse(config.eventing_max_attempts)
        self.views = ViewManager(self.model, self.store, max_attempts=attempts)
        try:
            self.views.prepare(self._handlers)  # queries of view services are answered by it
        except DiscoveryError as error:
            await report(str(error))
            raise
        try:
            schedules = discover_schedules(self.model)
        except DiscoveryError as error:
            await report(str(error))
            raise
        self.router = Router(
            self.model,
            self._handlers,
            report,
            max_forward_depth=config.max_forward_depth,
            max_async_effects=config.max_async_effects,
            max_requests=config.max_concurrent_requests,
            max_streams=config.max_streams,
            max_queued=config.max_queued_requests,
            queue_timeout=config.queue_timeout,
        )
        if config.jwt_key:
            self.router.auth = JwtAuthenticator.from_file(
                config.jwt_key,
                issuer=config.jwt_issuer,
                audience=config.jwt_audience,
                anonymous=config.jwt_allow_anonymous.split(","),
            )
            self.router.auth.use_proto_rules(self.model)
            self.router.public_docs = config.public_api_docs
        elif any(not auth.internal for auth in auth_options(self.model).values()):
            log.warning(
                "the user function declares cloudstate.auth rules but --jwt-key is not set: "
                "every method is open to clients (but internal ones)"
            )
        if self.tracer_provider is not None:
            self.tracing = self.router.tracing = Tracing(self.tracer_provider)
        elif config.tracing:
            self.tracing = self.router.tracing = Tracing.otlp()
        self._attach_cancel_effects(self.router)
        durable = DurableTasks(self.model, self.store)
        self.router.durable = durable
        for handler in self._handlers.values():
            if isinstance(handler, EntityManager):
                handler.durable = durable
        delivery = Delivery(self.router, timeout=2 * config.command_timeout)
        delivery.internal[PURGE_TASK_PREFIX] = functools.partial(run_purge, self.store)
        self.workflows.attach(self.router, durable, delivery)
        self.scheduler = DurableScheduler(
            self.store,
            # A delivery may wait for its entity and run forwards: twice the command timeout.
            delivery,
            durable_settings(config),
            schedules,
        )
        durable.notify = self.scheduler.notify
        await self.workflows.resume_interrupted(self.store, durable)
        await upsert_schedules(self.store, schedules, time.time())
        self._attach_idempotency(self.router, self.store)
        if self.worker is not None:  # before anyone is served: every command finds its owner
            await self.worker.join(self.model, self._handlers)
        if self.cluster is not None:
            await self.cluster.join(self.model, self._handlers)
        self.eventing = EventingManager(
            self.model, self.router, self.store, self._handlers, max_attempts=attempts
        )
        self.eventing.configure_topics(
            broker=config.broker,
            broker_stream=config.broker_stream,
            broker_subject_prefix=config.broker_subject_prefix,
            retention=config.topic_retention,
            retention_messages=config.topic_retention_messages,
        )
        self.eventing.exclude_services = self.views.services
        try:
            await self.eventing.start()
        except DiscoveryError as error:
            await report(str(error))
            raise
        await self.views.start(self.router, self.eventing)
        self.operations = EventingOperations(self.store, self._wake_consumer)
        await self._ingress.activate(self.model, self.router, report)
        if self.workflows.engines:
            self._ingress.api.workflow_events = WorkflowEvents(
                self.workflows.engines,
                self.model.pool,
                self.router.check_client_access,
                self._ingress.api.options.json,
            )
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", config.max_message_size),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                # A --grpc-port another process holds is an error, not a port shared with it.
                ("grpc.so_reuseport", 0),
            ]
        )
        self._health = await add_user_services(self._server, self.model, self.router)
        self._ingress.add_grpc_ports(self._server)  # internal socket (+ --grpc-port)
        await self._server.start()
        self._ingress.grpc_started()
        self.scheduler.start()
        log.info(
            "proxy serving %s on %s:%d (store %s)",
            ", ".join(self.model.services),
            config.host,
            self.port,
            self.store.name,
        )

    def _wake_consumer(self, consumer_id: str) -> None:
        """An operation changed what ``consumer_id`` should do: have it look now."""
        consumers: list[Any] = []
        if self.eventing is not None:
            consumers += self.eventing.consumers
        if self.views is not None:
            consumers += self.views.consumers
        for consumer in consumers:
            if consumer.consumer_id == consumer_id:
                consumer.notify_redrive()

    async def _refresh_metrics(self) -> None:
        """Read the gauges that are polled rather than pushed (eventing consumers' lag, durable
        tasks)."""
        if self.store is not None and self.scheduler is not None:
            pending, overdue = await self.store.count_tasks(time.time())
            metrics.DURABLE_PENDING.set(pending)
            metrics.DURABLE_OVERDUE.set(overdue)
            dead = await self.store.list_dead_letters(limit=DEAD_LETTERS_COUNTED)
            metrics.DEAD_LETTERS.set(len(dead))
        if self.eventing is None:
            return
        parked = await self.store.count_parked() if self.store is not None else {}
        statuses = await self.eventing.status()
        if self.views is not None:
            statuses += await self.views.status()  # views' consumers: lag per view and source
        for status in statuses:
            labels = (status.consumer_id, status.source)
            metrics.EVENTING_LAG.labels(*labels).set(status.lag_seconds)
            pending = max(0, status.head_offset - status.committed_offset)
            metrics.EVENTING_PENDING.labels(*labels).set(pending)
            metrics.EVENTING_FAILURES.labels(*labels).set(status.failures)
            metrics.EVENTING_DEAD_LETTERS.labels(status.consumer_id).set(
                parked.pop(status.consumer_id, 0)
            )
        for consumer_id, count in parked.items():  # consumers this proxy does not run
            metrics.EVENTING_DEAD_LETTERS.labels(consumer_id).set(count)

    def _attach_idempotency(self, router: Router, store: Store) -> None:
        """Idempotency keys: entities deduplicate in their actors, the router for the rest;
        one node at a time deletes the expired keys."""
        retention = parse_retention(self.config.idempotency_retention)
        keys = Idempotency(store, retention)
        router.idempotency = keys
        for handler in self._handlers.values():
            if isinstance(handler, EntityManager):
                handler.idempotency = keys
        for engine in self.workflows.engines.values():
            engine.idempotency = keys  # answers stored with the workflow's record
        self._idempotency_trim = IdempotencyTrim(store, retention)
        self._idempotency_trim.start()
        self.expiry_purge = ExpiryPurge(store, parse_interval(self.config.ttl_purge_interval))
        self.expiry_purge.start()

    def _attach_cancel_effects(self, router: Router) -> None:
        """Let CRDT handlers run the side effects of cancelled streams through the router."""
        assert self.model is not None
        for name, handler in self._handlers.items():
            if hasattr(handler, "on_cancel_effects"):
                first = next(iter(self.model.services[name].methods.values()))

                async def run(effects: list[Any], method: Any = first) -> None:
                    await router.run_side_effects(method, effects)

                handler.on_cancel_effects = run

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish, passivate entities, close the store."""
        grace = self.config.shutdown_grace if grace is None else grace
        if self._ingress is not None:
            self._ingress.set_draining()
            await self._ingress.stop_accepting()
        if self.scheduler is not None:
            await self.scheduler.stop()  # deliveries in flight are cancelled, delivered later
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        grace = await self._finish_unary_calls(grace)
        if self._server is not None:
            await self._server.stop(grace)
        if self._ingress is not None:
            await self._ingress.close(grace)
        if self.views is not None:
            await self.views.stop()
        if self._idempotency_trim is not None:
            await self._idempotency_trim.stop()
        if self.expiry_purge is not None:
            await self.expiry_purge.stop()
        if self.eventing is not None:
            await self.eventing.stop()
        if self.worker is not None:
            await self.worker.close()
        if self.cluster is not None:
            await self.cluster.close()
        for handler in self._handlers.values():
            await handler.close()
        if self.router is not None:
            await self.router.drain()
        if self._announcer is not None:
            await self._announcer.stop()
        if self._channel is not None:
            await self._channel.close(None)
        if self.store is not None:
            await self.store.close()
        if self._admin is not None:
            await self._admin.close()
        if self.tracing is not None and self.tracer_provider is None:
            self.tracing.shutdown()  # flushes the last spans to the exporter
        self._stopped.set()

    async def _finish_unary_calls(self, grace: float) -> float:
        """Wait (at most ``grace`` seconds) until no unary call is in flight; return the grace
        left for stopping the servers.

        Streamed calls such as CRDT subscriptions or SSE feeds may never end by themselves:
        waiting the whole grace for them would only delay every rolling update. Once the unary
        calls are answered, the streams still open get a short moment and are then cancelled
        (their clients see the stream end with an error and reconnect to another node)."""
        router = self.router
        if router is None:
            return grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # Polled (once, at shutdown) rather than signalled: no extra work on the hot path.
        while router.requests_in_flight > router.streams_open and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        left = max(0.0, deadline - loop.time())
        if router.requests_in_flight == router.streams_open and router.streams_open:
            log.info(
                "shutdown: cancelling %d open streamed calls (unary calls done)",
                router.streams_open,
            )
            return min(left, _STREAM_CUTOFF)
        return left

    async def run_until_signalled(self) -> None:
        """Start, serve until SIGTERM or SIGINT, then stop gracefully; a signal during the
        start (discovery) ends it too, and one during the stop ends the process at once
        (:mod:`cloudstate.proxy.signals`)."""
        signals = StopSignals.install()
        try:
            # A signal during discovery (the client port already listens) stops the start too.
            starting = asyncio.ensure_future(self.start())
            stopping = asyncio.ensure_future(signals.requested.wait())
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                stopping.cancel()
                starting.result()
                await signals.requested.wait()
            else:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
            log.info("stopping the proxy")
        finally:
            signals.stopping()
            await self.stop()
