"""Static checks of the AWS deployment in terraform/ (README, "AWS with Terraform").

No provider and no AWS account are needed: every .tf file is parsed with python-hcl2 and the tests
check what the README promises of the deployment - every service of the local stack
(tm_devstack.services) has an image repository, a task definition, an ECS service that rolls back a
failed deployment, a migration task and a log group; it gets exactly the settings its pydantic
settings class reads, secrets only from Secrets Manager; only the files service may touch the
attachments bucket and only notify may publish; data stores are private and encrypted; the load
balancer speaks HTTP/2 (and gRPC) to Envoy on 8080. Every service and the gateway carry a telemetry
collector that scrapes them under the job names deploy/observability/alerts.yml expects and sends
their spans to X-Ray; Amazon Managed Prometheus evaluates that very rules file, and its alert
manager (checked and routed by amtool, from Debian's prometheus-alertmanager, installed when
missing) tags each alert with its severity. checkov must find nothing that is not suppressed with a
reason, and `terraform fmt` must be clean (skipped, and reported as such, only where the terraform
binary is missing).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from support import apt
from support.files import MotoServer
from tm_common.config import ServiceSettings
from tm_devstack.gateway import UPSTREAM_DEFAULTS
from tm_devstack.services import PAGE_TOKEN_ISSUERS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
NAMES = [service.name for service in SERVICES]
GATEWAY_PORT = 8080  # Envoy's listener inside the gateway container (gateway/Dockerfile)
# What a service must never get as a plain environment variable.
SECRET_SETTINGS = {"DATABASE_URL", "REDIS_URL", "NOTIFY_CODE_SECRET", "PAGE_TOKEN_SECRET"}
EXPECTED_FILES = {
    "versions.tf",
    "backend.tf",
    "variables.tf",
    "locals.tf",
    "outputs.tf",
    "network.tf",
    "security_groups.tf",
    "kms.tf",
    "data.tf",
    "storage.tf",
    "notify.tf",
    "secrets.tf",
    "ecr.tf",
    "iam.tf",
    "logs.tf",
    "ecs.tf",
    "alb.tf",
    "migrations.tf",
    "ci.tf",
    "observability.tf",
}
ALERTS = ROOT / "deploy" / "observability" / "alerts.yml"
COLLECTOR_TEMPLATE = TF_DIR / "otel-collector.yaml"
ALERTMANAGER_TEMPLATE = TF_DIR / "alertmanager.yaml"
COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector"
# Component types the ADOT collector distribution is built with (its pkg/defaultcomponents), of
# the kinds this configuration could plausibly name: a typo or an upstream-only component would
# stop the collector at start.
ADOT_COMPONENTS = {
    "extensions": {
        "health_check",
        "sigv4auth",
        "pprof",
        "zpages",
        "file_storage",
        "awsproxy",
        "ecs_observer",
    },
    "receivers": {"otlp", "prometheus", "awsxray", "awsecscontainermetrics", "statsd", "zipkin", "jaeger"},
    "processors": {
        "batch",
        "memory_limiter",
        "resourcedetection",
        "resource",
        "attributes",
        "filter",
        "metricstransform",
        "probabilistic_sampler",
        "tail_sampling",
    },
    "exporters": {"awsxray", "prometheusremotewrite", "awsemf", "otlp", "otlphttp", "debug", "prometheus"},
}


# --- reading the configuration ---------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and labels: drop them (and its markers)."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


@dataclass
class Config:
    texts: dict[str, str] = field(default_factory=dict)  # file name -> source
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        assert (type_, name) in self.resources, f"terraform/ has no resource {type_}.{name}"
        return self.resources[(type_, name)]

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == type_}


def _blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for block in parsed.get(kind, []):
        for type_, named in block.items():
            for name, body in named.items():
                yield type_, name, body


@cache
def load() -> Config:
    config = Config()
    for path in sorted(TF_DIR.glob("*.tf")):
        text = path.read_text()
        config.texts[path.name] = text
        with path.open() as handle:
            parsed = _clean(hcl2.load(handle))
        for kind, target in (("resource", config.resources), ("data", config.data)):
            for type_, name, body in _blocks(parsed, kind):
                assert (type_, name) not in target, f"{kind} {type_}.{name} is declared twice"
                target[(type_, name)] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in config.locals, f"local.{name} is defined twice"
                config.locals[name] = value
        for kind, target in (("variable", config.variables), ("output", config.outputs)):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    assert name not in target, f"{kind} {name} is declared twice"
                    target[name] = body
    return config


@pytest.fixture(scope="module")
def tf() -> Config:
    return load()


# A small evaluator for the expressions for_each and the locals are written in (local.x, keys,
# values, toset, concat, merge, list literals), which happen to be Python syntax as well.
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "keys": lambda mapping: list(mapping),
    "values": lambda mapping: list(mapping.values()),
    "toset": lambda items: list(dict.fromkeys(items)),
    "concat": lambda *lists: [item for items in lists for item in items],
    "merge": lambda *maps: {k: v for mapping in maps for k, v in mapping.items()},
}


def evaluate(config: Config, value: Any) -> Any:
    if not (isinstance(value, str) and value.startswith("${") and value.endswith("}")):
        return value
    return _evaluate(config, ast.parse(value[2:-1], mode="eval").body)


def _evaluate(config: Config, node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_evaluate(config, item) for item in node.elts]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "local":
        assert node.attr in config.locals, f"local.{node.attr} is not defined"
        return evaluate(config, config.locals[node.attr])
    if isinstance(node, ast.Attribute | ast.Subscript):
        container = _evaluate(config, node.value)
        key = node.attr if isinstance(node, ast.Attribute) else _evaluate(config, node.slice)
        return evaluate(config, container[key])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*(_evaluate(config, arg) for arg in node.args))
    raise ValueError(f"cannot evaluate {ast.unparse(node)!r}")


def for_each_keys(config: Config, body: dict[str, Any]) -> list[str]:
    assert "for_each" in body, "expected a for_each"
    value = evaluate(config, body["for_each"])
    return list(value)


def ref(expression: str) -> str:
    """The interpolation an attribute holds when it is a bare reference: ${x} -> x."""
    assert isinstance(expression, str) and expression.startswith("${"), expression
    return expression[2:-1]


def container_text(body: dict[str, Any]) -> str:
    text = body["container_definitions"]
    assert text.startswith("${jsonencode(["), "container_definitions must be jsonencode([...])"
    return text


def env_names(text: str) -> set[str]:
    """Names of {name = "X", value = ...} entries written out in a container definition."""
    return set(re.findall(r'\{name = "([A-Z0-9_]+)", (?:value|valueFrom) = ', text))


def settings_fields(service: str) -> set[str]:
    """The environment variables a service reads: the fields of its settings class."""
    module = importlib.import_module(f"tm_{service}.config")
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings
    ]
    assert len(classes) == 1, f"tm_{service}.config should define one settings class, found {classes}"
    return {name.upper() for name in classes[0].model_fields}


# --- the files themselves ----------------------------------------------------------------------------


def test_every_file_parses_and_every_reference_is_declared() -> None:
    for path in sorted(TF_DIR.rglob("*.tf")):
        with path.open() as handle:
            try:
                hcl2.load(handle)
            except Exception as exc:  # the parser's own errors, whatever their class
                pytest.fail(f"{path.relative_to(ROOT)} does not parse: {exc}")
    tf = load()
    assert set(tf.texts) >= EXPECTED_FILES, f"missing: {EXPECTED_FILES - set(tf.texts)}"
    code = "\n".join(
        re.sub(r"(?m)^\s*#.*$", "", text) for text in tf.texts.values()
    )  # comments may name things loosely
    declared_resources = {f"{kind}.{name}" for kind, name in tf.resources}
    declared_data = {f"{kind}.{name}" for kind, name in tf.data}
    for name in set(re.findall(r"\bvar\.([a-z_][a-z0-9_]*)", code)):
        assert name in tf.variables, f"var.{name} is used but not declared (variables.tf)"
    for name in set(re.findall(r"\blocal\.([a-z_][a-z0-9_]*)", code)):
        assert name in tf.locals, f"local.{name} is used but not defined"
    for kind, name in set(re.findall(r"\bdata\.((?:aws|tls|random)_[a-z0-9_]+)\.([a-z0-9_]+)", code)):
        assert f"{kind}.{name}" in declared_data, f"data.{kind}.{name} is used but not declared"
    without_data = re.sub(r"\bdata\.[a-z0-9_]+\.[a-z0-9_]+", "", code)
    for kind, name in set(
        re.findall(r"(?<![\w.:/-])((?:aws|tls|random)_[a-z0-9_]+)\.([a-z0-9_]+)", without_data)
    ):
        assert f"{kind}.{name}" in declared_resources, f"{kind}.{name} is used but not declared"
    for name, body in tf.variables.items():
        assert body.get("description"), f"variable {name} has no description"
        assert body.get("type"), f"variable {name} has no type"
    for name, body in tf.outputs.items():
        assert body.get("description"), f"output {name} has no description"


def test_tfvars_example_sets_every_required_variable_and_only_declared_ones(tf: Config) -> None:
    with (TF_DIR / "terraform.tfvars.example").open() as handle:
        example = _clean(hcl2.load(handle))
    unknown = set(example) - set(tf.variables)
    assert not unknown, f"terraform.tfvars.example sets undeclared variables {unknown}"
    required = {name for name, body in tf.variables.items() if "default" not in body}
    assert required <= set(example), f"terraform.tfvars.example lacks required {required - set(example)}"
    assert {"region", "environment", "image_tag", "certificate_arn"} <= required


# --- the state: S3, locked, configured per environment ------------------------------------------------

BACKEND_EXAMPLE = TF_DIR / "backend.hcl.example"


def _terraform_blocks() -> list[tuple[str, dict[str, Any]]]:
    blocks = []
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("terraform", []):
                blocks.append((path.name, _clean(block)))
    return blocks


def test_state_backend_is_s3_configured_by_backend_config_only() -> None:
    """One backend, S3, a partial configuration (nothing per environment in the code: bucket, key and
    region come from -backend-config), and an example that locks and encrypts."""
    backends = [(name, block["backend"]) for name, block in _terraform_blocks() if "backend" in block]
    assert len(backends) == 1, backends
    name, (backend,) = backends[0]
    assert name == "backend.tf" and list(backend) == ["s3"]
    assert backend["s3"] == {}, "the backend's settings belong in -backend-config, not in the code"
    (version,) = [b["required_version"] for _, b in _terraform_blocks() if "required_version" in b]
    assert version == ">= 1.10", "use_lockfile needs Terraform 1.10"
    with BACKEND_EXAMPLE.open() as handle:
        example = _clean(hcl2.load(handle))
    assert {"bucket", "key", "region"} <= set(example)
    assert example["use_lockfile"] is True and example["encrypt"] is True
    assert "dynamodb_table" not in example  # the lock file replaces the table
    assert "backend.hcl.example" in (TF_DIR / "backend.tf").read_text()


def _terraform() -> str:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform (>= 1.10) is needed to check the S3 backend and its locking", pytrace=False)
    return terraform


def test_backend_example_keeps_the_state_in_s3_and_locks_it(tmp_path: Path) -> None:
    """`terraform init -backend-config=backend.hcl.example` (its bucket swapped for one of a local S3)
    and an apply of a configuration with the same backend.tf: the state lands at the example's key;
    while another run holds the lock (the lock file beside the state), an apply fails; without
    use_lockfile the same apply would not have noticed."""
    terraform = _terraform()
    moto = MotoServer(tmp_path / "moto.log").start()
    try:
        s3 = moto.client()
        bucket = "terraform-state-test"
        s3.create_bucket(Bucket=bucket)
        config = tmp_path / "config"
        config.mkdir()
        shutil.copy(TF_DIR / "backend.tf", config / "backend.tf")
        # terraform_data: Terraform's built-in provider, nothing to download.
        (config / "main.tf").write_text('resource "terraform_data" "probe" {\n  input = "state"\n}\n')
        env = {
            **os.environ,
            **MotoServer.CREDENTIALS,
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_IN_AUTOMATION": "1",
            "TF_DATA_DIR": str(tmp_path / "data"),
            "CHECKPOINT_DISABLE": "1",
        }
        local_s3 = [
            f"-backend-config={BACKEND_EXAMPLE}",
            f"-backend-config=bucket={bucket}",
            f'-backend-config=endpoints={{s3="{moto.endpoint_url}"}}',
            "-backend-config=use_path_style=true",
            "-backend-config=skip_credentials_validation=true",
            "-backend-config=skip_requesting_account_id=true",
            "-backend-config=skip_metadata_api_check=true",
        ]

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [terraform, *args, "-input=false", "-no-color"],
                cwd=config,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )

        init = run("init", *local_s3)
        assert init.returncode == 0, init.stdout + init.stderr
        apply = run("apply", "-auto-approve")
        assert apply.returncode == 0, apply.stdout + apply.stderr
        with BACKEND_EXAMPLE.open() as handle:
            key = _clean(hcl2.load(handle))["key"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == [key], "the state at the example's key, and no lock left behind"

        s3.put_object(Bucket=bucket, Key=f"{key}.tflock", Body=b'{"ID": "another apply"}')
        locked = run("apply", "-auto-approve", "-lock-timeout=0s")
        assert locked.returncode != 0 and "Error acquiring the state lock" in locked.stderr, locked.stderr

        unlocked = run("init", "-reconfigure", *local_s3, "-backend-config=use_lockfile=false")
        assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
        blind = run("apply", "-auto-approve", "-lock-timeout=0s")
        assert blind.returncode == 0, blind.stdout + blind.stderr  # what the lock file prevents
    finally:
        moto.stop()


def test_a_misspelt_backend_setting_is_refused(tmp_path: Path) -> None:
    """terraform checks the example's settings against the S3 backend's schema (before any call to
    S3), so the test above fails on a setting the backend does not have."""
    terraform = _terraform()
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(TF_DIR / "backend.tf", config / "backend.tf")
    bad = tmp_path / "bad.hcl"
    bad.write_text(BACKEND_EXAMPLE.read_text().replace("use_lockfile", "use_lock_file"))
    out = subprocess.run(
        [terraform, "init", "-input=false", "-no-color", f"-backend-config={bad}"],
        cwd=config,
        env={**os.environ, "TF_DATA_DIR": str(tmp_path / "data"), "CHECKPOINT_DISABLE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert 'An argument named "use_lock_file" is not expected here' in out.stderr, out.stderr


# --- every service, and the same services as the local stack ----------------------------------------


def test_services_are_the_local_stacks_with_the_same_ports(tf: Config) -> None:
    services = evaluate(tf, tf.locals["services"])
    assert list(services) == NAMES, "local.services must list tm_devstack.services.SERVICES, in order"
    for spec in SERVICES:
        assert services[spec.name]["port"] == spec.default_port, spec.name
        # The gateway image's ports (CI builds it with <service>.<domain>:<port>, images.py).
        assert UPSTREAM_DEFAULTS[spec.name].endswith(f":{spec.default_port}")
    assert evaluate(tf, tf.locals["gateway_port"]) == GATEWAY_PORT
    assert f"ARG GATEWAY_PORT={GATEWAY_PORT}" in (ROOT / "gateway" / "Dockerfile").read_text()


def test_every_image_has_an_immutable_scanned_encrypted_repository(tf: Config) -> None:
    repo = tf.resource("aws_ecr_repository", "image")
    assert set(for_each_keys(tf, repo)) == {*NAMES, "gateway"}
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
    assert repo["encryption_configuration"][0]["encryption_type"] == "KMS"
    assert set(for_each_keys(tf, tf.resource("aws_ecr_lifecycle_policy", "image"))) == {*NAMES, "gateway"}


def test_every_service_has_a_task_definition_and_a_service_that_rolls_back(tf: Config) -> None:
    task = tf.resource("aws_ecs_task_definition", "service")
    assert for_each_keys(tf, task) == NAMES
    assert task["requires_compatibilities"] == ["FARGATE"] and task["network_mode"] == "awsvpc"
    assert ref(task["task_role_arn"]) == "aws_iam_role.task[each.key].arn"
    assert ref(task["execution_role_arn"]) == "aws_iam_role.execution[each.key].arn"
    text = container_text(task)
    assert text.count("readonlyRootFilesystem = true") == 2, "init and service: read-only root"
    assert 'user = "10001:10001"' in text, "the service runs as the image's unprivileged user"
    assert (
        'dependsOn = [{containerName = "init", condition = "SUCCESS"}, local.otel_collector_started]' in text
    )
    assert (
        "portMappings = [{name = each.key, containerPort = each.value.port, "
        'protocol = "tcp", appProtocol = "grpc"}]' in text
    )
    assert "local.service_env[each.key]" in text and "local.service_secrets[each.key]" in text
    assert "lookup(local.init_secrets, each.key, {})" in text
    assert "healthCheck = {command = [" in text

    ecs_services = tf.of_type("aws_ecs_service")
    assert set(ecs_services) == {"service", "gateway"}
    service = ecs_services["service"]
    assert for_each_keys(tf, service) == NAMES
    assert ref(service["task_definition"]) == "aws_ecs_task_definition.service[each.key].arn"
    for name, body in ecs_services.items():
        breaker = body["deployment_circuit_breaker"]
        assert breaker == [{"enable": True, "rollback": True}], f"aws_ecs_service.{name}: rollback"
        assert body["launch_type"] == "FARGATE", name
        assert body["network_configuration"][0]["assign_public_ip"] is False, name
        assert ref(body["network_configuration"][0]["subnets"]) == "aws_subnet.private[*].id", name
        assert body["enable_execute_command"] is False, name


def test_every_service_has_a_migration_task_running_its_migrate_entrypoint(tf: Config) -> None:
    migrate = tf.resource("aws_ecs_task_definition", "migrate")
    assert for_each_keys(tf, migrate) == NAMES
    assert "task_role_arn" not in migrate, "migrations need no AWS permissions"
    text = container_text(migrate)
    assert 'entryPoint = ["tm-${each.key}-migrate"]' in text
    assert "${aws_ecr_repository.image[each.key].repository_url}:${local.image_tags[each.key]}" in text
    assert (
        'secrets = [{name = "DATABASE_URL", valueFrom = local.service_secrets[each.key].DATABASE_URL}]'
        in text
    )
    assert "readonlyRootFilesystem = true" in text
    for name in NAMES:
        scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"][
            "scripts"
        ]
        assert f"tm-{name}-migrate" in scripts, f"services/{name} declares no tm-{name}-migrate"
        assert env_names(text) | {"DATABASE_URL"} <= settings_fields(name), name


def test_db_init_runs_the_compose_script_for_every_service(tf: Config) -> None:
    db_init = tf.resource("aws_ecs_task_definition", "db_init")
    text = container_text(db_init)
    assert 'command = [file("${path.module}/../deploy/compose/db-init.sh")]' in text
    script = (ROOT / "deploy" / "compose" / "db-init.sh").read_text()
    assert 'password_var="${service^^}_DB_PASSWORD"' in script
    assert 'role="${DATABASE}_${service}"' in script
    assert '{name = "SERVICES", value = join(" ", keys(local.services))}' in text
    assert '{name = "DATABASE", value = var.db_name}' in text
    assert (
        '{name = "${upper(svc)}_DB_PASSWORD", '
        'valueFrom = "${aws_secretsmanager_secret.database[svc].arn}:password::"}' in text
    )
    assert "master_user_secret[0].secret_arn}:password::" in text
    assert '{name = "PGSSLMODE", value = "require"}' in text
    assert "task_role_arn" not in db_init
    # The role names the script creates are the ones the services' DATABASE_URLs log in as.
    version = tf.resource("aws_secretsmanager_secret_version", "database")["secret_string"]
    assert "${var.db_name}_${each.key}:${random_password.database[each.key].result}@" in version
    assert "sslmode=require" in version


def test_every_workload_logs_to_its_own_encrypted_group_with_a_retention(tf: Config) -> None:
    groups = tf.of_type("aws_cloudwatch_log_group")
    assert set(for_each_keys(tf, groups["workload"])) == {*NAMES, "gateway", "db-init"}
    for name, body in groups.items():
        assert body.get("retention_in_days"), f"aws_cloudwatch_log_group.{name} keeps logs forever"
        assert ref(body["kms_key_id"]) == "aws_kms_key.logs.arn", name
    for name, body in tf.of_type("aws_ecs_task_definition").items():
        text = container_text(body)
        assert "awslogs-group = aws_cloudwatch_log_group.workload[" in text, name
        assert "logDriver" in text and '"awslogs"' in text, name


# --- configuration --------------------------------------------------------------------------------


def test_each_service_gets_the_settings_it_reads_and_secrets_only_from_secrets_manager(tf: Config) -> None:
    common = tf.locals["service_common_env"]
    env = tf.locals["service_env"]
    secrets = tf.locals["service_secrets"]
    assert list(env) == NAMES and list(secrets) == NAMES
    for spec in SERVICES:
        name = spec.name
        plain = set(common) | set(env[name])
        injected = set(secrets[name])
        known = settings_fields(name)
        assert plain | injected <= known, f"{name} does not read {(plain | injected) - known}"
        assert not plain & SECRET_SETTINGS, f"{name}: secrets in plain environment {plain & SECRET_SETTINGS}"
        assert {"DATABASE_URL", "REDIS_URL"} <= injected, name
        assert secrets[name]["DATABASE_URL"] == f'${{aws_secretsmanager_secret.database["{name}"].arn}}:url::'
        assert secrets[name]["REDIS_URL"] == "${aws_secretsmanager_secret.redis.arn}:url::"
        for value in secrets[name].values():
            assert value.startswith("${aws_secretsmanager_secret."), f"{name}: {value} is not a secret ARN"
        assert env[name]["DB_SCHEMA"] == spec.schema
        assert env[name]["GRPC_PORT"] == f"${{local.services.{name}.port}}"
    assert common["GRPC_HOST"] == "0.0.0.0"
    assert common["AUTH_ADDRESS"] == '${local.service_addresses["auth"]}'
    assert common["SERVICE_ADDRESSES"] == (
        '${join(",", [for name, address in local.service_addresses : "${name}=${address}"])}'
    )
    assert env["files"]["TASKS_ADDRESS"] == '${local.service_addresses["tasks"]}'
    assert env["files"]["BLOB_STORE"] == "s3"
    assert env["files"]["S3_BUCKET"] == "${aws_s3_bucket.files.id}"
    assert env["notify"]["SNS_TOPIC_ARN"] == "${aws_sns_topic.notify.arn}"
    assert env["auth"]["JWT_GENERATE_KEY"] == "false", "production keys come from Secrets Manager"
    assert set(secrets["notify"]) == {"DATABASE_URL", "REDIS_URL", "NOTIFY_CODE_SECRET"}
    for name in NAMES:
        if name != "notify":
            assert "NOTIFY_CODE_SECRET" not in secrets[name], name
        # One key for all of a service's tasks (a page token may come back to any of them).
        if name in PAGE_TOKEN_ISSUERS:
            assert secrets[name]["PAGE_TOKEN_SECRET"] == "${aws_secretsmanager_secret.page_token.arn}", name
        else:
            assert "PAGE_TOKEN_SECRET" not in secrets[name], name
    # Only auth's init container gets the signing keys; it writes them into JWT_KEYS_DIR.
    assert tf.locals["init_secrets"] == {
        "auth": {"JWT_SIGNING_KEYS": "${aws_secretsmanager_secret.jwt_keys.arn}"}
    }
    assert "JWT_KEYS_DIR" in env["auth"]
    for name, body in tf.of_type("aws_secretsmanager_secret").items():
        assert ref(body["kms_key_id"]) == "aws_kms_key.data.arn", f"aws_secretsmanager_secret.{name}"


def test_execution_roles_read_only_their_own_secrets(tf: Config) -> None:
    allowed = tf.locals["workload_secret_arns"]
    assert set(allowed) == {*NAMES, "gateway", "db-init"}
    for name in NAMES:
        databases = {arn for arn in allowed[name] if "aws_secretsmanager_secret.database[" in arn}
        assert databases == {f'${{aws_secretsmanager_secret.database["{name}"].arn}}'}, name
        assert ("jwt_keys" in " ".join(allowed[name])) == (name == "auth"), name
        assert ("notify_code" in " ".join(allowed[name])) == (name == "notify"), name
        assert ("page_token" in " ".join(allowed[name])) == (name in PAGE_TOKEN_ISSUERS), name
    assert allowed["gateway"] == ['${aws_secretsmanager_secret.identity["gateway"].arn}']
    # db-init: the master secret RDS keeps, and every service's database secret, nothing else.
    assert allowed["db-init"] == (
        "${concat([aws_db_instance.main.master_user_secret[0].secret_arn], "
        "[for svc in keys(local.services) : aws_secretsmanager_secret.database[svc].arn])}"
    )
    assert for_each_keys(tf, tf.resource("aws_iam_role", "execution")) == for_each_keys(
        tf, tf.resource("aws_cloudwatch_log_group", "workload")
    )


def test_one_service_may_run_a_tag_of_its_own(tf: Any) -> None:
    """A service CI deployed alone at another commit keeps its tag when Terraform registers
    revisions (image_tags overrides image_tag per image; unknown names are refused)."""
    assert tf.locals["image_tags"] == (
        "${{for name in local.images : name => lookup(var.image_tags, name, var.image_tag)}}"
    )
    assert tf.locals["app_versions"] == (
        "${{for name, tag in local.image_tags : name => coalesce(var.app_version, tag)}}"
    )
    validation = str(tf.variables["image_tags"]["validation"])
    for name in ("auth", "tasks", "files", "activity", "notify", "gateway"):
        assert f'"{name}"' in validation
    gateway = container_text(tf.resource("aws_ecs_task_definition", "gateway"))
    assert '${local.image_tags["gateway"]}' in gateway


def test_names_and_ownership_match_the_deploy_workflow(tf: Config) -> None:
    """.github/scripts/ecs_deploy.py rolls releases out: it copies the latest revision of the family
    <prefix><service> (and <prefix><service>-migrate), swaps the image of the containers from
    repository taskmanager/<service>, and points the ECS service <service> at it."""
    assert tf.resource("aws_ecr_repository", "image")["name"] == "${var.name}/${each.key}"
    assert tf.variables["name"]["default"] == "taskmanager"
    families = {
        name: body["family"]
        for name, body in tf.of_type("aws_ecs_task_definition").items()
        if "family" in body
    }
    assert families == {
        "service": "${local.prefix}-${each.key}",
        "migrate": "${local.prefix}-${each.key}-migrate",
        "gateway": "${local.prefix}-gateway",
        "db_init": "${local.prefix}-db-init",
    }
    assert tf.outputs["ci_variables"]["value"]["ECS_FAMILY_PREFIX"] == "${local.prefix}-"
    assert tf.resource("aws_ecs_service", "service")["name"] == "${each.key}"
    assert tf.resource("aws_ecs_service", "gateway")["name"] == "gateway"
    for name, body in tf.of_type("aws_ecs_service").items():
        ignored = body["lifecycle"][0]["ignore_changes"]
        assert set(ignored) == {"task_definition", "desired_count"}, (
            f"aws_ecs_service.{name}: Terraform must not roll back what CI rolled out, nor fight auto "
            f"scaling ({ignored})"
        )
    # The service's image is also the init container's, so CI swaps both.
    assert (
        container_text(tf.resource("aws_ecs_task_definition", "service")).count(
            "${aws_ecr_repository.image[each.key].repository_url}:${local.image_tags[each.key]}"
        )
        == 2
    )
    script = ROOT / ".github" / "scripts" / "ecs_deploy.py"
    if script.exists():  # the workflow's side of the contract
        text = script.read_text()
        assert '-migrate"' in text and "/taskmanager/{service}" in text


def test_the_deploy_role_can_do_only_what_the_deploy_script_does(tf: Config) -> None:
    role = tf.resource("aws_iam_role", "deploy")
    assert role["count"] == "${local.deploy_role_enabled ? 1 : 0}"
    trust = _statements(tf.data[("aws_iam_policy_document", "deploy_assume")])[0]
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conditions = {c["variable"]: c for c in trust["condition"]}
    sub = conditions["${local.github_oidc_url}:sub"]
    assert sub["test"] == "StringEquals", "no wildcards in who may deploy"
    assert sub["values"] == ["repo:${var.github_repository}:environment:${var.github_environment}"]
    assert conditions["${local.github_oidc_url}:aud"]["values"] == ["sts.amazonaws.com"]
    statements = {s["sid"]: s for s in _statements(tf.data[("aws_iam_policy_document", "deploy")])}
    star = {sid for sid, s in statements.items() if s["resources"] == ["*"]}
    assert star == {"RegistryLogin", "TaskDefinitions"}, "only actions without resource-level permissions"
    assert statements["RunMigrations"]["resources"][0].endswith("task-definition/${local.prefix}-*-migrate:*")
    passed = statements["PassThisDeploymentsRoles"]
    assert passed["actions"] == ["iam:PassRole"]
    assert passed["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]
    assert "aws_iam_role.execution" in passed["resources"] and "aws_iam_role.task" in passed["resources"]
    actions = {a for s in statements.values() for a in s["actions"]}
    assert not {a for a in actions if a.startswith(("s3:", "sns:", "secretsmanager:", "kms:"))}, actions


# --- service identity and discovery (identity.tf) -------------------------------------------------

IDENTITY_SECRET = '${aws_secretsmanager_secret.identity["%s"].arn}'


def test_services_are_found_by_cloud_map_dns_per_task_not_service_connect(tf: Config) -> None:
    """With mTLS inside, Service Connect's proxy would see TLS bytes and pin each connection to one
    task: every task is an A record of its service's name instead, and the callers balance."""
    for (kind, name), body in tf.resources.items():
        assert "service_connect_configuration" not in body, f"{kind}.{name}: Service Connect"
        assert "service_connect_defaults" not in body, f"{kind}.{name}: Service Connect"
    assert not tf.of_type("aws_service_discovery_http_namespace")
    namespace = tf.resource("aws_service_discovery_private_dns_namespace", "main")
    assert ref(namespace["vpc"]) == "aws_vpc.main.id"
    assert ref(namespace["name"]) == "local.discovery_domain"
    assert tf.resource("aws_vpc", "main")["enable_dns_support"] is True
    discovery = tf.resource("aws_service_discovery_service", "service")
    assert for_each_keys(tf, discovery) == NAMES
    assert discovery["name"] == "${each.key}"
    (dns,) = discovery["dns_config"]
    assert ref(dns["namespace_id"]) == "aws_service_discovery_private_dns_namespace.main.id"
    assert dns["routing_policy"] == "MULTIVALUE", "every healthy task in the answer, not one"
    assert [record["type"] for record in dns["dns_records"]] == ["A"]
    assert ref(dns["dns_records"][0]["ttl"]) == "local.discovery_ttl"
    assert 0 < tf.locals["discovery_ttl"] <= 10, "a stopped task must leave the answers within seconds"
    # Only tasks whose health check passes are answered (ECS reports it: custom health).
    assert discovery["health_check_custom_config"] == [{"failure_threshold": 1}]
    service = tf.resource("aws_ecs_service", "service")
    assert service["service_registries"] == [
        {"registry_arn": "${aws_service_discovery_service.service[each.key].arn}"}
    ]
    assert "service_registries" not in tf.resource("aws_ecs_service", "gateway"), "reached by the ALB only"
    # A multivalue answer holds 8 records at most: no service may scale beyond what callers see.
    validations = tf.variables["task_sizes"]["validation"]
    assert any("size.max_count <= 8" in str(v["condition"]) for v in validations)
    assert all(
        size["max_count"] <= 8
        for name, size in tf.variables["task_sizes"]["default"].items()
        if name != "gateway"
    )


