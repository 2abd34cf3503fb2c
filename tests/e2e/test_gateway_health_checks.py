"""Envoy's active gRPC health checks (gateway/envoy.yaml.in) against the stack's real services, read
from Envoy's own stats: every host of every service cluster passes them (so Envoy is not quietly
routing in panic mode, as it does when no host is healthy), and a stopped service fails them until
it is back."""

from __future__ import annotations

from collections.abc import Callable

from support.polling import wait_until
from support.prometheus import scrape, value
from tm_devstack.gateway import UPSTREAM_DEFAULTS
from tm_devstack.stack import Stack

SERVICE_CLUSTERS = [*UPSTREAM_DEFAULTS, "ops"]
STOPPED = "notify"


def membership(stack: Stack, cluster: str) -> tuple[float, float]:
    """(healthy hosts, hosts) of one cluster."""
    samples = scrape(stack.gateway_stats_url)
    labels = {"envoy_cluster_name": cluster}
    return (
        value(samples, "envoy_cluster_membership_healthy", labels),
        value(samples, "envoy_cluster_membership_total", labels),
    )


def all_healthy(counts: tuple[float, float]) -> bool:
    healthy, total = counts
    return total >= 1 and healthy == total


def some_unhealthy(counts: tuple[float, float]) -> bool:
    healthy, total = counts
    return total >= 1 and healthy < total


def until(stack: Stack, cluster: str, accept: Callable[[tuple[float, float]], bool], what: str) -> None:
    wait_until(lambda: membership(stack, cluster), f"{cluster}: {what}", 30, accept=accept, every=0.2)


def test_every_service_host_passes_envoys_grpc_health_checks(stack: Stack) -> None:
    for cluster in SERVICE_CLUSTERS:
        until(stack, cluster, all_healthy, "every host healthy to Envoy")
        labels = {"envoy_cluster_name": cluster}
        assert (
            value(scrape(stack.gateway_stats_url), "envoy_cluster_health_check_success_total", labels) >= 1
        ), cluster
    # The ops cluster holds every service's hosts.
    services = sum(membership(stack, cluster)[1] for cluster in UPSTREAM_DEFAULTS)
    assert membership(stack, "ops")[1] == services


def test_a_stopped_service_fails_its_health_checks_until_it_is_back(stack: Stack) -> None:
    until(stack, STOPPED, all_healthy, "healthy to Envoy")
    stack.stop_program(STOPPED)
    try:
        until(stack, STOPPED, some_unhealthy, "unhealthy to Envoy once stopped")
        until(stack, "ops", some_unhealthy, "the stopped service's host unhealthy")
        for cluster in UPSTREAM_DEFAULTS:
            if cluster != STOPPED:
                assert all_healthy(membership(stack, cluster)), cluster
    finally:
        stack.start_program(STOPPED)
    until(stack, STOPPED, all_healthy, "healthy again")
    until(stack, "ops", all_healthy, "healthy again")
