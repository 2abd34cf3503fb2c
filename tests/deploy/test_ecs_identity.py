"""The ECS tasks' service identity, run for real where it can be without AWS (terraform/identity.tf,
terraform/ecs.tf): the scripts the task definitions carry are taken from the Terraform files,
rendered as Terraform renders them, and run here.

* The container health check (local.health_check_script) against a real mTLS service server
  (tm_common.server, certificates from tm_devstack.certs): it passes through HEALTH_PORT, and the
  service port itself refuses it (so a check that asked GRPC_PORT would fail every task).
* The init containers (as root, like on ECS): the service's writes its identity where TLS_*_FILE
  point, owned by the service user, the key 0600, and a server started on those very files
  answers mTLS callers; the gateway's (bash, in the gateway image) writes the files the gateway
  image's TLS_* build arguments name (.github/scripts/images.py).
* With Terraform and its AWS provider available from a local mirror (no download here), the
  whole configuration is validated against the provider's schema (tls and random resources stood
  in for by terraform_data) and the names are evaluated by Terraform itself: every address a
  service or the gateway dials is a Cloud Map name its certificate holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import grpc
import hcl2
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tm_common import identity
from tm_common.config import ServiceSettings
from tm_common.server import RunningServer, ServiceDefinition, start_server
from tm_common.tokens import TokenVerifier
from tm_devstack import certs
from tm_devstack.services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"
NAMES = [service.name for service in SERVICES]
SERVICE_USER = 10001  # deploy/docker/service.Dockerfile's and gateway/Dockerfile's uid


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def tf_locals() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("locals", []):
                found.update(
                    {
                        name: _unquote(value) if isinstance(value, str) else value
                        for name, value in block.items()
                    }
                )
    return found


def render(template: str, values: dict[str, object]) -> str:
    """A string (or <<- heredoc) of the Terraform files as Terraform renders it: the heredoc's
    indentation removed, ${local.x} replaced, $${ unescaped; anything else left is an error."""
    if template.startswith("<<-"):
        lines = template.split("\n")
        assert lines[-1].strip() == lines[0][3:], "heredoc without its closing marker"
        template = textwrap.dedent("\n".join(lines[1:-1])) + "\n"
    text = re.sub(r"(?<!\$)\$\{local\.(\w+)\}", lambda m: str(values[m.group(1)]), template)
    assert not re.search(r"(?<!\$)\$\{", text), f"unrendered interpolation in {text[:200]}"
    assert "%{" not in text
    return text.replace("$${", "${")


@pytest.fixture(scope="module")
def locals_() -> dict[str, Any]:
    return tf_locals()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, certs.Identity]:
    return certs.ensure(tmp_path_factory.mktemp("tls"), [*NAMES, certs.GATEWAY])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_service(files: dict[str, str], health_port: int) -> RunningServer:
    """The common server as a service runs it on ECS: TLS_* files, HEALTH_PORT."""

    async def no_keys() -> list[dict[str, Any]]:
        return []

    settings = ServiceSettings(
        service_name="tasks",
        metrics_port=0,
        grpc_host="127.0.0.1",
        health_port=health_port,
        tls_ca_file=files["TLS_CA_FILE"],
        tls_cert_file=files["TLS_CERT_FILE"],
        tls_key_file=files["TLS_KEY_FILE"],
    )
    definition = ServiceDefinition(
        name="tasks",
        register=lambda server: None,
        service_names=[],
        verifier=TokenVerifier(no_keys, issuer="test", audience="test"),
    )
    return await start_server(definition, settings, "127.0.0.1:0")


async def run_python(script: str, env: dict[str, str]) -> tuple[int, str]:
    """python -c SCRIPT as ECS runs a container's command: its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, env={"PATH": os.environ["PATH"], **env}, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def health_check(script: str, env: dict[str, str]) -> int:
    """The container health check (CMD python -c ...), in the service's environment."""
    return (await run_python(script, env))[0]


async def test_the_container_health_check_passes_through_the_plaintext_health_port(
    locals_: dict[str, Any], tls: dict[str, certs.Identity]
) -> None:
    health_port = free_port()
    running = await start_service(tls["tasks"].environment(), health_port)
    try:
        script = render(locals_["health_check_script"], {})
        service_port = str(running.port)
        assert await health_check(script, {"GRPC_PORT": service_port, "HEALTH_PORT": str(health_port)}) == 0
        # The service port wants a certificate: the check could not ask it.
        assert await health_check(script, {"GRPC_PORT": service_port}) != 0
        # ... and is liveness: a task whose health port is not served is not alive.
        assert await health_check(script, {"GRPC_PORT": service_port, "HEALTH_PORT": str(free_port())}) != 0
    finally:
        await running.stop(0)


def pem_environment(tls: certs.Identity) -> dict[str, str]:
    """What ECS injects from the identity's secret (identity.tf: ca.crt, tls.crt, tls.key)."""
    return {
        "TLS_CA_PEM": tls.ca.read_text(),
        "TLS_CERT_PEM": tls.cert.read_text(),
        "TLS_KEY_PEM": tls.key.read_text(),
    }


def assert_owned_by_the_service_user(directory: Path, files: dict[str, Path], source: certs.Identity) -> None:
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700 and directory.stat().st_uid == SERVICE_USER
    for path in files.values():
        assert path.stat().st_uid == SERVICE_USER, path
    assert stat.S_IMODE(files["TLS_KEY_FILE"].stat().st_mode) == 0o600
    assert files["TLS_CA_FILE"].read_bytes() == source.ca.read_bytes()
    assert files["TLS_CERT_FILE"].read_bytes() == source.cert.read_bytes()
    assert files["TLS_KEY_FILE"].read_bytes() == source.key.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="the init containers run as root and chown to uid 10001")
