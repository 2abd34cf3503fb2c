"""Envoy's own stats, scraped as Prometheus scrapes them: Prometheus text on the gateway's stats
port (`Stack.gateway_stats_url`), which leads to the admin interface's stats and nowhere else."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from support.accounts import Account
from support.polling import wait_until
from support.prometheus import scrape, value
from tm_devstack.stack import Stack

GATEWAY = {"envoy_http_conn_manager_prefix": "gateway"}
TASKS = {"envoy_cluster_name": "tasks"}


def raw_status(port: int, method: str, path: str) -> int:
    """The status of a request for path exactly as written (httpx would resolve dot segments)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        return int(sock.makefile("rb").readline().split()[1])


def test_a_request_through_the_gateway_moves_its_counters(
    stack: Stack, http: httpx.Client, account: Account
) -> None:
    before = scrape(stack.gateway_stats_url)
    created = http.post("/tasks", json={"title": "counted"}, headers=account.headers)
    assert created.status_code == 201, created.text
    after = scrape(stack.gateway_stats_url)

    downstream = ("envoy_http_downstream_rq_total", GATEWAY)
    assert value(after, *downstream) >= value(before, *downstream) + 1
    success = ("envoy_http_downstream_rq_xx_total", {**GATEWAY, "envoy_response_code_class": "2"})
    assert value(after, *success) >= value(before, *success) + 1
    # Nothing else calls the tasks service meanwhile: exactly this one request.
    upstream = ("envoy_cluster_upstream_rq_total", TASKS)
    assert value(after, *upstream) == value(before, *upstream) + 1
    # Histograms reach the stats at Envoy's next flush (every 5 s by default).
    latency = ("envoy_cluster_upstream_rq_time_count", TASKS)
    wait_until(
        lambda: value(scrape(stack.gateway_stats_url), *latency),
        "the tasks cluster's latency histogram to count the request",
        accept=lambda count: count >= value(before, *latency) + 1,
        every=0.5,
    )


def test_metrics_is_the_same_scrape(stack: Stack) -> None:
    stats = scrape(stack.gateway_stats_url)
    metrics = scrape(stack.gateway_stats_url.replace("/stats/prometheus", "/metrics"))
    assert {name for name, _ in metrics} == {name for name, _ in stats}
    assert value(metrics, "envoy_server_live", {}) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/stats"),
        ("GET", "/stats?format=json"),
        ("GET", "/config_dump"),
        ("GET", "/clusters"),
        ("GET", "/server_info"),
        ("GET", "/ready"),
        ("GET", "/"),
        ("GET", "/stats/prometheus/../../config_dump"),
        ("POST", "/quitquitquit"),
        ("POST", "/stats/prometheus/../../quitquitquit"),
        ("POST", "/healthcheck/fail"),
        ("POST", "/logging?level=trace"),
        ("POST", "/runtime_modify?default_rl_enabled=0"),
        ("POST", "/drain_listeners"),
        ("POST", "/reset_counters"),
    ],
)
def test_no_other_admin_endpoint_is_reachable_on_the_stats_port(
    stack: Stack, http: httpx.Client, method: str, path: str
) -> None:
    port = urlsplit(stack.gateway_stats_url).port
    assert port is not None
    assert raw_status(port, method, path) == 404
    # Envoy is still up, serving and unchanged.
    assert http.get("/health").status_code == 200
    stats = scrape(stack.gateway_stats_url)
    assert value(stats, "envoy_server_live", {}) == 1
    assert value(stats, "envoy_server_state", {}) == 0  # LIVE, not draining


def test_the_stats_are_read_only(stack: Stack) -> None:
    for method in ("POST", "PUT", "DELETE"):
        response = httpx.request(method, stack.gateway_stats_url, timeout=5)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET, HEAD"


def test_the_api_port_does_not_serve_the_stats(http: httpx.Client, account: Account) -> None:
    for path in ("/stats/prometheus", "/metrics", "/stats"):
        anonymous = http.get(path)
        assert anonymous.status_code == 401, path
        signed_in = http.get(path, headers=account.headers)
        assert signed_in.status_code == 404, path
        assert "envoy_" not in anonymous.text + signed_in.text, path
