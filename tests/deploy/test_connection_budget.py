"""The most Postgres connections the deployments can open, from their manifests, against what the
database allows: autoscaler maximum x per-process budget (DB_MAX_CONNECTIONS), plus the one-off
jobs, on Kubernetes (deploy/k8s, every overlay, with and without deploy/k8s/pgbouncer) and on ECS
(terraform: the tasks' autoscaling maximum, through RDS Proxy and without it).

Assumptions, written down:
* The database is the RDS instance of terraform (the production overlay on Kubernetes uses the
  same AWS resources), with max_connections as its parameter group sets it, else RDS's default
  LEAST(DBInstanceClassMemory / 9531392, 5000), DBInstanceClassMemory taken as 90% of the class's
  memory (the rest is the OS's and RDS's own): 4 GiB (db.t4g.medium, the default) -> 405.
* Of those, 3 (superuser_reserved_connections) + 2 (rds.rds_superuser_reserved_connections) are
  kept for administrators: the deployments get the rest.
* Every one-off job (migration, db-init) may run at once, one connection each.
* Through a pooler, a process's LISTEN connections (tm_common.db.LISTEN_CONNECTIONS) still go to
  Postgres directly; its pools reach only the pooler, which opens at most max_db_connections per
  PgBouncer replica, or max_connections_percent of max_connections for RDS Proxy.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tm_common.config import ServiceSettings
from tm_common.db import LISTEN_CONNECTIONS, ConnectionBudget
from tm_devstack.postgres import RoleLimits

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PGBOUNCER = K8S / "pgbouncer"
TF_DIR = ROOT / "terraform"

GIB = 1024**3
RDS_CLASS_MEMORY_GIB = {
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.t4g.xlarge": 16,
    "db.t4g.2xlarge": 32,
    "db.t3.micro": 1,
    "db.t3.small": 2,
    "db.t3.medium": 4,
    "db.t3.large": 8,
    "db.m6g.large": 8,
    "db.m6g.xlarge": 16,
    "db.m6g.2xlarge": 32,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.m7g.2xlarge": 32,
    "db.r6g.large": 16,
    "db.r6g.xlarge": 32,
    "db.r7g.large": 16,
    "db.r7g.xlarge": 32,
}
CLASS_MEMORY_SHARE = 0.9
RDS_RESERVED = 3 + 2
DEFAULT_BUDGET = ServiceSettings.model_fields["db_max_connections"].default


def rds_max_connections(instance_class: str, parameters: dict[str, str]) -> int:
    if "max_connections" in parameters:
        return int(parameters["max_connections"])
    assert instance_class in RDS_CLASS_MEMORY_GIB, f"add {instance_class}'s memory to RDS_CLASS_MEMORY_GIB"
    memory = RDS_CLASS_MEMORY_GIB[instance_class] * GIB * CLASS_MEMORY_SHARE
    return min(math.floor(memory / 9531392), 5000)


# --- terraform ---------------------------------------------------------------------------------


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def terraform() -> dict[str, Any]:
    """Variables' defaults and resources of terraform/*.tf."""
    variables: dict[str, Any] = {}
    resources: dict[tuple[str, str], Any] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as handle:
            parsed = _unquote(hcl2.load(handle))
        for block in parsed.get("variable", []):
            for name, body in block.items():
                variables[name] = body.get("default")
        for block in parsed.get("resource", []):
            for type_, named in block.items():
                for name, body in named.items():
                    resources[(type_, name)] = body
    return {"variables": variables, "resources": resources}


@dataclass(frozen=True)
class Database:
    max_connections: int

    @property
    def usable(self) -> int:
        return self.max_connections - RDS_RESERVED


def the_database(tf: dict[str, Any]) -> Database:
    instance = tf["resources"][("aws_db_instance", "main")]
    assert instance["instance_class"] == "${var.db_instance_class}"
    group = tf["resources"][("aws_db_parameter_group", "main")]
    parameters = {p["name"]: str(p["value"]) for p in group.get("parameter", [])}
    return Database(rds_max_connections(tf["variables"]["db_instance_class"], parameters))


@dataclass
class Demand:
    """Connections at the database, worst case, and where they come from."""

    parts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def __str__(self) -> str:
        return " + ".join(f"{n} ({what})" for what, n in self.parts.items()) + f" = {self.total}"


def ecs_budget(tf: dict[str, Any]) -> int:
    """DB_MAX_CONNECTIONS of the service tasks (rds_proxy.tf's local.database_env, ecs.tf)."""
    text = (TF_DIR / "rds_proxy.tf").read_text()
    assert re.search(r"DB_MAX_CONNECTIONS\s*=\s*var\.db_max_connections", text)
    assert "merge(local.database_env, " in (TF_DIR / "ecs.tf").read_text()
    return int(tf["variables"]["db_max_connections"])


