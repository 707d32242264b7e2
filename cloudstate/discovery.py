"""The ``cloudstate.EntityDiscovery`` service: tells the proxy what this user function serves,
and remembers what the proxy supports (:func:`cloudstate.durable.record_proxy`)."""

from __future__ import annotations

import importlib.metadata
import logging
import platform
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, empty_pb2
from google.protobuf.descriptor import FileDescriptor

import cloudstate
from cloudstate.durable import record_proxy
from cloudstate.protocol import entity_pb2
from cloudstate.registry import EntityDefinition

log = logging.getLogger(__name__)


def library_version() -> str:
    """``cloudstate.__version__`` (falling back to the installed distribution's version, for
    when the package was imported as a namespace package, e.g. via some editable installs)."""
    version = getattr(cloudstate, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version("cloudstate")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


PROTOCOL_MAJOR_VERSION = 0
PROTOCOL_MINOR_VERSION = 2
SUPPORT_LIBRARY_NAME = "cloudstate-python"


def file_descriptor_set(files: Iterable[FileDescriptor]) -> descriptor_pb2.FileDescriptorSet:
    """``files`` and all their transitive imports, each once, every file after its imports.

    This is what ``protoc --include_imports --descriptor_set_out`` writes.
    """
    result = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def visit(fd: FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dependency in fd.dependencies:
            visit(dependency)
        result.file.append(descriptor_pb2.FileDescriptorProto.FromString(fd.serialized_pb))

    for fd in files:
        visit(fd)
    return result


class EntityDiscoveryServicer:
    """Answers ``discover`` (always the same ``EntitySpec``) and logs ``reportError``."""

    def __init__(
        self,
        entities: Sequence[EntityDefinition],
        service_name: str | None = None,
        service_version: str | None = None,
    ) -> None:
        self._entities = list(entities)
        self._service_name = service_name
        self._service_version = service_version
        self._spec: entity_pb2.EntitySpec | None = None

    def entity_spec(self) -> entity_pb2.EntitySpec:
        """The ``EntitySpec`` sent to the proxy (computed once)."""
        if self._spec is None:
            files: list[FileDescriptor] = []
            for entity in self._entities:
                files.extend(entity.file_descriptors)
            default_name = self._entities[0].service_descriptor.full_name if self._entities else ""
            self._spec = entity_pb2.EntitySpec(
                proto=file_descriptor_set(files).SerializeToString(deterministic=True),
                entities=[entity.entity_spec() for entity in self._entities],
                service_info=entity_pb2.ServiceInfo(
                    service_name=self._service_name or default_name,
                    service_version=self._service_version or "",
                    service_runtime=f"Python {platform.python_version()}",
                    support_library_name=SUPPORT_LIBRARY_NAME,
                    support_library_version=library_version(),
                    protocol_major_version=PROTOCOL_MAJOR_VERSION,
                    protocol_minor_version=PROTOCOL_MINOR_VERSION,
                ),
            )
        return self._spec

    async def discover(
        self, request: entity_pb2.ProxyInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> entity_pb2.EntitySpec:
        log.info(
            "Discovery call from proxy %s %s (protocol %d.%d), supporting entity types: %s; "
            "extensions: %s",
            request.proxy_name or "<unnamed>",
            request.proxy_version or "<unversioned>",
            request.protocol_major_version,
            request.protocol_minor_version,
            ", ".join(request.supported_entity_types) or "<none>",
            ", ".join(request.extensions) or "<none>",
        )
        # Durable effects and timers are sent only to a proxy that listed their extension
        # (cloudstate.durable): a 0.2 proxy would perform them at once as ordinary effects.
        record_proxy(request)
        if request.protocol_major_version != PROTOCOL_MAJOR_VERSION:
            log.warning(
                "Proxy speaks protocol %d.%d; this library speaks %d.%d",
                request.protocol_major_version,
                request.protocol_minor_version,
                PROTOCOL_MAJOR_VERSION,
                PROTOCOL_MINOR_VERSION,
            )
        missing = self.missing_extensions(request)
        if missing:
            log.error("%s", missing)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, missing)
        supported = set(request.supported_entity_types)
        for entity in self._entities:
            if supported and entity.kind.entity_type not in supported:
                log.warning(
                    "Proxy does not support entity type %s needed by %s",
                    entity.kind.entity_type,
                    entity.service_descriptor.full_name,
                )
        return self.entity_spec()

    def missing_extensions(self, request: entity_pb2.ProxyInfo) -> str:
        """Why this proxy cannot be told about some component (one line), or ``""``: a kind that
        is a protocol extension is announced only to a proxy listing that extension, since any
        other would route its calls to a service it does not speak."""
        listed = set(request.extensions)
        lacking = [
            (entity.service_descriptor.full_name, entity.kind.extension)
            for entity in self._entities
            if entity.kind.extension is not None and entity.kind.extension not in listed
        ]
        if not lacking:
            return ""
        proxy = (
            f"{request.proxy_name or '<unnamed proxy>'} {request.proxy_version or '<unversioned>'}"
        )
        needs = "; ".join(f"{name} needs {extension}" for name, extension in lacking)
        return (
            f"proxy {proxy} does not list the protocol extensions this user function needs "
            f"({needs}; the proxy lists: {', '.join(sorted(listed)) or 'none'}): run a proxy "
            "that supports them, or do not register these components"
        )

    async def reportError(
        self, request: entity_pb2.UserFunctionError, context: grpc.aio.ServicerContext[Any, Any]
    ) -> empty_pb2.Empty:
        log.error("Proxy reported an error: %s", request.message)
        return empty_pb2.Empty()
