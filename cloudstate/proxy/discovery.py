"""Discovery: ask the user function what it serves, check it, and build the proxy's model."""

from __future__ import annotations

import asyncio
import logging

import grpc

from cloudstate import __version__  # the package face's one eager name
from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.proxy.crdt import protocol00
from cloudstate.proxy.crdt.protocol00 import CURRENT
from cloudstate.proxy.durable.tasks import DURABLE_CALLS_EXTENSION
from cloudstate.proxy.entities.deletion import LIFECYCLE_EXTENSION
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.model import ALL_ENTITY_TYPES, CRDT, UserFunctionModel, build_model
from cloudstate.proxy.workflows.definition import WORKFLOWS_EXTENSION

log = logging.getLogger(__name__)

PROTOCOL_MAJOR = 0
PROTOCOL_MINOR = 2
PROXY_NAME = "cloudstate-python-proxy"
#: Protocol extensions this proxy implements (ProxyInfo.extensions).
EXTENSIONS = (DURABLE_CALLS_EXTENSION, LIFECYCLE_EXTENSION, WORKFLOWS_EXTENSION)
#: Seconds of waiting for the user function before the first line about it, and between lines.
_FIRST_REPORT = 1.0
_REPORT_EVERY = 10.0


def proxy_info(supported_types: tuple[str, ...] = ALL_ENTITY_TYPES) -> entity_pb2.ProxyInfo:
    return entity_pb2.ProxyInfo(
        protocol_major_version=PROTOCOL_MAJOR,
        protocol_minor_version=PROTOCOL_MINOR,
        proxy_name=PROXY_NAME,
        proxy_version=__version__,
        supported_entity_types=list(supported_types),
        extensions=list(EXTENSIONS),
    )


def check_protocol_version(info: entity_pb2.ServiceInfo, strict: bool) -> None:
    """Refuse a user function whose protocol version this proxy cannot serve: another major
    version, or (with ``strict``) anything but 0.2. Every 0.x is served otherwise (see
    :func:`assign_protocols`)."""
    major, minor = info.protocol_major_version, info.protocol_minor_version
    if (major, minor) == (PROTOCOL_MAJOR, PROTOCOL_MINOR):
        return
    who = describe_user_function(info)
    if major != PROTOCOL_MAJOR:
        raise DiscoveryError(
            f"incompatible protocol version {major}.{minor}, only {PROTOCOL_MAJOR}."
            f"{PROTOCOL_MINOR} is supported (and older 0.x): serve {who} with a proxy for protocol "
            f"{major}.x, or build it with a language support reporting {CURRENT}"
        )
    if strict:
        raise DiscoveryError(
            f"incompatible protocol version {major}.{minor}, only {PROTOCOL_MAJOR}."
            f"{PROTOCOL_MINOR} is supported with --strict-protocol: upgrade {who} to a language "
            f"support reporting {CURRENT}, or leave out --strict-protocol to serve it"
        )


def assign_protocols(info: entity_pb2.ServiceInfo, model: UserFunctionModel) -> None:
    """Set the protocol version each service is served with (``ServiceModel.protocol``).

    A user function reporting 0.0 (the first language supports; ServiceInfo had no version
    fields before 0.2) or 0.1 speaks the earlier CRDT format, which differs from 0.2: its CRDT
    entities get the 0.0 format (:mod:`cloudstate.proxy.crdt.protocol00`). Event-sourced,
    value-entity and action messages did not change, so every other entity type is served as
    0.2; so is everything of a user function reporting a newer 0.x than this proxy knows.
    """
    major, minor = info.protocol_major_version, info.protocol_minor_version
    earlier_crdt = major == PROTOCOL_MAJOR and minor < PROTOCOL_MINOR
    for service in model.services.values():
        service.protocol = (
            protocol00.EARLIER if earlier_crdt and service.entity_type == CRDT else CURRENT
        )
    if (major, minor) == (PROTOCOL_MAJOR, PROTOCOL_MINOR):
        return
    if earlier_crdt:
        served = (
            "its CRDT entities are served with the earlier 0.0 CRDT format, every other entity "
            "type with 0.2 (their messages did not change)"
        )
    else:
        served = f"newer than this proxy's {CURRENT}: every entity type is served with {CURRENT}"
    log.warning(
        "%s reports protocol version %d.%d: %s; --strict-protocol refuses it",
        describe_user_function(info),
        major,
        minor,
        served,
    )


