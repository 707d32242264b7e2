"""The TCK's building blocks: cases, the case registry, and how a case passes, fails or skips.

A case is an ``async`` function taking the run's :class:`~cloudstate.tck.context.TckContext`,
registered with :func:`case`::

    @case(LANGUAGE_SUPPORT, "event sourced model", "single emitted event",
          requires=[ES_MODEL], original="verify single emitted event")
    async def single_emitted_event(t: TckContext) -> None:
        stream = await t.event_sourced(ES_MODEL).start()
        ...
        await stream.expect(es_reply(1, response("A"), events=[persisted("A")]))

A case fails by raising :class:`CaseFailed` (with the expected and the actual message, shown as
protobuf text on failure); helpers such as ``stream.expect`` do that. It skips by raising
:class:`CaseSkipped` (``t.skip(reason)``); a case whose ``requires`` services the user function
does not serve is skipped without running.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar


class Target(enum.Enum):
    """What a case checks."""

    #: A language support (user function), driven directly through the protocol.
    LANGUAGE_SUPPORT = "language-support"
    #: A proxy, driven by a client and observed through an intercepting relay.
    PROXY = "proxy"


LANGUAGE_SUPPORT = Target.LANGUAGE_SUPPORT
PROXY = Target.PROXY


class Outcome(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    ERROR = "ERROR"  # the case crashed: a bug in the TCK or an unusable target


class CaseFailed(AssertionError):
    """The target did not behave as the case requires.

    ``expected`` / ``actual`` are protobuf messages or plain values; the report renders messages
    as protobuf text.
    """

    def __init__(self, message: str, expected: Any = None, actual: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


class CaseSkipped(Exception):
    """The case does not apply to this target (e.g. it does not serve the needed services)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: A case: ``async def case(t: TckContext) -> None``. The context (:mod:`cloudstate.tck.context`)
#: builds on this module, so it is not named here.
CaseFunction = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """One conformance case."""

    #: Stable id, ``<target>/<group slug>/<name slug>``; select cases with it.
    id: str
    target: Target
    #: Section of the report, e.g. ``"event sourced model"``.
    group: str
    name: str
    func: CaseFunction = field(repr=False)
    #: Services the user function must serve (full names); otherwise the case is skipped.
    requires: tuple[str, ...] = ()
    #: The name of the original TCK's counterpart, or None for a case the original lacked.
    original: str | None = None
    #: What the case checks, and where our expectation deliberately differs from the original.
    description: str = ""
    #: Features of the run the case needs (``"http"``, ``"restartable-proxy"``).
    needs: tuple[str, ...] = ()


_REGISTRY: dict[str, Case] = {}

F = TypeVar("F", bound=CaseFunction)


def slug(text: str) -> str:
    """``"Single emitted event"`` -> ``"single-emitted-event"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def case(
    target: Target,
    group: str,
    name: str,
    *,
    requires: Iterable[str] = (),
    original: str | None = None,
    needs: Iterable[str] = (),
    description: str | None = None,
) -> Callable[[F], F]:
    """Register the decorated coroutine function as a case; ``description`` defaults to its
    docstring."""

    def register(func: F) -> F:
        case_id = f"{target.value}/{slug(group)}/{slug(name)}"
        if case_id in _REGISTRY:
            raise ValueError(f"TCK case {case_id} registered twice")
        _REGISTRY[case_id] = Case(
            id=case_id,
            target=target,
            group=group,
            name=name,
            func=func,
            requires=tuple(requires),
            original=original,
            description=_dedent(description or func.__doc__ or ""),
            needs=tuple(needs),
        )
        return func

    return register


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)


def all_cases() -> list[Case]:
    """Every registered case, in registration order (importing the case modules first)."""
    import cloudstate.tck.cases  # noqa: F401  (registers the cases)

    return list(_REGISTRY.values())


def select(
    cases: Sequence[Case], targets: Iterable[Target], patterns: Sequence[str] = ()
) -> list[Case]:
    """The cases of ``targets`` whose id contains one of ``patterns`` (all if none given)."""
    wanted = set(targets)
    chosen = [c for c in cases if c.target in wanted]
    if patterns:
        chosen = [c for c in chosen if any(p in c.id for p in patterns)]
    return chosen


@dataclass
class CaseResult:
    """How one case went."""

    case: Case
    outcome: Outcome
    duration: float = 0.0
    message: str = ""
    expected: str | None = None  # rendered text
    actual: str | None = None
    diff: str = ""
