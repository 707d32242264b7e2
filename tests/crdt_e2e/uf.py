"""The user function of the CRDT end-to-end tests and benchmark: ``python -m tests.crdt_e2e.uf``.

Serves, on ``$HOST:$PORT``:

* the CRDT example's entities (``examples/crdts``: ``Likes``, ``Presence``);
* the SDK tests' model entity (``tests/crdt_sdk/model.py``: ``crdtsdk.CrdtModel``, whose entity id
  prefix names one of the eight CRDT types, and ``crdtsdk.CrdtTwo``);
* ``crdte2e.Stats``, an action reporting what this process holds open: the ``Crdt.handle`` streams
  (one per active entity), the subscribed streamed commands and the cancellations received. The
  SDK's CRDT servicer is instrumented for that (test-only): the counts are read from the SDK's own
  live entity instances, so a stream the proxy forgot to cancel or close shows up here.
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "examples" / "crdts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from crdts import likes, presence  # noqa: E402
from google.protobuf import empty_pb2  # noqa: E402

from cloudstate.action import Action  # noqa: E402
from cloudstate.cloudstate import CloudState  # noqa: E402
from cloudstate.crdt import servicer as crdt_servicer  # noqa: E402
from cloudstate.protocol import crdt_pb2  # noqa: E402
from tests.crdt_e2e.crdte2e import stats_pb2  # noqa: E402
from tests.crdt_sdk import model  # noqa: E402

# -- instrumentation -----------------------------------------------------------------------------

#: Open ``Crdt.handle`` streams by "service/entity id".
OPEN_STREAMS: Counter[str] = Counter()
#: Live entity instances of the SDK (each holds its open streamed commands).
INSTANCES: weakref.WeakSet[Any] = weakref.WeakSet()
CANCELLATIONS = 0

_handle = crdt_servicer.CrdtServicer.handle
_instance_init = crdt_servicer.Instance.__init__
_instance_cancel = crdt_servicer.Instance.cancel


async def _counted_handle(
    self: crdt_servicer.CrdtServicer, requests: AsyncIterator[Any], context: Any
) -> AsyncIterator[crdt_pb2.CrdtStreamOut]:
    key = ""

    async def watched() -> AsyncIterator[Any]:
        nonlocal key
        async for message in requests:
            if not key and message.WhichOneof("message") == "init":
                key = f"{message.init.service_name}/{message.init.entity_id}"
                OPEN_STREAMS[key] += 1
            yield message

    try:
        async for out in _handle(self, watched(), context):
            yield out
    finally:
        if key:
            OPEN_STREAMS[key] -= 1
            if OPEN_STREAMS[key] <= 0:
                del OPEN_STREAMS[key]


def _tracked_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _instance_init(self, *args, **kwargs)
    INSTANCES.add(self)


async def _counted_cancel(self: Any, cancelled: Any) -> Any:
    global CANCELLATIONS
    CANCELLATIONS += 1
    return await _instance_cancel(self, cancelled)


crdt_servicer.CrdtServicer.handle = _counted_handle  # type: ignore[method-assign]
crdt_servicer.Instance.__init__ = _tracked_init  # type: ignore[method-assign]
crdt_servicer.Instance.cancel = _counted_cancel  # type: ignore[method-assign]

# -- the Stats action ----------------------------------------------------------------------------

stats = Action(stats_pb2.DESCRIPTOR.services_by_name["Stats"], [stats_pb2.DESCRIPTOR])


@stats.unary("Get")
def get_stats(_: empty_pb2.Empty) -> stats_pb2.StatsReply:
    return stats_pb2.StatsReply(
        entity_streams=sorted(OPEN_STREAMS.elements()),
        subscriptions=sum(len(instance._subscriptions) for instance in INSTANCES),
        cancellations=CANCELLATIONS,
    )


def cloudstate() -> CloudState:
    service = CloudState(service_name="crdt-e2e")
    for entity in (likes.entity, presence.entity, model.model, model.two):
        service.register_crdt_entity(entity)
    return service.register_action(stats)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cloudstate().start()
