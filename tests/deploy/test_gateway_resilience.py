"""The gateway's resilience to a service's replicas failing or going away (gateway/envoy.yaml.in, as
rendered for Kubernetes in deploy/k8s/base/gateway/envoy.yaml, which test_kubernetes keeps current
and validates with `envoy --mode validate`): every service cluster is health checked over gRPC,
ejects outliers, has circuit breakers and follows DNS closely; reads, and only reads, are retried."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2

from tm_common.clients import IDEMPOTENT_METHODS, SERVICES
from tm_devstack.gateway import UPSTREAM_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
RENDERED = ROOT / "deploy" / "k8s" / "base" / "gateway" / "envoy.yaml"
SERVICE_CLUSTERS = [*UPSTREAM_DEFAULTS, "ops"]
# The services the gateway routes; the internal ones are not reachable through it.
ROUTED = {
    "taskmanager.auth.v1.AuthService",
    "taskmanager.tasks.v1.TasksService",
    "taskmanager.tasks.v1.SharingService",
    "taskmanager.tasks.v1.CommentsService",
    "taskmanager.files.v1.FilesService",
    "taskmanager.activity.v1.ActivityService",
    "taskmanager.notify.v1.NotifyService",
    "taskmanager.ops.v1.OpsService",
}
INTERNAL = {
    "taskmanager.auth.v1.UserDirectoryService",
    "taskmanager.tasks.v1.TaskAccessService",
    "taskmanager.events.v1.EventMarksService",
    "taskmanager.ops.v1.DiagnosticsService",
}
RETRIED_ON = {"unavailable", "reset", "connect-failure"}


def _seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


@pytest.fixture(scope="module")
def envoy() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(RENDERED.read_text())
    return config


@pytest.fixture(scope="module")
def routes(envoy: dict[str, Any]) -> list[dict[str, Any]]:
    listeners = {listener["name"]: listener for listener in envoy["static_resources"]["listeners"]}
    manager = listeners["gateway"]["filter_chains"][0]["filters"][0]["typed_config"]
    (host,) = manager["route_config"]["virtual_hosts"]
    result: list[dict[str, Any]] = host["routes"]
    return result


def route_for(routes: list[dict[str, Any]], path: str) -> dict[str, Any]:
    route = first_match(routes, path)
    assert route is not None, f"no route for {path}"
    return route


def first_match(routes: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The first route that matches a gRPC path, as Envoy's router picks it (the transcoder has
    rewritten a JSON request's path to the gRPC one by then)."""
    for route in routes:
        match = route["match"]
        if "headers" in match:  # the docs' routes (GET/HEAD only): direct responses
            assert "direct_response" in route
            continue
        if "path" in match and match["path"] == path:
            return route
        if "prefix" in match and path.startswith(match["prefix"]):
            return route
        if "safe_regex" in match and re.fullmatch(match["safe_regex"]["regex"], path):
            return route
    return None


def routed_methods() -> dict[str, Any]:
    """gRPC path -> method descriptor, for every method the gateway routes."""
    assert {service.full_name for service in SERVICES} == ROUTED | INTERNAL
    return {
        f"/{service.full_name}/{method.name}": method
        for service in SERVICES
        if service.full_name in ROUTED
        for method in service.methods
    }


