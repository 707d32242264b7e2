"""The cluster's settings: what is refused before anything starts, and what each worker gets."""

from __future__ import annotations

from pathlib import Path

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check
from cloudstate.proxy.server import cluster_settings
from cloudstate.proxy.workers.supervisor import worker_config

PG = "postgresql://cloudstate@db/cloudstate"


def test_a_cluster_needs_postgresql_and_a_ttl_of_two_heartbeats() -> None:
    problems = check(ProxyConfig(cluster_port=9100, store="sqlite:///data/cs.db"))
    assert any("--cluster-port 9100 with --store 'sqlite:///data/cs.db'" in p for p in problems)
    problems = check(ProxyConfig(cluster_port=9100, store=PG, cluster_member_ttl="1s"))
    assert any("--cluster-member-ttl 1s must be at least twice" in p for p in problems), problems
    problems = check(ProxyConfig(cluster_port=9100, store=PG, cluster_heartbeat="soon"))
    assert any("--cluster-heartbeat" in p and "not a duration" in p for p in problems), problems
    assert not check(ProxyConfig(cluster_port=9100, store=PG))
    assert not check(ProxyConfig(store="sqlite:///data/cs.db"))  # off: nothing to check


def test_each_worker_is_a_member_on_its_own_cluster_port() -> None:
    config = ProxyConfig(workers=3, store=PG, cluster_port=9100, host="0.0.0.0")
    assert [worker_config(config, i).cluster_port for i in range(3)] == [9100, 9101, 9102]
    settings = cluster_settings(worker_config(config, 2))
    assert (settings.port, settings.host, settings.heartbeat, settings.ttl) == (
        9102,
        "0.0.0.0",
        1.0,
        5.0,
    )
    free = ProxyConfig(workers=2, store=PG, cluster_port=0)
    assert [worker_config(free, i).cluster_port for i in range(2)] == [0, 0]


def test_cluster_tls_needs_all_three_files_and_a_cluster_port(tmp_path: Path) -> None:
    pem = tmp_path / "node.pem"
    pem.write_text("")
    problems = check(ProxyConfig(cluster_port=9100, store=PG, cluster_tls_cert=str(pem)))
    assert any(
        "--cluster-tls-cert without --cluster-tls-key, --cluster-tls-ca" in p for p in problems
    ), problems
    every = {name: str(pem) for name in ("cluster_tls_cert", "cluster_tls_key", "cluster_tls_ca")}
    problems = check(ProxyConfig(store=PG, **every))
    assert any("--cluster-tls-cert without --cluster-port" in p for p in problems), problems
    missing = {**every, "cluster_tls_ca": str(tmp_path / "gone.pem")}
    problems = check(ProxyConfig(cluster_port=9100, store=PG, **missing))
    assert any("--cluster-tls-ca" in p and "no such file" in p for p in problems), problems
    assert not check(ProxyConfig(cluster_port=9100, store=PG, **every))
