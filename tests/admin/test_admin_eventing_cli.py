"""The text form of the eventing operations of ``cloudstate admin`` for replies the end-to-end
tests see only briefly (a running rebuild) and their argument checks."""

from __future__ import annotations

import argparse
import io

from cloudstate.tools import admin, admin_eventing


def test_a_running_rebuild_is_a_table_row() -> None:
    reply = {
        "rebuilds": [
            {
                "consumerId": "view:cartviews.PopularProducts:ab12:event_log:carts:x",
                "view": "cartviews.PopularProducts",
                "tables": ["products"],
                "generation": "3",
                "offset": "120",
                "headOffset": "600",
                "pending": "480",
                "lagSeconds": 2.25,
                "started": "2026-12-08T01:50:00Z",
            }
        ]
    }
    out = io.StringIO()
    admin_eventing.OPS["rebuilds"].render(reply, argparse.Namespace(), out)
    header, row = out.getvalue().splitlines()
    assert header.split() == [
        *("CONSUMER", "TABLES", "GENERATION", "OFFSET", "HEAD", "PENDING", "LAG", "STARTED")
    ]
    assert row.split() == [
        "view:cartviews.PopularProducts:ab12:event_log:carts:x",
        *("products", "3", "120", "600", "480", "2.2s", "2026-12-08T01:50:00Z"),
    ]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    admin.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_usage_problems_are_named() -> None:
    assert admin_eventing.usage_problem(_parse("consumer-redrive", "c")) == (
        "give the offset of one parked message, or --all"
    )
    assert admin_eventing.usage_problem(_parse("consumer-discard", "c", "4", "--all")) != ""
    assert admin_eventing.usage_problem(_parse("consumer-discard", "c", "4")) == ""
    assert admin_eventing.usage_problem(_parse("rebuild", "--service", "V")) == (
        "give the view consumer's id, or --service and --table"
    )
    assert admin_eventing.usage_problem(_parse("rebuild", "view:x")) == ""
    assert "ISO 8601" in admin_eventing.usage_problem(_parse("reset", "c", "--to-time", "soon"))


def test_a_reset_to_a_time_is_sent_as_an_rfc3339_timestamp() -> None:
    body = admin_eventing.OPS["reset"].body
    assert body is not None
    sent = body(_parse("reset", "topic:t:g", "--to-time", "2026-12-01T10:00:00.5+01:00"))
    assert sent == {"consumer_id": "topic:t:g", "time": "2026-12-01T09:00:00.500000Z"}
    assert body(_parse("reset", "topic:t:g", "--to-offset", "0")) == {
        "consumer_id": "topic:t:g",
        "offset": 0,
    }
