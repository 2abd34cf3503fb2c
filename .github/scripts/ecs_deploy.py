"""Roll one service out on ECS: its migrations first, then a rolling deployment that ECS rolls back
by itself if the new tasks do not become healthy.

    python3 .github/scripts/ecs_deploy.py [--cluster taskmanager] [--family-prefix P] [--no-migrate] \
        SERVICE IMAGE

The ECS service is SERVICE; its task definition families are `P SERVICE` and `P SERVICE-migrate`
(P empty by default: `tasks`, `tasks-migrate`).

1. Migrations (unless --no-migrate): a new revision of the task definition `SERVICE-migrate` with
   IMAGE, run once with `aws ecs run-task` in the service's own network configuration and launch
   type; waits for it to stop and fails unless the migration container exited 0. Nothing is rolled
   out after a failed migration.
2. Rollout: a new revision of the task definition `SERVICE` with IMAGE, then
   `aws ecs update-service`. The ECS deployment circuit breaker with rollback (configured by
   Terraform) replaces tasks that fail their health checks and, if the deployment cannot succeed,
   rolls back to the last good revision. This script follows the deployment it started and fails
   when ECS reports it FAILED or replaces it with the rollback.

In each task definition the containers whose image is in the repository `.../taskmanager/SERVICE`
get IMAGE; other containers (sidecars) are kept as they are. Every other setting of the latest
revision (roles, environment, secrets, health check, logging) is carried over: Terraform owns them.
Standard library and the AWS CLI only (both on GitHub's runners).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

# What describe-task-definition returns that register-task-definition does not take.
READ_ONLY = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)


class DeployError(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as out:
            out.write(message + "\n")


def aws(*args: str) -> Any:
    result = subprocess.run(["aws", *args, "--output", "json"], capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError(f"aws {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return json.loads(result.stdout) if result.stdout.strip() else None


def repository(image: str) -> str:
    """registry/path of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition("/")
    return f"{head}/{tail.split(':', 1)[0]}" if head else tail.split(":", 1)[0]


def with_image(described: dict[str, Any], service: str, image: str) -> tuple[dict[str, Any], list[str]]:
    """register-task-definition input: the described revision with IMAGE in the service's
    containers; and the names of those containers."""
    definition = {k: v for k, v in described["taskDefinition"].items() if k not in READ_ONLY}
    swapped = []
    for container in definition["containerDefinitions"]:
        if repository(container["image"]).endswith(f"/taskmanager/{service}"):
            container["image"] = image
            swapped.append(container["name"])
    if not swapped:
        family = definition.get("family", "?")
        raise DeployError(f"task definition {family} has no container of an image taskmanager/{service}")
    if described.get("tags"):
        definition["tags"] = described["tags"]
    return definition, swapped


def register(family: str, service: str, image: str) -> tuple[str, list[str]]:
    described = aws("ecs", "describe-task-definition", "--task-definition", family, "--include", "TAGS")
    definition, containers = with_image(described, service, image)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(definition, out)
    try:
        registered = aws("ecs", "register-task-definition", "--cli-input-json", f"file://{out.name}")
    finally:
        os.unlink(out.name)
    arn = registered["taskDefinition"]["taskDefinitionArn"]
    log(f"registered {arn} ({', '.join(containers)}: {image})")
    return arn, containers


def describe_service(cluster: str, service: str) -> dict[str, Any]:
    found = aws("ecs", "describe-services", "--cluster", cluster, "--services", service)
    services = [s for s in found.get("services", []) if s.get("status") == "ACTIVE"]
    if not services:
        raise DeployError(f"no active ECS service {service} in cluster {cluster}: {found.get('failures')}")
    return services[0]


def placement(ecs_service: dict[str, Any]) -> list[str]:
    """run-task arguments that place the task where the service's tasks run."""
    args = []
    if ecs_service.get("capacityProviderStrategy"):
        args += ["--capacity-provider-strategy", json.dumps(ecs_service["capacityProviderStrategy"])]
    else:
        args += ["--launch-type", ecs_service.get("launchType") or "FARGATE"]
    if ecs_service.get("platformVersion") and ecs_service.get("launchType") == "FARGATE":
        args += ["--platform-version", ecs_service["platformVersion"]]
    if ecs_service.get("networkConfiguration"):
        args += ["--network-configuration", json.dumps(ecs_service["networkConfiguration"])]
    return args


