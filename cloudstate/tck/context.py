"""What a running case gets: its :class:`TckContext` (entity ids, streams, clients, relay); and
:func:`run_case`, which runs one case in a session::

    result = await run_case(session, case)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import grpc

from cloudstate.protocol import action_pb2, action_pb2_grpc, entity_pb2
from cloudstate.tck.framework import PROXY, Case, CaseFailed, CaseResult, CaseSkipped, Outcome
from cloudstate.tck.protocol import (
    ActionStream,
    CrdtStream,
    EventSourcedStream,
    ProtocolStream,
    ValueEntityStream,
)
from cloudstate.tck.render import diff, render_pair
from cloudstate.tck.session import CASE_DEADLINE, Session

if TYPE_CHECKING:
    from cloudstate.tck.relay import Relay

T = TypeVar("T")

_ids = itertools.count(1)


class TckContext:
    """Passed to every case; valid while the case runs.

    ::

        entity_id = t.entity_id()                      # unique in this run
        stream = await t.event_sourced(ES_MODEL, entity_id).start()
        stub = t.proxy_stub(eventsourced_pb2_grpc.EventSourcedTckModelStub)
        await t.call(stub.Process(es_request(entity_id)))
    """

    def __init__(self, session: Session, case: Case) -> None:
        self.session = session
        self.case = case
        self.timeout = session.settings.timeout
        #: Entity ids handed out by :meth:`entity_id` (checked for unexpected streams after a
        #: proxy case).
        self.entity_ids: set[str] = set()
        self._streams: list[ProtocolStream] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []

    # -- general ---------------------------------------------------------------------------------

    def entity_id(self, prefix: str = "entity") -> str:
        """A fresh entity id ``<prefix>-<run token><n>``; the part before the first ``-`` is
        ``prefix`` (the CRDT model reads its CRDT type from it)."""
        entity_id = f"{prefix}-{self.session.token}{next(_ids)}"
        self.entity_ids.add(entity_id)
        return entity_id

    def skip(self, reason: str) -> NoReturn:
        raise CaseSkipped(reason)

    def fail(self, message: str, expected: Any = None, actual: Any = None) -> NoReturn:
        raise CaseFailed(message, expected, actual)

    def check(
        self, condition: bool, message: str, expected: Any = None, actual: Any = None
    ) -> None:
        if not condition:
            raise CaseFailed(message, expected, actual)

    def on_cleanup(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._cleanups.append(callback)

    async def within(self, awaitable: Awaitable[T], what: str, seconds: float | None = None) -> T:
        """``await awaitable`` with the case timeout; a timeout fails the case naming ``what``."""
        try:
            return await asyncio.wait_for(awaitable, seconds or self.timeout)
        except TimeoutError:
            raise CaseFailed(f"{what}: no answer within {seconds or self.timeout:g}s") from None

    # -- language support: the user function, directly ------------------------------------------

    @property
    def user_function(self) -> grpc.aio.Channel:
        return self.session.user_function_channel

    @property
    def spec(self) -> entity_pb2.EntitySpec:
        """The user function's ``EntitySpec`` (from the TCK's own discover call)."""
        assert self.session.spec is not None
        return self.session.spec

    def event_sourced(self, service: str, entity_id: str) -> EventSourcedStream:
        stream = EventSourcedStream(self.user_function, service, entity_id, self.timeout)
        self._streams.append(stream)
        return stream

    def value_entity(self, service: str, entity_id: str) -> ValueEntityStream:
        stream = ValueEntityStream(self.user_function, service, entity_id, self.timeout)
        self._streams.append(stream)
        return stream

    def crdt(self, service: str, entity_id: str) -> CrdtStream:
        stream = CrdtStream(self.user_function, service, entity_id, self.timeout)
        self._streams.append(stream)
        return stream

    async def action_unary(self, command: action_pb2.ActionCommand) -> action_pb2.ActionResponse:
        """``ActionProtocol.handleUnary`` on the user function."""
        stub = action_pb2_grpc.ActionProtocolStub(self.user_function)
        try:
            response: action_pb2.ActionResponse = await asyncio.wait_for(
                stub.handleUnary(command), self.timeout
            )
        except TimeoutError:
            raise CaseFailed(
                f"handleUnary {command.name}: no response within {self.timeout:g}s"
            ) from None
        except grpc.aio.AioRpcError as e:
            raise CaseFailed(
                f"handleUnary {command.name} failed: {e.code().name}: {e.details()}"
            ) from e
        return response

    def action_stream(
        self, shape: str, command: action_pb2.ActionCommand | None = None
    ) -> ActionStream:
        """Open ``handleStreamedIn`` / ``handleStreamedOut`` (with ``command``) /
        ``handleStreamed`` on the user function."""
        stub = action_pb2_grpc.ActionProtocolStub(self.user_function)
        method = getattr(stub, shape)
        call = method(command) if command is not None else method()
        stream = ActionStream(call, f"action {shape} call", self.timeout)
        self._streams.append(stream)
        return stream

    def track(self, stream: ProtocolStream) -> ProtocolStream:
        """Cancel ``stream`` when the case ends (if still open)."""
        self._streams.append(stream)
        return stream

    # -- proxy: client side and the relay --------------------------------------------------------

    @property
    def proxy(self) -> grpc.aio.Channel:
        assert self.session.proxy_channel is not None, "not a proxy run"
        return self.session.proxy_channel

    def proxy_stub(self, stub_class: Callable[[grpc.aio.Channel], T]) -> T:
        return stub_class(self.proxy)

    @property
    def relay(self) -> Relay:
        assert self.session.relay is not None, "not a proxy run"
        return self.session.relay

    @property
    def http_url(self) -> str:
        """``http://host:port`` of the proxy's HTTP/JSON API."""
        return f"http://{self.session.settings.proxy_address}"

    @property
    def failure_status(self) -> grpc.StatusCode:
        """The gRPC status the proxy under test gives user failures (``--failure-status``)."""
        return self.session.settings.failure_status

    @property
    def failure_http_status(self) -> int:
        return self.session.settings.failure_http_status

    async def call(self, call: Awaitable[T], what: str = "") -> T:
        """Await a unary client call; an error status fails the case."""
        try:
            return await asyncio.wait_for(call, self.timeout)
        except TimeoutError:
            raise CaseFailed(
                f"{what or 'client call'}: no reply within {self.timeout:g}s"
            ) from None
        except grpc.aio.AioRpcError as e:
            raise CaseFailed(
                f"{what or 'client call'} failed: {e.code().name}: {e.details()}"
            ) from e

    async def call_fails(
        self, call: Awaitable[Any], status: grpc.StatusCode, description: str, what: str = ""
    ) -> None:
        """Await a unary client call that must fail with ``status`` and ``description``."""
        label = what or "client call"
        try:
            reply = await asyncio.wait_for(call, self.timeout)
        except TimeoutError:
            raise CaseFailed(f"{label}: no answer within {self.timeout:g}s") from None
        except grpc.aio.AioRpcError as e:
            actual = f"{e.code().name}: {e.details()}"
            expected = f"{status.name}: {description}"
            if e.code() != status or description not in (e.details() or ""):
                raise CaseFailed(f"{label}: wrong error", expected, actual) from e
            return
        raise CaseFailed(f"{label}: expected an error", f"{status.name}: {description}", reply)

    async def restart_proxy(self) -> None:
        """Kill the proxy (SIGKILL) and start it again on the same port and store."""
        await self.session.restart_proxy()

    # -- after the case --------------------------------------------------------------------------

    async def finish(self) -> None:
        for stream in self._streams:
            stream.cancel()
        for cleanup in reversed(self._cleanups):
            await cleanup()