def ecs_demand(tf: dict[str, Any], through_proxy: bool) -> Demand:
    sizes = tf["variables"]["task_sizes"]
    services = [name for name in sizes if name != "gateway"]
    most_tasks = sum(int(sizes[name]["max_count"]) for name in services)
    budget = ConnectionBudget(ecs_budget(tf))
    database = the_database(tf)
    jobs = len(services) + 1  # a migration per service, and db-init
    if not through_proxy:
        return Demand({f"{most_tasks} tasks x {budget.total}": most_tasks * budget.total, "jobs": jobs})
    pool = tf["resources"][("aws_db_proxy_default_target_group", "main")]["connection_pool_config"]
    if isinstance(pool, list):
        pool = pool[0]
    percent = pool["max_connections_percent"]
    if isinstance(percent, str):
        assert percent == "${var.db_proxy_max_connections_percent}"
        percent = tf["variables"]["db_proxy_max_connections_percent"]
    proxy = math.floor(database.max_connections * int(percent) / 100)
    return Demand(
        {
            f"RDS Proxy {percent}% of {database.max_connections}": proxy,
            f"LISTEN {most_tasks} tasks x {budget.listen}": most_tasks * budget.listen,
            "jobs": jobs,
        }
    )


# --- kustomize, the little of it needed here ---------------------------------------------------

Doc = dict[str, Any]


