"""Workflow definitions: asked with ``Workflows.describe`` after discovery, checked, kept.

The rules (docs/protocol-workflows.md, Discovery): step names are non-empty, unique and made of
letters, digits, ``_``, ``-`` and ``.``; a ``recover_step`` or ``timeout_step`` names a step;
durations are not negative; ``max_attempts`` is not negative. A definition breaking one fails
discovery with one line naming the service and the problem.

Example::

    definitions = await describe_all(channel, ["bank.Transfer"], defaults=StepDefaults(30.0))
    step = definitions["bank.Transfer"].steps["withdraw"]
    step.timeout, step.max_attempts, step.recover_step
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2

from cloudstate.protocol import workflow_pb2, workflow_pb2_grpc
from cloudstate.proxy.errors import DiscoveryError

#: The protocol extension this package implements (listed in ProxyInfo.extensions).
WORKFLOWS_EXTENSION = "cloudstate.workflows/1"

_STEP_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True, slots=True)
class StepDefaults:
    """This proxy's defaults for what a definition leaves unset (docs: Defaults)."""

    timeout: float = 30.0
    max_attempts: int = 3
    min_backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass(frozen=True, slots=True)
class Step:
    """One step with the defaults filled in."""

    name: str
    timeout: float
    max_attempts: int
    min_backoff: float
    max_backoff: float
    recover_step: str

    def backoff(self, failed: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait after attempt ``failed`` failed (equal jitter)::

        >>> Step("s", 1, 3, 1.0, 60.0, "").backoff(3, draw=lambda: 0.0)
        2.0
        """
        nominal = min(self.max_backoff, self.min_backoff * 2.0 ** max(0, failed - 1))
        return nominal / 2 + draw() * nominal / 2


@dataclass(frozen=True, slots=True)
class Definition:
    """The checked definition of one workflow service."""

    service: str
    steps: dict[str, Step] = field(default_factory=dict)
    timeout: float = 0.0  # 0: no limit
    timeout_step: str = ""


def _seconds(value: duration_pb2.Duration) -> float:
    return value.seconds + value.nanos / 1e9


def check_definition(
    service: str, definition: workflow_pb2.WorkflowDefinition, defaults: StepDefaults
) -> Definition:
    """The :class:`Definition` of ``definition``; DiscoveryError naming ``service`` and the
    first problem when it breaks a rule."""

    def refuse(problem: str) -> DiscoveryError:
        return DiscoveryError(
            f"workflow {service}: {problem}; fix the workflow's definition (docs/"
            "protocol-workflows.md, Discovery)"
        )

    names = [step.name for step in definition.steps]
    seen: set[str] = set()
    for name in names:
        if not name or not _STEP_NAME.fullmatch(name):
            raise refuse(
                f"step name {name!r} is not made of letters, digits, '_', '-' and '.'"
                if name
                else "a step has no name"
            )
        if name in seen:
            raise refuse(f"step {name!r} is defined twice")
        seen.add(name)

    def duration(what: str, value: duration_pb2.Duration) -> float:
        seconds = _seconds(value)
        if seconds < 0:
            raise refuse(f"{what} is negative ({seconds:g}s)")
        return seconds

    def recovery(what: str, value: workflow_pb2.Recovery) -> workflow_pb2.Recovery:
        if value.max_attempts < 0:
            raise refuse(f"{what}: max_attempts is negative ({value.max_attempts})")
        if value.recover_step and value.recover_step not in seen:
            raise refuse(f"{what}: recover_step {value.recover_step!r} names no step")
        duration(f"{what}: min_backoff", value.min_backoff)
        duration(f"{what}: max_backoff", value.max_backoff)
        return value

    fallback = recovery("default_recovery", definition.default_recovery)
    steps: dict[str, Step] = {}
    for spec in definition.steps:
        own = recovery(f"step {spec.name!r}", spec.recovery)
        chosen = own if spec.HasField("recovery") else fallback
        minimum = _seconds(chosen.min_backoff) or defaults.min_backoff
        maximum = _seconds(chosen.max_backoff) or max(defaults.max_backoff, minimum)
        steps[spec.name] = Step(
            name=spec.name,
            timeout=duration(f"step {spec.name!r}: timeout", spec.timeout) or defaults.timeout,
            max_attempts=chosen.max_attempts or defaults.max_attempts,
            min_backoff=minimum,
            max_backoff=max(maximum, minimum),
            recover_step=chosen.recover_step,
        )
    if definition.timeout_step and definition.timeout_step not in steps:
        raise refuse(f"timeout_step {definition.timeout_step!r} names no step")
    return Definition(
        service=service,
        steps=steps,
        timeout=duration("timeout", definition.timeout),
        timeout_step=definition.timeout_step,
    )


async def describe_all(
    channel: grpc.aio.Channel,
    services: Iterable[str],
    defaults: StepDefaults,
    within: float = 30.0,
) -> dict[str, Definition]:
    """Ask the user function for the definition of every workflow service in ``services`` and
    check them; DiscoveryError (one line naming the service) when one is refused or cannot be
    asked for."""
    stub = workflow_pb2_grpc.WorkflowsStub(channel)
    definitions: dict[str, Definition] = {}
    for service in services:
        try:
            reply = await stub.describe(
                workflow_pb2.DescribeWorkflow(service_name=service), timeout=within
            )
        except grpc.aio.AioRpcError as error:
            raise DiscoveryError(
                f"workflow {service}: describe failed ({error.code().name}: {error.details()}); "
                "the user function must implement cloudstate.workflow.Workflows/describe"
            ) from None
        definitions[service] = check_definition(service, reply, defaults)
    return definitions
