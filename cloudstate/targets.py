"""Naming another service's method for a forward or a side effect, checked against descriptors.

Every context that can forward or add side effects (event-sourced and value-entity commands,
actions, ...) resolves its target here, so all accept the same forms and give the same errors::

    ShoppingCart = service(shoppingcart_pb2.DESCRIPTOR.services_by_name["ShoppingCart"])

    ctx.forward(ShoppingCart.AddItem, AddLineItem(user_id="alice", ...))      # a ServiceRef
    ctx.forward(shoppingcart_pb2._SHOPPINGCART.methods_by_name["AddItem"], msg)  # a descriptor
    ctx.forward(shoppingcart_pb2_grpc.ShoppingCart.AddItem, msg)               # generated code
    ctx.forward("com.example.shoppingcart.ShoppingCart", "AddItem", msg)       # by name
    ctx.forward("com.example.shoppingcart.ShoppingCart/AddItem", msg)          # by path

The target must exist in a descriptor the user function knows (the files of its entities, or any
imported generated module) and the message must be the method's input type; otherwise a
``ValueError`` / ``TypeError`` names the problem when the handler calls ``forward`` / ``effect``,
not later in the proxy.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from google.protobuf import any_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message

from cloudstate.any_support import AnySupport, pack, pack_message
from cloudstate.protocol import entity_pb2

_ANY = "google.protobuf.Any"

MetadataLike = Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]


class ServiceRef:
    """A service whose methods are attributes: ``ShoppingCart.AddItem`` is the method's
    :class:`~google.protobuf.descriptor.MethodDescriptor`, ready for ``ctx.forward`` /
    ``ctx.effect``. An unknown method is an ``AttributeError`` listing the service's methods.

    >>> ShoppingCart = service("com.example.shoppingcart.ShoppingCart")  # doctest: +SKIP
    >>> ShoppingCart.AddItem.full_name                                   # doctest: +SKIP
    'com.example.shoppingcart.ShoppingCart.AddItem'
    """

    __slots__ = ("descriptor",)

    def __init__(self, descriptor: ServiceDescriptor) -> None:
        if not isinstance(descriptor, ServiceDescriptor):
            raise TypeError(f"ServiceRef needs a ServiceDescriptor, not {descriptor!r}")
        self.descriptor = descriptor

    @property
    def full_name(self) -> str:
        return str(self.descriptor.full_name)

    def __getattr__(self, name: str) -> MethodDescriptor:
        if name.startswith("__"):
            raise AttributeError(name)
        method = self.descriptor.methods_by_name.get(name)
        if method is None:
            raise AttributeError(
                f"service {self.descriptor.full_name} has no method {name!r}; its methods: "
                f"{', '.join(self.descriptor.methods_by_name)}"
            )
        return method

    def __dir__(self) -> list[str]:
        return sorted(self.descriptor.methods_by_name)

    def __repr__(self) -> str:
        return f"ServiceRef({self.descriptor.full_name})"


def service(target: ServiceDescriptor | str, pool: DescriptorPool | None = None) -> ServiceRef:
    """A :class:`ServiceRef` for a service descriptor or a service's full name (looked up in
    ``pool``, default: the default pool where generated ``*_pb2`` modules register)::

        ShoppingCart = service("com.example.shoppingcart.ShoppingCart")
        ctx.forward(ShoppingCart.AddItem, AddLineItem(user_id="alice", quantity=1))
    """
    if isinstance(target, ServiceDescriptor):
        return ServiceRef(target)
    if not isinstance(target, str):
        raise TypeError(f"service() takes a ServiceDescriptor or a full name, not {target!r}")
    try:
        return ServiceRef((pool or descriptor_pool.Default()).FindServiceByName(target))
    except KeyError:
        raise ValueError(
            f"unknown service {target!r}: import its generated _pb2 module first"
        ) from None


def resolve_method(
    operation: str,
    target: Any,
    method: Any = None,
    message: Any = None,
    any_support: AnySupport | None = None,
) -> tuple[MethodDescriptor, Any]:
    """The method descriptor a forward / side effect targets, and the message to send.

    ``operation`` names the caller in errors (``"ctx.forward()"``). The forms are listed in the
    module documentation; ``any_support`` supplies the descriptor pools to look names up in.
    """
    descriptor, message = _target_and_message(operation, target, method, message, any_support)
    if message is None:
        raise TypeError(
            f"{operation} needs the message to send to {_name(descriptor)} "
            f"(a {descriptor.input_type.full_name})"
        )
    expected = descriptor.input_type.full_name
    if expected != _ANY:
        if not isinstance(message, Message):
            raise TypeError(
                f"{operation}: {_name(descriptor)} takes a {expected}, not a "
                f"{type(message).__name__}"
            )
        if message.DESCRIPTOR.full_name != expected:
            raise TypeError(
                f"{operation}: {_name(descriptor)} takes a {expected}, not a "
                f"{message.DESCRIPTOR.full_name}"
            )
    return descriptor, message


def method_descriptor(
    operation: str, target: Any, method: Any = None, any_support: AnySupport | None = None
) -> MethodDescriptor:
    """The method a target names, in any of the forms of :func:`resolve_method` (without the
    message): ``method_descriptor("kit.mock()", Accounts.Withdraw)``."""
    return _target_and_message(operation, target, method, None, any_support)[0]


def _target_and_message(
    operation: str, target: Any, method: Any, message: Any, any_support: AnySupport | None
) -> tuple[MethodDescriptor, Any]:
    support = any_support or AnySupport()
    descriptor: MethodDescriptor
    if isinstance(target, MethodDescriptor):
        descriptor, message = target, _only_message(operation, method, message)
    elif isinstance(target, ServiceDescriptor | ServiceRef):
        svc = target.descriptor if isinstance(target, ServiceRef) else target
        descriptor = _method_of(operation, svc, method)
    elif isinstance(target, str):
        if isinstance(method, str):
            descriptor = _method_of(operation, _find_service(operation, target, support), method)
        else:
            descriptor = _method_by_path(operation, target, support)
            message = _only_message(operation, method, message)
    elif callable(target):
        descriptor = _method_of_servicer_function(operation, target)
        message = _only_message(operation, method, message)
    else:
        raise TypeError(
            f"{operation}: the target must be a method descriptor, a ServiceRef attribute "
            f"(service(...).Method), a method of the generated gRPC code, 'pkg.Service/Method' or "
            f"('pkg.Service', 'Method'); got {target!r}"
        )
    return descriptor, message


def payload_for(descriptor: MethodDescriptor, message: Any) -> any_pb2.Any:
    """The ``Any`` carrying ``message`` as the request of ``descriptor`` (a method taking
    ``google.protobuf.Any`` gets the packed value wrapped once more, as its request bytes)."""
    if descriptor.input_type.full_name == _ANY:
        return pack_message(pack(message))
    return pack_message(message)


def metadata_proto(metadata: MetadataLike | None) -> entity_pb2.Metadata | None:
    """Protocol metadata from a mapping or ``(key, value)`` pairs (bytes values stay binary)."""
    if metadata is None:
        return None
    pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
    entries = []
    for key, value in pairs:
        if isinstance(value, bytes):
            entries.append(entity_pb2.MetadataEntry(key=key, bytes_value=value))
        else:
            entries.append(entity_pb2.MetadataEntry(key=key, string_value=str(value)))
    return entity_pb2.Metadata(entries=entries)


def make_forward(
    operation: str,
    target: Any,
    method: Any = None,
    message: Any = None,
    *,
    any_support: AnySupport | None = None,
    metadata: MetadataLike | None = None,
) -> entity_pb2.Forward:
    """A checked protocol ``Forward`` (see :func:`resolve_method` for the target forms)."""
    descriptor, message = resolve_method(operation, target, method, message, any_support)
    forward = entity_pb2.Forward(
        service_name=descriptor.containing_service.full_name,
        command_name=descriptor.name,
        payload=payload_for(descriptor, message),
    )
    extra = metadata_proto(metadata)
    if extra is not None:
        forward.metadata.CopyFrom(extra)
    return forward


def make_side_effect(
    operation: str,
    target: Any,
    method: Any = None,
    message: Any = None,
    *,
    synchronous: bool = False,
    any_support: AnySupport | None = None,
    metadata: MetadataLike | None = None,
) -> entity_pb2.SideEffect:
    """A checked protocol ``SideEffect`` (see :func:`resolve_method` for the target forms)."""
    descriptor, message = resolve_method(operation, target, method, message, any_support)
    effect = entity_pb2.SideEffect(
        service_name=descriptor.containing_service.full_name,
        command_name=descriptor.name,
        payload=payload_for(descriptor, message),
        synchronous=bool(synchronous),
    )
    extra = metadata_proto(metadata)
    if extra is not None:
        effect.metadata.CopyFrom(extra)
    return effect


# -- helpers ------------------------------------------------------------------------------------


def _name(descriptor: MethodDescriptor) -> str:
    return f"{descriptor.containing_service.full_name}.{descriptor.name}"


def _only_message(operation: str, method: Any, message: Any) -> Any:
    """For targets naming the method themselves: the message is the next argument."""
    if method is not None and message is not None:
        raise TypeError(
            f"{operation}: this target already names the method; pass only the message after it"
        )
    if isinstance(method, str):
        raise TypeError(
            f"{operation}: this target already names the method; got the extra name {method!r}"
        )
    return message if method is None else method


def _method_of(operation: str, svc: ServiceDescriptor, method: Any) -> MethodDescriptor:
    if not isinstance(method, str):
        raise TypeError(
            f"{operation}: after the service {svc.full_name} pass a method name, e.g. "
            f"{operation.split('(')[0]}(service, {next(iter(svc.methods_by_name), 'Method')!r}, "
            "message)"
        )
    descriptor = svc.methods_by_name.get(method)
    if descriptor is None:
        raise ValueError(
            f"{operation}: service {svc.full_name} has no method {method!r}; its methods: "
            f"{', '.join(svc.methods_by_name)}"
        )
    return descriptor


def _find_service(operation: str, name: str, support: AnySupport) -> ServiceDescriptor:
    found = support.find_service(name.strip("/"))
    if found is None:
        raise ValueError(
            f"{operation}: unknown service {name!r}: no descriptor this user function knows "
            "defines it (register its file descriptor with the entity or import its generated "
            "_pb2 module; use the full name, package included)"
        )
    return found


def _method_by_path(operation: str, path: str, support: AnySupport) -> MethodDescriptor:
    text = path.strip("/")
    if "/" in text:
        service_name, method_name = text.rsplit("/", 1)
    elif "." in text:
        service_name, method_name = text.rsplit(".", 1)
    else:
        raise ValueError(
            f"{operation}: {path!r} names no method: use 'pkg.Service/Method' or pass the "
            "method name as the next argument"
        )
    return _method_of(operation, _find_service(operation, service_name, support), method_name)


def _method_of_servicer_function(operation: str, function: Any) -> MethodDescriptor:
    """A method of generated ``*_pb2_grpc`` code -> its descriptor: ``ShoppingCart.AddItem`` (the
    class of static methods gRPC generates per service) or ``ShoppingCartServicer.AddItem``."""
    qualname = getattr(function, "__qualname__", "")
    module = sys.modules.get(getattr(function, "__module__", "") or "")
    owner, _, method_name = qualname.rpartition(".")
    if module is not None and owner and "." not in owner and method_name:
        service_name = owner.removesuffix("Servicer")
        for value in vars(module).values():
            file = getattr(value, "DESCRIPTOR", None) if isinstance(value, ModuleType) else None
            if isinstance(file, FileDescriptor) and service_name in file.services_by_name:
                return _method_of(operation, file.services_by_name[service_name], method_name)
    raise TypeError(
        f"{operation}: cannot tell which service method {qualname or function!r} is; pass a "
        "method descriptor, service(...).Method or a method of the generated gRPC code "
        "(shoppingcart_pb2_grpc.ShoppingCart.AddItem)"
    )