def _documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def _apply_json6902(doc: Doc, operations: list[Doc]) -> None:
    for op in operations:
        if op["op"] not in ("replace", "add"):
            continue
        *parents, last = _pointer(op["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            if last == "-":
                node.append(copy.deepcopy(op["value"]))
            elif op["op"] == "add":
                node.insert(int(last), copy.deepcopy(op["value"]))
            else:
                node[int(last)] = copy.deepcopy(op["value"])
        else:
            node[last] = copy.deepcopy(op["value"])


def _merge(into: Doc, patch: Doc) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


_REQUIREMENT = re.compile(r"\s*([\w./-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(!=|==?)\s*([\w.-]+))?\s*")


def _requirements(selector: str) -> list[tuple[str, str, set[str]]]:
    """A label selector ("a,b notin (x,y),c=z") as (key, operator, values)."""
    parts = re.findall(r"[^,(]+(?:\([^)]*\))?", selector)
    found = []
    for part in parts:
        match = _REQUIREMENT.fullmatch(part)
        assert match, f"label selector {selector!r}: cannot read {part!r}"
        key, set_op, values, op, value = match.groups()
        if set_op:
            found.append((key, set_op, {v.strip() for v in values.split(",")}))
        elif op:
            found.append((key, "notin" if op == "!=" else "in", {value}))
        else:
            found.append((key, "exists", set()))
    return found


def _selected(doc: Doc, selector: str) -> bool:
    labels = doc.get("metadata", {}).get("labels", {}) or {}
    for key, op, values in _requirements(selector):
        if op == "exists" and key not in labels:
            return False
        if op == "in" and labels.get(key) not in values:
            return False
        if op == "notin" and labels.get(key) in values:
            return False
    return True


def _targets(docs: list[Doc], target: Doc) -> Iterator[Doc]:
    for doc in docs:
        if target.get("kind") and doc.get("kind") != target["kind"]:
            continue
        if target.get("name") and not re.fullmatch(target["name"], doc.get("metadata", {}).get("name", "")):
            continue
        if target.get("labelSelector") and not _selected(doc, target["labelSelector"]):
            continue
        yield doc


def _patch(directory: Path, kustomization: Doc, docs: list[Doc]) -> list[Doc]:
    patches = list(kustomization.get("patches", []))
    patches += [{"path": p} for p in kustomization.get("patchesStrategicMerge", [])]
    patches += kustomization.get("patchesJson6902", [])
    for patch in patches:
        body = yaml.safe_load(patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text())
        if isinstance(body, list):
            for doc in _targets(docs, patch.get("target", {})):
                _apply_json6902(doc, body)
        elif isinstance(body, dict) and body.get("$patch") == "delete":
            gone = [id(doc) for doc in _targets(docs, patch.get("target", {}))]
            docs = [doc for doc in docs if id(doc) not in gone]
        elif isinstance(body, dict):
            target = patch.get("target") or {"kind": body.get("kind"), "name": body["metadata"]["name"]}
            for doc in _targets(docs, target):
                _merge(doc, {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")})
    for replica in kustomization.get("replicas", []):
        for doc in _targets(docs, {"name": replica["name"]}):
            if doc.get("kind") in ("Deployment", "StatefulSet"):
                doc["spec"]["replicas"] = int(replica["count"])
    return docs


def build(directory: Path, docs: list[Doc] | None = None) -> list[Doc]:
    """The objects of a kustomization: its resources, then its components (each adds its own
    resources and patches what has been gathered so far), then its own patches."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs = list(docs or [])
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        docs += build(path) if path.is_dir() else _documents(path)
    for entry in kustomization.get("components", []):
        docs = build((directory / entry).resolve(), docs)
    return _patch(directory, kustomization, docs)


def overlays() -> list[Path]:
    return sorted(path.parent for path in (K8S / "overlays").rglob("kustomization.yaml"))


def _containers(doc: Doc) -> list[Doc]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def _env(container: Doc) -> dict[str, Any]:
    return {item["name"]: item for item in container.get("env", [])}


def _uses_database(doc: Doc) -> bool:
    """A service's own role (DATABASE_URL) or the admin's through libpq (PGHOST: db-init)."""
    return any({"DATABASE_URL", "PGHOST"} & set(_env(c)) for c in _containers(doc))


def _generated_literals(directory: Path) -> dict[str, str]:
    """KEY=value literals of every configMapGenerator reachable from a kustomization."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    found: dict[str, str] = {}
    for entry in [*kustomization.get("resources", []), *kustomization.get("components", [])]:
        path = (directory / entry).resolve()
        if path.is_dir():
            found |= _generated_literals(path)
    for generator in kustomization.get("configMapGenerator", []):
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            found[key] = value
    return found


@dataclass(frozen=True)
class Workload:
    name: str
    most_pods: int
    budget: int


def k8s_workloads(overlay: Path) -> tuple[list[Workload], int]:
    """The Deployments that reach the database, at their autoscaler's maximum, and the Jobs."""
    docs = build(overlay)
    literal_budget = _generated_literals(overlay).get("DB_MAX_CONNECTIONS")
    most = {
        doc["spec"]["scaleTargetRef"]["name"]: int(doc["spec"]["maxReplicas"])
        for doc in docs
        if doc.get("kind") == "HorizontalPodAutoscaler"
    }
    workloads = []
    for doc in docs:
        if doc.get("kind") != "Deployment" or not _uses_database(doc):
            continue
        name = doc["metadata"]["name"]
        env = _env(_containers(doc)[0])
        budget = env.get("DB_MAX_CONNECTIONS", {}).get("value") or literal_budget or DEFAULT_BUDGET
        workloads.append(Workload(name, most.get(name, int(doc["spec"].get("replicas", 1))), int(budget)))
    jobs = sum(1 for doc in docs if doc.get("kind") == "Job" and _uses_database(doc))
    return workloads, jobs


def pgbouncer_ini() -> dict[str, str]:
    settings = {}
    for line in (PGBOUNCER / "pgbouncer.ini").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith((";", "#")):
            settings[key.strip()] = value.strip()
    return settings


def pgbouncer_replicas() -> int:
    docs = build(PGBOUNCER)
    deployment = next(
        d for d in docs if d.get("kind") == "Deployment" and d["metadata"]["name"] == "pgbouncer"
    )
    scaler = [d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"]
    return max([int(deployment["spec"]["replicas"]), *(int(d["spec"]["maxReplicas"]) for d in scaler)])


def k8s_demand(overlay: Path, through_pgbouncer: bool) -> Demand:
    workloads, jobs = k8s_workloads(overlay)
    if not through_pgbouncer:
        parts = {f"{w.name} {w.most_pods} x {w.budget}": w.most_pods * w.budget for w in workloads}
        return Demand({**parts, "jobs": jobs})
    ini, replicas = pgbouncer_ini(), pgbouncer_replicas()
    pods = sum(w.most_pods for w in workloads)
    return Demand(
        {
            f"PgBouncer {replicas} x max_db_connections {ini['max_db_connections']}": replicas
            * int(ini["max_db_connections"]),
            f"LISTEN {pods} pods x {LISTEN_CONNECTIONS}": pods * LISTEN_CONNECTIONS,
            "jobs": jobs,
        }
    )


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    return terraform()


def test_the_default_database_is_the_assumed_one(tf: dict[str, Any]) -> None:
    database = the_database(tf)
    assert tf["variables"]["db_instance_class"] == "db.t4g.medium"
    assert database.max_connections == 405
    assert database.usable == 400


@pytest.mark.parametrize("through_proxy", [True, False], ids=["rds-proxy", "direct"])
def test_ecs_at_its_autoscaling_maximum_fits_the_database(tf: dict[str, Any], through_proxy: bool) -> None:
    demand, database = ecs_demand(tf, through_proxy), the_database(tf)
    assert demand.total <= database.usable, f"ECS may open {demand}, RDS allows {database.usable}"


def test_the_ecs_services_reach_the_database_through_the_proxy(tf: dict[str, Any]) -> None:
    text = (TF_DIR / "ecs.tf").read_text()
    assert "merge(local.service_secrets[each.key], local.database_proxy_secrets[each.key])" in text
    proxy = (TF_DIR / "rds_proxy.tf").read_text()
    assert 'DATABASE_URL        = "${aws_secretsmanager_secret.database_proxy[name].arn}:url::"' in proxy
    assert 'DB_PREPARED_STATEMENTS = "false"' in proxy  # a named prepared statement pins a session


@pytest.mark.parametrize("overlay", overlays(), ids=lambda p: str(p.relative_to(K8S / "overlays")))
@pytest.mark.parametrize("through_pgbouncer", [True, False], ids=["pgbouncer", "direct"])
def test_kubernetes_at_its_autoscaling_maximum_fits_the_database(
    tf: dict[str, Any], overlay: Path, through_pgbouncer: bool
) -> None:
    demand, database = k8s_demand(overlay, through_pgbouncer), the_database(tf)
    assert demand.total <= database.usable, f"{overlay} may open {demand}, RDS allows {database.usable}"


def role_connection_limit() -> int:
    """db-init's default CONNECTION LIMIT of a service role, the same as the local stack's."""
    script = (ROOT / "deploy" / "compose" / "db-init.sh").read_text()
    match = re.search(r"\$\{DB_ROLE_CONNECTION_LIMIT:-(\d+)\}", script)
    assert match, "db-init.sh has no DB_ROLE_CONNECTION_LIMIT default"
    assert int(match.group(1)) == RoleLimits().connection_limit
    return int(match.group(1))


@pytest.mark.parametrize("overlay", overlays(), ids=lambda p: str(p.relative_to(K8S / "overlays")))
def test_no_service_role_needs_more_than_its_connection_limit_on_kubernetes(overlay: Path) -> None:
    """Direct, the worst case for one role: every pod at its budget, its migration Job, and a
    surge pod's schema gate during a rollout. Through PgBouncer a role gets at most
    default_pool_size a replica, plus its pods' LISTEN connections."""
    limit, ini, replicas = role_connection_limit(), pgbouncer_ini(), pgbouncer_replicas()
    for workload in k8s_workloads(overlay)[0]:
        direct = workload.most_pods * workload.budget + 1 + 1
        pooled = replicas * int(ini["default_pool_size"]) + workload.most_pods * LISTEN_CONNECTIONS + 1 + 1
        assert max(direct, pooled) <= limit, f"{workload}: {direct} direct, {pooled} pooled > {limit}"


def test_no_service_role_needs_more_than_its_connection_limit_on_ecs(tf: dict[str, Any]) -> None:
    """Through RDS Proxy a role needs at most its tasks' pools (multiplexed, so fewer) plus LISTEN."""
    limit, budget = role_connection_limit(), ConnectionBudget(ecs_budget(tf))
    for name, size in tf["variables"]["task_sizes"].items():
        if name != "gateway":
            assert int(size["max_count"]) * budget.total + 1 <= limit, name


def test_the_whole_system_on_kubernetes_is_counted() -> None:
    """The production overlay: every service, at the HPA maxima of its production settings."""
    workloads, jobs = k8s_workloads(K8S / "overlays" / "production")
    assert {w.name for w in workloads} == {"auth", "tasks", "files", "activity", "notify"}
    assert all(w.most_pods > 1 for w in workloads)
    assert jobs >= 5  # a migration Job per service at least (and the db-init ones)


def test_pgbouncer_takes_every_pod_s_pools() -> None:
    """Worst case, every service pod's pools on one PgBouncer replica; each role's pool fits in
    max_db_connections, and prepared statements are kept per client (psycopg prepares)."""
    ini = pgbouncer_ini()
    assert ini["pool_mode"] == "transaction"
    assert int(ini["max_prepared_statements"]) > 0
    assert "options" in ini["ignore_startup_parameters"]
    workloads, _ = k8s_workloads(K8S / "overlays" / "production")
    clients = sum(w.most_pods * ConnectionBudget(w.budget).pools for w in workloads)
    assert clients <= int(ini["max_client_conn"])
    assert int(ini["default_pool_size"]) <= int(ini["max_db_connections"])


def test_the_count_fails_when_it_should(tf: dict[str, Any]) -> None:
    """31 connections a process (the budget before DB_MAX_CONNECTIONS) at the production maxima
    is more than the database allows."""
    workloads, jobs = k8s_workloads(K8S / "overlays" / "production")
    old = sum(w.most_pods * 31 for w in workloads) + jobs
    assert old > the_database(tf).usable
    sizes = tf["variables"]["task_sizes"]
    assert sum(int(s["max_count"]) * 31 for name, s in sizes.items() if name != "gateway") > 400
    assert rds_max_connections("db.t4g.small", {}) < 405 < rds_max_connections("db.t4g.large", {})
    assert rds_max_connections("db.t4g.small", {"max_connections": "1000"}) == 1000
