"""Runs the shell commands of the documentation as a reader would type them.

A :class:`Shell` executes each command of an ``sh`` block for real — the proxy, the user
function, ``cloudstate call``, ``curl``, the example clients, protoc — with only the changes a
test on a shared machine needs, all of them mechanical:

* the documented ports (9000 for the proxy, 8080 for the user function) become free ports, and
  ``localhost`` becomes ``127.0.0.1``;
* ``sqlite:///data/...`` stores live in the test's temporary directory, and commands relying on
  the default store get ``CLOUDSTATE_STORE`` pointing there;
* ``python`` and ``.venv/bin/python`` are this interpreter, ``cloudstate`` is
  ``python -m cloudstate.cli`` (the same entry point the console script calls) — until a page
  creates and activates its own virtual environment (``python3 -m venv .venv``,
  ``. .venv/bin/activate``, both done for real): from then on they are that environment's;
* long-running commands (``cloudstate run``, ``cloudstate proxy``, ``make run``, a user
  function module) start in the background and the shell waits until they serve;
* ``make run`` runs the recipe ``make -n run`` prints (so the Makefile is what is tested),
  with the store moved as above;
* ``pip install`` into a page's own virtual environment installs for real, with uv and within
  the versions of uv.lock (tests/install/packaging.py); elsewhere it is not repeated: the test
  checks that what it would install is installed in this environment.

Every command must succeed, except one whose comment announces an error (``# a clear error``);
a comment holding JSON (``# {"items": ...}``) must equal the command's JSON output.
"""

from __future__ import annotations

import glob
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.docs.markdown import ROOT, Block
from tests.install import packaging
from tests.processes import Process, free_port, wait_for_port, wait_serving

PROXY_PORT = "9000"
USER_FUNCTION_PORT = "8080"
ADMIN_PORT = "9090"
NATS_PORT = "4222"
_UF_MODULES = re.compile(r"^[\w.]+\.(shopping_cart|main)$")


def split_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: the comment starts at a ``#`` after a space, outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


@dataclass
class Ran:
    """What one documented command did."""

    command: str
    argv: list[str]
    returncode: int | None = None  # None: still running in the background
    stdout: str = ""
    stderr: str = ""