async def test_the_service_init_container_writes_an_identity_a_server_runs_with(
    locals_: dict[str, Any], tls: dict[str, certs.Identity], tmp_path: Path
) -> None:
    data, tls_dir, scratch = tmp_path / "data", tmp_path / "tls", tmp_path / "tmp"
    for directory in (data, tls_dir, scratch):
        directory.mkdir()  # task volumes: made by Fargate, owned by root
    script = render(locals_["init_script"], {"data_dir": data, "tls_dir": tls_dir})
    assert script.count('"/tmp"') == 1
    script = script.replace('"/tmp"', json.dumps(str(scratch)))
    status, stderr = await run_python(script, pem_environment(tls["tasks"]))
    assert status == 0, stderr
    # Where the service's TLS_* settings point (local.service_common_env), rendered the same way.
    common = locals_["service_common_env"]
    files = {
        name: Path(render(_unquote(common[name]), {"tls_dir": tls_dir}).strip())
        for name in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE")
    }
    assert_owned_by_the_service_user(tls_dir, files, tls["tasks"])
    # A server on those files speaks mTLS to a caller with a certificate of the same CA.
    running = await start_service({k: str(v) for k, v in files.items()}, free_port())
    try:
        gateway = tls[certs.GATEWAY]
        credentials = identity.channel_credentials(identity.TlsFiles(gateway.ca, gateway.cert, gateway.key))
        options = [("grpc.ssl_target_name_override", "tasks")]
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{running.port}", credentials, options=options
        ) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="liveness"), timeout=5
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(0)
    # Without its identity the task does not start (the service container waits for SUCCESS).
    status, stderr = await run_python(script, {**pem_environment(tls["tasks"]), "TLS_KEY_PEM": ""})
    assert status != 0 and "TLS_KEY_PEM holds no PEM" in stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the init containers run as root and chown to uid 10001")
def test_the_gateway_init_container_writes_the_files_the_gateway_image_reads(
    locals_: dict[str, Any], tls: dict[str, certs.Identity], tmp_path: Path
) -> None:
    directory = tmp_path / "gateway-tls"
    directory.mkdir()
    script = render(locals_["gateway_init_script"], {"gateway_tls_dir": directory})
    env = {"PATH": os.environ["PATH"], **pem_environment(tls[certs.GATEWAY])}
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    # The paths the gateway image is built with (images.py), moved to where this test wrote them.
    sys.path.insert(0, str(ROOT / ".github" / "scripts"))
    try:
        import images
    finally:
        sys.path.pop(0)
    args = images.gateway_identity_args(env={"SERVICE_DISCOVERY_DOMAIN": "taskmanager-production.internal"})
    assert locals_["gateway_tls_dir"] == images.GATEWAY_TLS_DIR
    files = {
        name: directory / Path(args[name]).relative_to(images.GATEWAY_TLS_DIR)
        for name in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE")
    }
    assert_owned_by_the_service_user(directory, files, tls[certs.GATEWAY])
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in files.values())
    for variable in ("TLS_CA_PEM", "TLS_KEY_PEM"):
        broken = subprocess.run(
            ["bash", "-c", script], env={**env, variable: ""}, capture_output=True, text=True, timeout=60
        )
        assert broken.returncode != 0 and f"{variable} holds no PEM" in broken.stderr


# --- Terraform itself, with the AWS provider from a local mirror ----------------------------------

PROVIDER_MIRROR = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
AWS_PROVIDER = PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws"
STAND_INS = r"random_password|tls_[a-z_]+"


