"""Every rate limit (the gateway's per-route and per-client buckets, auth's login limits) can be set
from the environment wherever the system runs, with the code's defaults: `make run`, compose,
Kubernetes and the AWS image build."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tm_auth.config import AuthSettings
from tm_devstack import stack
from tm_devstack.gateway import DEFAULT_EDGE_LIMITS

ROOT = Path(__file__).resolve().parents[2]
LOGIN_LIMITS = {
    name.upper(): field.default
    for name, field in AuthSettings.model_fields.items()
    if name.startswith("login_limit_")
}


def images() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ci_images_limits", ROOT / ".github" / "scripts" / "images.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_make_run_reads_every_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(stack.LOGIN_LIMIT_ENV) == set(LOGIN_LIMITS)
    for number, name in enumerate([*DEFAULT_EDGE_LIMITS, *LOGIN_LIMITS], start=1):
        monkeypatch.setenv(name, str(number))
    config = stack.StackConfig.from_env()
    assert list(config.edge_limits.values()) == list(range(1, len(DEFAULT_EDGE_LIMITS) + 1))
    assert {name: config.service_env[name] for name in LOGIN_LIMITS} == {
        name: str(number) for number, name in enumerate(LOGIN_LIMITS, start=len(DEFAULT_EDGE_LIMITS) + 1)
    }


def test_the_gateway_image_takes_every_edge_limit() -> None:
    dockerfile = (ROOT / "gateway" / "Dockerfile").read_text()
    # No default in the Dockerfile: the renderer's (unset or empty keeps it).
    assert set(DEFAULT_EDGE_LIMITS) <= set(re.findall(r"^ARG ([A-Z_]+)$", dockerfile, re.MULTILINE))


def test_compose_sets_every_limit_with_the_codes_default() -> None:
    services = compose()["services"]
    args = services["gateway"]["build"]["args"]
    assert {name: args[name] for name in DEFAULT_EDGE_LIMITS} == {
        name: f"${{{name}:-{default}}}" for name, default in DEFAULT_EDGE_LIMITS.items()
    }
    env = services["auth"]["environment"]
    assert {name: env[name] for name in LOGIN_LIMITS} == {
        name: f"${{{name}:-{default}}}" for name, default in LOGIN_LIMITS.items()
    }


def test_kubernetes_gives_auth_every_login_limit() -> None:
    base = ROOT / "deploy" / "k8s" / "base"
    generators = yaml.safe_load((base / "kustomization.yaml").read_text())["configMapGenerator"]
    (auth_config,) = [g for g in generators if g["name"] == "auth-config"]
    assert auth_config["literals"] == [f"{name}={default}" for name, default in LOGIN_LIMITS.items()]
    (deployment,) = [
        d for d in yaml.safe_load_all((base / "auth.yaml").read_text()) if d and d["kind"] == "Deployment"
    ]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "auth-config"}} in container["envFrom"]


def test_kubernetes_gateway_has_a_bucket_per_client_on_every_limited_route() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "k8s" / "base" / "gateway" / "envoy.yaml").read_text())
    listener = {item["name"]: item for item in config["static_resources"]["listeners"]}["gateway"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    (host,) = manager["route_config"]["virtual_hosts"]
    limited = [
        host,
        *(
            r
            for r in host["routes"]
            if "envoy.filters.http.local_ratelimit" in r.get("typed_per_filter_config", {})
        ),
    ]
    assert len(limited) == 6  # the default, login, register, health, version, the rest of ops
    for scope in limited:
        bucket = scope["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]
        assert bucket["rate_limits"] == [{"actions": [{"remote_address": {}}]}]
        (per_client,) = bucket["descriptors"]
        assert per_client["entries"] == [{"key": "remote_address", "value": ""}]
        assert per_client["token_bucket"]["max_tokens"] < bucket["token_bucket"]["max_tokens"]
        assert bucket["max_dynamic_descriptors"] == DEFAULT_EDGE_LIMITS["EDGE_TRACKED_CLIENTS"]


def test_the_aws_gateway_image_takes_edge_limits_from_a_repository_variable() -> None:
    module = images()
    assert module.gateway_build_args(env={}) == {"XFF_NUM_TRUSTED_HOPS": "1"}
    assert module.gateway_build_args(
        env={"GATEWAY_EDGE_LIMITS": "LOGIN_EDGE_PER_CLIENT=20 EDGE_TRACKED_CLIENTS=9"}
    ) == {
        "XFF_NUM_TRUSTED_HOPS": "1",
        "LOGIN_EDGE_PER_CLIENT": "20",
        "EDGE_TRACKED_CLIENTS": "9",
    }
    for wrong in ("XFF_NUM_TRUSTED_HOPS=0", "LOGIN_EDGE_PER_CLIENT=0", "LOGIN_EDGE_PER_CLIENT", "NOPE=1"):
        with pytest.raises(SystemExit):
            module.gateway_build_args(env={"GATEWAY_EDGE_LIMITS": wrong})
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    (detect,) = [s for s in workflow["jobs"]["changes"]["steps"] if s.get("id") == "detect"]
    assert detect["env"]["GATEWAY_EDGE_LIMITS"] == "${{ vars.GATEWAY_EDGE_LIMITS }}"
