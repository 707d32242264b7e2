"""Build this project's wheel and install it into brand-new virtual environments, as users do.

The wheel is built from a copy of the source tree (so parallel test workers never share a
``build/`` directory), with the locked setuptools of the test environment and no index. A new
environment gets the wheel with uv, its dependencies constrained to the versions uv.lock names
(taken from uv's cache when it has them, which ``make install`` filled): the same packages a
user's ``pip install`` resolves, minus the index's drift.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")

# A checkout as far as installing goes: the package, its metadata, the README it names, and what
# `make dist` needs (the Makefile, the lock, the uv bootstrap).
SOURCES = ("pyproject.toml", "README.md", "cloudstate", "Makefile", "uv.lock", "scripts")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would let the checkout leak into a new venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def copy_sources(destination: Path) -> Path:
    """A copy of what the wheel is built from (no caches, no generated build files)."""
    destination.mkdir(parents=True)
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                destination / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", ".venv"),
            )
        else:
            shutil.copy2(source, destination / name)
    return destination


def build_wheel(work: Path) -> Path:
    """``cloudstate_py-<version>-py3-none-any.whl`` built in ``work``; its path."""
    source = copy_sources(work / "src")
    out = work / "dist"
    options = ["--no-build-isolation", "--wheel", "--quiet", "--python", sys.executable]
    subprocess.run(
        [str(UV), "build", *options, "--out-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        env=clean_env(),
        timeout=300,
    )
    (wheel,) = out.glob("cloudstate_py-*.whl")
    return wheel


def lock_constraints(work: Path) -> Path:
    """The lock's version of every package (runtime, extras, dev tools) as a constraints file:
    whatever an install asks for comes at the version this repository is tested with."""
    options = ["--frozen", "--all-extras", "--all-groups", "--no-hashes", "--no-emit-project"]
    exported = subprocess.run(
        [str(UV), "export", *options, "--no-header", "--no-annotate"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    ).stdout
    path = work / "constraints.txt"
    path.write_text(exported)
    return path


def new_venv(path: Path) -> Path:
    """A brand-new virtual environment (with pip, as ``python3 -m venv`` makes it); its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", str(path)], check=True, env=clean_env(), timeout=120
    )
    return path / "bin" / "python"


def install(python: Path, requirements: list[str], constraints: Path, cwd: Path) -> None:
    """``pip install REQUIREMENTS`` into ``python``'s environment, by uv within the lock."""
    command = [str(UV), "pip", "install", "--quiet", "--python", str(python)]
    command += ["--constraint", str(constraints), *requirements]
    env = clean_env()
    offline = subprocess.run(
        [*command, "--offline"], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )
    if offline.returncode == 0:
        return
    # Not everything in uv's cache (a machine that never ran `make install`): ask the index,
    # still within the lock's versions.
    online = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if online.returncode != 0:
        raise AssertionError(f"installing {requirements} failed:\n{online.stderr}")
