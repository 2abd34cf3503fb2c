"""CI/CD (.github/), offline: the workflows are valid (schema, a timeout on every job, yamllint,
checkov); pull requests run `make test` and `buf breaking` against their base; merges to main
reach AWS through OIDC only, build only the images a change touches (.github/scripts/images.py),
and migrate each service before rolling it out (.github/scripts/ecs_deploy.py, run here against a
fake `aws` that plays ECS: a failed migration rolls nothing out, a rolled-back deployment fails)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
IDS = [p.name for p in WORKFLOWS]
YAMLLINT = (
    "{extends: default, rules: {document-start: disable, truthy: {check-keys: false},"
    " line-length: {max: 110, allow-non-breakable-inline-mappings: true}}}"
)


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ci_{name}", ROOT / ".github" / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


images = load_script("images")
SERVICES = images.services()


def workflow(name: str) -> dict[str, Any]:
    # yaml reads the key `on` as True.
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, body in doc["jobs"].items() for step in body.get("steps", [])]


# --- validity -----------------------------------------------------------------------------------


def test_the_workflows_are_there() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflow_schema(path: Path, schema: str) -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", schema, path], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_schema() -> None:
    result = subprocess.run(
        [
            BIN / "check-jsonschema",
            "--builtin-schema",
            "vendor.dependabot",
            ROOT / ".github" / "dependabot.yml",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "path", [*WORKFLOWS, ROOT / ".github" / "dependabot.yml"], ids=[*IDS, "dependabot.yml"]
)
def test_yamllint(path: Path) -> None:
    result = subprocess.run(
        [BIN / "yamllint", "--strict", "-d", YAMLLINT, path], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_github_actions() -> None:
    assert CHECKOV.exists(), "checkov lives in .venv-checkov: make venv"
    result = subprocess.run(
        [
            CHECKOV,
            "-d",
            ".github",
            "--framework",
            "github_actions",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"Passed checks: [1-9]\d*, Failed checks: 0", result.stdout), result.stdout[-2000:]


PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def uses_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for job, step in steps(doc):
        uses = step.get("uses")
        if uses and not uses.startswith("./") and not PINNED_USES.match(uses):
            problems.append(f"{job}: {uses} is not pinned to a version tag or a commit")
    return problems


def run_problems(doc: dict[str, Any]) -> list[str]:
    """Expressions interpolated into a shell script are an injection risk: pass them via env."""
    return [
        f"{job}: {step.get('name', step['run'][:40])}"
        for job, step in steps(doc)
        if "${{" in step.get("run", "")
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_actions_pinned_and_scripts_take_no_expressions(path: Path) -> None:
    doc = workflow(path.name)
    assert uses_problems(doc) == []
    assert run_problems(doc) == []
    assert doc["permissions"] == {"contents": "read"}
    for job, step in steps(doc):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, job


# --- pull requests ------------------------------------------------------------------------------


def test_pull_requests_run_make_test_and_buf_breaking() -> None:
    doc = workflow("ci.yml")
    assert "pull_request" in doc["on"]
    runs = {step.get("run", "").strip(): (job, step) for job, step in steps(doc)}
    assert "bash .ci/run" in runs  # .ci/run is `make test`
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    breaking = next(step for run, (_, step) in runs.items() if run.startswith(".venv/bin/buf breaking"))
    assert '--against ".git#branch=origin/${BASE_REF}"' in breaking["run"]
    assert breaking["env"]["BASE_REF"] == "${{ github.base_ref }}"
    checkout = next(s for _, s in steps(doc) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0


# --- merges to main -------------------------------------------------------------------------------


def test_deploy_runs_on_main_with_oidc_only() -> None:
    doc = workflow("deploy.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["concurrency"]["cancel-in-progress"] is False
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "aws-access-key-id" not in text and "secrets.AWS" not in text
    for job, body in doc["jobs"].items():
        aws_steps = [s for s in body.get("steps", []) if "configure-aws-credentials" in s.get("uses", "")]
        if aws_steps:
            assert body["permissions"]["id-token"] == "write", job
            assert all(s["with"]["role-to-assume"] for s in aws_steps)
            assert body["environment"] == "production"
        else:
            assert "permissions" not in body or "id-token" not in body["permissions"], job


def test_deploy_builds_changed_images_then_migrates_then_rolls_out() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    detect = next(s for s in jobs["changes"]["steps"] if s.get("id") == "detect")
    assert ".github/scripts/images.py" in detect["run"] and "git diff --name-only" in detect["run"]
    assert jobs["build"]["strategy"]["matrix"]["image"] == "${{ fromJSON(needs.changes.outputs.images) }}"
    build = next(s for s in jobs["build"]["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["push"] is True
    assert build["with"]["tags"].endswith("/taskmanager/${{ matrix.image.name }}:${{ github.sha }}")
    assert jobs["deploy"]["needs"] == ["changes", "build"]
    assert (
        jobs["deploy"]["strategy"]["matrix"]["service"] == "${{ fromJSON(needs.changes.outputs.services) }}"
    )
    (deploy,) = [s for s in jobs["deploy"]["steps"] if "run" in s]
    assert "ecs_deploy.py" in deploy["run"] and "--no-migrate" not in deploy["run"]
    assert '--cluster "$ECS_CLUSTER" --family-prefix "$ECS_FAMILY_PREFIX"' in deploy["run"]
    assert "deploy" in jobs["deploy-gateway"]["needs"]
    (gateway,) = [s for s in jobs["deploy-gateway"]["steps"] if "run" in s]
    assert "--no-migrate gateway" in gateway["run"]


# --- which images a change touches --------------------------------------------------------------

ALL = [*SERVICES, "gateway"]
CASES = [
    (["services/tasks/tm_tasks/service/tasks.py"], ["tasks"]),
    (["services/tasks/migrations/versions/0007_x.py", "services/auth/pyproject.toml"], ["auth", "tasks"]),
    (["services/tasks/tests/unit/test_x.py"], []),  # not in the build context (.dockerignore)
    (["libs/common/tm_common/db.py"], SERVICES),
    (["libs/common/tests/test_db.py"], []),
    (["requirements/runtime.txt"], ALL),
    (["requirements/dev.txt"], ALL),  # the code generator's pins
    (["requirements/checkov.txt"], []),
    (["protos/taskmanager/tasks/v1/tasks.proto"], ALL),
    (["third_party/googleapis/google/api/http.proto"], ALL),
    (["tools/gen_protos.py"], ALL),
    (["tools/gen_json_shapes.py"], ["gateway"]),  # the gateway's JSON body shapes
    (["bench/tm_bench/k6.py"], []),  # the bench is in no image
    (["tests/support/tasks.py"], []),
    (["deploy/docker/service.Dockerfile"], SERVICES),
    ([".dockerignore"], ALL),
    (["gateway/envoy.yaml.in"], ["gateway"]),
    (["gateway/lua/http_status.lua"], ["gateway"]),
    (["gateway/Dockerfile"], ["gateway"]),
    (["gateway/tests/test_lua.py"], []),
    (["libs/devstack/tm_devstack/gateway.py"], ["gateway"]),
    (["libs/devstack/tm_devstack/stack.py"], []),
    (["README.md", "docker-compose.yml", "deploy/k8s/x.yaml", "terraform/main.tf", ".github/x.yml"], []),
    (["services/notify/tm_notify/__pycache__/x.pyc"], []),
]


@pytest.mark.parametrize(("changed", "expected"), CASES, ids=[c[0][0] for c in CASES])
def test_changed_images(changed: list[str], expected: list[str]) -> None:
    assert sorted(i.name for i in images.touched(changed)) == sorted(expected)


def test_images_are_every_service_and_the_gateway() -> None:
    assert sorted(p.parent.name for p in (ROOT / "services").glob("*/migrations")) == SERVICES
    catalogue = images.images()
    assert [i.name for i in catalogue] == ALL
    assert all(i.migrates == (i.name != "gateway") for i in catalogue)
    for image in catalogue:
        assert all((ROOT / source).exists() for source in images.inputs(image)), image.name


def test_images_cli_writes_step_outputs() -> None:
    result = subprocess.run(
        [sys.executable, ROOT / ".github" / "scripts" / "images.py"],
        input="services/files/tm_files/config.py\nREADME.md\n",
        capture_output=True,
        text=True,
        check=True,
    )
    outputs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert json.loads(outputs["services"]) == ["files"]
    assert outputs["gateway"] == "false"
    (image,) = json.loads(outputs["images"])
    assert image == {
        "name": "files",
        "dockerfile": "deploy/docker/service.Dockerfile",
        "build_args": "SERVICE=files\nGRPC_PORT=50053",
    }
    everything = subprocess.run(
        [sys.executable, ROOT / ".github" / "scripts" / "images.py", "--all"], capture_output=True, text=True
    )
    assert (
        json.loads(dict(line.split("=", 1) for line in everything.stdout.splitlines())["services"])
        == SERVICES
    )


def test_the_dockerignore_matcher() -> None:
    patterns = ["**/tests", "build", "**/*.pyc"]
    assert images.ignored("tests/e2e/test_x.py", patterns)
    assert images.ignored("services/auth/tests/unit/x.py", patterns)
    assert images.ignored("build/gen/x.py", patterns)
    assert images.ignored("a/b/c.pyc", patterns)
    assert not images.ignored("services/auth/tm_auth/testsuite.py", patterns)
    assert not images.ignored("libs/build.py", patterns)


# --- ecs_deploy.py against a fake aws -------------------------------------------------------------

FAKE_AWS = """
import json, os, sys
from pathlib import Path

