"""Calling user handlers with parameters injected by type annotation.

Every component kind (event-sourced, value and CRDT entities, actions, views) registers plain
functions whose parameters are chosen by the user: any subset of *state*, *message* (command,
event or snapshot) and *context*, in any order. :func:`resolve_handler` inspects a function once,
at decoration time, and returns a :class:`Handler` that knows which value goes where.

Rules, per parameter:

1. annotated with the context class (or a base of it) -> the context;
2. annotated with the message type -> the message;
3. annotated with the state type, or with anything else -> the state (when the state type is
   known, a protobuf message type other than the expected message is rejected, and another
   annotation on a parameter with a default keeps the default);
4. unannotated and named ``ctx`` or ``context`` -> the context;
5. other unannotated parameters take the values nobody claimed, in the order state, message,
   context (so ``def handler(state, command, ctx)`` works without annotations);
6. a parameter with a default that nothing is left for keeps its default; otherwise the
   function is rejected with a :class:`TypeError` naming it.

``*args`` / ``**kwargs`` receive nothing. Sync ``def`` and ``async def`` both work.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from google.protobuf.message import Message


class Context:
    """Base class of every context object the SDK passes to handlers."""


class Param(Enum):
    """What the SDK can inject into a handler parameter."""

    STATE = "state"
    MESSAGE = "message"
    CONTEXT = "context"


#: ``message_type`` value meaning "any protobuf message class" (e.g. snapshot handlers, whose
#: snapshot type is only known from the annotation).
ANY_MESSAGE: type[Message] = Message

_CONTEXT_NAMES = frozenset({"ctx", "context"})
_ORDER = (Param.STATE, Param.MESSAGE, Param.CONTEXT)


@dataclass(frozen=True)
class Handler:
    """A user function plus the recipe to call it."""

    function: Callable[..., Any]
    #: Human-readable name for messages, e.g. ``command handler add_item() for 'AddItem'``.
    description: str
    positional: tuple[Param, ...]
    keywords: tuple[tuple[str, Param], ...]
    is_async: bool

    def invoke(self, state: Any, message: Any, context: Any) -> Any:
        """Call the function; returns its result, which is a coroutine for ``async def``."""
        values = {Param.STATE: state, Param.MESSAGE: message, Param.CONTEXT: context}
        args = [values[p] for p in self.positional]
        kwargs = {name: values[p] for name, p in self.keywords}
        return self.function(*args, **kwargs)

    async def call(self, state: Any, message: Any, context: Any) -> Any:
        """Call the function and await its result if it is awaitable."""
        result = self.invoke(state, message, context)
        if inspect.isawaitable(result):
            result = await result
        return result


def function_name(function: Callable[..., Any]) -> str:
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    return str(name) if name else repr(function)


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    for target in (function, getattr(function, "__call__", None)):  # noqa: B004
        if target is None:
            continue
        try:
            return typing.get_type_hints(target)
        except Exception:  # unresolvable forward references: fall back to raw annotations
            continue
    return {}


def return_annotation(function: Callable[..., Any]) -> Any:
    """The resolved return annotation of ``function`` or ``None``."""
    hint = _type_hints(function).get("return")
    if hint is None:
        try:
            raw = inspect.signature(function).return_annotation
        except (TypeError, ValueError):
            return None
        hint = None if raw is inspect.Signature.empty else raw
    return hint


def takes_an_argument(function: Callable[..., Any]) -> bool:
    """True if ``function`` takes a positional argument: ``init(entity_id)``, not ``init()``."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


def _matches(annotation: Any, expected: type | None) -> bool:
    if expected is None:
        return False
    origin = typing.get_origin(annotation)
    if inspect.isclass(origin):  # dict[str, Any] -> dict
        annotation = origin
    if isinstance(annotation, str):
        return annotation in (expected.__name__, expected.__qualname__)
    if annotation is expected:
        return True
    return (
        inspect.isclass(annotation)
        and inspect.isclass(expected)
        and annotation is not object
        and issubclass(expected, annotation)
    )


def _is_message_class(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, Message)