def stand_in(text: str) -> str:
    """The configuration without the tls and random providers (not in the mirror): each of their
    resources becomes a terraform_data of the same for_each, each attribute read its output."""
    text = re.sub(r"\n    (?:random|tls) = \{\n.*?\n    \}", "", text, flags=re.S)

    def resource(match: re.Match[str]) -> str:
        for_each = re.search(r"^\s*for_each\s*=.*$", match.group(3), re.M)
        body = (for_each.group(0) + "\n" if for_each else "") + '  input = "stand-in"\n'
        return f'resource "terraform_data" "{match.group(1)}__{match.group(2)}" {{\n{body}}}\n'

    text = re.sub(rf'^resource "({STAND_INS})" "(\w+)" \{{\n(.*?)^\}}\n', resource, text, flags=re.S | re.M)
    text = re.sub(rf"\b({STAND_INS})\.(\w+)((?:\[[^\]]+\])?)\.\w+", r"terraform_data.\1__\2\3.output", text)
    text = re.sub(rf"\b({STAND_INS})\.(\w+) :", r"terraform_data.\1__\2 :", text)
    return text.replace("cert.validity_end_time", "cert.output")


@pytest.fixture(scope="module")
def terraform_with_aws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    terraform = shutil.which("terraform")
    if terraform is None or not AWS_PROVIDER.is_dir():
        pytest.skip(f"terraform and the AWS provider in a local mirror ({AWS_PROVIDER}) are needed")
    work = tmp_path_factory.mktemp("tf")
    (work / "deploy").symlink_to(ROOT / "deploy")  # files the configuration reads by path
    config = work / "terraform"
    config.mkdir()
    for path in TF_DIR.iterdir():
        if path.suffix == ".tf" and path.name != "backend.tf":
            (config / path.name).write_text(stand_in(path.read_text()))
        elif path.is_file() and path.suffix in (".yaml", ".yml"):
            shutil.copy(path, config / path.name)
    cli_config = work / "terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{PROVIDER_MIRROR}"\n  }}\n}}\n'
    )
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_DATA_DIR": str(work / "data"),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    init = subprocess.run(
        [terraform, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=config,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    return config, env


def test_the_configuration_is_valid_for_the_aws_provider(
    terraform_with_aws: tuple[Path, dict[str, str]],
) -> None:
    config, env = terraform_with_aws
    result = subprocess.run(
        ["terraform", "validate", "-no-color", "-json"],
        cwd=config,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=1)
    warnings = [d["summary"] for d in report["diagnostics"] if d["severity"] == "warning"]
    assert not warnings, warnings


@pytest.mark.parametrize("domain", [None, "tm.example.internal"])
def test_terraform_dials_the_names_it_registers_and_certifies(
    terraform_with_aws: tuple[Path, dict[str, str]], domain: str | None
) -> None:
    config, env = terraform_with_aws
    variables = [
        "-var=region=eu-west-1",
        "-var=environment=production",
        "-var=image_tag=x",
        "-var=certificate_arn=x",
    ]
    if domain:
        variables.append(f"-var=service_discovery_domain={domain}")
    expression = (
        "jsonencode({domain = local.discovery_domain, hosts = local.service_hosts, "
        "sans = local.identity_dns_names, common = local.service_common_env, "
        "files_tasks = local.service_env.files.TASKS_ADDRESS})"
    )
    result = subprocess.run(
        ["terraform", "console", "-no-color", *variables],
        cwd=config,
        env=env,
        input=expression + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    expected_domain = domain or "taskmanager-production.internal"
    assert names["domain"] == expected_domain
    ports = {service.name: service.default_port for service in SERVICES}
    dialled = dict(item.split("=", 1) for item in names["common"]["SERVICE_ADDRESSES"].split(","))
    assert dialled == {name: f"{name}.{expected_domain}:{ports[name]}" for name in NAMES}
    assert names["common"]["AUTH_ADDRESS"] == dialled["auth"]
    assert names["files_tasks"] == dialled["tasks"]
    for name in NAMES:
        host = dialled[name].rsplit(":", 1)[0]
        # Cloud Map registers <discovery name>.<namespace>; the certificate holds it, after the
        # bare name (the CN, Envoy's SNI and SAN match).
        assert names["hosts"][name] == host
        assert names["sans"][name] == [name, host]
    assert names["sans"]["gateway"] == ["gateway"]
    # What the gateway image dials: images.py with the domain Terraform outputs for CI.
    sys.path.insert(0, str(ROOT / ".github" / "scripts"))
    try:
        import images
    finally:
        sys.path.pop(0)
    args = images.gateway_identity_args(env={"SERVICE_DISCOVERY_DOMAIN": names["domain"]})
    assert {name: args[f"{name.upper()}_ADDRESS"] for name in NAMES} == dialled
