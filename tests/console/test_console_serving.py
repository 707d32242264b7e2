"""Where the console is served: opt-in on ``cloudstate proxy`` (``--console``, which needs the
admin port), on by default under ``cloudstate run``; and what its files are."""

from __future__ import annotations

import argparse
import ssl
import tomllib
from pathlib import Path

import httpx
import pytest

from cloudstate.cli import _console_by_default, build_parser
from cloudstate.proxy import config_check
from cloudstate.proxy.admin.server import AdminHttpApi, AdminPort
from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.console import FILES, console_file
from cloudstate.proxy.http.api import HttpRequest
from cloudstate.proxy.server import admin_tls_context
from tests.observability.test_tls import make_certificate
from tests.processes import ROOT


def get(path: str) -> HttpRequest:
    return HttpRequest("GET", path, "", [], b"")


async def test_off_unless_asked() -> None:
    off = await AdminHttpApi(None).handle(get("/console/"))
    assert off.status != 200
    on = await AdminHttpApi(None, console=True).handle(get("/console/"))
    assert on.status == 200 and b"<title>Cloudstate console</title>" in on.body
    assert ("content-type", "text/html; charset=utf-8") in on.headers
    redirect = await AdminHttpApi(None, console=True).handle(get("/console"))
    assert redirect.status == 301 and ("location", "/console/") in redirect.headers


def test_console_needs_the_admin_port() -> None:
    problems = config_check.check(ProxyConfig(console=True))
    assert any("--console is served on the admin port" in p for p in problems), problems
    assert not config_check.check(ProxyConfig(console=True, admin_port=0))


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", "some.module", *argv])


@pytest.mark.parametrize(
    ("argv", "environ", "console", "admin_port"),
    [
        ((), {}, True, 0),  # on, on a free admin port
        (("--admin-port", "9091"), {}, True, 9091),
        (("--no-console",), {}, False, None),
        ((), {"CLOUDSTATE_CONSOLE": "0"}, False, None),
        ((), {"CLOUDSTATE_ADMIN_PORT": "9092"}, True, None),  # the environment's port is used
    ],
)
def test_run_turns_it_on(
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    environ: dict[str, str],
    console: bool,
    admin_port: int | None,
) -> None:
    for name in ("CLOUDSTATE_CONSOLE", "CLOUDSTATE_ADMIN_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    args = parsed(*argv)
    _console_by_default(args)
    assert (args.console, args.admin_port) == (console, admin_port)


def test_proxy_leaves_it_off() -> None:
    args = build_parser().parse_args(["proxy"])
    assert args.console is None
    assert ProxyConfig().console is False


def test_the_files_ship_in_the_package() -> None:
    for name in FILES:
        page = console_file(f"/console/{name}")
        assert page is not None and page.status == 200 and page.body, name
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "proxy/console/static/*" in package_data["package-data"]["cloudstate"]


class _Starting:
    """A proxy that has not discovered its user function."""

    store = model = eventing = views = scheduler = router = None
    config = ProxyConfig()


async def test_over_https_with_the_admin_ports_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    config = ProxyConfig(admin_tls_cert=str(cert), admin_tls_key=str(key))
    admin = AdminPort(_Starting(), "127.0.0.1", 0, tls=admin_tls_context(config), console=True)
    port = await admin.start()
    try:
        verify = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=verify, timeout=10) as client:
            page = await client.get(f"https://localhost:{port}/console/")
            assert page.status_code == 200 and "Cloudstate console" in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]
            # What the page asks first answers over TLS too (the proxy is still starting).
            reply = await client.get(f"https://localhost:{port}/v1/describe")
            assert reply.status_code == 503 and "starting" in reply.json()["message"]
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/console/")
    finally:
        await admin.close()
