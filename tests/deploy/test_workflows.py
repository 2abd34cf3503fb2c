"""CI/CD (.github/), offline: the workflows are valid (schema, a timeout on every job, yamllint,
checkov, shellcheck of every script); pull requests run `make test` and `buf breaking` against
their base; a commit of main is deployed only after CI passed for that very commit (workflow_run),
through OIDC only; it builds only the images a change touches since the last complete deploy
(.github/scripts/images.py; the detect step runs here with a fake `gh`), each image and each
service on its own (a failed build or rollout stops no other), and migrates each service before
rolling it out (.github/scripts/ecs_deploy.py, run here against a fake `aws` that plays ECS: a
failed migration rolls nothing out, a rolled-back deployment fails)."""

from __future__ import annotations

import importlib.util
import itertools
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
ALL = [*SERVICES, "gateway"]


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


def test_every_checkov_skip_has_a_reason() -> None:
    """The one skip (CKV_GHA_7, deploy.yml's choice of image) says why; a bare skip would fail."""
    skips = [
        (path.name, match.group(1), match.group(2))
        for path in WORKFLOWS
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+):?(.*)", path.read_text())
    ]
    assert [(name, check) for name, check, _ in skips] == [("deploy.yml", "CKV_GHA_7")]
    for name, check, reason in skips:
        assert len(reason.split()) >= 8, f"{name}: skip of {check} needs a reason, not {reason!r}"


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


DEPLOY_SHA = "${{ env.DEPLOY_SHA }}"


def test_deploy_runs_on_main_with_oidc_only() -> None:
    doc = workflow("deploy.yml")
    assert set(doc["on"]) == {"workflow_run", "workflow_dispatch"}  # no push: CI's result first
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


