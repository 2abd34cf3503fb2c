"""The gateway's timeouts and caps (tm_devstack.gateway.EdgeGuards) can be set wherever the gateway
is rendered (`make run`, the image build, compose), with the code's defaults, and reach Envoy."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from tm_devstack import stack
from tm_devstack.gateway import EdgeGuards, GatewaySettings, envoy_config

ROOT = Path(__file__).resolve().parents[2]
NAMES = {f"EDGE_{guard.name.upper()}": guard for guard in dataclasses.fields(EdgeGuards)}


def test_make_run_and_the_image_render_read_every_guard(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for number, name in enumerate(NAMES, start=2):
        monkeypatch.setenv(name, str(number))
    expected = EdgeGuards(**{guard.name: number for number, guard in enumerate(NAMES.values(), start=2)})
    assert stack.StackConfig.from_env().edge_guards == expected
    assert GatewaySettings.from_env(tmp_path).edge_guards == expected


def test_an_empty_variable_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.setenv(name, "")
    assert EdgeGuards.from_env({name: "" for name in NAMES}) == EdgeGuards()


def test_the_image_and_compose_take_every_guard_with_the_codes_default() -> None:
    dockerfile = (ROOT / "gateway" / "Dockerfile").read_text()
    assert set(NAMES) <= set(re.findall(r"^ARG ([A-Z_]+)$", dockerfile, re.MULTILINE))
    args = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["gateway"]["build"]["args"]
    defaults = EdgeGuards()
    for name, guard in NAMES.items():
        default = getattr(defaults, guard.name)
        shown = str(int(default)) if float(default).is_integer() else str(default)
        assert args[name] == f"${{{name}:-{shown}}}", name


def test_the_guards_reach_envoys_config(tmp_path: Path) -> None:
    guards = EdgeGuards(request_headers_timeout=7, max_connections=123, max_request_headers_kb=40)
    settings = GatewaySettings(
        upstreams={
            "auth": ("a", 1),
            "tasks": ("t", 2),
            "files": ("f", 3),
            "activity": ("c", 4),
            "notify": ("n", 5),
        },
        descriptor_set=tmp_path / "d.pb",
        lua_file=tmp_path / "gateway.lua",
        edge_guards=guards,
    )
    config = yaml.safe_load(envoy_config(settings))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["request_headers_timeout"] == "7s"
    assert manager["max_request_headers_kb"] == 40
    assert manager["normalize_path"] and manager["merge_slashes"]
    assert manager["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    monitors = {m["name"]: m["typed_config"] for m in config["overload_manager"]["resource_monitors"]}
    connections = monitors["envoy.resource_monitors.global_downstream_max_connections"]
    assert connections["max_active_downstream_connections"] == 123
