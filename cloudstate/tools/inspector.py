"""``cloudstate inspect``: what a store holds, decoded to JSON.

::

    cloudstate inspect --store sqlite:///data/cloudstate.db                    # entity types
    cloudstate inspect --store ... shopping-cart                               # their ids
    cloudstate inspect --store ... --module shoppingcart.shopping_cart \\
        --path examples/shoppingcart shopping-cart alice                        # one entity
    cloudstate inspect --store ... timers                                      # pending tasks
    cloudstate inspect --store ... workflows [PERSISTENCE_ID]                  # workflows

Works on every store backend the proxy supports; reading never writes (a SQLite file that does
not exist is an error, not a new store).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from cloudstate.tools.decode import PayloadDecoder, dumps, import_user_modules

#: Persistence ids of CRDT entities carry this prefix in the store (the proxy's convention).
CRDT_PREFIX = "crdt:"
DEFAULT_STORE = "sqlite:///data/cloudstate.db"
#: ``cloudstate inspect timers``: the pending durable tasks instead of a persistence id.
TIMERS = "timers"
#: ``cloudstate inspect workflows [PERSISTENCE_ID]``: the stored workflow records.
WORKFLOWS = "workflows"
WORKFLOW_RECORD = "type.googleapis.com/cloudstate.workflow.WorkflowRecord"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "persistence_id",
        nargs="?",
        help="list this entity type's entity ids; 'timers': the pending timers, durable calls "
        "and schedule ticks; 'workflows': the workflows (of the persistence id given next)",
    )
    parser.add_argument("entity_id", nargs="?", help="show this entity's journal, snapshot, value")
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"the store to read: sqlite:///PATH or postgresql://... (default $CLOUDSTATE_STORE "
        f"or {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE (e.g. your user function's) so that payloads decode with its "
        "protobuf types; repeatable. Without it, unknown messages are shown raw (base64)",
    )
    parser.add_argument(
        "--path", metavar="DIR", help="directory to import --module from (default: the current one)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of text"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=1000,
        metavar="N",
        help="show at most N ids or events (the latest events; default 1000)",
    )


def run_from_args(args: argparse.Namespace) -> int:
    store_url = args.store or os.environ.get("CLOUDSTATE_STORE") or DEFAULT_STORE
    problem = check_store_url(store_url)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.entity_id and not args.persistence_id:
        print("error: give the persistence id before the entity id", file=sys.stderr)
        return 2
    import_user_modules(args.module, args.path)
    inspector = Inspector(PayloadDecoder(), limit=args.limit)
    try:
        document = asyncio.run(inspector.collect(store_url, args.persistence_id, args.entity_id))
    except Exception as e:
        print(f"error: cannot read {store_url}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        render(document, sys.stdout)
        if inspector.undecoded and not args.module:
            print(
                "(payloads of unknown types are shown raw: add --module YOUR_MODULE --path DIR "
                "to decode them with your protobuf types)"
            )
    return 0 if document.get("found", True) else 1


def check_store_url(url: str) -> str | None:
    """Why ``url`` cannot be inspected (None: it can)."""
    if url.startswith("memory"):
        return (
            "a memory: store lives only inside its proxy process; inspect a SQLite or "
            "PostgreSQL store"
        )
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        if not Path(path).exists():
            return f"no SQLite store at {path} (from {url})"
    return None


class Inspector:
    """Reads a store into plain data (see :func:`render` for the text form)."""

    def __init__(self, decoder: PayloadDecoder, limit: int = 1000) -> None:
        self.decoder = decoder
        self.limit = limit
        #: How many payloads could not be decoded (shown raw).
        self.undecoded = 0

    async def collect(
        self, store_url: str, persistence_id: str | None, entity_id: str | None
    ) -> dict[str, Any]:
        from cloudstate.proxy.stores.registry import open_store

        store = await open_store(store_url)
        try:
            if persistence_id == TIMERS and entity_id is None:
                return await self._timers(store)
            if persistence_id == WORKFLOWS:
                return await self._workflows(store, entity_id)
            if persistence_id is None:
                return await self._types(store, store_url)
            if entity_id is None:
                return await self._ids(store, persistence_id)
            return await self._entity(store, persistence_id, entity_id)
        finally:
            await store.close()

    async def _types(self, store: Any, store_url: str) -> dict[str, Any]:
        types = []
        for persistence_id in await store.list_persistence_ids():
            ids = await store.list_entity_ids(persistence_id)
            kind = "crdt" if persistence_id.startswith(CRDT_PREFIX) else None
            types.append(
                {
                    "persistence_id": persistence_id.removeprefix(CRDT_PREFIX),
                    "kind": kind or await self._kind(store, persistence_id, ids[0]),
                    "entities": len(ids),
                }
            )
        types.sort(key=lambda t: (t["persistence_id"], t["kind"]))
        return {"store": store_url, "entity_types": types}

    async def _timers(self, store: Any) -> dict[str, Any]:
        tasks = await store.list_tasks("", self.limit)
        now = time.time()
        return {
            "timers": [
                {
                    "name": task.name,
                    "target": f"{task.service}.{task.method}",
                    "due": _timestamp(task.due),
                    "overdue": task.due < now,
                    "attempts": task.attempts,
                    "last_error": task.last_error,
                }
                for task in tasks
            ]
        }

    async def _workflows(self, store: Any, persistence_id: str | None) -> dict[str, Any]:
        """Every workflow record (of ``persistence_id``, or of any): id, status, step, attempt,
        transitions."""
        from cloudstate.protocol import workflow_pb2

        ids = [persistence_id] if persistence_id else await store.list_persistence_ids()
        rows: list[dict[str, Any]] = []
        for pid in ids:
            for entity_id in await store.list_entity_ids(pid):
                if len(rows) >= self.limit:
                    break
                stored = await store.load_value(pid, entity_id)
                if stored is None or stored.payload.type_url != WORKFLOW_RECORD:
                    continue
                record = workflow_pb2.WorkflowRecord.FromString(stored.payload.value)
                view = record.view
                rows.append(
                    {
                        "persistence_id": pid,
                        "id": view.workflow_id,
                        "status": workflow_pb2.Status.Name(view.status),
                        "step": view.step,
                        "attempt": record.attempt,
                        "transitions": view.transitions,
                        "reason": view.reason or record.last_error,
                    }
                )
        return {"workflows": rows}

    async def _kind(self, store: Any, persistence_id: str, entity_id: str) -> str:
        if await store.highest_sequence(persistence_id, entity_id):
            return "event-sourced"
        if await store.load_value(persistence_id, entity_id) is not None:
            return "value"
        return "event-sourced"  # a snapshot alone

    async def _ids(self, store: Any, persistence_id: str) -> dict[str, Any]:
        stored_id = await self._stored_id(store, persistence_id)
        ids = await store.list_entity_ids(stored_id)
        entities = []
        for entity_id in ids[: self.limit]:
            entities.append(
                {"entity_id": entity_id, **await self._summary(store, stored_id, entity_id)}
            )
        return {
            "persistence_id": persistence_id,
            "found": bool(ids),
            "entities": entities,
            "more": max(0, len(ids) - self.limit),
        }

    async def _summary(self, store: Any, persistence_id: str, entity_id: str) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        sequence = await store.highest_sequence(persistence_id, entity_id)
        if sequence:
            summary["events"] = sequence
        snapshot = await store.load_snapshot(persistence_id, entity_id)
        if snapshot is not None:
            summary["snapshot_sequence"] = snapshot.sequence
        value = await store.load_value(persistence_id, entity_id)
        if value is not None:
            summary["version"] = value.version
        return summary

    async def _stored_id(self, store: Any, persistence_id: str) -> str:
        """CRDT entity types are stored under ``crdt:<persistence id>``; accept either."""
        if persistence_id.startswith(CRDT_PREFIX):
            return persistence_id
        known = await store.list_persistence_ids()
        if persistence_id not in known and CRDT_PREFIX + persistence_id in known:
            return CRDT_PREFIX + persistence_id
        return persistence_id

    async def _entity(self, store: Any, persistence_id: str, entity_id: str) -> dict[str, Any]:
        stored_id = await self._stored_id(store, persistence_id)
        document: dict[str, Any] = {"persistence_id": persistence_id, "entity_id": entity_id}
        snapshot = await store.load_snapshot(stored_id, entity_id)
        if snapshot is not None:
            document["snapshot"] = {
                "sequence": snapshot.sequence,
                **self._payload(snapshot.payload.type_url, snapshot.payload.value),
            }
        highest = await store.highest_sequence(stored_id, entity_id)
        if highest:
            after = max(0, highest - self.limit)
            document["events_total"] = highest
            document["events"] = [
                {
                    "sequence": event.sequence,
                    "timestamp": _timestamp(event.timestamp),
                    **self._payload(event.payload.type_url, event.payload.value),
                }
                async for event in store.read_events(stored_id, entity_id, after)
            ]
        value = await store.load_value(stored_id, entity_id)
        if value is not None:
            document["value"] = {
                "version": value.version,
                **self._payload(value.payload.type_url, value.payload.value),
            }
        document["found"] = any(k in document for k in ("snapshot", "events", "value"))
        return document

    def _payload(self, type_url: str, value: bytes) -> dict[str, Any]:
        data = self.decoder.to_json(type_url, value)
        if isinstance(data, dict) and "@raw" in data:
            self.undecoded += 1
        return {"type": self.decoder.type_name(type_url), "data": data}


def _timestamp(seconds: float) -> str | None:
    if not seconds:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(document: dict[str, Any], out: TextIO) -> None:
    """The readable text form of what :class:`Inspector` collected."""
    if "timers" in document:
        _render_timers(document["timers"], out)
        return
    if "workflows" in document:
        _render_workflows(document["workflows"], out)
        return
    if "entity_types" in document:
        types = document["entity_types"]
        if not types:
            out.write(f"{document['store']} holds no entities yet\n")
            return
        width = max(len("PERSISTENCE ID"), *(len(t["persistence_id"]) for t in types))
        out.write(f"{'PERSISTENCE ID':<{width}}  {'KIND':<13}  ENTITIES\n")
        for t in types:
            out.write(f"{t['persistence_id']:<{width}}  {t['kind']:<13}  {t['entities']}\n")
        return
    if "entities" in document:
        if not document["found"]:
            out.write(f"no entities with persistence id {document['persistence_id']!r}\n")
            return
        for entity in document["entities"]:
            details = []
            if "events" in entity:
                details.append(f"{entity['events']} events")
            if "snapshot_sequence" in entity:
                details.append(f"snapshot at {entity['snapshot_sequence']}")
            if "version" in entity:
                details.append(f"value version {entity['version']}")
            out.write(f"{entity['entity_id']}  ({', '.join(details)})\n")
        if document["more"]:
            out.write(f"... and {document['more']} more (--limit)\n")
        return
    title = f"{document['persistence_id']} / {document['entity_id']}"
    if not document["found"]:
        out.write(f"{title}: nothing stored\n")
        return
    out.write(f"{title}\n")
    if "snapshot" in document:
        snapshot = document["snapshot"]
        out.write(f"snapshot at sequence {snapshot['sequence']}  {snapshot['type']}\n")
        out.write(f"  {dumps(snapshot['data'])}\n")
    if "events" in document:
        total = document["events_total"]
        shown = len(document["events"])
        more = f", the last {shown} shown" if shown < total else ""
        out.write(f"journal: {total} events{more}\n")
        for event in document["events"]:
            when = f"  {event['timestamp']}" if event["timestamp"] else ""
            out.write(f"  #{event['sequence']}{when}  {event['type']}  {dumps(event['data'])}\n")
    if "value" in document:
        value = document["value"]
        out.write(f"value (version {value['version']})  {value['type']}\n")
        out.write(f"  {dumps(value['data'])}\n")


def _render_timers(timers: list[dict[str, Any]], out: TextIO) -> None:
    if not timers:
        out.write("no pending timers, durable calls or schedule ticks\n")
        return
    width = max(len("NAME"), *(len(t["name"]) for t in timers))
    target = max(len("TARGET"), *(len(t["target"]) for t in timers))
    out.write(f"{'NAME':<{width}}  {'TARGET':<{target}}  {'DUE':<24}  ATTEMPTS  LAST ERROR\n")
    for t in timers:
        due = t["due"] or "-"
        out.write(
            f"{t['name']:<{width}}  {t['target']:<{target}}  {due:<24}  {t['attempts']:<8}  "
            f"{t['last_error']}\n".rstrip()
            + "\n"
        )


def _render_workflows(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        out.write("no workflows\n")
        return
    width = max(len("ID"), *(len(r["id"]) for r in rows))
    step = max(len("STEP"), *(len(r["step"]) for r in rows))
    out.write(f"{'ID':<{width}}  {'STATUS':<11}  {'STEP':<{step}}  ATTEMPT  TRANSITIONS  REASON\n")
    for r in rows:
        line = (
            f"{r['id']:<{width}}  {r['status']:<11}  {r['step']:<{step}}  {r['attempt']:<7}  "
            f"{r['transitions']:<11}  {r['reason']}"
        )
        out.write(line.rstrip() + "\n")