state_path = Path(os.environ["FAKE_AWS_STATE"])
state = json.loads(state_path.read_text())
args = [a for a in sys.argv[1:] if a not in ("--output", "json")]
state["calls"].append(args)


def opt(name):
    return args[args.index(name) + 1]


def deployments():
    old = {"id": "ecs-svc/old", "status": "ACTIVE", "taskDefinition": "old", "rolloutState": "COMPLETED"}
    if not state.get("updated"):
        return [dict(old, status="PRIMARY")]
    phase = state["rollout"].pop(0) if len(state["rollout"]) > 1 else state["rollout"][0]
    if phase == "GONE":
        return [dict(old, id="ecs-svc/rollback", status="PRIMARY")]
    new = {"id": "ecs-svc/new", "status": "PRIMARY", "taskDefinition": state["updated"],
           "rolloutState": phase, "runningCount": 2, "desiredCount": 2}
    return [new] if phase == "COMPLETED" else [new, old]


out = {}
command = " ".join(args[:2])
if command == "ecs describe-task-definition":
    family = opt("--task-definition")
    definition = dict(state["task_definitions"][family], revision=7, status="ACTIVE",
                      taskDefinitionArn=f"arn:td/{family}:7", compatibilities=["FARGATE"],
                      requiresAttributes=[])
    out = {"taskDefinition": definition, "tags": [{"key": "app", "value": "taskmanager"}]}
