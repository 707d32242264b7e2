"""Reporting: one line per case, failure details, a summary table and JUnit XML.

::

    PASS  language-support/event-sourced-model/single-emitted-event  (0.01s)
    FAIL  language-support/event-sourced-model/multiple-emitted-events-and-snapshots  (0.03s)
          event-sourced stream of ...: unexpected message after command 5 (Process)
          expected: ...
          actual:   ...
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from cloudstate.tck.framework import CaseResult, Outcome


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def case_line(result: CaseResult) -> str:
    """The one-line summary of a case (plus indented details for FAIL, SKIP and ERROR)."""
    line = f"{result.outcome.value:<5} {result.case.id}  ({result.duration:.2f}s)"
    if result.outcome is Outcome.PASS:
        return line
    details = [result.message] if result.message else []
    if result.outcome in (Outcome.FAIL, Outcome.ERROR):
        if result.expected is not None:
            details.append("expected:\n" + _indent(result.expected, "  "))
        if result.actual is not None:
            details.append(
                ("actual:\n" if result.outcome is Outcome.FAIL else "")
                + _indent(result.actual, "  ")
            )
        if result.diff:
            details.append("diff:\n" + _indent(result.diff, "  "))
    return line + ("\n" + _indent("\n".join(details), "      ") if details else "")


def summary(results: Sequence[CaseResult]) -> str:
    """A table of outcomes per group, then the totals."""
    groups: dict[str, Counter[Outcome]] = {}
    for result in results:
        key = f"{result.case.target.value}: {result.case.group}"
        groups.setdefault(key, Counter())[result.outcome] += 1
    width = max([len(k) for k in groups] + [len("total")])
    header = f"{'group':<{width}}  {'pass':>5} {'fail':>5} {'error':>5} {'skip':>5}"
    lines = [header, "-" * len(header)]
    total: Counter[Outcome] = Counter()
    for key, counts in groups.items():
        total.update(counts)
        lines.append(_row(key, counts, width))
    lines.append("-" * len(header))
    lines.append(_row("total", total, width))
    return "\n".join(lines)


def _row(label: str, counts: Counter[Outcome], width: int) -> str:
    return (
        f"{label:<{width}}  {counts[Outcome.PASS]:>5} {counts[Outcome.FAIL]:>5} "
        f"{counts[Outcome.ERROR]:>5} {counts[Outcome.SKIP]:>5}"
    )


def passed(results: Sequence[CaseResult]) -> bool:
    return not any(r.outcome in (Outcome.FAIL, Outcome.ERROR) for r in results)


def junit_xml(results: Sequence[CaseResult], suite_name: str = "cloudstate-tck") -> bytes:
    """JUnit XML: one ``testsuite`` per target, one ``testcase`` per case (classname = group)."""
    root = ET.Element("testsuites", name=suite_name)
    by_target: dict[str, list[CaseResult]] = {}
    for result in results:
        by_target.setdefault(result.case.target.value, []).append(result)
    for target, target_results in by_target.items():
        counts = Counter(r.outcome for r in target_results)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{suite_name}.{target}",
            tests=str(len(target_results)),
            failures=str(counts[Outcome.FAIL]),
            errors=str(counts[Outcome.ERROR]),
            skipped=str(counts[Outcome.SKIP]),
            time=f"{sum(r.duration for r in target_results):.3f}",
        )
        for result in target_results:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=f"{target}.{result.case.group}",
                name=result.case.name,
                time=f"{result.duration:.3f}",
            )
            body = "\n".join(
                part
                for part in (
                    result.expected and "expected:\n" + result.expected,
                    result.actual and "actual:\n" + result.actual,
                    result.diff,
                )
                if part
            )
            if result.outcome is Outcome.FAIL:
                ET.SubElement(element, "failure", message=result.message).text = body
            elif result.outcome is Outcome.ERROR:
                ET.SubElement(element, "error", message=result.message).text = body
            elif result.outcome is Outcome.SKIP:
                ET.SubElement(element, "skipped", message=result.message)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def print_results(results: Sequence[CaseResult], out: TextIO) -> None:
    for result in results:
        print(case_line(result), file=out)
    print(file=out)
    print(summary(results), file=out)
