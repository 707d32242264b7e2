"""docs/getting-started.md, replayed step by step in an empty directory.

Every file the page shows (the ``proto`` and ``python`` blocks whose first line names a path) is
written, and every ``sh`` command runs in the page's order, through the same runner as the other
documented commands (tests/docs/runner.py: free ports instead of 9000, the store in the
temporary directory). Two deliberate shortcuts:

* step 1 runs for real: a new virtual environment, activated, and ``pip install ../cloudstate
  pytest`` from a copy of this checkout placed at ``../cloudstate`` (the page's words), installed
  by uv within uv.lock's versions (tests/docs/runner.py); every later command runs in that
  environment, with nothing of this checkout on its path;
* "Stop it with Ctrl-C; start it again" is done with SIGINT to the ``cloudstate run`` process
  and the same command again.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, blocks
from tests.docs.runner import Shell
from tests.install import packaging

PAGE = ROOT / "docs" / "getting-started.md"
FILE_LINE = re.compile(r"^(?://|#) (\S+\.(?:py|proto))$")

pytestmark = pytest.mark.timeout(300)


def test_a_new_user_reaches_a_passing_test_and_a_running_service(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    packaging.copy_sources(tmp_path / "cloudstate")  # "your checkout, here ../cloudstate"
    shell = Shell(tmp_path, cwd=project)
    written: list[str] = []
    outputs: dict[str, str] = {}
    try:
        for block in blocks(PAGE):
            first = block.text.splitlines()[0]
            if block.language in ("python", "proto"):
                match = FILE_LINE.match(first)
                assert match, f"{block.where}: start the block with a comment naming its file"
                path = project / match.group(1)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(block.text)
                written.append(match.group(1))
            elif block.language == "sh":
                for command in block.commands():
                    ran = shell.run(command)
                    outputs[command] = ran.stdout
            elif block.language == "text" and first.startswith("counters / c1"):
                check_inspect_output(outputs, block.text)
        assert written == [
            "proto/counter/counter.proto",
            "counter/entity.py",
            "tests/test_counter.py",
        ]
        assert (project / "counter" / "counter_pb2.py").exists()
        # Step 1 was real: the page's commands ran with the package it installed.
        assert shell.python == str(project / ".venv" / "bin" / "python")
        where = shell.run("python -c 'import cloudstate; print(cloudstate.__file__)'").stdout
        assert Path(where.strip()).is_relative_to(project / ".venv"), where
        assert "3 passed" in outputs["python -m pytest -q"]
        increased = next(v for k, v in outputs.items() if "Counter.Increase" in k)
        assert increased.split() == ["{", '"value":', "5", "}"]

        # "Stop cloudstate run with Ctrl-C; start it again and the counter is still 5."
        run = shell.processes[-1]
        assert run.process is not None
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(30) == 0
        shell.run("cloudstate run counter.entity --reload")
        again = shell.run('cloudstate call Counter.GetCurrentCounter \'{"counter_id": "c1"}\'')
        assert again.stdout.split() == ["{", '"value":', "5", "}"]
    finally:
        shell.close()


def check_inspect_output(outputs: dict[str, str], expected: str) -> None:
    shown = next(v for k, v in outputs.items() if k.startswith("cloudstate inspect"))
    timestamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    assert timestamp.sub("T", shown) == timestamp.sub("T", expected)