elif command == "ecs register-task-definition":
    definition = json.loads(Path(opt("--cli-input-json").removeprefix("file://")).read_text())
    state["registered"].append(definition)
    out = {"taskDefinition": dict(definition, taskDefinitionArn=f"arn:td/{definition['family']}:8")}
elif command == "ecs describe-services":
    out = {"services": [{"status": "ACTIVE", "launchType": "FARGATE", "platformVersion": "LATEST",
                         "networkConfiguration": state["network"], "deployments": deployments()}],
           "failures": []}
elif command == "ecs run-task":
    out = {"tasks": [{"taskArn": "arn:task/migrate-1"}], "failures": []}
elif command == "ecs describe-tasks":
    state["polls"] -= 1
    stopped = state["polls"] <= 0
    containers = [{"name": "migrate", "exitCode": state["migration_exit"], "reason": ""},
                  {"name": "log-router", "exitCode": 0}]
    out = {"tasks": [{"lastStatus": "STOPPED" if stopped else "RUNNING", "stoppedReason": "Essential exited",
                      "containers": containers if stopped else []}]}
elif command == "ecs update-service":
    state["updated"] = opt("--task-definition")
    out = {"service": {"deployments": [{"id": "ecs-svc/new", "status": "PRIMARY",
                                        "taskDefinition": state["updated"], "rolloutState": "IN_PROGRESS"}]}}
else:
    sys.exit(f"fake aws: unexpected {args}")
