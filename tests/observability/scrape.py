"""Read the proxy's ``/metrics`` over HTTP into a flat dict, for asserting exact deltas."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(admin_port: int) -> Samples:
    """Every sample of ``/metrics``, keyed by (sample name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 if absent: a labelled child not created yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
