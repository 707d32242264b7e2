"""The workers' settings: what is refused before anything starts, and what each worker gets."""

from __future__ import annotations

from cloudstate.proxy.config import ProxyConfig
from cloudstate.proxy.config_check import check
from cloudstate.proxy.workers.supervisor import worker_config


def test_workers_on_a_memory_store_or_zero_workers_are_refused() -> None:
    problems = check(ProxyConfig(workers=2, store="memory:"))
    assert any("--workers 2 with --store memory:" in p for p in problems), problems
    assert any("--workers 0: must be positive" in p for p in check(ProxyConfig(workers=0)))
    assert not check(ProxyConfig(workers=2, store="sqlite:///data/cs.db"))


def test_each_worker_gets_its_admin_port_user_function_and_only_w0_the_grpc_port() -> None:
    config = ProxyConfig(
        workers=3,
        user_function="127.0.0.1:8080",
        user_function_workers=2,
        admin_port=9100,
        grpc_port=9200,
    )
    mine = [worker_config(config, i) for i in range(3)]
    assert [c.admin_port for c in mine] == [9100, 9101, 9102]
    assert [c.user_function for c in mine] == ["127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8080"]
    assert [c.grpc_port for c in mine] == [9200, -1, -1]
    assert config.admin_port == 9100  # the parent's own config is left as it was