def test_every_address_dialled_is_a_registered_name_its_certificate_holds(tf: Config) -> None:
    """<service>.<discovery domain>: what Cloud Map registers (name each.key in the namespace of
    local.discovery_domain), what AUTH_ADDRESS, TASKS_ADDRESS and SERVICE_ADDRESSES say, what the
    gateway image is built with (images.py, from the output CI copies) and a DNS SAN of the
    service's certificate, whose first SAN is the bare name (Envoy's SNI and SAN match)."""
    assert (
        tf.locals["discovery_domain"]
        == '${coalesce(var.service_discovery_domain, "${local.prefix}.internal")}'
    )
    assert tf.locals["service_hosts"] == (
        '${{for name in keys(local.services) : name => "${name}.${local.discovery_domain}"}}'
    )
    assert tf.locals["service_addresses"] == (
        '${{for name, svc in local.services : name => "${local.service_hosts[name]}:${svc.port}"}}'
    )
    assert tf.locals["identity_dns_names"] == (
        '${{for name in local.identities : name => name == "gateway" ? [name] : '
        "[name, local.service_hosts[name]]}}"
    )
    assert evaluate(tf, tf.locals["identities"]) == [*NAMES, "gateway"]
    request = tf.resource("tls_cert_request", "identity")
    assert for_each_keys(tf, request) == [*NAMES, "gateway"]
    assert request["dns_names"] == "${local.identity_dns_names[each.key]}"
    assert request["subject"][0]["common_name"] == "${each.key}", "the CN is the caller's identity"
    assert ref(request["private_key_pem"]) == "tls_private_key.identity[each.key].private_key_pem"
    # The gateway image: CI builds it from SERVICE_DISCOVERY_DOMAIN, which Terraform outputs.
    assert tf.outputs["ci_variables"]["value"]["SERVICE_DISCOVERY_DOMAIN"] == "${local.discovery_domain}"
    images = _ci_images()
    domain = "taskmanager-production.internal"
    ports = evaluate(tf, tf.locals["services"])
    args = images.gateway_identity_args(env={"SERVICE_DISCOVERY_DOMAIN": domain})
    assert {k: v for k, v in args.items() if k.endswith("_ADDRESS")} == {
        f"{name.upper()}_ADDRESS": f"{name}.{domain}:{ports[name]['port']}" for name in NAMES
    }
    assert set(args) - {f"{name.upper()}_ADDRESS" for name in NAMES} == {
        "TLS_CA_FILE",
        "TLS_CERT_FILE",
        "TLS_KEY_FILE",
    }
    # ... into the files the gateway task's init container writes (and its Dockerfile takes them).
    gateway_dir = tf.locals["gateway_tls_dir"]
    assert args["TLS_CA_FILE"] == f"{gateway_dir}/ca.crt"
    assert args["TLS_CERT_FILE"] == f"{gateway_dir}/tls.crt"
    assert args["TLS_KEY_FILE"] == f"{gateway_dir}/tls.key"
    dockerfile_args = set(re.findall(r"^ARG ([A-Z_]+)", (ROOT / "gateway" / "Dockerfile").read_text(), re.M))
    assert set(args) <= dockerfile_args, f"gateway/Dockerfile lacks ARG {set(args) - dockerfile_args}"
    assert images.gateway_identity_args(env={}) == {}, "compose and Kubernetes images are not built so"


