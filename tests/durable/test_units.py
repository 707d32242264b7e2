"""The pure pieces of durable calls: durations, back-off, schedule ticks, task keys, delivery
metadata and the ``--durable-*`` flags' checks."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from cloudstate.protocol import entity_pb2
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check
from cloudstate.proxy.durable.delivery import delivery_metadata
from cloudstate.proxy.durable.scheduler import DurableSettings, backoff
from cloudstate.proxy.durable.schedules import Schedule, stored_spec
from cloudstate.proxy.durable.tasks import Origin, is_valid_key, task_changes
from cloudstate.proxy.durations import parse_age, parse_duration
from cloudstate.proxy.model import build_model
from cloudstate.proxy.stores.base import DurableTask, Payload, TaskCancel
from tests.durable.harness import cancel, effect, timer
from tests.durable.uf import Discovery, Recorder, side_effect

EMPTY = "type.googleapis.com/google.protobuf.Empty"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1.5s", 1.5)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_one_grammar_for_every_duration() -> None:
    # Spaces around the unit and weeks, as the retention flags always took them.
    assert parse_duration("1 s") == 1.0 and parse_duration("2w") == 14 * 86400.0
    assert parse_age("90", "--topic-retention") == 90.0 and parse_age("0", "--x") == 0.0
    with pytest.raises(ValueError, match="bad --idempotency-retention 'soon'"):
        parse_age("soon", "--idempotency-retention")


@pytest.mark.parametrize("text", ["", "5", "0s", "-1s", "1y", "fast", "1s2", "1 s s"])
def test_bad_durations_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_back_off_doubles_up_to_the_maximum_with_equal_jitter() -> None:
    settings = DurableSettings(retry_min=1.0, retry_max=10.0)
    assert [backoff(n, settings, draw=lambda: 0.0) for n in (1, 2, 3, 4, 5, 9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        5.0,
        5.0,
    ]
    assert [backoff(n, settings, draw=lambda: 1.0) for n in (1, 2, 5)] == [1.0, 2.0, 10.0]


def test_every_ticks_on_the_epoch_grid_strictly_after_now() -> None:
    schedule = Schedule("s.S", "M", EMPTY, every=30.0)
    assert schedule.next_tick(60.0) == 90.0
    assert schedule.next_tick(60.001) == 90.0
    assert schedule.next_tick(89.999) == 90.0


def test_cron_ticks_in_its_time_zone() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    schedule = Schedule("s.S", "M", EMPTY, cron="0 3 * * *", time_zone="Europe/Paris")
    start = datetime.datetime(2026, 3, 28, 12, 0, tzinfo=paris).timestamp()
    tick = datetime.datetime.fromtimestamp(schedule.next_tick(start), tz=paris)
    assert (tick.day, tick.hour, tick.minute) == (29, 3, 0)  # across the DST change
    at_three = datetime.datetime(2026, 3, 29, 3, 0, tzinfo=paris).timestamp()
    assert schedule.next_tick(at_three) > at_three  # strictly after


def test_a_schedule_task_keeps_its_spec_and_is_keyed_by_its_tick() -> None:
    schedule = Schedule("s.S", "M", EMPTY, every=1.0)
    task = schedule.task(1_800_000_000.0)
    assert (task.name, task.key) == ("schedule:s.S.M", "schedule:s.S.M@2027-01-15T08:00:00.000Z")
    assert stored_spec(task) == "every 1s"
    cron = Schedule("s.S", "M", EMPTY, cron="0 3 * * *", time_zone="UTC")
    assert stored_spec(cron.task(0.0)) == "cron 0 3 * * * in UTC"


def test_delivery_metadata_keeps_the_effects_entries_but_not_delivery_keys() -> None:
    stored = entity_pb2.Metadata(
        entries=[
            entity_pb2.MetadataEntry(key="x-note", string_value="kept"),
            entity_pb2.MetadataEntry(key="Idempotency-Key", string_value="spoofed"),
            entity_pb2.MetadataEntry(key="cloudstate-schedule-spec", string_value="every 1s"),
        ]
    )
    task = DurableTask(
        "timer:t", "timer:t#ab", "s.S", "M", Payload(EMPTY, b""), 0.0, stored.SerializeToString()
    )
    entries = [(e.key, e.string_value) for e in delivery_metadata(task, 3).entries]
    assert entries == [
        ("x-note", "kept"),
        ("idempotency-key", "timer:t#ab"),
        ("cloudstate-attempt", "3"),
        ("cloudstate-timer", "t"),
    ]


def _model() -> object:
    spec = Discovery(("Jobs", "Accounts"), Recorder()).discover(None, None)  # type: ignore[arg-type]
    return build_model(
        spec, ["cloudstate.action.ActionProtocol", "cloudstate.valueentity.ValueEntity"]
    )


def test_keys_of_odd_entity_ids_and_timer_names_stay_valid_idempotency_keys() -> None:
    model = _model()
    long_id = "é" * 300
    effects = [side_effect(effect("a")), side_effect(timer("ü" * 300, "b", 10))]
    changes = task_changes(model, effects, Origin("X", "accounts", long_id, 7), 100.0)  # type: ignore[arg-type]
    assert all(isinstance(c, DurableTask) and is_valid_key(c.key) for c in changes)
    first, second = changes
    assert isinstance(first, DurableTask) and first.key.endswith("/7/0")
    assert isinstance(second, DurableTask) and second.name == "timer:" + "ü" * 300
    assert second.due == pytest.approx(100.01)
    assert task_changes(model, [side_effect(cancel("t"))], Origin("X"), 0.0) == [  # type: ignore[arg-type]
        TaskCancel("timer:t")
    ]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"durable_retry_min": "fast"}, "--durable-retry-min: 'fast' is not a duration"),
        ({"durable_retry_min": "10m"}, "is longer than --durable-retry-max"),
        ({"durable_max_attempts": 0}, "--durable-max-attempts 0: 1 or more"),
        ({"durable_concurrency": 0}, "--durable-concurrency 0: 1 or more"),
    ],
)
def test_bad_durable_flags_are_refused(settings: dict[str, object], problem: str) -> None:
    problems = check(ProxyConfig(**settings))  # type: ignore[arg-type]
    assert any(problem in p for p in problems), problems
