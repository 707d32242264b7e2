"""Start-up mistakes end ``cloudstate run`` / ``cloudstate proxy`` at once with one clear line,
and Ctrl-C / SIGTERM stop them in every phase — no hang, no traceback, no orphan process.

Real processes on loopback ports: the user functions are tiny modules written into the test's
directory (one raising at import, one importing generated code that was never compiled, one that
never serves)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudstate.cli import build_parser
from cloudstate.proxy import config as proxy_config
from tests.processes import SHOPPINGCART_DIR, free_port, wait_serving

#: A module that starts (its pid in a file, so the test can check it is gone) and never serves.
NEVER_SERVES = """\
import os, sys, time
open(os.path.join(os.path.dirname(__file__), "never_serves.pid"), "w").write(str(os.getpid()))
print("never_serves: sleeping", file=sys.stderr, flush=True)
time.sleep(3600)
"""


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    (tmp_path / "raises_at_import.py").write_text('raise RuntimeError("cart config missing")\n')
    (tmp_path / "needs_protos.py").write_text("import foo_pb2  # never compiled\n")
    (tmp_path / "never_serves.py").write_text(NEVER_SERVES)
    return tmp_path


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``cloudstate ARGS`` as a user runs it, stdout and stderr kept apart."""
    return subprocess.Popen(
        [sys.executable, "-m", "cloudstate.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,  # its own process group: a failed test kills it and its child
    )


def finish(process: subprocess.Popen[str], within: float) -> tuple[int, str, str, float]:
    """Wait for the process to end by itself (killed, and the test failed, if it does not):
    (exit status, stdout, stderr, seconds it took)."""
    started = time.monotonic()
    try:
        out, err = process.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"still running after {within}s\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
    return process.returncode, out, err, time.monotonic() - started


def run(module: str, path: Path, *flags: str) -> subprocess.Popen[str]:
    port = str(free_port())
    return start(
        "run", module, "--path", str(path), "--port", port, "--store", "memory:", *flags, cwd=path
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_user_function_failing_at_import_ends_run_at_once(modules: Path) -> None:
    code, _, err, took = finish(run("raises_at_import", modules), within=10)
    assert took < 5
    assert code == 1  # the user function's exit status
    assert "RuntimeError: cart config missing" in err  # its traceback, as it printed it
    assert "the user function raises_at_import did not start (exit status 1)" in err
    assert err.rstrip().splitlines()[-1].startswith("cloudstate run: error: ")


def test_generated_code_that_is_missing_gives_the_protoc_command(modules: Path) -> None:
    code, _, err, took = finish(run("needs_protos", modules), within=10)
    assert took < 5 and code == 1
    assert "ModuleNotFoundError: No module named 'foo_pb2'" in err
    hint = err.rstrip().splitlines()[-1]
    assert "foo_pb2 is missing: the protos are probably not compiled" in hint, err
    assert (
        f"cd {modules} && python -m cloudstate.protoc -I proto --python_out=. --pyi_out=. "
        "proto/foo.proto" in hint
    ), err


def test_a_module_that_cannot_be_found_is_named_with_the_path_flag(modules: Path) -> None:
    code, _, err, took = finish(run("shoping_cart", modules), within=10)
    assert took < 5 and code == 1
    hint = err.rstrip().splitlines()[-1]
    assert f"module shoping_cart not found in {modules} (--path)" in hint, err


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 15
    while not path.exists() or not path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            out, err = process.communicate()
            pytest.fail(f"{path.name} never appeared\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
        time.sleep(0.05)
    return path.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_stops_run_while_it_waits_for_the_user_function(
    modules: Path, sig: signal.Signals
) -> None:
    process = run("never_serves", modules)
    child = int(wait_for_file(modules / "never_serves.pid", process))
    time.sleep(1.5)  # well into the discovery retries
    process.send_signal(sig)
    code, _, err, took = finish(process, within=10)
    assert took < 2, err
    assert code == 0, err
    assert "Traceback" not in err
    assert gone(child), "the user function was left running"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_stops_proxy_while_it_waits_for_the_user_function(
    tmp_path: Path, sig: signal.Signals
) -> None:
    port, uf_port = free_port(), free_port()
    process = start(
        "proxy", "--user-function", f"127.0.0.1:{uf_port}", "--port", str(port),
        "--store", "memory:", cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while True:  # the client port listens during discovery
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    time.sleep(2)  # discovery has been retried for a while
    process.send_signal(sig)
    code, _, err, took = finish(process, within=10)
    assert took < 2, err
    assert code == 0 and "Traceback" not in err, err
    # Within seconds, a line says what the proxy is waiting for.
    assert f"user function at 127.0.0.1:{uf_port} not reachable yet" in err, err


IGNORES_SIGTERM = """\
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(os.path.join(os.path.dirname(__file__), "stubborn.pid"), "w").write(str(os.getpid()))
time.sleep(3600)
"""


def test_a_second_signal_during_the_stop_ends_run_at_once(modules: Path) -> None:
    (modules / "stubborn.py").write_text(IGNORES_SIGTERM)
    process = run("stubborn", modules)
    child = int(wait_for_file(modules / "stubborn.pid", process))
    process.send_signal(signal.SIGINT)  # the stop begins: SIGTERM to the user function, ignored
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)  # and ends at once
    code, _, err, took = finish(process, within=10)
    assert code == 128 + signal.SIGINT, err
    assert took < 1, err
    assert "SIGINT again: stopping at once" in err
    assert gone(child), "the user function was left running"


def test_a_signal_stops_run_while_it_serves(tmp_path: Path) -> None:
    port = free_port()
    process = start(
        "run", "shoppingcart.shopping_cart", "--path", str(SHOPPINGCART_DIR), "--port", str(port),
        "--store", "memory:", cwd=tmp_path,
    )  # fmt: skip
    wait_serving(port)
    process.send_signal(signal.SIGTERM)
    code, _, err, took = finish(process, within=10)
    assert took < 2 and code == 0, err
    child = re.search(r"started user function \S+ \(pid (\d+)\)", err)
    assert child is not None, err
    assert gone(int(child.group(1))), "the user function was left running"


def test_run_gives_up_waiting_after_the_discovery_timeout(modules: Path) -> None:
    uf_port = free_port()
    process = run(
        "never_serves", modules, "--user-function-port", str(uf_port), "--discovery-timeout", "1"
    )
    code, _, err, took = finish(process, within=15)
    assert took < 5 and code != 0, err
    assert "Traceback" not in err, err
    hint = err.rstrip().splitlines()[-1]
    assert (
        f"cloudstate run: error: the user function never_serves did not answer on "
        f"127.0.0.1:{uf_port} within 1s" in hint
    ), err
    assert "--discovery-timeout" in hint
    assert gone(int((modules / "never_serves.pid").read_text()))


def test_run_waits_30_seconds_by_default_and_proxy_forever() -> None:
    parser = build_parser()
    run_args = parser.parse_args(["run", "some.module"])
    assert proxy_config.from_arguments(run_args, environ={}).discovery_timeout == 30
    proxy_args = parser.parse_args(["proxy"])
    assert proxy_config.from_arguments(proxy_args, environ={}).discovery_timeout == 0


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize(
    ("command", "flag", "advice"),
    [
        ("run", "--port", "choose another with --port (or PORT=... for make run)"),
        (
            "run",
            "--user-function-port",
            "choose another with --user-function-port (or leave it out: a free one is picked)",
        ),
        ("proxy", "--port", "choose another with --port (or env HTTP_PORT)"),
        ("proxy", "--grpc-port", "choose another with --grpc-port (or env CLOUDSTATE_GRPC_PORT)"),
        (
            "proxy",
            "--admin-port",
            "choose another with --admin-port (or env CLOUDSTATE_ADMIN_PORT)",
        ),
    ],
)
def test_a_busy_port_is_one_line_naming_it_and_its_flag(
    modules: Path, busy_port: int, command: str, flag: str, advice: str
) -> None:
    if command == "run":
        args = ["run", "never_serves", "--path", str(modules)]
    else:
        args = ["proxy", "--user-function", f"127.0.0.1:{free_port()}"]
    if flag != "--port":
        args += ["--port", str(free_port())]
    # A busy port is reported at once, not after discovery gave up (30 s here): the margin
    # between the two keeps a loaded machine from making this flaky.
    args += [flag, str(busy_port), "--store", "memory:", "--discovery-timeout", "30"]
    code, _, err, took = finish(start(*args, cwd=modules), within=45)
    assert took < 20 and code == 2, err
    assert err.splitlines() == [
        f"cloudstate {command}: error: port {busy_port} is in use: {advice}"
    ], err
    assert not (modules / "never_serves.pid").exists()  # nothing was started


def test_call_takes_the_proxy_port_as_port_too(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: the error names the address called
    code, _, err, _ = finish(start("call", "--port", str(port), cwd=tmp_path), within=30)
    assert code == 1
    assert f"error: cannot list the services of 127.0.0.1:{port} " in err, err
    both = start("call", "--port", str(port), "--proxy", f"127.0.0.1:{port}", cwd=tmp_path)
    code, _, err, _ = finish(both, within=30)
    assert code == 2
    assert "--proxy HOST:PORT or with --host/--port, not both" in err, err
