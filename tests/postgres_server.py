"""A throw-away PostgreSQL server for the tests (standard library only).

Used two ways:

* by ``.ci/run``: ``python3 tests/postgres_server.py start DIR`` initialises a cluster in DIR,
  starts it on a free loopback port, creates the ``cloudstate`` database and prints its URL;
  ``python3 tests/postgres_server.py stop DIR`` stops it;
* by the ``postgres_url`` session fixture (tests/conftest.py) when ``CLOUDSTATE_TEST_POSTGRES`` is
  not set: the same, in a temporary directory, for the length of the test session.

The server binaries come from ``PG_BIN``, else the directory of ``pg_ctl`` on ``PATH``, else the
newest ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package). PostgreSQL refuses to run
as root, so under root the cluster belongs to the ``postgres`` user and commands run through
``runuser``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

DATABASE = "cloudstate"
SUPERUSER = "postgres"

# Test settings: enough connections for several proxies per xdist worker; durable commits (fsync)
# stay on so that the durability tests mean what they say.
_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=64MB "
    "-c log_min_messages=warning -c log_connections=off"
)


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None if PostgreSQL is not installed."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)

    def version(path: Path) -> tuple[int, ...]:
        try:
            return tuple(int(part) for part in path.parent.name.split("."))
        except ValueError:
            return (0,)

    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True))
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *args]
    return args


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_owner(args),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )


def start(data_dir: Path, bin_dir: Path | None = None) -> str:
    """Initialise (if needed) and start a cluster in ``data_dir``; return the database URL."""
    bin_dir = bin_dir or find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SUPERUSER)
        os.chown(data_dir, owner.pw_uid, owner.pw_gid)
        # The postgres user must be able to reach the directory.
        for parent in data_dir.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
    cluster = data_dir / "cluster"
    if not (cluster / "PG_VERSION").exists():
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
    port = _free_port()
    _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(cluster),
            "-l",
            str(data_dir / "server.log"),
            "-o",
            f"-p {port} -k {data_dir} {_SERVER_OPTIONS}",
            "-w",
            "-t",
            "60",
            "start",
        ]
    )
    (data_dir / "port").write_text(str(port))
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    exists = _run(
        [
            str(bin_dir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
        ]
    ).stdout.strip()
    if exists != "1":
        _run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                SUPERUSER,
                DATABASE,
            ]
        )
    return url


def stop(data_dir: Path, bin_dir: Path | None = None, mode: str = "fast") -> None:
    """Stop the cluster in ``data_dir`` (if it runs)."""
    bin_dir = bin_dir or find_bin_dir()
    cluster = data_dir.resolve() / "cluster"
    if bin_dir is None or not (cluster / "postmaster.pid").exists():
        return
    subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster), "-m", mode, "-w", "stop"]),
        capture_output=True,
        timeout=120,
        check=False,
    )


def restart_same_port(data_dir: Path, bin_dir: Path | None = None) -> None:
    """Start a stopped cluster again on the port it had (tests of a database that comes back)."""
    bin_dir = bin_dir or find_bin_dir()
    assert bin_dir is not None
    data_dir = data_dir.resolve()
    port = (data_dir / "port").read_text().strip()
    _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir / "cluster"),
            "-l",
            str(data_dir / "server.log"),
            "-o",
            f"-p {port} -k {data_dir} {_SERVER_OPTIONS}",
            "-w",
            "-t",
            "60",
            "start",
        ]
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop", "bin"):
        print(f"usage: {argv[0]} start|stop DIR  |  {argv[0]} bin -", file=sys.stderr)
        return 2
    if argv[1] == "bin":
        found = find_bin_dir()
        print(found or "")
        return 0 if found else 1
    if argv[1] == "start":
        try:
            print(start(Path(argv[2])))
        except subprocess.CalledProcessError as error:
            print(f"{error}\n{error.stdout}\n{error.stderr}", file=sys.stderr)
            return 1
        return 0
    stop(Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