def _ci_images() -> Any:
    spec = importlib.util.spec_from_file_location("ci_images_tf", ROOT / ".github" / "scripts" / "images.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_service_task_runs_with_its_own_identity_and_a_plaintext_health_port(tf: Config) -> None:
    common = tf.locals["service_common_env"]
    tls_dir = tf.locals["tls_dir"]
    assert common["TLS_CA_FILE"] == "${local.tls_dir}/ca.crt"
    assert common["TLS_CERT_FILE"] == "${local.tls_dir}/tls.crt"
    assert common["TLS_KEY_FILE"] == "${local.tls_dir}/tls.key"
    assert common["HEALTH_PORT"] == "${local.health_port}"
    for name in NAMES:
        assert {"TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE", "HEALTH_PORT"} <= settings_fields(name), name
        assert not {"TLS_CA_FILE", "HEALTH_PORT"} & set(tf.locals["service_env"][name]), f"{name}: overridden"
    # The Kubernetes manifests' health port (deploy/k8s/base), not a service port.
    assert tf.locals["health_port"] == 50100
    assert tf.locals["health_port"] not in [
        svc["port"] for svc in evaluate(tf, tf.locals["services"]).values()
    ]
    # The init container writes the identity of the task's own service, from its own secret.
    text = container_text(tf.resource("aws_ecs_task_definition", "service"))
    assert (
        "secrets = [for k, v in merge(local.identity_secrets[each.key], "
        "lookup(local.init_secrets, each.key, {})) : {name = k, valueFrom = v}]" in text
    )
    assert tf.locals["identity_secrets"] == (
        "${{for name in local.identities : name => {"
        'TLS_CA_PEM = "${aws_secretsmanager_secret.identity[name].arn}:ca.crt::", '
        'TLS_CERT_PEM = "${aws_secretsmanager_secret.identity[name].arn}:tls.crt::", '
        'TLS_KEY_PEM = "${aws_secretsmanager_secret.identity[name].arn}:tls.key::"}}}'
    )
    init = tf.locals["init_script"]
    for file, variable, mode in (
        ("ca.crt", "TLS_CA_PEM", "0o644"),
        ("tls.crt", "TLS_CERT_PEM", "0o644"),
        ("tls.key", "TLS_KEY_PEM", "0o600"),
    ):
        assert f'("{file}", "{variable}", {mode})' in init
    assert 'tls = pathlib.Path("${local.tls_dir}")' in init
    # The service reads it, never writes it: read-only in the service container, written by init.
    assert {"sourceVolume": "tls", "containerPath": "${local.tls_dir}", "readOnly": True} in tf.locals[
        "task_volumes"
    ]
    assert {"sourceVolume": "tls", "containerPath": "${local.tls_dir}", "readOnly": False} in tf.locals[
        "init_volumes"
    ]
    assert "mountPoints = local.init_volumes" in text and "mountPoints = local.task_volumes" in text
    assert {"name": "tls"} in tf.resource("aws_ecs_task_definition", "service")["volume"]
    assert tls_dir.startswith("/") and tls_dir != tf.locals["data_dir"]
    # The container health check asks the plaintext health port (the service port wants a certificate).
    script = tf.locals["health_check_script"]
    assert "os.environ.get('HEALTH_PORT') or os.environ['GRPC_PORT']" in script
    assert "service='liveness'" in script
    assert 'healthCheck = {command = ["CMD", "python", "-c", local.health_check_script]' in text


def test_the_gateway_task_gets_its_identity_from_an_init_container_of_its_own_image(tf: Config) -> None:
    body = tf.resource("aws_ecs_task_definition", "gateway")
    text = container_text(body)
    image = '"${aws_ecr_repository.image["gateway"].repository_url}:${local.image_tags["gateway"]}"'
    assert text.count(f"image = {image}") == 2, "init and Envoy: one image, which CI's rollout swaps in both"
    assert 'entryPoint = ["bash", "-c", local.gateway_init_script]' in text
    assert 'secrets = [for k, v in local.identity_secrets["gateway"] : {name = k, valueFrom = v}]' in text
    assert (
        'mountPoints = [{sourceVolume = "tls", containerPath = local.gateway_tls_dir, readOnly = false}]'
        in text
    )
    assert (
        'mountPoints = [{sourceVolume = "tls", containerPath = local.gateway_tls_dir, readOnly = true}]'
        in text
    )
    assert (
        'dependsOn = [{containerName = "init", condition = "SUCCESS"}, local.otel_collector_started]' in text
    )
    assert {"name": "tls"} in body["volume"]
    assert text.count("readonlyRootFilesystem = true") == 2
    script = tf.locals["gateway_init_script"]
    assert "dir=${local.gateway_tls_dir}" in script
    for file, variable in (("ca.crt", "TLS_CA_PEM"), ("tls.crt", "TLS_CERT_PEM"), ("tls.key", "TLS_KEY_PEM")):
        assert f'printf \'%s\' "${variable}" > "$dir/{file}"' in script
    assert 'chmod 0600 "$dir/tls.key"' in script and "chown 10001:10001" in script
    # Envoy runs as the image's uid 10001 (gateway/Dockerfile), which must own what init writes.
    assert "USER 10001:10001" in (ROOT / "gateway" / "Dockerfile").read_text()


def test_each_identity_is_a_certificate_of_the_ca_in_a_secret_only_its_own_task_reads(tf: Config) -> None:
    ca_key = tf.resource("tls_private_key", "ca")
    keys = tf.resource("tls_private_key", "identity")
    for key in (ca_key, keys):
        assert key["algorithm"] == "ECDSA" and key["ecdsa_curve"] == "P256"
    assert for_each_keys(tf, keys) == [*NAMES, "gateway"]
    ca = tf.resource("tls_self_signed_cert", "ca")
    assert ca["is_ca_certificate"] is True
    assert set(ca["allowed_uses"]) == {"cert_signing", "crl_signing"}
    cert = tf.resource("tls_locally_signed_cert", "identity")
    assert for_each_keys(tf, cert) == [*NAMES, "gateway"]
    assert ref(cert["cert_request_pem"]) == "tls_cert_request.identity[each.key].cert_request_pem"
    assert ref(cert["ca_cert_pem"]) == "tls_self_signed_cert.ca.cert_pem"
    assert set(cert["allowed_uses"]) == {"digital_signature", "server_auth", "client_auth"}
    assert ref(cert["validity_period_hours"]) == "var.identity_validity_hours"
    assert ref(cert["early_renewal_hours"]) == "var.identity_early_renewal_hours"
    validity = tf.variables["identity_validity_hours"]["default"]
    renewal = tf.variables["identity_early_renewal_hours"]["default"]
    assert validity <= 366 * 24 and 7 * 24 <= renewal < validity
    assert tf.variables["identity_ca_validity_hours"]["default"] > validity + renewal
    # One secret per identity, holding its certificate, its key and the CA's certificate.
    secret = tf.resource("aws_secretsmanager_secret", "identity")
    assert for_each_keys(tf, secret) == [*NAMES, "gateway"]
    assert secret["name"] == "${local.prefix}/tls/${each.key}"
    version = tf.resource("aws_secretsmanager_secret_version", "identity")["secret_string"]
    assert version == (
        '${jsonencode({"ca.crt" = tls_self_signed_cert.ca.cert_pem, '
        '"tls.crt" = tls_locally_signed_cert.identity[each.key].cert_pem, '
        '"tls.key" = tls_private_key.identity[each.key].private_key_pem_pkcs8})}'
    )
    # The CA's key signs, and is nowhere else: no secret, no task, no output.
    code = {name: re.sub(r"(?m)^\s*#.*$", "", text) for name, text in tf.texts.items()}
    uses = [
        line.strip() for text in code.values() for line in text.splitlines() if "tls_private_key.ca." in line
    ]
    assert uses == [
        "private_key_pem = tls_private_key.ca.private_key_pem",
        "ca_private_key_pem = tls_private_key.ca.private_key_pem",
    ], uses
    assert "tls_private_key.ca" not in str(tf.outputs)
    # Each execution role reads its own identity, and no other.
    allowed = tf.locals["workload_secret_arns"]
    for workload, arns in allowed.items():
        identities = [arn for arn in arns if "aws_secretsmanager_secret.identity[" in str(arn)]
        expected = [IDENTITY_SECRET % workload] if workload in {*NAMES, "gateway"} else []
        assert identities == expected, workload
    # A new certificate reaches the tasks: the same apply starts a deployment of the service.
    for name, body in tf.of_type("aws_ecs_service").items():
        key = "each.key" if name == "service" else '"gateway"'
        assert body["force_new_deployment"] is True, name
        assert body["triggers"] == {
            "identity": f"${{aws_secretsmanager_secret_version.identity[{key}].version_id}}"
        }, name
    versions = _terraform_blocks()
    assert any(
        b.get("required_providers", [{}])[0].get("tls", {}).get("version") == "~> 4.0" for _, b in versions
    )


def test_security_groups_open_the_service_ports_only_to_the_gateway_and_the_services(tf: Config) -> None:
    ports = [svc["port"] for svc in evaluate(tf, tf.locals["services"]).values()]
    assert sorted(ports) == list(range(min(ports), max(ports) + 1)), "one contiguous range, nothing between"
    closed = {tf.locals["health_port"], tf.locals["metrics_port"]}
    opened: dict[str, set[str]] = {}
    for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        for name, rule in tf.of_type(kind).items():
            bounds = {"${local.service_port_min}": min(ports), "${local.service_port_max}": max(ports)}
            # A rule without ports (protocol -1) opens every port.
            low, high = (
                bounds.get(rule.get(k, d)) or evaluate(tf, rule.get(k, d))
                for k, d in (("from_port", 0), ("to_port", 65535))
            )
            assert not any(low <= port <= high for port in closed), f"{kind}.{name} opens {closed}"
            if kind.endswith("ingress_rule") and (low, high) == (min(ports), max(ports)):
                opened.setdefault(ref(rule["security_group_id"]), set()).add(
                    ref(rule["referenced_security_group_id"])
                )
    assert opened == {
        "aws_security_group.services.id": {"aws_security_group.gateway.id", "aws_security_group.services.id"}
    }


# --- least privilege ---------------------------------------------------------------------------------


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        if "statement" in dynamic:
            statements.extend(dynamic["statement"]["content"])
    return statements


def _attached_roles(tf: Config) -> dict[str, set[str]]:
    """Policy document name -> the roles it is attached to as an inline policy."""
    roles: dict[str, set[str]] = {}
    for body in tf.of_type("aws_iam_role_policy").values():
        match = re.fullmatch(
            r"data\.aws_iam_policy_document\.(\w+)(?:\[[^\]]+\])?\.json", ref(body["policy"])
        )
        assert match, f"inline policies come from aws_iam_policy_document: {body['policy']}"
        roles.setdefault(match.group(1), set()).add(ref(body["role"]))
    return roles


def _allows(tf: Config, predicate: Callable[[str, list[str]], bool]) -> set[str]:
    """Names of policy documents with an Allow statement for which predicate(action, resources)."""
    found = set()
    for (kind, name), body in tf.data.items():
        if kind != "aws_iam_policy_document":
            continue
        for statement in _statements(body):
            if statement.get("effect", "Allow") != "Allow":
                continue
            resources = statement.get("resources", [])
            resources = [resources] if isinstance(resources, str) else resources
            if any(predicate(action, resources) for action in statement.get("actions", [])):
                found.add(name)
    return found


def test_only_the_files_task_role_may_touch_the_bucket(tf: Config) -> None:
    roles = _attached_roles(tf)
    on_bucket = _allows(
        tf, lambda a, res: a.startswith("s3:") and any("aws_s3_bucket.files" in r for r in res)
    )
    assert on_bucket == {"files_task"}, f"s3 actions on the files bucket in {on_bucket}"
    assert roles["files_task"] == {'aws_iam_role.task["files"].id'}
    files_key = _allows(tf, lambda a, res: a.startswith("kms:") and "${aws_kms_key.files.arn}" in res)
    assert files_key == {"files_task"}
    wildcards = _allows(tf, lambda a, res: a in ("*", "s3:*", "sns:*", "iam:*", "aps:*", "xray:*"))
    assert not wildcards, f"wildcard actions in {wildcards}"
    # Resource side: whatever IAM says, the bucket denies object access to every other principal.
    statements = _statements(tf.data[("aws_iam_policy_document", "files_bucket")])
    deny = [s for s in statements if s.get("effect") == "Deny" and s.get("condition")]
    only_files = [
        s
        for s in deny
        if s["condition"][0]["variable"] == "aws:PrincipalArn"
        and s["condition"][0]["test"] == "ArnNotEquals"
        and s["condition"][0]["values"] == ['${aws_iam_role.task["files"].arn}']
    ]
    assert only_files, "the files bucket policy must deny everyone but the files task role"
    denied = set(only_files[0]["actions"])
    assert {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
    } <= denied
    # ... and nothing bucket-level that Terraform itself must read (GetObjectLockConfiguration).
    assert not any(action.endswith("*") for action in denied), denied
    assert any(s["condition"][0]["variable"] == "aws:SecureTransport" for s in deny), "TLS only"
    policy = tf.resource("aws_s3_bucket_policy", "files")
    assert ref(policy["policy"]) == "data.aws_iam_policy_document.files_bucket.json"


def test_only_the_notify_task_role_may_publish(tf: Config) -> None:
    roles = _attached_roles(tf)
    publishers = _allows(tf, lambda a, res: a in ("sns:Publish", "sns:Subscribe"))
    # alerts_topic is the alerts topic's own policy (its alert manager publishes there).
    assert publishers == {"notify_task", "alerts_topic"}, f"sns:Publish/Subscribe allowed in {publishers}"
    assert roles["notify_task"] == {'aws_iam_role.task["notify"].id'}
    notify_key = _allows(tf, lambda a, res: a.startswith("kms:") and "${aws_kms_key.notify.arn}" in res)
    assert notify_key == {"notify_task"}
    statements = _statements(tf.data[("aws_iam_policy_document", "notify_topic")])
    assert any(
        s.get("effect") == "Deny"
        and set(s["actions"]) >= {"sns:Publish", "sns:Subscribe"}
        and s["condition"][0]["values"] == ['${aws_iam_role.task["notify"].arn}']
        for s in statements
    ), "the topic policy must deny publishing to everyone but the notify task role"
    assert tf.resource("aws_sns_topic", "notify").get("kms_master_key_id") == "${aws_kms_key.notify.arn}"


def test_task_roles_and_trust(tf: Config) -> None:
    assert for_each_keys(tf, tf.resource("aws_iam_role", "task")) == NAMES
    # auth, tasks and activity get no permissions of their own; files and notify one policy each;
    # every task role, and the gateway's, the collector's telemetry policy (checked below).
    policies = {name: body for name, body in tf.of_type("aws_iam_role_policy").items() if name != "telemetry"}
    attached = {ref(body["role"]) for body in policies.values()}
    assert {r for r in attached if r.startswith("aws_iam_role.task[")} == {
        'aws_iam_role.task["files"].id',
        'aws_iam_role.task["notify"].id',
    }
    assert "aws_iam_role.gateway_task.id" not in attached, "the gateway's role is its collector's alone"
    assert not tf.of_type("aws_iam_policy"), "no managed policies of our own: inline, per role"
    managed = [body["policy_arn"] for body in tf.of_type("aws_iam_role_policy_attachment").values()]
    assert all("AmazonRDSEnhancedMonitoringRole" in arn for arn in managed), managed
    trust = _statements(tf.data[("aws_iam_policy_document", "ecs_tasks_assume")])[0]
    assert trust["principals"][0]["identifiers"] == ["ecs-tasks.amazonaws.com"]
    assert {c["variable"] for c in trust["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}
    for name in ("db_init", "migrate"):
        assert "task_role_arn" not in tf.resource("aws_ecs_task_definition", name), name
    gateway = tf.resource("aws_ecs_task_definition", "gateway")
    assert ref(gateway["task_role_arn"]) == "aws_iam_role.gateway_task.arn"
    assert ref(tf.resource("aws_iam_role", "gateway_task")["assume_role_policy"]) == (
        "data.aws_iam_policy_document.ecs_tasks_assume.json"
    )


# --- data stores --------------------------------------------------------------------------------


def test_postgres_is_private_encrypted_and_backed_up(tf: Config) -> None:
    db = tf.resource("aws_db_instance", "main")
    assert db["storage_encrypted"] is True
    assert db["publicly_accessible"] is False
    assert ref(db["kms_key_id"]) == "aws_kms_key.data.arn"
    assert db["manage_master_user_password"] is True, "the master password stays with RDS"
    assert "password" not in db
    assert db["skip_final_snapshot"] is False
    assert evaluate(tf, tf.variables["db_backup_retention_days"]["default"]) >= 7
    assert tf.variables["db_deletion_protection"]["default"] is True
    assert ref(db["vpc_security_group_ids"][0]) == "aws_security_group.db.id"
    subnets = tf.resource("aws_db_subnet_group", "main")["subnet_ids"]
    assert ref(subnets) == "aws_subnet.private[*].id"
    params = {p["name"]: p["value"] for p in tf.resource("aws_db_parameter_group", "main")["parameter"]}
    assert params["rds.force_ssl"] == "1"


def test_redis_is_encrypted_in_transit_and_at_rest_with_an_auth_token(tf: Config) -> None:
    redis = tf.resource("aws_elasticache_replication_group", "main")
    assert redis["transit_encryption_enabled"] is True
    assert redis["at_rest_encryption_enabled"] is True
    assert redis.get("transit_encryption_mode", "required") == "required"
    assert ref(redis["auth_token"]) == "random_password.redis_auth.result"
    assert ref(redis["kms_key_id"]) == "aws_kms_key.data.arn"
    assert redis["automatic_failover_enabled"] is True and redis["multi_az_enabled"] is True
    assert (
        ref(tf.resource("aws_elasticache_subnet_group", "main")["subnet_ids"]) == "aws_subnet.private[*].id"
    )
    params = {
        p["name"]: p["value"] for p in tf.resource("aws_elasticache_parameter_group", "main")["parameter"]
    }
    assert params["maxmemory-policy"].startswith("volatile-"), "streams (no TTL) must never be evicted"
    secret = tf.resource("aws_secretsmanager_secret_version", "redis")["secret_string"]
    assert "rediss://:${random_password.redis_auth.result}@" in secret, "REDIS_URL uses TLS and the token"


def test_buckets_block_public_access_and_the_files_bucket_is_encrypted_versioned_and_cleaned(
    tf: Config,
) -> None:
    buckets = tf.of_type("aws_s3_bucket")
    assert set(buckets) == {"files", "logs"}
    blocks = {ref(body["bucket"]): body for body in tf.of_type("aws_s3_bucket_public_access_block").values()}
    for name in buckets:
        block = blocks.get(f"aws_s3_bucket.{name}.id")
        assert block, f"aws_s3_bucket.{name} has no public access block"
        for flag in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ):
            assert block[flag] is True, f"aws_s3_bucket.{name}: {flag}"
        ownership = tf.resource("aws_s3_bucket_ownership_controls", name)["rule"][0]
        assert ownership["object_ownership"] == "BucketOwnerEnforced", name
        assert tf.resource("aws_s3_bucket_server_side_encryption_configuration", name), name
        assert tf.resource("aws_s3_bucket_lifecycle_configuration", name), name
    versioning = tf.resource("aws_s3_bucket_versioning", "files")["versioning_configuration"][0]
    assert versioning["status"] == "Enabled"
    sse = tf.resource("aws_s3_bucket_server_side_encryption_configuration", "files")["rule"][0]
    default = sse["apply_server_side_encryption_by_default"][0]
    assert (
        default["sse_algorithm"] == "aws:kms" and ref(default["kms_master_key_id"]) == "aws_kms_key.files.arn"
    )
    rules = tf.resource("aws_s3_bucket_lifecycle_configuration", "files")["rule"]
    assert all(rule["status"] == "Enabled" for rule in rules)
    aborts = [
        r["abort_incomplete_multipart_upload"][0]["days_after_initiation"]
        for r in rules
        if "abort_incomplete_multipart_upload" in r
    ]
    assert aborts and aborts[0] <= 7, "incomplete multipart uploads must be aborted"
    assert any("noncurrent_version_expiration" in rule for rule in rules), "old versions must expire"


def test_every_key_rotates_and_every_store_uses_one(tf: Config) -> None:
    keys = tf.of_type("aws_kms_key")
    assert set(keys) == {"logs", "data", "files", "notify", "observability"}
    for name, key in keys.items():
        assert key["enable_key_rotation"] is True, name
        assert key.get("policy"), f"aws_kms_key.{name} has no explicit key policy"


# --- network and load balancer ---------------------------------------------------------------------


def test_tasks_and_data_stores_live_in_private_subnets(tf: Config) -> None:
    private = tf.resource("aws_subnet", "private")
    assert "map_public_ip_on_launch" not in private or private["map_public_ip_on_launch"] is False
    assert tf.resource("aws_subnet", "public")["map_public_ip_on_launch"] is False
    assert tf.resource("aws_nat_gateway", "main")
    route = tf.resource("aws_route", "private_nat")
    assert "nat_gateway_id" in route and "gateway_id" not in route
    assert tf.resource("aws_lb", "main")["subnets"] == "${aws_subnet.public[*].id}"
    assert tf.resource("aws_default_security_group", "default").keys() <= {"vpc_id", "tags"}, "no rules"
    # Nothing reaches the database or Redis but the tasks.
    rules = tf.of_type("aws_vpc_security_group_ingress_rule")
    for name, rule in rules.items():
        target = ref(rule["security_group_id"])
        if target in ("aws_security_group.db.id", "aws_security_group.redis.id"):
            assert "cidr_ipv4" not in rule, f"{name}: a data store open to an address range"
        if "cidr_ipv4" in rule:
            assert target == "aws_security_group.alb.id" and rule["from_port"] == rule["to_port"] == 443, name


def test_the_load_balancer_speaks_http2_and_grpc_to_envoy_on_8080(tf: Config) -> None:
    groups = tf.of_type("aws_lb_target_group")
    assert set(groups) == {"gateway", "gateway_grpc"}
    assert groups["gateway_grpc"]["protocol_version"] == "GRPC"
    assert ref(groups["gateway"]["protocol_version"]) == "var.gateway_protocol_version"
    assert tf.variables["gateway_protocol_version"]["default"] == "HTTP2"
    for name, group in groups.items():
        assert evaluate(tf, group["port"]) == GATEWAY_PORT, name
        assert group["target_type"] == "ip", name
        assert group["health_check"][0]["enabled"] is True, name
    assert groups["gateway_grpc"]["health_check"][0]["path"] == "/taskmanager.ops.v1.OpsService/GetVersion"
    listeners = tf.of_type("aws_lb_listener")
    assert all(listener["protocol"] == "HTTPS" for listener in listeners.values()), "no plain HTTP"
    https = listeners["https"]
    assert https["port"] == 443 and "TLS13" in tf.variables["ssl_policy"]["default"]
    assert ref(https["default_action"][0]["target_group_arn"]) == "aws_lb_target_group.gateway.arn"
    grpc_rule = tf.resource("aws_lb_listener_rule", "grpc")
    assert ref(grpc_rule["action"][0]["target_group_arn"]) == "aws_lb_target_group.gateway_grpc.arn"
    header = grpc_rule["condition"][0]["http_header"][0]
    assert header["http_header_name"] == "content-type" and header["values"] == ["application/grpc*"]
    gateway = tf.resource("aws_ecs_service", "gateway")
    attached = {ref(lb["target_group_arn"]): lb for lb in gateway["load_balancer"]}
    assert set(attached) == {"aws_lb_target_group.gateway.arn", "aws_lb_target_group.gateway_grpc.arn"}
    for lb in attached.values():
        assert lb["container_name"] == "gateway" and evaluate(tf, lb["container_port"]) == GATEWAY_PORT
    text = container_text(tf.resource("aws_ecs_task_definition", "gateway"))
    assert "containerPort = local.gateway_port" in text and 'appProtocol = "http2"' in text
    assert tf.resource("aws_lb", "main")["drop_invalid_header_fields"] is True


# --- metrics, traces, alerts (observability.tf) ------------------------------------------------------

EXAMPLE_REGION = "eu-west-1"
EXAMPLE_REMOTE_WRITE = (
    f"https://aps-workspaces.{EXAMPLE_REGION}.amazonaws.com/workspaces/ws-0/api/v1/remote_write"
)
EXAMPLE_TOPIC = f"arn:aws:sns:{EXAMPLE_REGION}:123456789012:taskmanager-production-alerts"
YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 110, allow-non-breakable-inline-mappings: true}
"""


def template_arguments(expression: str, template: str) -> set[str]:
    """The names an expression passes to templatefile("${path.module}/<template>", {...})."""
    match = re.search(
        r'templatefile\("\$\{path\.module\}/' + re.escape(template) + r'", \{(.*?)\}\)', expression
    )
    assert match, f"no templatefile of {template} in {expression[:200]}"
    return set(re.findall(r"(\w+) = ", match.group(1)))


def render(template: Path, values: dict[str, Any]) -> str:
    """templatefile() for templates of plain ${name} placeholders, as these are; the result must
    be yamllint-clean (the configuration the other YAML of the repository is held to)."""
    text = template.read_text()
    assert "%{" not in text, f"{template.name}: directives are not expected"
    placeholders = set(re.findall(r"(?<!\$)\$\{(\w+)\}", text))
    assert placeholders == set(values), f"{template.name}: placeholders {placeholders} != {set(values)}"
    rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text)
    problems = [f"{p.line}: {p.message}" for p in linter.run(rendered, YamlLintConfig(YAMLLINT_CONFIG))]
    assert not problems, f"{template.name} rendered: {problems}"
    return rendered


def alert_jobs() -> set[str]:
    """The job names alerts.yml's up{job=~"..."} selectors expect."""
    selectors = re.findall(r'up\{job=~"([^"]+)"\}', ALERTS.read_text())
    assert selectors, "alerts.yml selects no up{job=~...}"
    names = {frozenset(selector.split("|")) for selector in selectors}
    assert len(names) == 1, f"alerts.yml names different job sets: {names}"
    return set(next(iter(names)))


def metrics_targets(tf: Config) -> dict[str, tuple[int, str]]:
    """job -> (port, path) each task's collector scrapes (local.metrics_targets)."""
    assert tf.locals["metrics_targets"] == (
        "${merge({for name in keys(local.services) : name => "
        '{port = local.metrics_port, path = "/metrics"}}, '
        '{gateway = {port = local.gateway_stats_port, path = "/stats/prometheus"}})}'
    )
    targets = {name: (tf.locals["metrics_port"], "/metrics") for name in NAMES}
    targets["gateway"] = (tf.locals["gateway_stats_port"], "/stats/prometheus")
    return targets


def collector_config(tf: Config, job: str) -> dict[str, Any]:
    """otel-collector.yaml as rendered for one task's collector, with example AWS values."""
    port, path = metrics_targets(tf)[job]
    values = {
        "region": EXAMPLE_REGION,
        "job": job,
        "metrics_port": port,
        "metrics_path": path,
        "scrape_interval": tf.variables["metrics_scrape_interval"]["default"],
        "otlp_endpoint": tf.locals["otlp_endpoint"],
        "remote_write_url": EXAMPLE_REMOTE_WRITE,
    }
    assert template_arguments(tf.locals["otel_collector_config"], COLLECTOR_TEMPLATE.name) == set(values)
    text = render(COLLECTOR_TEMPLATE, values)
    # The collector expands ${...} from its environment: nothing of the kind may be left over.
    assert "$" not in text.replace("$$", ""), "otel-collector.yaml: an unescaped $ the collector would expand"
    return yaml.safe_load(text)


def collector_problems(config: dict[str, Any]) -> list[str]:
    """What would stop the collector or leave a signal nowhere: pipelines naming undefined (or
    non-ADOT) components, components defined but never used, a pipeline without its ends."""
    problems = []
    service = config.get("service", {})
    used: dict[str, set[str]] = {kind: set() for kind in ADOT_COMPONENTS}
    used["extensions"] = set(service.get("extensions", []))
    for name, pipeline in service.get("pipelines", {}).items():
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"pipeline {name} lacks receivers or exporters")
        for kind in ("receivers", "processors", "exporters"):
            used[kind] |= set(pipeline.get(kind, []))
    for kind, names in used.items():
        defined = set(config.get(kind) or {})
        problems += [f"{kind}: {n} is used but not defined" for n in sorted(names - defined)]
        problems += [f"{kind}: {n} is defined but not used" for n in sorted(defined - names)]
        problems += [
            f"{kind}: {n} is no component of the ADOT collector"
            for n in sorted(defined)
            if n.split("/", 1)[0] not in ADOT_COMPONENTS[kind]
        ]
    return problems