async def run_case(session: Session, case: Case) -> CaseResult:
    """Run ``case`` in ``session`` (skipped when the session cannot run it); its result."""
    started = time.monotonic()
    reason = session.why_not_applicable(case)
    if reason is not None:
        return CaseResult(case, Outcome.SKIP, 0.0, reason)
    t = TckContext(session, case)
    result: CaseResult
    try:
        await asyncio.wait_for(case.func(t), CASE_DEADLINE)
        if case.target is PROXY:
            await _check_no_stray_streams(session, t)
        result = CaseResult(case, Outcome.PASS)
    except CaseFailed as e:
        result = CaseResult(case, Outcome.FAIL, message=e.message)
        if e.expected is not None or e.actual is not None:
            result.expected, result.actual = render_pair(e.expected, e.actual)
            result.diff = diff(result.expected, result.actual)
    except CaseSkipped as e:
        result = CaseResult(case, Outcome.SKIP, message=e.reason)
    except TimeoutError:
        result = CaseResult(
            case, Outcome.ERROR, message=f"the case did not finish within {CASE_DEADLINE:g}s"
        )
    except Exception as e:
        result = CaseResult(
            case,
            Outcome.ERROR,
            message=f"{type(e).__name__}: {e}",
            actual="".join(traceback.format_exception(e)).rstrip(),
        )
    finally:
        with contextlib.suppress(Exception):
            await t.finish()
    result.duration = time.monotonic() - started
    return result


async def _check_no_stray_streams(session: Session, t: TckContext) -> None:
    """Fail if the proxy opened entity streams for this case's entities that the case did
    not expect (the original TCK's ``verifyNoMoreInteractions``)."""
    assert session.relay is not None
    await asyncio.sleep(0.05)
    stray = session.relay.unclaimed(t.entity_ids)
    if stray:
        raise CaseFailed(
            "the proxy opened streams the case did not expect: " + ", ".join(c.label for c in stray)
        )
    extra = [d for d in session.relay.discoveries if not d.claimed]
    if extra:
        for d in extra:
            d.claimed = True
        raise CaseFailed(f"the proxy called discover again ({len(extra)} extra call(s))")
