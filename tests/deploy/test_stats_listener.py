"""The gateway's stats listener as tm_devstack.gateway renders it: its port from the environment,
the admin interface reached where it listens (a loopback port in containers, a Unix socket
locally), and the stats path alone forwarded there. tests/e2e/test_gateway_stats.py scrapes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tm_devstack.gateway import UPSTREAM_DEFAULTS, GatewaySettings, envoy_config


def settings(tmp_path: Path, **changes: Any) -> GatewaySettings:
    return GatewaySettings(
        upstreams={name: ("127.0.0.1", 50051) for name in UPSTREAM_DEFAULTS},
        descriptor_set=tmp_path / "d.pb",
        lua_file=tmp_path / "gateway.lua",
        **changes,
    )


def rendered(settings: GatewaySettings) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The config, the stats listener and the admin cluster."""
    config = yaml.safe_load(envoy_config(settings))
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    clusters = {item["name"]: item for item in config["static_resources"]["clusters"]}
    return config, listeners["stats"], clusters["envoy_admin"]


def admin_endpoint(cluster: dict[str, Any]) -> dict[str, Any]:
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    return endpoint["endpoint"]["address"]


@pytest.mark.parametrize(
    ("value", "port"), [(None, 9902), ("", 9902), ("19902", 19902)], ids=["unset", "empty", "set"]
)
def test_the_stats_port_comes_from_the_environment(
    value: str | None, port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAY_STATS_PORT", raising=False)
    if value is not None:
        monkeypatch.setenv("GATEWAY_STATS_PORT", value)
    assert GatewaySettings.from_env(tmp_path).stats_port == port


def test_in_a_container_the_stats_reach_the_admin_port_on_loopback(tmp_path: Path) -> None:
    config, listener, cluster = rendered(
        settings(tmp_path, listen_host="0.0.0.0", admin_port=9911, stats_port=9912)
    )
    assert listener["address"] == {"socket_address": {"address": "0.0.0.0", "port_value": 9912}}
    expected = {"socket_address": {"address": "127.0.0.1", "port_value": 9911}}
    assert config["admin"]["address"] == expected
    assert admin_endpoint(cluster) == expected


def test_locally_the_stats_reach_the_admin_socket(tmp_path: Path) -> None:
    socket = tmp_path / "admin.sock"
    config, listener, cluster = rendered(settings(tmp_path, admin_socket=socket, stats_port=9912))
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9912}
    assert config["admin"]["address"] == {"pipe": {"path": str(socket), "mode": 0o600}}
    assert admin_endpoint(cluster) == {"pipe": {"path": str(socket)}}


def test_only_the_stats_path_is_forwarded(tmp_path: Path) -> None:
    _, listener, _ = rendered(settings(tmp_path))
    manager = listener["filter_chains"][0]["filters"][-1]["typed_config"]
    assert manager["normalize_path"] and manager["merge_slashes"]
    assert manager["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    assert [f["name"] for f in manager["http_filters"]] == ["envoy.filters.http.router"]
    (host,) = manager["route_config"]["virtual_hosts"]
    forwarded = {r["match"]["path"]: r["route"] for r in host["routes"] if "route" in r}
    assert set(forwarded) == {"/stats/prometheus", "/metrics"}
    assert {route["cluster"] for route in forwarded.values()} == {"envoy_admin"}
    assert forwarded["/metrics"]["prefix_rewrite"] == "/stats/prometheus"
    assert all("direct_response" in r for r in host["routes"] if "route" not in r)
    assert host["routes"][-1]["match"] == {"prefix": "/"}
    assert host["routes"][-1]["direct_response"]["status"] == 404


def test_an_unset_stats_port_is_any_free_one(tmp_path: Path) -> None:
    """Gateways of tests that nobody scrapes do not take 9902 (port 0: Envoy picks one)."""
    _, listener, _ = rendered(settings(tmp_path))
    assert listener["address"]["socket_address"]["port_value"] == 0
