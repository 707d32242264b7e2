"""Apply one mutant to a copy of the repository and run its tests there; ``main`` runs many.

The real sources are never edited. For each mutant the repository (without ``.git``, ``.venv`` and
caches) is copied to a temporary directory, the mutant's snippet is replaced there, and pytest runs
the mutant's tests with that copy as working directory and first on ``PYTHONPATH`` — inherited by
every process the tests start (proxies, user functions), so they all run the mutated code.

That it really did is checked, not assumed:

* the mutated module gets a probe appended that records, in every process that imports it, the
  process id, the file imported and the command line: a run in which no process imported the
  mutated file, or one imported it from elsewhere, is an error, not a result;
* a ``sitecustomize.py`` in the copy records, at exit, any ``cloudstate``/``tests``/``examples``
  module a process imported from the real repository instead of the copy (an error too);
* a mutant marked ``in_subprocess`` must have been imported by a process other than pytest
  itself (the proxy the tests start).

A mutant is *killed* when its tests fail (pytest exit status 1), *survived* when they all pass, and
an *error* otherwise (snippet not found exactly once, collection error, no result in time, the
probe checks above). ``python -m tests.mutants`` first runs every selected mutant's tests once on
an unmutated copy (the baseline: a kill only counts if the tests pass without the mutant).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.mutants.catalogue import FAST, MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".mutants" / "results.json"

#: Not copied: version control, the environment, caches, outputs.
_SKIPPED = frozenset(
    {
        ".git",
        ".venv",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".mutants",
        "data",
        "dist",
    }
)
#: Directories of the real repository no process of a mutant's run may import from.
_GUARDED = ("cloudstate", "tests", "examples", "benchmarks", "scripts")

#: Appended to the mutated module in the copy: which process imported it, from where.
PROBE = """

# -- mutation check probe (tests/mutants/runner.py) ------------------------------------------
def _mutant_probe() -> None:
    import os
    import sys

    trace = os.environ.get("CLOUDSTATE_MUTANT_TRACE")
    if trace:
        with open(trace, "a") as out:
            out.write(f"{os.getpid()}\\t{__file__}\\t{' '.join(sys.argv)}\\n")


_mutant_probe()
del _mutant_probe
"""

#: Written to the copy's root (first on PYTHONPATH, so every Python process of the run loads it).
SITECUSTOMIZE = '''"""Mutation check (tests/mutants/runner.py): at exit, record the repository
modules this process imported from the real repository instead of the mutant's copy."""

import atexit


def _mutant_leaks() -> None:
    import os
    import sys

    real = os.environ.get("CLOUDSTATE_MUTANT_REAL_ROOT")
    log = os.environ.get("CLOUDSTATE_MUTANT_LEAKS")
    if not real or not log:
        return
    guarded = tuple(os.path.join(real, d, "") for d in GUARDED)
    leaked = [
        f"{os.getpid()}\\t{name}\\t{path}"
        for name, module in list(sys.modules.items())
        if (path := str(getattr(module, "__file__", None) or "")).startswith(guarded)
    ]
    if leaked:
        with open(log, "a") as out:
            out.write("\\n".join(leaked) + "\\n")