def describe_user_function(info: entity_pb2.ServiceInfo, target: str = "") -> str:
    """``user function 'shop' version 1.2 (language support cloudstate-java-support 0.4.3)``; a
    user function that reports no service name is named by its address."""
    if info.service_name:
        name = f"user function {info.service_name!r}"
        if info.service_version:
            name += f" version {info.service_version}"
    elif target:
        name = f"user function at {target} (it reports no service name)"
    else:
        name = "user function (it reports no service name)"
    library = info.support_library_name or "unknown"
    version = info.support_library_version or "version not reported"
    return f"{name} (language support {library} {version})"


async def discover(
    channel: grpc.aio.Channel,
    *,
    strict_protocol: bool = False,
    supported_types: tuple[str, ...] = ALL_ENTITY_TYPES,
    min_backoff: float = 0.1,
    max_backoff: float = 2.0,
    attempt_timeout: float = 5.0,
    give_up_after: float | None = None,
    hint: str = "",
    target: str = "",
) -> UserFunctionModel:
    """Call ``discover`` until the user function answers (retrying with exponential backoff on
    transport errors), then validate the spec. An invalid spec is reported to the user function
    with ``reportError`` and raised as DiscoveryError: retrying cannot fix it. ``hint`` is added
    to the messages about an unreachable user function (e.g. what to check with TLS); ``target``
    (its address) is named in them.

    Retries start at ``min_backoff`` and double up to ``max_backoff`` (a user function started
    together with the proxy answers within a second or two; one started later is found at most
    ``max_backoff`` after it listens). The first seconds are quiet; then a line says what the
    proxy waits for, and another every ``_REPORT_EVERY`` seconds."""
    stub = entity_pb2_grpc.EntityDiscoveryStub(channel)
    loop = asyncio.get_running_loop()
    started = loop.time()
    backoff = min_backoff
    report_at = _FIRST_REPORT
    who = f"user function at {target}" if target else "user function"
    while True:
        waited = loop.time() - started
        timeout = attempt_timeout
        if give_up_after is not None:
            timeout = max(0.5, min(attempt_timeout, give_up_after - waited))
        try:
            spec: entity_pb2.EntitySpec = await stub.discover(
                proxy_info(supported_types), timeout=timeout, wait_for_ready=False
            )
            break
        except grpc.aio.AioRpcError as e:
            waited = loop.time() - started
            if give_up_after is not None and waited >= give_up_after:
                raise DiscoveryError(
                    f"{who} did not answer discovery within {give_up_after:g}s: "
                    f"{e.code().name} {e.details()}{hint}"
                ) from e
            # A user function started together with the proxy takes a moment: stay quiet first.
            level = logging.DEBUG
            if waited >= report_at:
                level = logging.INFO if waited < 30 else logging.WARNING
                report_at = waited + _REPORT_EVERY
            log.log(
                level,
                "%s not reachable yet (%s: %s%s); waited %.0fs, retrying every %gs%s",
                who,
                e.code().name,
                e.details(),
                hint,
                waited,
                max_backoff,
                f", giving up after {give_up_after:g}s" if give_up_after else "",
            )
            delay = backoff
            if give_up_after is not None:
                delay = max(0.0, min(delay, give_up_after - waited))
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, max_backoff)
    try:
        check_protocol_version(spec.service_info, strict_protocol)
        model = build_model(spec, supported_types)
        assign_protocols(spec.service_info, model)
    except DiscoveryError as e:
        log.error("cannot serve the user function: %s", e)
        e.logged = True
        try:
            await stub.reportError(entity_pb2.UserFunctionError(message=str(e)), timeout=5)
        except grpc.aio.AioRpcError as report_error:
            log.warning("could not report the error to the user function: %s", report_error)
        raise
    info = spec.service_info
    log.info(
        "discovered %s, runtime %s, protocol %d.%d: %s",
        describe_user_function(info, target),
        info.service_runtime or "not reported",
        info.protocol_major_version,
        info.protocol_minor_version,
        ", ".join(
            f"{s.name} [{s.entity_type.rsplit('.', 1)[-1]}, served with protocol {s.protocol}]"
            for s in model.services.values()
        ),
    )
    return model


async def report_error(channel: grpc.aio.Channel, message: str) -> None:
    """Tell the user function about an error it caused; never raises."""
    try:
        await entity_pb2_grpc.EntityDiscoveryStub(channel).reportError(
            entity_pb2.UserFunctionError(message=message), timeout=5
        )
    except grpc.aio.AioRpcError as e:
        log.debug("reportError failed: %s", e)
