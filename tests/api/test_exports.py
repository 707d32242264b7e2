"""The public API, pinned: what ``from cloudstate import ...`` and ``from cloudstate.testkit
import ...`` offer (service code imports from the first, test code from the second).

A name added to or removed from either list is an API change: update the list here, and say so
in CHANGELOG.md. The seed's module paths stay importable for existing code.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import cloudstate
import cloudstate.testkit

SERVICE_API = {
    "NO_REPLY",
    "Action",
    "ActionContext",
    "AnySupport",
    "CloudState",
    "CloudStateError",
    "CloudStateServer",
    "CommandFailure",
    "CrdtClock",
    "CrdtCommandContext",
    "CrdtContext",
    "CrdtEntity",
    "EventSourcedCommandContext",
    "EventSourcedContext",
    "EventSourcedEntity",
    "EventSourcedEventContext",
    "Flag",
    "Forward",
    "GCounter",
    "GSet",
    "Json",
    "LWWRegister",
    "Metadata",
    "ORMap",
    "ORSet",
    "PNCounter",
    "Recovery",
    "ServerTls",
    "ServiceClient",
    "ServiceRef",
    "StepContext",
    "StreamCancelledContext",
    "SubscriptionContext",
    "UnknownTypeError",
    "ValueEntity",
    "ValueEntityCommandContext",
    "View",
    "Vote",
    "Workflow",
    "WorkflowCommandContext",
    "WorkflowStatus",
    "WriteConsistency",
    "__version__",
    "service",
}

TESTING_API = {
    "ActionTestKit",
    "CommandResult",
    "CrdtResult",
    "CrdtTestKit",
    "EntityTestKit",
    "EventSourcedResult",
    "EventSourcedTestKit",
    "Failed",
    "Forwarded",
    "LocalService",
    "SideEffect",
    "StreamedMessage",
    "TimerStarted",
    "ValueEntityResult",
    "ValueEntityTestKit",
    "ViewTestKit",
    "WorkflowResult",
    "WorkflowTestKit",
    "kit_for",
    "register_kind",
}

# Earlier names of the test kit, importable still (not in __all__): name -> the current one.
TESTING_RENAMED = {"Failure": "Failed", "Forward": "Forwarded"}

# The seed's import paths (the original Python support's), which existing code uses.
SEED_PATHS = {
    "cloudstate.cloudstate": "CloudState",
    "cloudstate.event_sourced_entity": "EventSourcedEntity",
    "cloudstate.event_sourced_context": "EventSourcedCommandContext",
}


def test_the_package_exports_exactly_the_service_api() -> None:
    assert set(cloudstate.__all__) == SERVICE_API
    assert len(cloudstate.__all__) == len(SERVICE_API), "a name is listed twice in __all__"


def test_every_exported_name_resolves() -> None:
    for name in sorted(SERVICE_API):
        assert getattr(cloudstate, name) is not None, name
    for name in sorted(TESTING_API):
        assert getattr(cloudstate.testkit, name) is not None, name


def test_the_testkit_exports_exactly_the_testing_api() -> None:
    assert set(cloudstate.testkit.__all__) == TESTING_API


def test_the_testkits_earlier_names_still_import() -> None:
    for old, new in TESTING_RENAMED.items():
        assert getattr(cloudstate.testkit, old) is getattr(cloudstate.testkit, new)
    namespace: dict[str, object] = {}
    exec("from cloudstate.testkit import Failure, Forward", namespace)
    assert namespace["Forward"] is cloudstate.testkit.Forwarded


def test_no_name_means_two_things() -> None:
    """A name both lists export is the same object (the test kit's result parts are named apart
    from the SDK's Forward / Failure)."""
    for name in SERVICE_API & TESTING_API:
        assert getattr(cloudstate, name) is getattr(cloudstate.testkit, name), name


def test_star_import_gives_the_service_api() -> None:
    namespace: dict[str, object] = {}
    exec("from cloudstate import *", namespace)
    assert {name for name in namespace if name != "__builtins__"} == SERVICE_API


def test_the_seed_module_paths_keep_working() -> None:
    for module, name in SEED_PATHS.items():
        assert getattr(importlib.import_module(module), name) is getattr(cloudstate, name)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    try:
        cloudstate.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("cloudstate.NoSuchThing resolved")


def test_importing_the_package_loads_no_sdk_module() -> None:
    """The proxy imports ``cloudstate``: the face must stay lazy (no SDK modules, no grpc)."""
    code = (
        "import sys, cloudstate; "
        "print(sorted(m for m in sys.modules if m.startswith('cloudstate.') or m == 'grpc'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