def migrate(cluster: str, family: str, service: str, image: str, timeout: float, poll: float) -> None:
    arn, containers = register(f"{family}-migrate", service, image)
    started_by = ("deploy-" + os.environ.get("GITHUB_SHA", "manual"))[:36]
    ran = aws(
        "ecs", "run-task", "--cluster", cluster, "--task-definition", arn, "--count", "1",
        "--started-by", started_by, "--propagate-tags", "TASK_DEFINITION",
        *placement(describe_service(cluster, service)),
    )  # fmt: skip
    if ran.get("failures") or not ran.get("tasks"):
        raise DeployError(f"{service}-migrate did not start: {ran.get('failures')}")
    task_arn = ran["tasks"][0]["taskArn"]
    log(f"migrations of {service}: task {task_arn}")
    deadline = time.monotonic() + timeout
    while True:
        task = aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", task_arn)["tasks"][0]
        if task.get("lastStatus") == "STOPPED":
            break
        if time.monotonic() > deadline:
            raise DeployError(f"migrations of {service} still running after {timeout:.0f} s: {task_arn}")
        time.sleep(poll)
    exits = {c["name"]: c.get("exitCode") for c in task.get("containers", []) if c["name"] in containers}
    if not exits or any(code != 0 for code in exits.values()):
        reasons = "; ".join(f"{c['name']}: {c.get('reason', '')}" for c in task.get("containers", []))
        raise DeployError(
            f"migrations of {service} failed (exit codes {exits}, {task.get('stoppedReason', '')}; "
            f"{reasons}): nothing was rolled out. Logs: the {service}-migrate task {task_arn}"
        )
    log(f"migrations of {service}: done (exit 0)")


def roll_out(cluster: str, family: str, service: str, image: str, timeout: float, poll: float) -> None:
    arn, _ = register(family, service, image)
    updated = aws(
        "ecs", "update-service", "--cluster", cluster, "--service", service, "--task-definition", arn
    )
    ours = [d for d in updated["service"]["deployments"] if d.get("taskDefinition") == arn]
    if not ours:
        raise DeployError(f"update-service of {service} started no deployment of {arn}")
    deployment = ours[0]["id"]
    log(f"rollout of {service}: deployment {deployment}")
    deadline = time.monotonic() + timeout
    while True:
        deployments = describe_service(cluster, service)["deployments"]
        mine = next((d for d in deployments if d["id"] == deployment), None)
        if mine is None:
            raise DeployError(f"rollout of {service}: deployment {deployment} was replaced (rolled back)")
        state = mine.get("rolloutState")
        if state == "FAILED":
            raise DeployError(
                f"rollout of {service} failed and ECS rolls back to the previous revision: "
                f"{mine.get('rolloutStateReason', '')}"
            )
        done = state == "COMPLETED" or (
            state is None and len(deployments) == 1 and mine.get("runningCount") == mine.get("desiredCount")
        )
        if done:
            log(f"rollout of {service}: {arn} is serving")
            return
        if time.monotonic() > deadline:
            raise DeployError(f"rollout of {service} not finished after {timeout:.0f} s (ECS carries on)")
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("service")
    parser.add_argument("image")
    parser.add_argument("--cluster", default="taskmanager")
    parser.add_argument("--family-prefix", default="", help="task definition families are PREFIX + service")
    parser.add_argument("--no-migrate", action="store_true", help="roll out only (the gateway)")
    parser.add_argument("--migration-timeout", type=float, default=1800)
    parser.add_argument("--rollout-timeout", type=float, default=1800)
    parser.add_argument("--poll-seconds", type=float, default=10)
    args = parser.parse_args(argv)
    family = args.family_prefix + args.service
    try:
        if not args.no_migrate:
            migrate(args.cluster, family, args.service, args.image, args.migration_timeout, args.poll_seconds)
        roll_out(args.cluster, family, args.service, args.image, args.rollout_timeout, args.poll_seconds)
    except DeployError as exc:
        log(f"::error::{exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
