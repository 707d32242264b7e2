"""Discovery: ask the user function what it serves, check it, and build the proxy's model."""

from __future__ import annotations

import asyncio
import logging

import grpc

from cloudstate import __version__  # the package face's one eager name
from cloudstate.protocol import entity_pb2, entity_pb2_grpc
from cloudstate.proxy.durable.tasks import DURABLE_CALLS_EXTENSION
from cloudstate.proxy.errors import DiscoveryError
from cloudstate.proxy.model import ALL_ENTITY_TYPES, UserFunctionModel, build_model

log = logging.getLogger(__name__)

PROTOCOL_MAJOR = 0
PROTOCOL_MINOR = 2
PROXY_NAME = "cloudstate-python-proxy"
#: Protocol extensions this proxy implements (ProxyInfo.extensions).
EXTENSIONS = (DURABLE_CALLS_EXTENSION,)
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
    """Accept 0.x (old supports report 0.0) with a warning unless ``strict``; reject others."""
    major, minor = info.protocol_major_version, info.protocol_minor_version
    if (major, minor) == (PROTOCOL_MAJOR, PROTOCOL_MINOR):
        return
    message = (
        f"incompatible protocol version {major}.{minor}, only "
        f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR} is supported"
    )
    if strict or major != PROTOCOL_MAJOR:
        raise DiscoveryError(message)
    log.warning(
        "user function %s (%s %s) reports protocol version %d.%d; serving it as %d.%d "
        "(use --strict-protocol to refuse)",
        info.service_name or "?",
        info.support_library_name or "unknown library",
        info.support_library_version,
        major,
        minor,
        PROTOCOL_MAJOR,
        PROTOCOL_MINOR,
    )


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
    except DiscoveryError as e:
        log.error("cannot serve the user function: %s", e)
        try:
            await stub.reportError(entity_pb2.UserFunctionError(message=str(e)), timeout=5)
        except grpc.aio.AioRpcError as report_error:
            log.warning("could not report the error to the user function: %s", report_error)
        raise
    info = spec.service_info
    log.info(
        "discovered %s: %s (library %s %s, runtime %s, protocol %d.%d)",
        info.service_name or "user function",
        ", ".join(
            f"{s.name} [{s.entity_type.rsplit('.', 1)[-1]}]" for s in model.services.values()
        ),
        info.support_library_name or "?",
        info.support_library_version or "?",
        info.service_runtime or "?",
        info.protocol_major_version,
        info.protocol_minor_version,
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
