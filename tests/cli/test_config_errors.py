"""A wrong setting stops the proxy at once with a line naming it (exit status 2), no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check


def cloudstate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudstate.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_the_defaults_are_valid() -> None:
    assert check(ProxyConfig()) == []
    assert check(ProxyConfig(user_function="unix:/tmp/uf.sock", store="memory:")) == []


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--store", "foo://x"], "--store 'foo://x': memory:, sqlite:///PATH, postgresql://..."),
        (["--port", "70000"], "--port 70000: a port number 0-65535"),
        (["--broker", "http://x"], "--broker 'http://x': nats://HOST:PORT"),
        (["--topic-retention", "banana"], "bad --topic-retention 'banana'"),
        (["--topic-retention-messages", "-1"], "--topic-retention-messages -1: 0 or more"),
        (
            ["--eventing-max-attempts", "10,topic:t:g=lots"],
            "--eventing-max-attempts: 'lots' is not a number of attempts",
        ),
        (["--command-timeout", "0"], "--command-timeout 0.0: seconds, more than 0"),
        (["--tls-cert", "/no/such.pem"], "--tls-cert and --tls-key go together"),
        (["--user-function", "nohost"], "user function address 'nohost': HOST:PORT"),
    ],
)
def test_a_wrong_flag_is_refused_with_its_name(flags: list[str], expected: str) -> None:
    result = cloudstate("proxy", "--discovery-timeout", "1", *flags)
    assert result.returncode == 2, result.stderr
    assert f"cloudstate proxy: error: {expected}" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_listed_and_run_checks_too(tmp_path: Path) -> None:
    result = cloudstate(
        "run",
        "nomodule",
        "--port",
        "-3",
        "--log-level",
        "noisy",
        "--jwt-key",
        str(tmp_path / "missing.key"),
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "cloudstate run: error: --port -3: a port number 0-65535 (0 picks a free port)",
        "cloudstate run: error: --log-level 'noisy': one of CRITICAL, ERROR, WARNING, INFO, DEBUG",
        f"cloudstate run: error: --jwt-key '{tmp_path / 'missing.key'}': no such file",
    ]


def test_a_bad_environment_variable_is_named() -> None:
    import os

    result = cloudstate("proxy", env=dict(os.environ, HTTP_PORT="abc"))
    assert result.returncode == 2
    assert "environment variable HTTP_PORT='abc': not a valid int" in result.stderr