def test_amp_evaluates_the_very_rules_file_promtool_tests(tf: Config) -> None:
    namespace = tf.resource("aws_prometheus_rule_group_namespace", "alerts")
    assert namespace["data"] == '${file("${path.module}/../deploy/observability/alerts.yml")}'
    assert (TF_DIR / ".." / "deploy" / "observability" / "alerts.yml").resolve() == ALERTS.resolve()
    assert ref(namespace["workspace_id"]) == "aws_prometheus_workspace.main.id"
    # No copy of the rules anywhere under terraform/ (which would drift from the tested file).
    for path in sorted(TF_DIR.rglob("*")):
        if path.is_file() and ".terraform" not in path.parts:
            text = path.read_text(errors="replace")
            assert not re.search(r"(?m)^\s*groups:", text), f"{path.name} holds a rules file of its own"
            assert "grpc_server_handled_total" not in text, f"{path.name} copies rule expressions"
    workspace = tf.resource("aws_prometheus_workspace", "main")
    assert ref(workspace["kms_key_arn"]) == "aws_kms_key.observability.arn"
    assert (
        workspace["logging_configuration"][0]["log_group_arn"]
        == "${aws_cloudwatch_log_group.prometheus.arn}:*"
    )
    assert tf.locals["prometheus_remote_write_url"] == (
        "${aws_prometheus_workspace.main.prometheus_endpoint}api/v1/remote_write"
    )
    assert (
        ref(tf.outputs["prometheus_endpoint"]["value"]) == "aws_prometheus_workspace.main.prometheus_endpoint"
    )


