"""``cloudstate workflows``: the workflows of a running proxy through its admin API (its
``--admin-port``): list, show one record, suspend, resume, cancel. Tables, or ``--json``.

::

    cloudstate workflows list orders --admin http://127.0.0.1:9090
    cloudstate workflows show orders o1
    cloudstate workflows suspend orders o1 --reason "investigating a stuck payment"
    cloudstate workflows resume orders o1
    cloudstate workflows cancel orders o1 --reason "customer asked"

``SERVICE`` is the workflow service's full name, its last part or its persistence id. The same
``--admin``, ``--token`` (``$CLOUDSTATE_TOKEN``), ``--ca`` and exit statuses as
``cloudstate admin`` (docs/admin.md); a refused control (resuming a running workflow) exits 1
with the engine's message (HTTP 409).
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from cloudstate.tools.admin import add_connection_arguments, run_op
from cloudstate.tools.admin_common import Op, table
from cloudstate.tools.admin_common import dumps as _dumps
from cloudstate.tools.admin_common import query as _query
from cloudstate.tools.admin_common import quote as _q


def _path(args: argparse.Namespace, verb: str = "") -> str:
    return f"/v1/workflows/{_q(args.service)}/{_q(args.workflow_id)}" + verb


def _list(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    workflows = reply.get("workflows", [])
    if not workflows:
        out.write(f"no workflows in {reply.get('service', args.service)}\n")
    else:
        rows = [
            (
                w["workflowId"],
                w.get("status", ""),
                w.get("step", ""),
                w.get("attempt", 0),
                w.get("transitions", "0"),
                w.get("reason", ""),
            )
            for w in workflows
        ]
        table(rows, ("WORKFLOW", "STATUS", "STEP", "ATTEMPT", "TRANSITIONS", "REASON"), out)
    token = reply.get("nextPageToken")
    if token:
        out.write(f"more: --page-token {token}\n")


def _show(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    title = f"{reply.get('service')} / {reply.get('workflowId')}"
    if not reply.get("found"):
        out.write(f"{title}: NOT_STARTED (no command started it)\n")
        return
    status = reply.get("status", "")
    if reply.get("suspendedFrom"):
        status += f" (from {reply['suspendedFrom']})"
    out.write(f"{title}: {status}\n")
    fields = [
        ("step", reply.get("step", "")),
        ("transitions", reply.get("transitions", "0")),
        ("attempt", reply.get("attempt", 0)),
        ("reason", reply.get("reason", "")),
        ("last error", reply.get("lastError", "")),
        ("started", reply.get("startedAt", "")),
        ("deadline", reply.get("deadline", "")),
        ("paused until", reply.get("pauseUntil", "")),
    ]
    for name, value in fields:
        if value not in ("", None):
            out.write(f"{name + ':':14}{value}\n")
    if reply.get("stateType"):
        out.write(f"state  {reply['stateType']}\n  {_dumps(reply.get('state'))}\n")
    if reply.get("inputType"):
        out.write(f"input  {reply['inputType']}\n  {_dumps(reply.get('input'))}\n")
    history = reply.get("history", [])
    if history:
        out.write(f"history: {len(history)} step executions\n")
        rows = [
            (
                h.get("transition", "0"),
                h.get("step", ""),
                h.get("attempts", 0),
                h.get("startedAt", "-"),
                h.get("endedAt", "-"),
                h.get("outcome", ""),
            )
            for h in history
        ]
        table(rows, ("TRANSITION", "STEP", "ATTEMPTS", "STARTED", "ENDED", "OUTCOME"), out)


def _controlled(done: str) -> Any:
    def render(reply: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
        step = reply.get("step", "")
        out.write(
            f"{done} {reply.get('service')} / {reply.get('workflowId')}: now "
            f"{reply.get('status')}" + (f" at step {step}" if step else "") + "\n"
        )

    return render


OPS: dict[str, Op] = {
    "list": Op(
        "GET",
        lambda a: (
            f"/v1/workflows/{_q(a.service)}"
            + _query(page_size=a.page_size, page_token=a.page_token)
        ),
        _list,
    ),
    "show": Op("GET", _path, _show),
    "suspend": Op(
        "POST",
        lambda a: _path(a, ":suspend"),
        _controlled("suspended"),
        body=lambda a: {"reason": a.reason},
    ),
    "resume": Op("POST", lambda a: _path(a, ":resume"), _controlled("resumed"), body=lambda a: {}),
    "cancel": Op(
        "POST",
        lambda a: _path(a, ":cancel"),
        _controlled("cancelled"),
        body=lambda a: {"reason": a.reason},
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ops = parser.add_subparsers(dest="workflows_command", required=True, metavar="OPERATION")
    subs = {
        "list": ops.add_parser("list", help="a workflow service's workflows, a page at a time"),
        "show": ops.add_parser("show", help="one workflow: status, state, input, history"),
        "suspend": ops.add_parser("suspend", help="suspend a RUNNING or WAITING workflow"),
        "resume": ops.add_parser("resume", help="resume a SUSPENDED workflow where it was"),
        "cancel": ops.add_parser("cancel", help="cancel a workflow (no compensation runs)"),
    }
    for name, sub in subs.items():
        sub.add_argument("service", help="full name, last part or persistence id")
        if name != "list":
            sub.add_argument("workflow_id", metavar="ID")
        add_connection_arguments(sub)
    subs["list"].add_argument("--page-size", type=int, default=0, metavar="N")
    subs["list"].add_argument("--page-token", default="", metavar="TOKEN")
    for name in ("suspend", "cancel"):
        subs[name].add_argument("--reason", default="", help="why (kept in the workflow)")


def run_from_args(args: argparse.Namespace) -> int:
    return run_op(OPS[args.workflows_command], args)