@pytest.mark.parametrize("name", SERVICE_CLUSTERS)
def test_every_service_cluster_checks_ejects_and_breaks(envoy: dict[str, Any], name: str) -> None:
    clusters = {cluster["name"]: cluster for cluster in envoy["static_resources"]["clusters"]}
    cluster = clusters[name]
    dns = cluster["cluster_type"]
    assert dns["name"] == "envoy.clusters.dns"  # strict DNS: every address of the name is a host
    assert dns["typed_config"]["all_addresses_in_single_endpoint"] is False
    assert _seconds(dns["typed_config"]["dns_refresh_rate"]) <= 2
    assert "dns_refresh_rate" not in cluster  # deprecated there
    assert cluster["ignore_health_on_host_removal"] is True  # gone from DNS: gone

    (check,) = cluster["health_checks"]
    assert check["grpc_health_check"] == {}  # the server's overall status
    assert _seconds(check["interval"]) <= 5 and _seconds(check["timeout"]) < _seconds(check["interval"])
    assert check["unhealthy_threshold"] >= 2 and check["healthy_threshold"] >= 1

    outliers = cluster["outlier_detection"]
    assert outliers["consecutive_5xx"] >= 1 and outliers["consecutive_gateway_failure"] >= 1
    assert outliers["enforcing_consecutive_gateway_failure"] == 100  # Envoy's default (0) only counts
    assert _seconds(outliers["base_ejection_time"]) > 0
    # One of two replicas can be ejected, never all of them by percentage.
    assert 50 <= outliers["max_ejection_percent"] < 100

    (thresholds,) = cluster["circuit_breakers"]["thresholds"]
    assert thresholds.get("priority", "DEFAULT") == "DEFAULT"
    for limit in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
        assert thresholds[limit] > 0, limit
    assert thresholds["max_retries"] < thresholds["max_requests"]

    options = cluster["typed_extension_protocol_options"]
    protocol = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "connection_keepalive" in protocol["explicit_http_config"]["http2_protocol_options"]


def test_only_reads_are_retried(routes: list[dict[str, Any]]) -> None:
    methods = routed_methods()
    assert len(methods) > 20
    idempotent = set(IDEMPOTENT_METHODS)
    for path, method in methods.items():
        route = route_for(routes, path)["route"]
        policy = route.get("retry_policy")
        if path not in idempotent:
            assert policy is None, f"{path} is a write: never retried"
            continue
        assert policy is not None, f"{path} is a read: retried"
        if path.startswith("/taskmanager.ops.v1.OpsService/"):
            continue  # health and version: their own policy, from before
        assert set(policy["retry_on"].split(",")) >= RETRIED_ON, path
        assert policy["num_retries"] == 2
        # Every try gets its share of the route's timeout, which bounds them all.
        per_try = _seconds(policy["per_try_timeout"])
        assert per_try * (policy["num_retries"] + 1) <= _seconds(route["timeout"]), path
        predicates = [p["name"] for p in policy["retry_host_predicate"]]
        assert predicates == ["envoy.retry_host_predicates.previous_hosts"], path
        assert not method.client_streaming, path


def test_every_json_get_is_a_retried_read_and_no_other_verb_is(routes: list[dict[str, Any]]) -> None:
    gets, others = set(), set()
    for path, method in routed_methods().items():
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        verb = rule.WhichOneof("pattern")
        if verb == "get":
            gets.add(path)
        elif verb is not None:
            others.add(path)
    assert "/taskmanager.tasks.v1.TasksService/ListTasks" in gets
    assert "/taskmanager.tasks.v1.TasksService/CreateTask" in others
    for path in gets:
        assert "retry_policy" in route_for(routes, path)["route"], path
    for path in others:
        assert "retry_policy" not in route_for(routes, path)["route"], path


def test_the_route_finder_sees_the_write_routes(routes: list[dict[str, Any]]) -> None:
    """A read and a write of one service land on different routes of the same cluster."""
    read = route_for(routes, "/taskmanager.files.v1.FilesService/DownloadFile")
    write = route_for(routes, "/taskmanager.files.v1.FilesService/UploadFile")
    assert read is not write
    assert read["route"]["cluster"] == write["route"]["cluster"] == "files"
    assert route_for(routes, "/taskmanager.files.v1.FilesService/CreateDownloadUrl") is write


def test_internal_services_have_no_route(routes: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        if service.full_name in INTERNAL:
            for method in service.methods:
                assert first_match(routes, f"/{service.full_name}/{method.name}") is None