def test_every_long_running_task_carries_the_collector_and_its_services_export_to_it(tf: Config) -> None:
    containers = tf.locals["otel_collector_containers"]
    assert containers.startswith("${{for name, config in local.otel_collector_config : name => {")
    for fragment in (
        'name = "otel-collector"',
        f'image = "{COLLECTOR_IMAGE}:${{var.otel_collector_version}}"',
        "essential = false",  # a failing collector costs telemetry, never requests
        "cpu = var.otel_collector_cpu, memory = var.otel_collector_memory",
        "readonlyRootFilesystem = true",
        'environment = [{name = "AOT_CONFIG_CONTENT", value = config}]',
        'healthCheck = {command = ["CMD", "/healthcheck"]',
        "awslogs-group = aws_cloudwatch_log_group.workload[name].name",
    ):
        assert fragment in containers, f"local.otel_collector_containers lacks {fragment}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tf.variables["otel_collector_version"]["default"]), "pin a release"
    assert tf.locals["otel_collector_config"].startswith(
        "${{for name, target in local.metrics_targets : name => "
        'templatefile("${path.module}/otel-collector.yaml"'
    )
    # One collector per task of every service and the gateway; the one-off jobs have none.
    assert set(metrics_targets(tf)) == {*NAMES, "gateway"} == alert_jobs()
    sidecars = {
        name: body
        for name, body in tf.of_type("aws_ecs_task_definition").items()
        if "local.otel_collector_containers[" in container_text(body)
    }
    assert set(sidecars) == {"service", "gateway"}
    assert "local.otel_collector_containers[each.key]])}" in container_text(sidecars["service"])
    assert 'local.otel_collector_containers["gateway"]])}' in container_text(sidecars["gateway"])
    # Each main container starts once its collector has.
    assert tf.locals["otel_collector_started"] == {"containerName": "otel-collector", "condition": "START"}
    for name, body in sidecars.items():
        assert "local.otel_collector_started]" in container_text(body), f"{name}: dependsOn the collector"
    # The services' OpenTelemetry SDK exports to it (the standard variables).
    service_text = container_text(sidecars["service"])
    assert (
        "merge(local.service_common_env, {APP_VERSION = local.app_versions[each.key]}, "
        "local.service_env[each.key], local.otel_env[each.key], lookup(var.extra_environment, each.key, {}))"
        in service_text
    )
    assert tf.locals["otel_env"] == (
        "${{for name in keys(local.services) : name => "
        '{OTEL_EXPORTER_OTLP_ENDPOINT = "http://${local.otlp_endpoint}", OTEL_SERVICE_NAME = name}}}'
    )
    # ... and the collector listens there, on loopback only.
    assert re.fullmatch(r"127\.0\.0\.1:4317", tf.locals["otlp_endpoint"])
    for job in sorted(alert_jobs()):
        endpoint = collector_config(tf, job)["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        assert endpoint == tf.locals["otlp_endpoint"], job


def test_the_collector_scrapes_what_the_code_serves_under_the_alerts_job_names(tf: Config) -> None:
    assert tf.locals["metrics_port"] == ServiceSettings.model_fields["metrics_port"].default
    assert tf.locals["service_common_env"]["METRICS_PORT"] == "${local.metrics_port}"
    stats_port = re.search(
        r"^ARG GATEWAY_STATS_PORT=(\d+)$", (ROOT / "gateway" / "Dockerfile").read_text(), re.M
    )
    assert stats_port and tf.locals["gateway_stats_port"] == int(stats_port.group(1))
    for job, (port, path) in metrics_targets(tf).items():
        config = collector_config(tf, job)
        assert collector_problems(config) == [], job
        pipelines = config["service"]["pipelines"]
        assert {name.split("/")[0] for name in pipelines} == {"traces", "metrics"}, job
        assert pipelines["traces"]["receivers"] == ["otlp"] and pipelines["traces"]["exporters"] == [
            "awsxray"
        ]
        assert pipelines["metrics"]["receivers"] == ["prometheus"]
        assert pipelines["metrics"]["exporters"] == ["prometheusremotewrite"]
        for pipeline in pipelines.values():
            assert pipeline["processors"][0] == "memory_limiter", f"{job}: memory_limiter first"
        (scrape,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
        assert scrape["job_name"] == job
        assert scrape["metrics_path"] == path
        assert scrape["static_configs"] == [{"targets": [f"127.0.0.1:{port}"]}]
        # Every task scrapes 127.0.0.1: the instance label must become the task's own.
        instance = config["processors"]["resource/instance"]["attributes"]
        assert instance == [
            {"key": "service.instance.id", "from_attribute": "aws.ecs.task.arn", "action": "upsert"}
        ]
        assert config["processors"]["resourcedetection"]["detectors"] == ["ecs"]
        remote_write = config["exporters"]["prometheusremotewrite"]
        assert remote_write["endpoint"] == EXAMPLE_REMOTE_WRITE
        authenticator = remote_write["auth"]["authenticator"]
        assert config["extensions"][authenticator] == {"region": EXAMPLE_REGION, "service": "aps"}
        assert config["exporters"]["awsxray"] == {"region": EXAMPLE_REGION}


def test_collector_problems_are_found() -> None:
    """The pipeline check above can fail: each kind of mistake is reported."""
    config = {
        "extensions": {"sigv4auth": {}},
        "receivers": {"otlp": {}, "prometheus": {}},
        "processors": {"batch": {}},
        "exporters": {"awsxray": {}, "jaeger": {}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["awsxray"]},
                "metrics": {"receivers": ["prometheus"], "exporters": ["prometheusremotewrite"]},
                "logs": {"receivers": ["otlp"]},
            },
        },
    }
    assert collector_problems(config) == [
        "pipeline logs lacks receivers or exporters",
        "extensions: health_check is used but not defined",
        "extensions: sigv4auth is defined but not used",
        "exporters: prometheusremotewrite is used but not defined",
        "exporters: jaeger is defined but not used",
        "exporters: jaeger is no component of the ADOT collector",
    ]