state_path.write_text(json.dumps(state))
print(json.dumps(out))
"""

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def task_definition(family: str, service: str) -> dict[str, Any]:
    return {
        "family": family,
        "executionRoleArn": "arn:role/exec",
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {"name": "migrate", "image": f"{REGISTRY}/taskmanager/{service}:abc123", "essential": True},
            {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0"},
        ],
    }


def deploy(
    tmp_path: Path, *args: str, **scenario: Any
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    service = args[-2]
    state = {
        "calls": [],
        "registered": [],
        "task_definitions": {
            f"{service}-migrate": task_definition(f"{service}-migrate", service),
            service: task_definition(service, service),
        },
        "network": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}},
        "polls": 2,
        "migration_exit": 0,
        "rollout": ["IN_PROGRESS", "COMPLETED"],
        **scenario,
    }
    (tmp_path / "bin").mkdir(exist_ok=True)
    aws = tmp_path / "bin" / "aws"
    aws.write_text(f"#!{sys.executable}\n{FAKE_AWS}")
    aws.chmod(0o755)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "FAKE_AWS_STATE": str(state_path),
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    result = subprocess.run(
        [sys.executable, ROOT / ".github" / "scripts" / "ecs_deploy.py", "--poll-seconds", "0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, json.loads(state_path.read_text())


IMAGE = f"{REGISTRY}/taskmanager/tasks:0123abcd"


def test_deploy_migrates_then_rolls_out(tmp_path: Path) -> None:
    result, state = deploy(tmp_path, "tasks", IMAGE)
    assert result.returncode == 0, result.stdout + result.stderr
    commands = [" ".join(c[:2]) for c in state["calls"]]
    assert commands == [
        "ecs describe-task-definition",
        "ecs register-task-definition",
        "ecs describe-services",
        "ecs run-task",
        "ecs describe-tasks",
        "ecs describe-tasks",
        "ecs describe-task-definition",
        "ecs register-task-definition",
        "ecs update-service",
        "ecs describe-services",
        "ecs describe-services",
    ]
    assert state["calls"][0][-3:] == ["tasks-migrate", "--include", "TAGS"]
    migrate, service = state["registered"]
    assert migrate["family"] == "tasks-migrate" and service["family"] == "tasks"
    for registered in (migrate, service):
        images_by_name = {c["name"]: c["image"] for c in registered["containerDefinitions"]}
        assert images_by_name["migrate"] == IMAGE
        assert images_by_name["log-router"].endswith("aws-for-fluent-bit:2.32.0")  # sidecars untouched
        assert not {"revision", "status", "taskDefinitionArn", "compatibilities"} & registered.keys()
        assert registered["tags"] == [{"key": "app", "value": "taskmanager"}]
    run_task = state["calls"][3]
    assert run_task[run_task.index("--task-definition") + 1] == "arn:td/tasks-migrate:8"
    assert run_task[run_task.index("--cluster") + 1] == "taskmanager"
    assert run_task[run_task.index("--launch-type") + 1] == "FARGATE"
    assert json.loads(run_task[run_task.index("--network-configuration") + 1]) == state["network"]
    update = state["calls"][8]
    assert update[update.index("--service") + 1] == "tasks"
    assert update[update.index("--task-definition") + 1] == "arn:td/tasks:8"


def test_a_failed_migration_rolls_nothing_out(tmp_path: Path) -> None:
    result, state = deploy(tmp_path, "tasks", IMAGE, migration_exit=1)
    assert result.returncode == 1
    assert "migrations of tasks failed" in result.stdout
    assert not any(c[:2] == ["ecs", "update-service"] for c in state["calls"])
    assert len(state["registered"]) == 1


def test_a_failed_rollout_fails_the_job(tmp_path: Path) -> None:
    result, _ = deploy(tmp_path, "tasks", IMAGE, rollout=["IN_PROGRESS", "FAILED"])
    assert result.returncode == 1
    assert "rolls back" in result.stdout


def test_a_rolled_back_deployment_fails_the_job(tmp_path: Path) -> None:
    result, _ = deploy(tmp_path, "tasks", IMAGE, rollout=["IN_PROGRESS", "GONE"])
    assert result.returncode == 1
    assert "rolled back" in result.stdout


def test_the_gateway_rolls_out_without_migrations(tmp_path: Path) -> None:
    gateway_image = f"{REGISTRY}/taskmanager/gateway:0123abcd"
    result, state = deploy(tmp_path, "--no-migrate", "gateway", gateway_image)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(c[:2] == ["ecs", "run-task"] for c in state["calls"])
    assert [r["family"] for r in state["registered"]] == ["gateway"]


def test_cluster_and_family_prefix(tmp_path: Path) -> None:
    """Terraform may prefix the families (e.g. taskmanager-production-tasks); the service keeps its name."""
    prefixed = {
        "tm-prod-tasks-migrate": task_definition("tm-prod-tasks-migrate", "tasks"),
        "tm-prod-tasks": task_definition("tm-prod-tasks", "tasks"),
    }
    result, state = deploy(
        tmp_path,
        "--cluster",
        "tm-prod",
        "--family-prefix",
        "tm-prod-",
        "tasks",
        IMAGE,
        task_definitions=prefixed,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["family"] for r in state["registered"]] == ["tm-prod-tasks-migrate", "tm-prod-tasks"]
    update = next(c for c in state["calls"] if c[:2] == ["ecs", "update-service"])
    assert update[update.index("--cluster") + 1] == "tm-prod"
    assert update[update.index("--service") + 1] == "tasks"


def test_a_task_definition_without_the_services_image_is_refused(tmp_path: Path) -> None:
    result, state = deploy(
        tmp_path, "tasks", IMAGE, task_definitions={"tasks-migrate": task_definition("x", "auth")}
    )
    assert result.returncode == 1
    assert "no container of an image taskmanager/tasks" in result.stdout
    assert state["registered"] == []


# --- the checks fail when they should ---------------------------------------------------------


def test_the_checks_catch_bad_workflows() -> None:
    bad = {
        "jobs": {
            "a": {
                "steps": [
                    {"uses": "actions/checkout@main"},
                    {"uses": "someone/action@feature-branch"},
                    {"run": 'echo "${{ github.event.pull_request.title }}"'},
                ]
            }
        }
    }
    assert len(uses_problems(bad)) == 2
    assert len(run_problems(bad)) == 1
    good = {"jobs": {"a": {"steps": [{"uses": "actions/checkout@v4"}, {"uses": f"x/y@{'a' * 40}"}]}}}
    assert uses_problems(good) == []
