"""The Markdown tables ``benchmarks/bench_durable.py`` prints (and benchmarks/README.md copies),
from its report (``benchmarks/results/durable.json``)::

    print(table(json.loads(Path("benchmarks/results/durable.json").read_text())))
"""

from __future__ import annotations

from typing import Any


def table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    if report["timers"]:
        lines += [
            "| timers | due within s | offered/s | fired/s | best 1 s | lateness p50 / p99 / max "
            "ms | proxy / UF CPU s per 1k | store commits (writes each, mean ms) | created/s | "
            "delivered twice |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for t in report["timers"]:
            offered = f"{t['offered_per_s']:,.0f}" if t["offered_per_s"] else "all due at once"
            lines.append(
                f"| {t['fired']:,} of {t['timers']:,} ({t['run']}) | {t['due_window_s']:.1f} | "
                f"{offered} | {t['fired_per_s']:,.0f} | {t['best_second_fired']:,} | "
                f"{t['lateness_p50_ms']:,.0f} / {t['lateness_p99_ms']:,.0f} / "
                f"{t['lateness_max_ms']:,.0f} | {t['proxy_cpu_s_per_1k']:.2f} / "
                f"{t['uf_cpu_s_per_1k']:.2f} | {t['store_commits']:,.0f} "
                f"({t['store_writes_per_commit']:.1f}, {t['store_commit_ms_mean']:.1f}) | "
                f"{t['created_per_s']:,.0f} | {t['replayed_deliveries']:,.0f} |"
            )
        lines.append("")
    if report["effects"]:
        lines += [
            "| side effect | c | commands/s | delivered/s | e2e p50 ms | e2e p99 ms | reply p50 ms "
            "| reply p99 ms | proxy CPU s/1k | UF CPU s/1k |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in report["effects"]:
            lines.append(
                f"| {r['effect']} | {r['concurrency']} | {r['commands_per_s']:,.0f} | "
                f"{r['delivered_per_s']:,.0f} | {r['e2e_p50_ms']:.2f} | {r['e2e_p99_ms']:.2f} | "
                f"{r['reply_p50_ms']:.2f} | {r['reply_p99_ms']:.2f} | "
                f"{r['proxy_cpu_s_per_1k']:.2f} | {r['uf_cpu_s_per_1k']:.2f} |"
            )
        lines.append("")
    if report["keys"]:
        lines += [
            "| AddItem key | client | c | ops/s | p50 ms | p99 ms | errors | proxy CPU s/1k "
            "| UF CPU s/1k |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in report["keys"]:
            lines.append(
                f"| {r['key']} | {r['client']} | {r['concurrency']} | {r['ops_per_s']:,.0f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
                f"{r['proxy_cpu_s_per_1k']:.2f} | {r['uf_cpu_s_per_1k']:.2f} |"
            )
    return "\n".join(lines)