GUARDED = %r
atexit.register(_mutant_leaks)
'''

_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (\S+)(?: - (.*))?$", re.MULTILINE)


class CatalogueError(Exception):
    """A mutant cannot be applied: its snippet is not in its file exactly once."""


@dataclass
class Result:
    name: str
    #: killed | survived | error
    status: str
    seconds: float
    #: The failing tests (the first one killed the mutant; ``-x`` stops there).
    killed_by: list[str] = field(default_factory=list)
    #: The failure's one-line reason, or what went wrong for an error.
    detail: str = ""
    #: The command lines of the processes that imported the mutated module.
    importers: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.name}: {self.status} in {self.seconds:.1f}s"
        if self.killed_by:
            text += f" by {self.killed_by[0]}"
        if self.detail:
            text += f" ({self.detail})"
        return text


def mutated_source(mutant: Mutant, root: Path = ROOT) -> str:
    """The mutated text of the mutant's file under ``root``; raises :class:`CatalogueError` if
    the original snippet does not occur exactly once (a refactor moved the code: update the
    catalogue rather than let the mutant silently test nothing)."""
    path = root / mutant.file
    if not path.is_file():
        raise CatalogueError(f"{mutant.name}: {mutant.file} does not exist")
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise CatalogueError(
            f"{mutant.name}: its original snippet occurs {count} times in {mutant.file} "
            "(must be exactly once): update the catalogue (tests/mutants/catalogue.py)"
        )
    if mutant.original == mutant.replacement:
        raise CatalogueError(f"{mutant.name}: the replacement equals the original")
    return text.replace(mutant.original, mutant.replacement)


def copy_tree(source: Path, destination: Path) -> None:
    """The repository without version control, environment and caches (bytecode caches stay:
    they are checked against their source's mtime and size, and the mutated file's is removed)."""

    def skipped(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _SKIPPED} if Path(directory) == source else set()

    shutil.copytree(source, destination, ignore=skipped, symlinks=True)
    (destination / "sitecustomize.py").write_text(SITECUSTOMIZE % (_GUARDED,))


def apply(mutant: Mutant, tree: Path) -> None:
    """Mutate the copy at ``tree``: the replaced snippet, plus the import probe at the end."""
    path = tree / mutant.file
    if mutant.served_by:  # not Python: the module serving the file carries the probe
        path.write_text(mutated_source(mutant, tree))
        path = tree / mutant.served_by
        path.write_text(path.read_text() + PROBE)
    else:
        path.write_text(mutated_source(mutant, tree) + PROBE)
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()


def child_env(tree: Path, backends: str, **extra: str) -> dict[str, str]:
    """The environment of a run in ``tree``: the copy first on the path, pytest's own variables
    of an enclosing run (xdist worker ids, ...) left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # COLUMNS: pytest's short summary keeps each failure's reason only if the line fits.
    env.update(PYTHONPATH=str(tree), CLOUDSTATE_TEST_BACKENDS=backends, COLUMNS="1000", **extra)
    return env


def pytest_command(
    tests: Iterable[str], basetemp: Path, timeout: float, *options: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        # The conformance kit's tests (tests/tck/test_conformance.py) need its plugin, which
        # the cleared addopts loaded; it only parametrizes tests that ask for a TCK case.
        "-p",
        "cloudstate.tck.pytest_plugin",
        "-rfE",
        # Property tests draw the same examples every run: a kill must be reproducible.
        "--hypothesis-seed=0",
        f"--timeout={timeout:g}",
        f"--basetemp={basetemp}",
        *options,
        *tests,
    ]


def run_pytest(
    command: Sequence[str], cwd: Path, env: dict[str, str], deadline: float
) -> tuple[int | None, str, int]:
    """(exit status or None on timeout, output, pid). Everything the run started in its process
    group is killed afterwards, so a test that leaked a proxy cannot disturb the next mutant."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=deadline)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        code = None
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return code, output, process.pid


def failures(output: str) -> list[tuple[str, str]]:
    """(test id, reason) of every FAILED/ERROR line of pytest's short summary."""
    return [(m.group(1), (m.group(2) or "").strip()) for m in _SUMMARY.finditer(output)]


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def _command_line(argv: str, tree: Path) -> str:
    """A process's command line, paths in the copy relative to it, pytest's just ``pytest``."""
    words = argv.split(" ")
    if words[0].endswith(("pytest/__main__.py", "/pytest")):
        return "pytest"
    prefix = os.path.join(str(tree), "")
    return " ".join(w.replace(prefix, "") for w in words)[:200]


def _check_imports(
    mutant: Mutant, tree: Path, trace: Path, leaks: Path, pytest_pid: int
) -> tuple[list[str], str]:
    """(command lines of the importers, problem or "")."""
    records = [
        line.split("\t", 2)
        for line in (trace.read_text().splitlines() if trace.exists() else [])
        if line.strip()
    ]
    importers = sorted({_command_line(argv, tree) for _, _, argv in records})
    if leaks.exists() and leaks.read_text().strip():
        first = leaks.read_text().splitlines()[0].split("\t")
        return importers, f"a process imported {first[1]} from the real repository ({first[2]})"
    if not records:
        return importers, f"no process imported the mutated {mutant.file}: the tests miss it"
    prefix = os.path.join(str(tree), "")
    elsewhere = [path for _, path, _ in records if not path.startswith(prefix)]
    if elsewhere:
        return importers, f"{mutant.file} was imported from {elsewhere[0]}, not the copy"
    if mutant.in_subprocess and all(int(pid) == pytest_pid for pid, _, _ in records):
        return importers, "no process started by the tests imported the mutated copy"
    return importers, ""


def run_mutant(mutant: Mutant, *, timeout: float = 60.0, deadline: float = 600.0) -> Result:
    """Apply ``mutant`` to a fresh copy of the repository and run its tests (``-x``) there."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"cloudstate-mutant-{mutant.name}-") as tmp:
        work = Path(tmp)
        tree = work / "repo"
        copy_tree(ROOT, tree)
        try:
            apply(mutant, tree)
        except CatalogueError as error:
            return Result(mutant.name, "error", time.monotonic() - start, detail=str(error))
        trace, leaks = work / "trace", work / "leaks"
        env = child_env(
            tree,
            mutant.backends,
            CLOUDSTATE_MUTANT_TRACE=str(trace),
            CLOUDSTATE_MUTANT_LEAKS=str(leaks),
            CLOUDSTATE_MUTANT_REAL_ROOT=str(ROOT),
        )
        command = pytest_command(mutant.tests, work / "pytest", timeout, "-x")
        code, output, pid = run_pytest(command, tree, env, deadline)
        seconds = time.monotonic() - start
        importers, problem = _check_imports(mutant, tree, trace, leaks, pid)
    result = Result(mutant.name, "error", seconds, importers=importers)
    failed = failures(output)
    if code is None:
        result.detail = f"no result within {deadline:g}s\n{_tail(output)}"
    elif problem:
        result.detail = problem
    elif code == 0:
        result.status = "survived"
    elif code == 1 and failed:
        result.status = "killed"
        result.killed_by = [test for test, _ in failed]
        result.detail = failed[0][1]
    else:
        result.detail = f"pytest exited with {code}\n{_tail(output)}"
    return result


def run_baseline(mutants: Sequence[Mutant], workers: int, timeout: float) -> tuple[bool, str]:
    """Run every test the mutants name, once, on an unmutated copy: (all passed, report)."""
    tests = list(dict.fromkeys(t for m in mutants for t in m.tests))
    backends = ",".join(dict.fromkeys(b for m in mutants for b in m.backends.split(",")))
    options = ("-n", str(workers), "--dist", "loadgroup") if workers > 1 else ()
    with tempfile.TemporaryDirectory(prefix="cloudstate-mutant-baseline-") as tmp:
        tree = Path(tmp) / "repo"
        copy_tree(ROOT, tree)
        command = pytest_command(tests, Path(tmp) / "pytest", timeout, *options)
        code, output, _ = run_pytest(command, tree, child_env(tree, backends), 1800)
    if code == 0:
        return True, _tail(output, 1)
    return False, _tail(output, 40)


def _table(results: Sequence[Result]) -> str:
    width = max([len("mutant"), *(len(r.name) for r in results)])
    lines = [f"{'mutant':<{width}}  {'result':<8}  {'seconds':>7}  killed by / detail"]
    for r in results:
        why = r.killed_by[0] if r.killed_by else r.detail.splitlines()[0] if r.detail else ""
        lines.append(f"{r.name:<{width}}  {r.status:<8}  {r.seconds:7.1f}  {why}")
    return "\n".join(lines)


def select(names: Sequence[str], fast: bool) -> list[Mutant]:
    by_name = {m.name: m for m in MUTANTS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown mutants: {', '.join(unknown)} (see --list)")
    if names:
        return [by_name[n] for n in names]
    return [by_name[n] for n in FAST] if fast else list(MUTANTS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutants",
        description="Run the proxy's mutation check: every mutant must be killed by its tests.",
    )
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--fast", action="store_true", help="only the fast subset (make test)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per test (60)")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file ({RESULTS})")
    args = parser.parse_args(argv)

    mutants = select(args.names, args.fast)
    if args.list:
        for m in mutants:
            print(f"{m.name:<44} {m.file}\n    {m.guarantee}\n    tests: {' '.join(m.tests)}")
        return 0
    problems = []
    for m in mutants:
        try:
            mutated_source(m)
        except CatalogueError as error:
            problems.append(str(error))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2

    started = time.monotonic()
    if not args.no_baseline:
        print(f"baseline: the tests of {len(mutants)} mutants, unmutated ...", flush=True)
        passed, report = run_baseline(mutants, args.jobs, args.timeout)
        print(report, flush=True)
        if not passed:
            print("baseline failed: fix the tests before judging mutants", file=sys.stderr)
            return 2
    baseline_seconds = time.monotonic() - started

    def one(mutant: Mutant) -> Result:
        result = run_mutant(mutant, timeout=args.timeout)
        print(result.describe(), flush=True)
        return result

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, mutants))
    wall = time.monotonic() - started

    print()
    print(_table(results))
    counts = {s: sum(r.status == s for r in results) for s in ("killed", "survived", "error")}
    print(
        f"\n{counts['killed']} killed, {counts['survived']} survived, {counts['error']} errors; "
        f"wall time {wall:.0f}s (baseline {baseline_seconds:.0f}s, {args.jobs} at once)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "wall_seconds": round(wall, 1),
                "baseline_seconds": round(baseline_seconds, 1),
                "jobs": args.jobs,
                "counts": counts,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {args.json}")
    for r in results:
        if r.status != "killed":
            print(f"NOT KILLED: {r.describe()}", file=sys.stderr)
    return 0 if counts["killed"] == len(results) else 1