def test_the_collector_fits_in_every_task(tf: Config) -> None:
    cpu = tf.variables["otel_collector_cpu"]["default"]
    memory = tf.variables["otel_collector_memory"]["default"]
    for name, size in tf.variables["task_sizes"]["default"].items():
        assert 2 * cpu <= size["cpu"] and 2 * memory <= size["memory"], (
            f"{name}: the collector takes over half"
        )
        # What the main container keeps: at least what the smallest task had before the collector.
        assert size["memory"] - memory >= 512, name
    for name in ("service", "gateway"):
        (condition,) = tf.resource("aws_ecs_task_definition", name)["lifecycle"][0]["precondition"]
        assert "var.otel_collector_cpu * 2 <=" in condition["condition"], name
        assert "var.otel_collector_memory * 2 <=" in condition["condition"], name


def test_only_the_collectors_may_write_metrics_and_traces(tf: Config) -> None:
    writers = _allows(tf, lambda a, res: a.startswith(("aps:", "xray:")))
    assert writers == {"telemetry"}, f"aps:/xray: actions allowed in {writers}"
    statements = {s["sid"]: s for s in _statements(tf.data[("aws_iam_policy_document", "telemetry")])}
    assert set(statements) == {"RemoteWriteMetrics", "SendTraces"}
    assert statements["RemoteWriteMetrics"]["actions"] == ["aps:RemoteWrite"]
    assert statements["RemoteWriteMetrics"]["resources"] == ["${aws_prometheus_workspace.main.arn}"]
    assert set(statements["SendTraces"]["actions"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    policy = tf.resource("aws_iam_role_policy", "telemetry")
    assert set(for_each_keys(tf, policy)) == {*NAMES, "gateway"}
    assert ref(policy["role"]) == (
        'each.key == "gateway" ? aws_iam_role.gateway_task.id : aws_iam_role.task[each.key].id'
    )
    assert ref(policy["policy"]) == "data.aws_iam_policy_document.telemetry.json"


@pytest.fixture(scope="module")
def amtool() -> str:
    """Alertmanager's own checker (Debian's prometheus-alertmanager, installed when missing)."""
    try:
        return apt.ensure(("prometheus-alertmanager",), lambda: shutil.which("amtool"))
    except apt.AptUnavailable as error:
        pytest.fail(f"amtool is needed to check the alert manager configuration: {error}", pytrace=False)


def test_alerts_reach_the_alerts_topic_by_severity(tf: Config, amtool: str, tmp_path: Path) -> None:
    definition = tf.resource("aws_prometheus_alert_manager_definition", "main")
    assert template_arguments(definition["definition"], ALERTMANAGER_TEMPLATE.name) == {"topic_arn", "region"}
    assert "topic_arn = aws_sns_topic.alerts.arn" in definition["definition"]
    rendered = yaml.safe_load(
        render(ALERTMANAGER_TEMPLATE, {"topic_arn": EXAMPLE_TOPIC, "region": EXAMPLE_REGION})
    )
    assert set(rendered) == {"alertmanager_config"}, "AMP's format: alertmanager_config (and template_files)"
    config = yaml.safe_load(rendered["alertmanager_config"])
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    for receiver in receivers.values():
        for sns in receiver["sns_configs"]:
            assert sns["topic_arn"] == EXAMPLE_TOPIC and sns["sigv4"] == {"region": EXAMPLE_REGION}
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(rendered["alertmanager_config"])
    checked = subprocess.run(
        [amtool, "check-config", str(config_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every alert of alerts.yml, routed by Alertmanager itself, reaches a receiver that tags the
    # message with the alert's own severity.
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert {rule["labels"]["severity"] for rule in alerts.values()} == {"page", "ticket"}
    for name, rule in alerts.items():
        labels = [f"alertname={name}", *(f"{key}={value}" for key, value in rule["labels"].items())]
        routed = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config_file}", *labels],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert routed.returncode == 0, routed.stdout + routed.stderr
        (receiver,) = routed.stdout.split()
        attributes = [sns.get("attributes") for sns in receivers[receiver]["sns_configs"]]
        assert attributes == [{"severity": rule["labels"]["severity"]}], f"{name} reaches {receiver}"
    for inhibit in config.get("inhibit_rules", []):
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            name = re.fullmatch(r'alertname="(\w+)"', matcher)
            assert name and name.group(1) in alerts, f"inhibit rule names an unknown alert: {matcher}"
    # The topic: encrypted, and only this workspace's alert manager may publish to it.
    topic = tf.resource("aws_sns_topic", "alerts")
    assert ref(topic["kms_master_key_id"]) == "aws_kms_key.observability.arn"
    statements = _statements(tf.data[("aws_iam_policy_document", "alerts_topic")])
    allows = [s for s in statements if s.get("effect", "Allow") == "Allow"]
    assert len(allows) == 1 and allows[0]["principals"][0]["identifiers"] == ["aps.amazonaws.com"]
    conditions = {c["variable"]: c["values"] for c in allows[0]["condition"]}
    assert conditions["aws:SourceArn"] == ["${aws_prometheus_workspace.main.arn}"]
    assert conditions["aws:SourceAccount"] == ["${local.account_id}"]
    assert ref(tf.outputs["alerts_topic_arn"]["value"]) == "aws_sns_topic.alerts.arn"


# --- tools -----------------------------------------------------------------------------------------


def test_checkov_finds_nothing_unsuppressed() -> None:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make venv` creates .venv-checkov"
    skips = [
        (path.name, match.group(1), match.group(2))
        for path in sorted(TF_DIR.glob("*.tf"))
        for match in re.finditer(r"#checkov:skip=([A-Z0-9_]+):(.*)", path.read_text())
    ]
    for name, check, reason in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", check), f"{name}: {check}"
        assert len(reason.split()) >= 8, f"{name}: skip of {check} needs a real reason, not {reason!r}"
    result = subprocess.run(
        [str(CHECKOV), "-d", "terraform", "--framework", "terraform", "--quiet", "--compact"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"checkov found problems:\n{result.stdout}\n{result.stderr[-2000:]}"
    summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout)
    assert summary, f"no checkov summary in:\n{result.stdout}"
    passed, failed, _skipped = map(int, summary.groups())
    assert failed == 0 and passed > 100, summary.group(0)
    print(f"checkov: {summary.group(0)}; suppressed: {sorted({check for _, check, _ in skips})}")


@pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="terraform binary not found: `terraform fmt -check` was NOT run (every other Terraform check ran)",
)
def test_terraform_fmt_is_clean() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", "terraform/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}"
