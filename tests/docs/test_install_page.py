"""docs/install.md, replayed word for word in an empty directory next to a copy of this checkout
(at ``../cloudstate``, as the page says): a new virtual environment, the install from the
checkout with extras, ``make -C ../cloudstate dist`` and the install of the wheel it built. Every
install is real (tests/docs/runner.py: uv, within uv.lock's versions).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import cloudstate
from tests.docs.markdown import ROOT, blocks
from tests.docs.runner import Shell
from tests.install import packaging

PAGE = ROOT / "docs" / "install.md"

pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("install")]


def test_the_install_page_works_word_for_word(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    packaging.copy_sources(tmp_path / "cloudstate")
    shell = Shell(tmp_path, cwd=project)
    commands = [c for block in blocks(PAGE) if block.language == "sh" for c in block.commands()]
    assert commands[-1].startswith("pip install ../cloudstate/dist/")
    try:
        for command in commands:
            shell.run(command)
    finally:
        shell.close()
    assert shell.python == str(project / ".venv" / "bin" / "python")
    wheels = list((tmp_path / "cloudstate" / "dist").glob("cloudstate_py-*-py3-none-any.whl"))
    assert [w.name for w in wheels] == [f"cloudstate_py-{cloudstate.__version__}-py3-none-any.whl"]
    code = "import asyncpg, nats, cloudstate; print(cloudstate.__file__, cloudstate.__version__)"
    shown = subprocess.run(
        [shell.python, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env=packaging.clean_env(),
    ).stdout.split()
    assert Path(shown[0]).is_relative_to(project / ".venv")
    assert shown[1] == cloudstate.__version__
