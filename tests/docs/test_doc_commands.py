"""Every shell command of README.md and docs/ runs, as documented (see tests/docs/runner.py for
the few mechanical substitutions: ports, store paths, the interpreter)."""

from __future__ import annotations

import filecmp
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs import sessions
from tests.docs.markdown import ROOT, Block, find
from tests.docs.runner import PROXY_PORT, Ran, Shell

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    shell = Shell(tmp_path, placeholders=dict(sessions.PLACEHOLDERS))
    try:
        yield shell
    finally:
        shell.close()


def run_session(shell: Shell, name: str) -> list[Ran]:
    ran: list[Ran] = []
    for doc, containing in sessions.SESSIONS[name]:
        block = find(doc, containing)
        shell.cwd = ROOT  # each block starts from the repository root, like the page says
        for command in block.commands():
            if any(command.startswith(skipped) for skipped in sessions.NOT_RUN):
                continue
            ran.append(shell.run(command))
    return ran


@pytest.mark.parametrize("name", [n for n in sessions.SESSIONS if n not in ("scale-out", "cli")])
def test_session(shell: Shell, name: str) -> None:
    ran = run_session(shell, name)
    assert ran, f"session {name} ran nothing"


def test_scale_out_on_postgresql(shell: Shell, fresh_postgres_url: str) -> None:
    shell.postgres_url = fresh_postgres_url
    run_session(shell, "scale-out")
    assert "postgresql" in shell.processes[-1].log()  # the proxy of the page, on the database


def test_the_make_test_line_is_the_suite() -> None:
    block = find("README.md", "make test")
    assert any(c.startswith("make test") for c in block.commands())
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\n(\t.*\n)*\t\$\(PY\) -m pytest", makefile, re.MULTILINE)


@pytest.mark.parametrize(("page", "example"), list(sessions.PROTOC.items()), ids=str)
def test_protoc_commands_regenerate_the_examples_code(
    tmp_path: Path, page: tuple[str, str], example: str
) -> None:
    source = ROOT / example
    copy = tmp_path / "example"
    shutil.copytree(source / "proto", copy / "proto")
    shell = Shell(tmp_path, cwd=copy)
    shell.run_block(find(*page))
    generated = sorted(p.relative_to(copy) for p in copy.rglob("*_pb2*.py*"))
    assert generated, "protoc wrote nothing"
    for path in generated:
        assert filecmp.cmp(copy / path, source / path, shallow=False), f"{path} differs"


def text_block(doc: str, containing: str, shell: Shell) -> list[str]:
    """A ``text`` block of output, with the documented port replaced by the real one."""
    block: Block = find(doc, containing)
    assert block.language == "text"
    port = str(shell.ports[PROXY_PORT])
    return [line.replace("9000", port) for line in block.text.splitlines()]


def test_cli_page(shell: Shell) -> None:
    ran = run_session(shell, "cli")
    run_log = shell.processes[0].log()
    for line in text_block("docs/cli.md", "Cloudstate proxy ready on", shell):
        assert line in run_log
    by_command = {r.command.split("'")[0].strip(): r for r in ran}
    listing = by_command["cloudstate call"]
    assert listing.stdout.splitlines() == text_block("docs/cli.md", "serves:", shell)
    calls = [r for r in ran if r.command.startswith(("cloudstate call ", "cloudstate call\t"))]
    assert [line for r in calls for line in (r.stdout + r.stderr).splitlines()] == (
        text_block("docs/cli.md", '{"items": [{"product_id"', shell)
    )
    inspected = [r for r in ran if r.command.startswith("cloudstate inspect")]
    shown = [line for r in inspected for line in r.stdout.splitlines()]
    timestamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    assert [timestamp.sub("T", line) for line in shown] == [
        timestamp.sub("T", line) for line in text_block("docs/cli.md", "PERSISTENCE ID", shell)
    ]
