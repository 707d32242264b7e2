"""The TCK as a pytest plugin: every case becomes one test.

Enable it with ``-p cloudstate.tck.pytest_plugin`` (or ``pytest_plugins = [...]`` in your root
``conftest.py``), write one test that takes the ``tck_case`` argument, and point it at your user
function::

    # test_conformance.py
    from cloudstate.tck.pytest_plugin import check

    def test_tck(tck_case, tck_session):
        check(tck_session, tck_case)

    $ pytest -p cloudstate.tck.pytest_plugin test_conformance.py \\
          --tck-target language-support --tck-user-function 127.0.0.1:8080

``tck_case`` is parametrized with the selected cases (ids like
``language-support/event-sourced-model/single-emitted-event``; filter with ``-k``). A test may
override the command-line settings with a marker, e.g.
``@pytest.mark.tck(target="proxy", start_model=True, start_proxy=True)`` (``patterns=[...]``
keeps only the cases whose id contains one of them). All tests with the
same settings share one session (started on first use, stopped at the end of the run); under
pytest-xdist the cases of one target are grouped on one worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import grpc
import pytest

from cloudstate.tck.cli import _free_port, model_command
from cloudstate.tck.context import run_case
from cloudstate.tck.framework import Case, CaseResult, Outcome, Target, all_cases, select
from cloudstate.tck.report import case_line
from cloudstate.tck.session import Session, TckSettings

T = TypeVar("T")


class ThreadedSession:
    """A :class:`~cloudstate.tck.session.Session` running on its own event-loop thread, for
    synchronous callers::

        session = ThreadedSession(settings)
        session.start()
        result = session.run_case(case)
        session.stop()
    """

    def __init__(self, settings: TckSettings) -> None:
        self.settings = settings
        self.session = Session(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tck")
        self._thread.start()
        self.error: BaseException | None = None

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def start(self) -> None:
        try:
            self._run(self.session.start())
        except BaseException as e:
            self.error = e
            raise

    def run_case(self, case: Case) -> CaseResult:
        return self._run(run_case(self.session, case))

    def stop(self) -> None:
        try:
            self._run(self.session.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def check(session: ThreadedSession, case: Case) -> CaseResult:
    """Run ``case``; a skipped case skips the test, a failed one fails it with the report."""
    result = session.run_case(case)
    if result.outcome is Outcome.SKIP:
        pytest.skip(result.message)
    if result.outcome is not Outcome.PASS:
        pytest.fail(case_line(result), pytrace=False)
    return result


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cloudstate-tck", "Cloudstate conformance kit (TCK)")
    group.addoption("--tck-target", choices=[t.value for t in Target], help="what to check")
    group.addoption("--tck-user-function", metavar="HOST:PORT", help="the TCK model user function")
    group.addoption(
        "--tck-user-function-command", metavar="CMD", help="start CMD as the user function"
    )
    group.addoption(
        "--tck-start-model", action="store_true", help="start the Python SDK's TCK model"
    )
    group.addoption("--tck-proxy", metavar="HOST:PORT", help="a running proxy (proxy target)")
    group.addoption("--tck-start-proxy", action="store_true", help="start our proxy")
    group.addoption("--tck-proxy-command", metavar="CMD", help="start CMD as the proxy")
    group.addoption("--tck-relay-port", type=int, default=0, help="port of the relay")
    group.addoption("--tck-timeout", type=float, default=3.0, help="seconds per expectation")
    group.addoption("--tck-failure-status", default="INVALID_ARGUMENT")
    group.addoption("--tck-failure-http-status", type=int, default=400)
    parser.addini("tck_target", "default --tck-target")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tck(**settings): TCK settings for this test (target, start_model, ...)"
    )
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): pytest-xdist grouping")
    config._tck_sessions = {}  # type: ignore[attr-defined]


def _settings(config: pytest.Config, overrides: dict[str, Any]) -> dict[str, Any]:
    option = config.getoption
    values: dict[str, Any] = {
        "target": option("--tck-target") or config.getini("tck_target") or "language-support",
        "user_function": option("--tck-user-function"),
        "user_function_command": option("--tck-user-function-command"),
        "start_model": option("--tck-start-model"),
        "proxy": option("--tck-proxy"),
        "start_proxy": option("--tck-start-proxy"),
        "proxy_command": option("--tck-proxy-command"),
        "relay_port": option("--tck-relay-port"),
        "timeout": option("--tck-timeout"),
        "failure_status": option("--tck-failure-status"),
        "failure_http_status": option("--tck-failure-http-status"),
    }
    values.update(overrides)
    return values


def _to_settings(values: dict[str, Any]) -> TckSettings:
    target = Target(values["target"])
    command = (
        model_command(target) if values.get("start_model") else values.get("user_function_command")
    )
    user_function = values.get("user_function") or (
        f"127.0.0.1:{_free_port()}" if command else "127.0.0.1:8080"
    )
    status = values.get("failure_status", "INVALID_ARGUMENT")
    return TckSettings(
        targets=(target,),
        user_function=user_function,
        user_function_command=command,
        proxy=values.get("proxy"),
        start_proxy=bool(values.get("start_proxy"))
        or (not values.get("proxy") and not values.get("proxy_command")),
        proxy_command=values.get("proxy_command"),
        proxy_args=tuple(values.get("proxy_args", ())),
        relay_port=values.get("relay_port") or 0,
        timeout=values.get("timeout") or 3.0,
        failure_status=status if isinstance(status, grpc.StatusCode) else grpc.StatusCode[status],
        failure_http_status=values.get("failure_http_status") or 400,
        patterns=tuple(values.get("patterns", ())),
    )


def _marker_settings(node: Any) -> dict[str, Any]:
    marker = node.get_closest_marker("tck")
    return dict(marker.kwargs) if marker is not None else {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "tck_case" not in metafunc.fixturenames:
        return
    values = _settings(metafunc.config, _marker_settings(metafunc.definition))
    target = Target(values["target"])
    digest = hashlib.sha1(repr(sorted(values.items())).encode()).hexdigest()[:8]
    group = f"tck-{target.value}-{digest}"
    params = [
        pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(group))
        for c in select(all_cases(), [target], tuple(values.get("patterns", ())))
    ]
    metafunc.parametrize("tck_case", params)


def _session_key(item: pytest.Item) -> str | None:
    if "tck_session" not in getattr(item, "fixturenames", ()):
        return None
    return repr(sorted(_settings(item.config, _marker_settings(item)).items()))


@pytest.fixture
def tck_session(request: pytest.FixtureRequest) -> Iterator[ThreadedSession]:
    """The started session for this test's settings (shared by every test with the same;
    stopped after the last of them that runs in a row)."""
    key = _session_key(request.node)
    assert key is not None
    values = _settings(request.config, _marker_settings(request.node))
    sessions: dict[str, ThreadedSession] = request.config._tck_sessions  # type: ignore[attr-defined]
    session = sessions.get(key)
    if session is None:
        session = ThreadedSession(_to_settings(values))
        sessions[key] = session
        try:
            session.start()
        except BaseException as e:
            pytest.fail(f"the TCK session could not start: {e}", pytrace=False)
    elif session.error is not None:
        pytest.fail(f"the TCK session could not start: {session.error}", pytrace=False)
    yield session


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop a session once the next test does not use it (its processes do not linger)."""
    key = _session_key(item)
    if key is None or (nextitem is not None and _session_key(nextitem) == key):
        return
    session = item.config._tck_sessions.pop(key, None)  # type: ignore[attr-defined]
    if session is not None:
        session.stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    for session in getattr(config, "_tck_sessions", {}).values():
        try:
            session.stop()
        except Exception:  # pragma: no cover - best effort at exit
            pass
