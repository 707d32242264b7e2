"""The install path users take, for real: the built wheel in a brand-new virtual environment
(no ``-e``, no checkout on the path) compiles a user's protos, serves the shopping cart through
``cloudstate run`` and answers calls.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudstate
from tests.install.packaging import (
    ROOT,
    build_wheel,
    clean_env,
    install,
    lock_constraints,
    new_venv,
)
from tests.processes import Process, free_port, wait_serving

EXAMPLE = ROOT / "examples" / "shoppingcart"

pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("install")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ directory of a new venv holding the wheel and its locked dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(work)
    python = new_venv(work / "venv")
    install(python, [str(wheel)], lock_constraints(work), cwd=work)
    yield python.parent


def user_project(destination: Path) -> Path:
    """The shopping cart as a user has it: protos and handlers, no generated code yet."""
    shutil.copytree(EXAMPLE / "proto", destination / "proto")
    package = destination / "shoppingcart"
    package.mkdir()
    for name in ("__init__.py", "shopping_cart.py", "shopping_cart_entity.py"):
        shutil.copy2(EXAMPLE / "shoppingcart" / name, package / name)
    return destination


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=clean_env(), timeout=120
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_holds_the_package_and_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    code = "import cloudstate; print(cloudstate.__file__); print(cloudstate.__version__)"
    where, version = run([str(installed / "python"), "-c", code], tmp_path).split()
    assert Path(where).is_relative_to(installed.parent), where
    assert version == cloudstate.__version__
    # The console script, the bundled protos and the testkit's pytest plugin came along.
    assert (installed / "cloudstate").exists()
    assert "run" in run([str(installed / "cloudstate"), "--help"], tmp_path)
    metadata = run([str(installed / "python"), "-m", "pip", "show", "cloudstate-py"], tmp_path)
    assert "Name: cloudstate-py" in metadata


def test_compile_run_and_call_the_shopping_cart(installed: Path, tmp_path: Path) -> None:
    project = user_project(tmp_path / "project")
    outputs = ["--python_out=.", "--pyi_out=.", "--grpc_python_out=."]
    protos = ["proto/shoppingcart/domain.proto", "proto/shoppingcart/shoppingcart.proto"]
    run(
        [str(installed / "python"), "-m", "cloudstate.protoc", "-I", "proto", *outputs, *protos],
        project,
    )
    assert (project / "shoppingcart" / "shoppingcart_pb2.py").exists()

    port = free_port()
    arguments = ["--port", str(port), "--store", f"sqlite:///{tmp_path / 'carts.db'}"]
    service = Process(
        "cloudstate run (installed wheel)",
        [str(installed / "cloudstate"), "run", "shoppingcart.shopping_cart", *arguments],
        port,
        tmp_path / "run.log",
        cwd=project,
        env={"PYTHONPATH": ""},
    )
    service.start()
    try:
        wait_serving(port)
        call = [str(installed / "cloudstate"), "call", "--proxy", f"127.0.0.1:{port}"]
        item = {"user_id": "alice", "product_id": "apple", "name": "Apple", "quantity": 3}
        run([*call, "ShoppingCart.AddItem", json.dumps(item)], project)
        cart = json.loads(run([*call, "ShoppingCart.GetCart", '{"user_id": "alice"}'], project))
        assert cart == {"items": [{"product_id": "apple", "name": "Apple", "quantity": 3}]}
        # The developer console's static files came along in the wheel (on under run).
        console = re.search(r"Developer console: (\S+)", service.log())
        assert console, service.log()
        for name in ("", "console.js", "console.css"):
            with urllib.request.urlopen(console.group(1) + name, timeout=10) as response:
                assert response.status == 200 and response.read(), name
    finally:
        service.terminate()
    assert "Traceback" not in service.log(), service.log()
