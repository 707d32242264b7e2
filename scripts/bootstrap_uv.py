"""Install the uv that uv.lock names into a virtual environment, with pip and the lock's hashes.

The Makefile's first step on a fresh machine (only python3 and make): ``python3 -m venv .venv``
then this script, then ``uv sync --frozen`` installs everything else from the lock. Taking uv's
version and wheel hashes from uv.lock keeps one source of truth: ``make lock`` moves uv with the
rest, and pip refuses a wheel whose hash the lock does not list::

    python3 scripts/bootstrap_uv.py .venv/bin/python
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"


def locked_uv(lock_path: Path = LOCK) -> tuple[str, list[str]]:
    """The version of uv the lock names and the hashes of its wheels."""
    lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    for package in lock.get("package", []):
        if package.get("name") == "uv":
            hashes = [wheel["hash"] for wheel in package.get("wheels", [])]
            if hashes:
                return str(package["version"]), hashes
    raise SystemExit(f"{lock_path} names no uv wheels: add uv to the dev group and run `make lock`")


def pinned_requirement(lock_path: Path = LOCK) -> str:
    """``uv==VERSION --hash=sha256:... ...`` for every wheel of uv in the lock."""
    version, hashes = locked_uv(lock_path)
    return f"uv=={version} " + " ".join(f"--hash={h}" for h in hashes)


def installed_uv_version(python: str) -> str | None:
    """The version of the uv beside ``python`` (``None`` if there is none)."""
    uv = Path(python).with_name("uv")
    if not uv.exists():
        return None
    shown = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=False)
    parts = shown.stdout.split()
    return parts[1] if shown.returncode == 0 and len(parts) > 1 else None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: bootstrap_uv.py PYTHON (a virtual environment's python)", file=sys.stderr)
        return 2
    python = argv[1]
    if installed_uv_version(python) == locked_uv()[0]:
        return 0  # already the locked uv (uv.lock changed for other packages)
    # A venv made by uv itself has no pip: bring it (from the standard library's own copy).
    has_pip = subprocess.call([python, "-m", "pip", "--version"], stdout=subprocess.DEVNULL) == 0
    if not has_pip and subprocess.call([python, "-m", "ensurepip", "--default-pip"]) != 0:
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as requirements:
        requirements.write(pinned_requirement() + "\n")
    command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", requirements.name]
    try:
        return subprocess.call(command)
    finally:
        Path(requirements.name).unlink()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
