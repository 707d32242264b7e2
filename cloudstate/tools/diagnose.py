"""Why a user function did not start, in one line naming the likely fix.

``cloudstate run`` starts ``python -m MODULE`` and keeps the end of what it writes to stderr.
When the process exits before it serves, :func:`explain` reads that output (the traceback Python
printed, still shown to the user as it was) and says what to do:

* generated code (``*_pb2`` / ``*_pb2_grpc``) that cannot be imported: the protos are probably
  not compiled, and the ``python -m cloudstate.protoc`` command that compiles them;
* the module itself not found: its name and ``--path``;
* another module of its package missing: the import to check;
* another module missing: it is not installed in this environment;
* an exit with status 0: running the module must start the user function;
* anything else: the error above is the user function's own.

Example::

    explain("needs_protos", "svc", 1, "ModuleNotFoundError: No module named 'foo_pb2'\\n")
    # "the user function needs_protos did not start (exit status 1): foo_pb2 is missing:
    #  the protos are probably not compiled: cd svc && python -m cloudstate.protoc -I proto
    #  --python_out=. --pyi_out=. proto/foo.proto"
"""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

#: ``No module named 'x.y'`` (ModuleNotFoundError) or ``No module named x.y`` (``python -m``).
_NO_MODULE = re.compile(r"No module named '?([\w.]+?)'?(?:;|\)|$|\s)")
#: ``cannot import name 'foo_pb2' from 'pkg'``: a generated module missing from its package.
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")


class StartupError(Exception):
    """The user function did not start, or the proxy could not discover it: ``cloudstate``
    prints the message as one line and exits with ``status`` (the user function's own when it
    exited)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def is_generated(module: str) -> bool:
    return module.endswith(("_pb2", "_pb2_grpc"))


def last_line(output: str) -> str:
    """The last line written: the exception a traceback ends with."""
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


def missing_module(output: str) -> str:
    """The module whose import ended the process (from the traceback's last line), or ""."""
    line = last_line(output)
    match = _CANNOT_IMPORT.search(line)
    if match and is_generated(match.group(1)):  # `from pkg import x_pb2`
        return f"{match.group(2)}.{match.group(1)}"
    match = _NO_MODULE.search(line)
    return match.group(1) if match else ""


def protoc_command(module: str, path: str | None) -> str:
    """The command compiling the ``.proto`` file ``module`` (``pkg.foo_pb2``) is generated from,
    as docs/getting-started.md gives it: protos under ``proto/``, code written next to the
    package (the ``--path`` directory). When that ``.proto`` has siblings, all of them: they are
    likely missing too."""
    grpc_stubs = module.endswith("_pb2_grpc")
    proto = "proto/" + module.removesuffix("_grpc").removesuffix("_pb2").replace(".", "/")
    folder = Path(path or ".", proto).parent
    if len(list(folder.glob("*.proto"))) > 1:
        proto = f"{Path(proto).parent}/*"
    flags = "--python_out=. --pyi_out=." + (" --grpc_python_out=." if grpc_stubs else "")
    command = f"python -m cloudstate.protoc -I proto {flags} {proto}.proto"
    return f"cd {path} && {command}" if path and path != "." else command


def exit_status(status: int) -> str:
    """``exit status 1``, or ``killed by SIGKILL`` for a negative Popen return code."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def explain(module: str, path: str | None, status: int, output: str) -> str:
    """One line: the user function ``module`` (run from ``path``) exited with ``status`` before
    serving, having written ``output`` to stderr; what to do about it."""
    what = f"the user function {module} did not start ({exit_status(status)})"
    if "is a package and cannot be directly executed" in last_line(output):
        return (
            f"{what}: {module} is a package: name the module that starts the user function "
            f"(e.g. {module}.main), or give the package a __main__.py"
        )
    missing = missing_module(output)
    if missing and is_generated(missing):
        short = missing.rsplit(".", 1)[-1]
        return (
            f"{what}: {short} is missing: the protos are probably not compiled: "
            f"{protoc_command(missing, path)}"
        )
    if missing and (missing == module or module.startswith(missing + ".")):
        where = f"in {path} (--path)" if path else "in the current directory (no --path)"
        return (
            f"{what}: module {module} not found {where}: check its name, and give the "
            "directory holding it with --path"
        )
    if missing and missing.split(".")[0] == module.split(".")[0]:
        return f"{what}: it imports {missing}, which does not exist: check the import"
    if missing:
        return (
            f"{what}: it imports {missing}, which is not installed in this environment "
            f"({sys.prefix}): install it there"
        )
    if status == 0:
        return (
            f"{what}: it ended without serving: `python -m {module}` must start it, e.g. "
            'CloudState().register_...(entity).start() under if __name__ == "__main__"'
        )
    return f"{what}: see its error above"