def resolve_handler(
    function: Callable[..., Any],
    *,
    role: str,
    kinds: Sequence[Param],
    state_type: type | None,
    message_type: type | None,
    context_type: type,
) -> Handler:
    """Inspect ``function`` and decide what to pass to each of its parameters.

    ``role`` names the handler in error messages (e.g. ``"command handler for 'AddItem'"``);
    ``kinds`` is what this role can receive; ``message_type`` may be :data:`ANY_MESSAGE`.
    Raises :class:`TypeError` when a parameter cannot be resolved.
    """
    if not callable(function):
        raise TypeError(f"{role}: {function!r} is not callable")
    name = function_name(function)
    description = f"{role} {name}()"
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{description}: cannot read its signature: {e}") from e
    hints = _type_hints(function)

    def fail(param: str, why: str) -> TypeError:
        return TypeError(f"{description}: cannot inject parameter '{param}': {why}")

    def classify(param: inspect.Parameter) -> list[Param] | None:
        annotation = hints.get(param.name, param.annotation)
        if annotation in (inspect.Parameter.empty, Any, object):
            return None
        if _matches(annotation, context_type) or (
            isinstance(annotation, str) and annotation in {"Context", context_type.__name__}
        ):
            if Param.CONTEXT not in kinds:
                raise fail(param.name, "this handler receives no context")
            return [Param.CONTEXT]
        if inspect.isclass(annotation) and issubclass(annotation, Context):
            raise fail(
                param.name,
                f"it is annotated {annotation.__name__}, but this handler receives a "
                f"{context_type.__name__}",
            )
        if isinstance(annotation, str):
            if _matches(annotation, state_type):
                return [Param.STATE]
            if message_type is not ANY_MESSAGE and _matches(annotation, message_type):
                return [Param.MESSAGE]
            if param.default is not inspect.Parameter.empty:
                return []  # keep the default
            return None  # an unresolvable forward reference: fall back to position
        is_state = _matches(annotation, state_type)
        if message_type is ANY_MESSAGE:
            is_message = _is_message_class(annotation) and annotation is not state_type
        else:
            is_message = _matches(annotation, message_type)
        candidates = [
            kind
            for kind, ok in ((Param.STATE, is_state), (Param.MESSAGE, is_message))
            if ok and kind in kinds
        ]
        if candidates:
            return candidates
        if (
            _is_message_class(annotation)
            and state_type is not None
            and message_type is not None
            and Param.MESSAGE in kinds
        ):
            expected = getattr(message_type, "__name__", str(message_type))
            raise fail(
                param.name,
                f"it is annotated {annotation.__name__}, which is neither the state type "
                f"{state_type.__name__} nor the message type {expected}",
            )
        if state_type is not None and param.default is not inspect.Parameter.empty:
            return []  # e.g. `retries: int = 3`: not something we inject, keep the default
        if Param.STATE in kinds:
            return [Param.STATE]
        raise fail(param.name, f"nothing of type {annotation!r} is available here")

    slots: list[tuple[inspect.Parameter, list[Param], bool]] = []
    for param in signature.parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        candidates = classify(param)
        annotated = candidates is not None
        if candidates is None:
            if param.name in _CONTEXT_NAMES and Param.CONTEXT in kinds:
                candidates = [Param.CONTEXT]
            else:
                candidates = [k for k in _ORDER if k in kinds]
        slots.append((param, candidates, annotated))

    assigned: dict[str, Param] = {}
    claimed: dict[Param, str] = {}
    for param, candidates, annotated in slots:  # pass 1: unambiguous annotations
        if annotated and len(candidates) == 1:
            kind = candidates[0]
            if kind in claimed:
                raise fail(
                    param.name, f"parameter '{claimed[kind]}' already receives the {kind.value}"
                )
            claimed[kind] = param.name
            assigned[param.name] = kind
    for param, candidates, _ in slots:  # pass 2: the rest, in order
        if param.name in assigned:
            continue
        kind_left = next((k for k in candidates if k not in claimed), None)
        if kind_left is None:
            if param.default is not inspect.Parameter.empty:
                continue
            offered = ", ".join(k.value for k in kinds)
            raise fail(
                param.name,
                f"this handler only receives {offered} and they are all taken "
                "(annotate parameters with their types to disambiguate)",
            )
        claimed[kind_left] = param.name
        assigned[param.name] = kind_left

    positional: list[Param] = []
    keywords: list[tuple[str, Param]] = []
    skipped_positional = False
    for param, _, _ in slots:
        slot_kind = assigned.get(param.name)
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            if slot_kind is None:
                skipped_positional = True
            elif skipped_positional:
                raise fail(param.name, "an earlier positional-only parameter is left unfilled")
            else:
                positional.append(slot_kind)
        elif slot_kind is not None:
            keywords.append((param.name, slot_kind))

    call_target = function if inspect.isroutine(function) else getattr(function, "__call__", None)  # noqa: B004
    is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call_target)
    return Handler(function, description, tuple(positional), tuple(keywords), is_async)
