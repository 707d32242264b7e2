"""The deployment artefacts: Kubernetes manifests against the Kubernetes API schemas (strict: no
unknown fields) and against what the proxy needs, and the Dockerfile's targets and entry points.
No cluster and no Docker daemon run here, so this is what can be checked."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import grpc
import httpx
import kubernetes_validate
import pytest
import yaml
from shoppingcart import shoppingcart_pb2, shoppingcart_pb2_grpc

from cloudstate.proxy.config import _ENV
from tests.processes import ROOT, Process, free_port, shoppingcart_user_function, wait_serving

DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((f"{path.name}:{document['kind']}", document))
    return found


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in documents() if document["kind"] == kind]


@pytest.mark.parametrize(("name", "document"), documents(), ids=[n for n, _ in documents()])
def test_manifest_matches_the_kubernetes_schema(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_mistakes() -> None:
    (deployment,) = by_kind("Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][1]["readinessProbe"]["httpGet"]["pth"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_proxy_is_a_sidecar_of_the_user_function_with_probes_and_the_secret() -> None:
    (deployment,) = by_kind("Deployment")
    (secret,) = by_kind("Secret")
    (service,) = by_kind("Service")
    pod = deployment["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert set(containers) == {"user-function", "cloudstate-proxy"}
    proxy, uf = containers["cloudstate-proxy"], containers["user-function"]
    env = {e["name"]: e["value"] for e in proxy["env"]}
    # Every variable the proxy is given is one it reads.
    known = set(_ENV.values()) | {"USER_FUNCTION_HOST", "USER_FUNCTION_PORT"}
    assert set(env) <= known, set(env) - known
    assert env["CLOUDSTATE_STORE"].startswith("postgresql://")
    assert env["CLOUDSTATE_PROXY_HOST"] == "0.0.0.0"
    # The proxy reaches the user function in its own pod.
    uf_port = {p["name"]: p["containerPort"] for p in uf["ports"]}["user-function"]
    assert env["USER_FUNCTION_HOST"] == "127.0.0.1"
    assert int(env["USER_FUNCTION_PORT"]) == uf_port
    uf_env = {e["name"]: e["value"] for e in uf["env"]}
    assert int(uf_env["PORT"]) == uf_port
    # Credentials come from the PostgreSQL Secret, under the libpq variable names.
    assert proxy["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert {"PGHOST", "PGUSER", "PGPASSWORD", "PGDATABASE"} <= set(secret["stringData"])
    assert not any("PASSWORD" in e["name"] for e in proxy["env"])
    # Probes on the proxy's serving port.
    proxy_port = int(env["HTTP_PORT"])
    assert {p["name"]: p["containerPort"] for p in proxy["ports"]}["grpc"] == proxy_port
    probes = {p: proxy[p]["httpGet"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    for name, probe in probes.items():
        assert probe["port"] in ("grpc", proxy_port), name
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == probes["startupProbe"]["path"] == "/health/ready"
    for probe in ("readinessProbe", "livenessProbe"):
        assert probe in uf, probe
    # The Service selects these pods and targets the proxy, never the user function.
    labels = pod["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["grpc"]
    assert deployment["spec"]["replicas"] >= 2  # the point: several nodes on one database


def test_dockerfile_targets_and_entry_points() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = {name: parent for parent, name in re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)}
    assert stages["proxy"] == stages["shoppingcart"] == "base"
    assert stages["base"].startswith("python:3.11")
    # Everything copied in exists in the repository (the build context is the repo root).
    for source in re.findall(r"^COPY (.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    # The proxy entry point is a console script of this package with the PostgreSQL extra.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["cloudstate"] == "cloudstate.cli:main"
    assert 'ENTRYPOINT ["cloudstate", "proxy"]' in text
    assert 'pip install ".[postgresql]"' in text
    assert any(dep.startswith("asyncpg") for dep in project["optional-dependencies"]["postgresql"])
    # The user-function entry point is the example's module.
    module = re.search(r'CMD \["python", "-m", "([\w.]+)"\]', text)
    assert module is not None
    module_path = Path(*module.group(1).split(".")).with_suffix(".py")
    assert (ROOT / "examples" / "shoppingcart" / module_path).is_file()
    # Images run unprivileged, matching the pod's securityContext.
    (deployment,) = by_kind("Deployment")
    uid = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"USER {uid}" in text


def test_the_proxy_runs_as_the_manifest_configures_it(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """The proxy container's environment (store URL, ports, credentials from the Secret's PG*
    variables) really starts a working proxy, and the probe paths answer as the probes expect."""
    (deployment,) = by_kind("Deployment")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    proxy_spec = containers["cloudstate-proxy"]
    env = {e["name"]: e["value"] for e in proxy_spec["env"]}
    # This machine's ports and test database instead of the pod's.
    uf = shoppingcart_user_function(tmp_path).start()
    port = free_port()
    env.update(HTTP_PORT=str(port), USER_FUNCTION_PORT=str(uf.port))
    env["CLOUDSTATE_PROXY_HOST"] = "127.0.0.1"
    target = urlsplit(fresh_postgres_url)
    schema = dict(parse_qsl(target.query))["schema"]
    env["CLOUDSTATE_STORE"] = env["CLOUDSTATE_STORE"].replace(
        "schema=shoppingcart", f"schema={schema}"
    )
    env.update(
        PGHOST=target.hostname or "",
        PGPORT=str(target.port),
        PGUSER=target.username or "",
        PGDATABASE=target.path.lstrip("/"),
    )
    proxy = Process(
        "proxy", [sys.executable, "-m", "cloudstate.proxy"], port, tmp_path / "p.log", env=env
    )
    try:
        proxy.start()
        wait_serving(port)
        probes = {p: proxy_spec[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}
        for name, path in probes.items():
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200, name
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = shoppingcart_pb2_grpc.ShoppingCartStub(channel)
            stub.AddItem(
                shoppingcart_pb2.AddLineItem(
                    user_id="k8s", product_id="pod", name="Pod", quantity=3
                ),
                timeout=10,
            )
            cart = stub.GetCart(shoppingcart_pb2.GetShoppingCart(user_id="k8s"), timeout=10)
        assert [(i.product_id, i.quantity) for i in cart.items] == [("pod", 3)]
        assert "store postgresql" in proxy.log()
    finally:
        proxy.terminate()
        uf.terminate()
