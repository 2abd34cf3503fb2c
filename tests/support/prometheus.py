"""Reading a Prometheus scrape (the services' /metrics, Envoy's /stats/prometheus) in tests."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a scrape, parsed by the Prometheus client's own parser. It names a counter's
    samples <name>_total even where Envoy writes no suffix (envoy_http_downstream_rq_xx)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, labels: Mapping[str, str]) -> float:
    """One series' value; 0 when the scrape does not have it (a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
