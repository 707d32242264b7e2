"""The environment is the lock: ``make test`` starts with ``make check-env``, which fails when
``.venv`` holds any package at another version than uv.lock names (the failure that once turned a
fresh clone's ``make test`` red while an old machine stayed green), or when uv.lock no longer
matches pyproject.toml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.install.packaging import ROOT, UV, clean_env


def check(project: Path) -> subprocess.CompletedProcess[str]:
    """``uv sync --check`` of this test environment against ``project``'s lock.

    ``project`` is a copy of pyproject.toml and uv.lock only, so the check leaves the project's
    own editable install aside (``--no-install-project --inexact``); ``make check-env`` checks
    the real tree exactly, extraneous packages included.
    """
    env = clean_env(UV_PROJECT_ENVIRONMENT=str(Path(sys.prefix)))
    return subprocess.run(
        [
            str(UV),
            "sync",
            "--frozen",
            "--all-extras",
            "--no-install-project",
            "--inexact",
            "--check",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def locked_copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def test_this_environment_is_exactly_the_lock(tmp_path: Path) -> None:
    done = check(locked_copy(tmp_path))
    assert done.returncode == 0, done.stderr


def test_a_package_at_another_version_than_the_lock_fails_the_check(tmp_path: Path) -> None:
    project = locked_copy(tmp_path)
    lock = project / "uv.lock"
    text, count = re.subn(
        r'(name = "pyyaml"\nversion = ")([^"]+)"', r'\g<1>0.0.1"', lock.read_text()
    )
    assert count == 1
    lock.write_text(text)
    done = check(project)
    assert done.returncode != 0
    assert "pyyaml" in done.stderr


def test_the_lock_matches_pyproject() -> None:
    done = subprocess.run(
        [str(UV), "lock", "--check", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_make_test_checks_the_environment_first() -> None:
    plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    assert plan.index("sync --frozen --all-extras --check") < plan.index("pytest")