def test_deploy_runs_only_after_ci_passed_for_the_same_commit() -> None:
    """workflow_run of CI on main, only when it succeeded on a push of this repository; then every
    checkout and every image is the commit CI tested (workflow_run.head_sha), never main's head."""
    ci, doc = workflow("ci.yml"), workflow("deploy.yml")
    assert ci["on"]["push"]["branches"] == ["main"]  # so that CI runs for every commit of main
    trigger = doc["on"]["workflow_run"]
    assert trigger == {"workflows": [ci["name"]], "types": ["completed"], "branches": ["main"]}
    gate = " ".join(doc["jobs"]["changes"]["if"].split())
    for condition in (
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.event == 'push'",
        "github.event.workflow_run.head_repository.full_name == github.repository",
    ):
        assert condition in gate
    assert gate.startswith("github.event_name == 'workflow_dispatch' || (")
    assert doc["env"]["DEPLOY_SHA"] == "${{ github.event.workflow_run.head_sha || github.sha }}"
    for job in doc["jobs"]:
        needs = doc["jobs"][job].get("needs", [])
        assert job == "changes" or "changes" in ([needs] if isinstance(needs, str) else needs), job
    checkouts = [s for _, s in steps(doc) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == len(doc["jobs"])
    assert all(s["with"]["ref"] == DEPLOY_SHA for s in checkouts)
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    # github.sha only as DEPLOY_SHA's fallback (a manual run) and in the run's name.
    assert code.count("github.sha") == 2
    # A manual run checks that CI passed for its commit before anything else.
    (check,) = [s for s in doc["jobs"]["changes"]["steps"] if s.get("name") == "CI passed for this commit"]
    assert check["if"] == "github.event_name == 'workflow_dispatch'"
    assert "workflows/ci.yml/runs" in check["run"] and "head_sha=$DEPLOY_SHA&status=success" in check["run"]
    assert doc["jobs"]["changes"]["permissions"] == {"contents": "read", "actions": "read"}


def test_each_image_builds_and_each_service_deploys_on_its_own() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["build"]["strategy"]["fail-fast"] is False
    assert jobs["deploy"]["strategy"]["fail-fast"] is False
    # The deploy matrix runs when builds failed too (!cancelled()); a leg stops when its own image
    # is missing, before migrating anything.
    for job in ("deploy", "deploy-gateway"):
        condition = " ".join(jobs[job]["if"].split())
        assert condition.startswith("!cancelled() && needs.changes.result == 'success'"), job
        assert "needs.build.result" not in condition, job
        runs = [s for s in jobs[job]["steps"] if "run" in s]
        assert "batch-get-image" in runs[0]["run"] and "exit 1" in runs[0]["run"], job
        assert "ecs_deploy.py" in runs[-1]["run"], job
    # The gateway waits for every changed service.
    gateway = " ".join(jobs["deploy-gateway"]["if"].split())
    assert "(needs.deploy.result == 'success' || needs.deploy.result == 'skipped')" in gateway
    # An image already pushed for this commit (a re-run) is not built again: tags are immutable.
    (check,) = [s for s in jobs["build"]["steps"] if s.get("id") == "pushed"]
    assert "batch-get-image" in check["run"]
    build = next(s for s in jobs["build"]["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["if"] == "steps.pushed.outputs.found != 'true'"


def test_a_manual_run_deploys_one_image_or_all() -> None:
    doc = workflow("deploy.yml")
    choice = doc["on"]["workflow_dispatch"]["inputs"]["image"]
    assert choice["options"][0] == choice["default"] == "all"
    assert sorted(choice["options"][1:]) == sorted(ALL)
    assert doc["run-name"].startswith("deploy ${{ inputs.image || 'all' }} ")
    gated_out = (
        "github.event.workflow_run.conclusion != 'success' || github.event.workflow_run.event != 'push'"
    )
    assert gated_out in doc["run-name"] and "(not deployed: " in doc["run-name"]


def test_deploy_builds_changed_images_then_migrates_then_rolls_out() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    detect = next(s for s in jobs["changes"]["steps"] if s.get("id") == "detect")
    assert ".github/scripts/images.py" in detect["run"] and "git diff --name-only" in detect["run"]
    assert jobs["build"]["strategy"]["matrix"]["image"] == "${{ fromJSON(needs.changes.outputs.images) }}"
    build = next(s for s in jobs["build"]["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["push"] is True
    assert build["with"]["tags"].endswith(f"/taskmanager/${{{{ matrix.image.name }}}}:{DEPLOY_SHA}")
    assert jobs["deploy"]["needs"] == ["changes", "build"]
    assert (
        jobs["deploy"]["strategy"]["matrix"]["service"] == "${{ fromJSON(needs.changes.outputs.services) }}"
    )
    deploy = [s for s in jobs["deploy"]["steps"] if "run" in s][-1]
    assert "ecs_deploy.py" in deploy["run"] and "--no-migrate" not in deploy["run"]
    assert '--cluster "$ECS_CLUSTER" --family-prefix "$ECS_FAMILY_PREFIX"' in deploy["run"]
    assert deploy["env"]["IMAGE"].endswith(f":{DEPLOY_SHA}")
    assert "deploy" in jobs["deploy-gateway"]["needs"]
    gateway = [s for s in jobs["deploy-gateway"]["steps"] if "run" in s][-1]
    assert "--no-migrate gateway" in gateway["run"]


# --- what the detect step picks ------------------------------------------------------------------

# `gh api ... --jq FILTER`: the filter applied by jq (as gh does) to canned workflow runs.
FAKE_GH = """#!/usr/bin/env python3
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
jq = args[args.index("--jq") + 1]
titles = json.loads(os.environ["FAKE_GH_TITLES"])
payload = {"workflow_runs": [{"display_title": t} for t in titles]}
sys.exit(subprocess.run(["jq", "-r", jq], input=json.dumps(payload), text=True).returncode)
"""


EXAMPLE_DOMAIN = "taskmanager-production.internal"  # Terraform's default for environment production


def detect(
    tmp_path: Path, titles: list[str], image: str = "all", deploy_sha: str = "", domain: str = EXAMPLE_DOMAIN
) -> dict[str, Any]:
    """Runs the detect step's script as the runner would (bash -e, in the checkout, with the
    step's environment and a fake `gh`), on this repository's history; its step outputs."""
    (run,) = [s["run"] for s in workflow("deploy.yml")["jobs"]["changes"]["steps"] if s.get("id") == "detect"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    output = tmp_path / "output"
    output.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "DEPLOY_SHA": deploy_sha or head(),
        "IMAGE": image,
        "REPOSITORY": "owner/taskmanager",
        "GATEWAY_EDGE_LIMITS": "",
        "SERVICE_DISCOVERY_DOMAIN": domain,
        "FAKE_GH_TITLES": json.dumps(titles),
        "FAKE_GH_LOG": str(tmp_path / "gh.log"),
    }
    result = subprocess.run(
        ["bash", "-e", "-c", run], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        return {"error": result.stderr}
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return {
        "images": [i["name"] for i in json.loads(outputs["images"])],
        "services": json.loads(outputs["services"]),
        "gateway": outputs["gateway"],
        "build_args": {i["name"]: i["build_args"] for i in json.loads(outputs["images"])},
    }


def picked(result: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in result, result.get("error")
    return {k: v for k, v in result.items() if k != "build_args"}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def head() -> str:
    return git("rev-parse", "HEAD")


def test_detect_diffs_from_the_last_successful_deploy_of_everything(tmp_path: Path) -> None:
    # Two commits of this repository's history between which some images changed, not all (so that
    # neither "nothing" nor the fallback "everything" could pass for the diff).
    commits = git("rev-list", "--first-parent", "--max-count=200", "HEAD").split()
    pairs = []
    for newer, older in itertools.pairwise(commits):  # older: newer's first parent
        touched = [i.name for i in images.touched(git("diff", "--name-only", older, newer).splitlines())]
        if touched and touched != ALL:
            pairs.append((older, newer, touched))
            break
    assert pairs, "no commit of the history touches some images only (fetch-depth: 0?)"
    ((last, deployed, expected),) = pairs
    # A later run of one image alone, or one that CI's result gated out (it deployed nothing, even
    # if it counts as a success), is no baseline: the latest "deploy all" that deployed is.
    titles = [
        f"deploy tasks {deployed}",
        f"deploy all {deployed} (not deployed: ci did not pass on a push)",
        f"deploy all {last}",
        f"deploy all {commits[-1]}",
    ]
    assert picked(detect(tmp_path, titles, deploy_sha=deployed))["images"] == expected
    assert "status=success" in (tmp_path / "gh.log").read_text()
    # The same commit deployed already: nothing changed.
    assert picked(detect(tmp_path, [f"deploy all {head()}"])) == {
        "images": [],
        "services": [],
        "gateway": "false",
    }


def test_detect_deploys_everything_without_a_usable_baseline(tmp_path: Path) -> None:
    everything = {"images": ALL, "services": SERVICES, "gateway": "true"}
    assert picked(detect(tmp_path, [])) == everything  # the first deploy
    assert picked(detect(tmp_path, ["deploy tasks " + head()])) == everything  # no deploy of everything yet
    assert picked(detect(tmp_path, ["deploy all " + "0" * 40])) == everything  # not in the history


@pytest.mark.parametrize("image", ALL)
def test_detect_picks_one_image_on_a_manual_run(tmp_path: Path, image: str) -> None:
    one = picked(detect(tmp_path, [f"deploy all {head()}"], image=image))  # whatever changed
    assert one == {
        "images": [image],
        "services": [] if image == "gateway" else [image],
        "gateway": "true" if image == "gateway" else "false",
    }


def test_the_gateway_is_built_for_the_services_cloud_map_names_over_mtls(tmp_path: Path) -> None:
    """On ECS the gateway dials <service>.<SERVICE_DISCOVERY_DOMAIN>:<port> (terraform/identity.tf)
    with the identity its task writes to /etc/gateway-tls (terraform/ecs.tf); without the domain
    the gateway is not built at all (it would dial compose's names in plaintext), services are."""
    detect_step = next(
        s for s in workflow("deploy.yml")["jobs"]["changes"]["steps"] if s.get("id") == "detect"
    )
    assert detect_step["env"]["SERVICE_DISCOVERY_DOMAIN"] == "${{ vars.SERVICE_DISCOVERY_DOMAIN }}"
    built = detect(tmp_path, [], image="gateway")
    args = dict(line.split("=", 1) for line in built["build_args"]["gateway"].split("\n"))
    ports = {name: images.grpc_port(name) for name in SERVICES}
    assert args == {
        "XFF_NUM_TRUSTED_HOPS": "1",
        **{f"{name.upper()}_ADDRESS": f"{name}.{EXAMPLE_DOMAIN}:{ports[name]}" for name in SERVICES},
        "TLS_CA_FILE": "/etc/gateway-tls/ca.crt",
        "TLS_CERT_FILE": "/etc/gateway-tls/tls.crt",
        "TLS_KEY_FILE": "/etc/gateway-tls/tls.key",
    }
    assert "SERVICE_DISCOVERY_DOMAIN" in detect(tmp_path, [], image="gateway", domain="")["error"]
    assert "not a DNS name" in detect(tmp_path, [], image="gateway", domain="Bad_Domain")["error"]
    # The services' images do not depend on it.
    alone = detect(tmp_path, [f"deploy all {head()}"], image="tasks", domain=EXAMPLE_DOMAIN)
    assert alone["build_args"] == {"tasks": "SERVICE=tasks\nGRPC_PORT=50052"}
    tasks_only = subprocess.run(
        [sys.executable, ROOT / ".github" / "scripts" / "images.py"],
        input="services/tasks/tm_tasks/config.py\n",
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "SERVICE_DISCOVERY_DOMAIN"},
    )
    assert tasks_only.returncode == 0, tasks_only.stderr


# --- shell ---------------------------------------------------------------------------------------


def shellcheck_problems(doc: dict[str, Any]) -> list[str]:
    """shellcheck of every `run` (bash, as GitHub runs it); SC2154: the step's env is not assigned."""
    problems = []
    for job, step in steps(doc):
        if "run" in step:
            result = subprocess.run(
                [BIN / "shellcheck", "--shell=bash", "--exclude=SC2154", "-"],
                input=step["run"],
                capture_output=True,
                text=True,
            )
            if result.returncode:
                problems.append(f"{job}: {step.get('name', step['run'][:40])}: {result.stdout}")
    return problems


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_run_scripts_pass_shellcheck(path: Path) -> None:
    assert shellcheck_problems(workflow(path.name)) == []


def test_shellcheck_catches_a_bad_script() -> None:
    bad = {"jobs": {"a": {"steps": [{"run": "for f in $(ls *.txt); do echo $f; done"}]}}}
    assert len(shellcheck_problems(bad)) == 1


# --- which images a change touches --------------------------------------------------------------

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
        [sys.executable, ROOT / ".github" / "scripts" / "images.py", "--all"],
        capture_output=True,
        text=True,
        env={**os.environ, "SERVICE_DISCOVERY_DOMAIN": EXAMPLE_DOMAIN},
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
