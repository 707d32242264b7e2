"""Run the selected cases against a target and report them (what ``cloudstate tck`` does).

::

    results = asyncio.run(run(settings, out=sys.stdout, junit_path="tck.xml"))
    sys.exit(0 if passed(results) else 1)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from cloudstate.tck.context import run_case
from cloudstate.tck.framework import CaseResult, all_cases, select
from cloudstate.tck.report import case_line, junit_xml, summary
from cloudstate.tck.session import Session, TckSettings


async def run(
    settings: TckSettings, out: TextIO = sys.stdout, junit_path: str | None = None
) -> list[CaseResult]:
    """Start the session, run every selected case in order, print and return the results."""
    cases = select(all_cases(), settings.targets, settings.patterns)
    session = Session(settings)
    results: list[CaseResult] = []
    try:
        await session.start()
        for case in cases:
            result = await run_case(session, case)
            results.append(result)
            print(case_line(result), file=out, flush=True)
    finally:
        await session.stop()
    print(file=out)
    print(summary(results), file=out, flush=True)
    if junit_path:
        await asyncio.to_thread(Path(junit_path).write_bytes, junit_xml(results))
    return results