@dataclass
class Shell:
    """Executes documented commands (see the module documentation)."""

    tmp: Path
    cwd: Path = ROOT
    #: Placeholders of templates like ``cloudstate run MODULE --path DIR ...``.
    placeholders: dict[str, str] = field(default_factory=dict)
    #: A PostgreSQL URL that replaces any documented one.
    postgres_url: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    nats_servers: list[Any] = field(default_factory=list)
    history: list[Ran] = field(default_factory=list)
    #: The interpreter of ``python`` and ``cloudstate``: this one, until the page activates a
    #: virtual environment of its own.
    python: str = sys.executable
    _last_args: list[str] = field(default_factory=list)

    # -- running ----------------------------------------------------------------------------------

    def run_block(self, block: Block) -> list[Ran]:
        assert block.language == "sh", f"{block.where} is not an sh block"
        return [self.run(command) for command in block.commands()]

    def run(self, line: str) -> Ran:
        command, comment = split_comment(line)
        for name, value in self.placeholders.items():
            command = command.replace(name, value)
        argv = [self._substitute(token) for token in shlex.split(command)]
        argv = [path for token in argv for path in self._glob(token)]
        program = argv[0]
        if program == "cd":
            self.cwd = (self.cwd / argv[1]).resolve()
            ran = Ran(line, argv, 0)
        elif program in (".", "source"):
            ran = self._activate(line, argv)
        elif program == "make":
            ran = self._make(line, argv)
        elif program == "pip":
            ran = self._pip(line, argv)
        elif program in ("python", "python3") or program.endswith("/bin/python"):
            ran = self._python(line, argv[1:])
        elif program == "cloudstate" or program.endswith("/bin/cloudstate"):
            ran = self._cloudstate(line, argv[1:])
        elif program == "curl":
            ran = self._finish(line, ["curl", "-sS", *argv[1:]])
        elif program == "grpcurl":
            ran = self._grpcurl(line, argv)
        elif program == "nats-server":
            ran = self._nats_server(line, argv)
        else:
            raise AssertionError(f"no way to run the documented command {line!r}")
        self._check(ran, comment)
        self.history.append(ran)
        return ran

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.alive:
                process.terminate()
        for server in self.nats_servers:
            server.stop()

    # -- the programs ---------------------------------------------------------------------------

    def _python(self, line: str, args: list[str]) -> Ran:
        if args[:2] == ["-m", "venv"]:  # a new environment, made for real by this interpreter
            return self._finish(line, [sys.executable, *args])
        if args[:2] == ["-m", "cloudstate.proxy"]:
            if args[2:] == ["..."]:  # "the same" as the previous proxy command
                args = ["-m", "cloudstate.proxy", *self._last_args]
            return self._proxy(line, [self.python, *args[:2]], args[2:])
        if len(args) >= 2 and args[0] == "-m" and _UF_MODULES.match(args[1]):
            return self._user_function(line, [self.python, *args])
        if args and args[0].endswith("client.py"):
            args = [args[0], "--port", str(self.ports[PROXY_PORT]), *args[1:]]
        return self._finish(line, [self.python, *args])

    def _activate(self, line: str, argv: list[str]) -> Ran:
        """``. .venv/bin/activate``: ``python``, ``pip`` and ``cloudstate`` are the venv's now."""
        python = (self.cwd / argv[1]).parent / "python"
        assert python.exists(), f"{line!r}: no virtual environment at {python.parent.parent}"
        self.python = str(python)
        return Ran(line, argv, 0)

    def _cloudstate(self, line: str, args: list[str]) -> Ran:
        base = [self.python, "-m", "cloudstate.cli"]
        if args and args[0] in ("run", "proxy"):
            return self._proxy(line, [*base, args[0]], args[1:])
        if args and args[0] == "call" and "--proxy" not in args:
            args = [*args, "--proxy", f"127.0.0.1:{self.ports[PROXY_PORT]}"]
        return self._finish(line, [*base, *args])

    def _proxy(self, line: str, program: list[str], args: list[str]) -> Ran:
        """``cloudstate run``/``proxy`` or ``python -m cloudstate.proxy``: in the background."""
        args = [a for a in args if a != "..."]  # "and any other flags": none
        port = free_port()
        self.ports[PROXY_PORT] = port
        if "--port" in args:
            args[args.index("--port") + 1] = str(port)
        else:
            args = [*args, "--port", str(port)]
        if "--admin-port" in args:
            self.ports[ADMIN_PORT] = free_port()
            args[args.index("--admin-port") + 1] = str(self.ports[ADMIN_PORT])
        self._last_args = list(args)
        argv = [*program, *args]
        process = Process(
            line, argv, port, self.tmp / f"process-{port}.log", cwd=self.cwd, env=self._env()
        )
        self.processes.append(process.start(ready=60))
        try:
            wait_serving(port, timeout=60)
        except TimeoutError as e:
            raise AssertionError(f"{line!r} did not serve: {e}\n{process.log()}") from e
        return Ran(line, argv)

    def _user_function(self, line: str, argv: list[str]) -> Ran:
        port = free_port()
        self.ports[USER_FUNCTION_PORT] = port
        env = {**self._env(), "HOST": "127.0.0.1", "PORT": str(port)}
        process = Process(line, argv, port, self.tmp / f"uf-{port}.log", cwd=self.cwd, env=env)
        self.processes.append(process.start(ready=60))
        wait_for_port(port, process.process)  # type: ignore[arg-type]
        return Ran(line, argv)

    def _make(self, line: str, argv: list[str]) -> Ran:
        if argv[1] == "-C" and argv[3:] == ["dist"]:  # build the wheel in a (copied) checkout
            return self._finish(line, argv, timeout=600)
        if argv[1:] != ["run"]:
            raise AssertionError(f"no way to run {line!r} from a test")
        plan = subprocess.run(
            ["make", "-n", "run"], cwd=self.cwd, capture_output=True, text=True, check=True
        ).stdout
        recipe = [c for c in plan.replace("\\\n", " ").splitlines() if "cloudstate run" in c]
        assert len(recipe) == 1, f"make -n run printed:\n{plan}"
        command = recipe[0]
        args = [self._substitute(token) for token in shlex.split(command)]
        start = args.index("run")
        return self._proxy(line, [sys.executable, "-m", "cloudstate.cli", "run"], args[start + 1 :])

    def _pip(self, line: str, argv: list[str]) -> Ran:
        """Into the page's own environment: for real (within the lock's versions). Into this
        one: not repeated; the distribution and the extras it names must be installed here."""
        assert argv[1] == "install", line
        if self.python != sys.executable:
            work = Path(tempfile.mkdtemp(dir=self.tmp))
            packaging.install(
                Path(self.python), argv[2:], packaging.lock_constraints(work), self.cwd
            )
            return Ran(line, argv, 0)
        for spec in argv[2:]:
            name, _, extras = spec.partition("[")
            distribution = importlib.metadata.distribution(name)
            for extra in filter(None, extras.rstrip("]").split(",")):
                for requirement in distribution.requires or []:
                    if f'extra == "{extra}"' in requirement:
                        required = re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0]
                        importlib.metadata.distribution(required)  # raises if missing
        return Ran(line, argv, 0)

    def _nats_server(self, line: str, argv: list[str]) -> Ran:
        """``nats-server -js ...``: a real one (tests/nats_server.py) on a free port, its store
        in the session's directory; the documented port 4222 then means that one."""
        from tests import nats_server

        if nats_server.find_binary() is None:
            if os.environ.get("CI", "").lower() == "true":
                raise AssertionError("CI must provide nats-server (.ci/run installs it)")
            pytest.skip("no nats-server binary (apt-get install nats-server)")
        assert "-js" in argv, f"{line!r}: the broker needs JetStream (-js)"
        server = nats_server.start(self.tmp / "nats")
        self.ports[NATS_PORT] = server.port
        self.nats_servers.append(server)
        return Ran(line, argv)

    def _grpcurl(self, line: str, argv: list[str]) -> Ran:
        if shutil.which("grpcurl"):
            return self._finish(line, argv)
        # Not installed here: the same reflection listing through `cloudstate call`.
        address = argv[-2] if argv[-1] == "list" else argv[-1]
        return self._finish(
            line, [sys.executable, "-m", "cloudstate.cli", "call", "--proxy", address]
        )

    # -- helpers -------------------------------------------------------------------------------

    def _finish(self, line: str, argv: Sequence[str], timeout: float = 120) -> Ran:
        done = subprocess.run(
            list(argv),
            cwd=self.cwd,
            env=self._full_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Ran(line, list(argv), done.returncode, done.stdout, done.stderr)

    def _env(self) -> dict[str, str]:
        env = {"CLOUDSTATE_STORE": f"sqlite:///{self.tmp}/cloudstate.db"}
        if USER_FUNCTION_PORT in self.ports:
            env["USER_FUNCTION_HOST"] = "127.0.0.1"
            env["USER_FUNCTION_PORT"] = str(self.ports[USER_FUNCTION_PORT])
        if self.python != sys.executable:  # the page's venv: nothing of the checkout leaks in
            bin_dir = Path(self.python).parent
            env["PYTHONPATH"] = ""
            env["VIRTUAL_ENV"] = str(bin_dir.parent)
            env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return env

    def _full_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        return {**env, **self._env()}

    def _glob(self, token: str) -> list[str]:
        """The shell's wildcard expansion (a pattern matching nothing stays as it is)."""
        if "*" not in token or token.startswith(("-", "{", "'")):
            return [token]
        return sorted(glob.glob(token, root_dir=self.cwd)) or [token]

    def _substitute(self, token: str) -> str:
        token = token.replace("localhost", "127.0.0.1")
        if token.startswith("sqlite:///data/"):
            token = f"sqlite:///{self.tmp}/" + token.removeprefix("sqlite:///data/")
        if self.postgres_url and token.startswith(("postgresql://", "postgres://")):
            token = self.postgres_url
        for documented, role in (
            (PROXY_PORT, PROXY_PORT),
            (USER_FUNCTION_PORT, USER_FUNCTION_PORT),
            (ADMIN_PORT, ADMIN_PORT),
            (NATS_PORT, NATS_PORT),
        ):
            if role in self.ports:
                token = re.sub(rf"(?<!\d){documented}(?!\d)", str(self.ports[role]), token)
        return token

    def _check(self, ran: Ran, comment: str) -> None:
        if ran.returncode is None:
            return
        output = f"--- stdout ---\n{ran.stdout}\n--- stderr ---\n{ran.stderr}"
        if "error" in comment.lower():
            assert ran.returncode != 0, f"{ran.command!r} should have failed\n{output}"
            return
        assert ran.returncode == 0, f"{ran.command!r} exited with {ran.returncode}\n{output}"
        if comment[:1] in "{[":
            try:
                expected = json.loads(comment)
            except ValueError:
                return  # an abbreviated illustration, not the literal output
            assert json.loads(ran.stdout) == expected, f"{ran.command!r}\n{output}"
