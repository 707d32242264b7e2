"""The TCK's own machinery: rendering, reports, JUnit XML, case selection, the command line."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from cloudstate.tck.framework import (
    LANGUAGE_SUPPORT,
    PROXY,
    Case,
    CaseResult,
    Outcome,
    all_cases,
    select,
)
from cloudstate.tck.messages import es_persisted, es_reply, es_response, primitive_string
from cloudstate.tck.render import diff, render, render_pair
from cloudstate.tck.report import case_line, junit_xml, passed, summary

ROOT = Path(__file__).resolve().parents[2]


async def _noop(t: object) -> None:
    return None


def _case(name: str, group: str = "g") -> Case:
    return Case(
        id=f"language-support/{group}/{name}",
        target=LANGUAGE_SUPPORT,
        group=group,
        name=name,
        func=_noop,
    )


def test_primitives_and_messages_render_readably() -> None:
    assert render(primitive_string("a")) == '[p.cloudstate.io/string] { value: "a" }'
    text = render(es_reply(1, es_response("AB"), events=[es_persisted("A")]))
    assert "[type.googleapis.com/cloudstate.tck.model.Persisted]" in text
    assert 'value: "A"' in text and 'message: "AB"' in text


def test_presence_differences_stay_visible() -> None:
    absent = es_reply(1, es_response(""))
    present = es_reply(1, es_response(""))
    present.reply.snapshot.SetInParent()
    left, right = render_pair(absent, present)
    assert left != right and "snapshot" in right
    assert "+    snapshot {" in diff(left, right)


def test_invisible_byte_differences_are_called_out() -> None:
    canonical = primitive_string("")
    padded = primitive_string("")
    padded.value = b"\n\x00"  # the same string, not canonically encoded
    left, right = render_pair(canonical, padded)
    assert left != right


def test_failure_lines_show_expected_and_actual() -> None:
    result = CaseResult(_case("x"), Outcome.FAIL, 0.5, "wrong reply", expected="A", actual="B")
    line = case_line(result)
    assert line.startswith("FAIL  language-support/g/x  (0.50s)")
    assert "wrong reply" in line and "expected:\n        A" in line and "actual:\n        B" in line


def test_summary_counts_outcomes_per_group() -> None:
    results = [
        CaseResult(_case("a"), Outcome.PASS),
        CaseResult(_case("b"), Outcome.FAIL, message="m"),
        CaseResult(_case("c", "h"), Outcome.SKIP, message="why"),
    ]
    table = summary(results)
    assert "language-support: g" in table and "language-support: h" in table
    total = table.splitlines()[-1].split()
    assert total == ["total", "1", "1", "0", "1"]
    assert not passed(results)
    assert passed([results[0], results[2]])


def test_junit_xml_has_a_testcase_per_case() -> None:
    results = [
        CaseResult(_case("a"), Outcome.PASS, 0.1),
        CaseResult(_case("b"), Outcome.FAIL, 0.2, "boom", expected="X", actual="Y"),
        CaseResult(_case("c"), Outcome.SKIP, message="not served"),
        CaseResult(_case("d"), Outcome.ERROR, message="crash"),
    ]
    root = ET.fromstring(junit_xml(results))
    suite = root.find("testsuite")
    assert suite is not None
    assert (
        suite.get("tests"),
        suite.get("failures"),
        suite.get("errors"),
        suite.get("skipped"),
    ) == (
        "4",
        "1",
        "1",
        "1",
    )
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["b"].find("failure")
    assert failure is not None and failure.get("message") == "boom"
    assert "expected:\nX" in (failure.text or "")
    skipped = cases["c"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not served"
    assert cases["d"].find("error") is not None


def test_every_case_has_a_unique_id_a_description_and_a_target() -> None:
    cases = all_cases()
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.description for c in cases), [c.id for c in cases if not c.description]
    assert len(select(cases, [LANGUAGE_SUPPORT])) + len(select(cases, [PROXY])) == len(cases)
    assert [c.id for c in select(cases, [PROXY], ["reflection"])] == [
        "proxy/proxy-discovery/server-reflection"
    ]


def test_original_counterparts_per_group() -> None:
    """Every group of the original TCK has its counterparts, in the original's numbers."""
    counts: dict[str, int] = {}
    for c in all_cases():
        if c.original is not None:
            counts[c.group] = counts.get(c.group, 0) + 1
    assert counts["event sourced model"] == 21
    assert counts["value entity model"] == 19
    assert counts["action model"] == 34
    assert counts["crdt model"] == 82
    assert counts["event sourced proxy"] == 5
    assert counts["value entity proxy"] == 5
    assert counts["action proxy"] == 9
    assert counts["crdt proxy"] == 6
    assert counts["eventing proxy"] == 3


def _tck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudstate.tck", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_command_line_passes_writes_junit_and_exits_zero(tmp_path: Path) -> None:
    report = tmp_path / "tck.xml"
    run = _tck(
        "language-support",
        "--start-model",
        "-k",
        "single-emitted-event",
        "--junit-xml",
        str(report),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS  language-support/event-sourced-model/single-emitted-event" in run.stdout
    assert "total" in run.stdout
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1"


def test_command_line_exits_one_when_a_case_fails() -> None:
    run = _tck(
        "language-support",
        "--user-function-command",
        f"{sys.executable} -m tests.tck.mutant_model drop-last-event",
        "-k",
        "event-sourced-model/multiple-emitted-events",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL  language-support/event-sourced-model/multiple-emitted-events" in run.stdout
    assert "expected:" in run.stdout and "actual:" in run.stdout and "diff:" in run.stdout


def test_command_line_exits_two_when_the_user_function_is_missing() -> None:
    run = _tck("language-support", "--user-function", "127.0.0.1:9", "--startup-timeout", "0.5")
    assert run.returncode == 2
    assert "does not answer discover" in run.stderr


def test_list_names_the_original_counterparts() -> None:
    run = _tck("list", "-k", "reflection")
    assert run.returncode == 0
    assert "original: 'verify that the proxy supports server reflection'" in run.stdout


def test_docs_case_list_is_up_to_date() -> None:
    """docs/tck.md lists exactly the registered cases (regenerate with
    ``cloudstate tck list --markdown``)."""
    from cloudstate.tck.cli import markdown_tables

    text = (ROOT / "docs" / "tck.md").read_text()
    start = text.index("<!-- cases:begin -->") + len("<!-- cases:begin -->\n")
    end = text.index("<!-- cases:end -->")
    assert text[start:end] == markdown_tables()


def test_protos_command_copies_the_model_and_its_imports(tmp_path: Path) -> None:
    run = _tck("protos", str(tmp_path / "tck-protos"))
    assert run.returncode == 0, run.stderr
    copied = sorted(
        str(p.relative_to(tmp_path / "tck-protos")) for p in (tmp_path / "tck-protos").rglob("*")
    )
    assert "cloudstate/tck/model/eventsourced.proto" in copied
    assert "cloudstate/entity_key.proto" in copied and "cloudstate/eventing.proto" in copied
