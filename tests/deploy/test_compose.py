"""docker-compose.yml, offline: valid against the compose spec and yamllint; every long-running
service has a health check and every one-shot (schema bootstrap, migrations, the bucket) has its
health check disabled and something waiting for it to complete; nothing runs as root by our
choice; images are pinned; secrets are overridable with local-only defaults; each service migrates
before it starts; the files service uses the MinIO bucket; only the gateway is published. And the
bucket bootstrap script (deploy/compose/minio-init.sh) does what it says, against a fake `mc`."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import yaml

from support import apt
from tm_devstack.services import PAGE_TOKEN_ISSUERS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = ROOT / "docker-compose.yml"
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


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def image_healthcheck(build: dict[str, Any]) -> bool:
    """Whether the image a compose service builds has a HEALTHCHECK in its final stage."""
    text = (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).read_text()
    final: list[str] = []
    for keyword, args in images.instructions(text):
        if keyword == "FROM":
            final = []
        final.append(f"{keyword} {args}")
    checks = [i for i in final if i.startswith("HEALTHCHECK")]
    return bool(checks) and checks[-1] != "HEALTHCHECK NONE"


def dependents(services: dict[str, Any], name: str) -> dict[str, str]:
    """Who depends on `name`, and on which condition."""
    found = {}
    for other, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        if name in deps:
            found[other] = deps[name].get("condition", "service_started")
    return found


# --- checks that list problems (the tests at the end show they fail when they should) ----------


def health_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    services = doc["services"]
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        waiting = dependents(services, name)
        if check.get("disable"):
            if str(svc.get("restart", "no")) != "no":
                problems.append(f"{name}: health check disabled but restarted: a one-shot has restart: 'no'")
            if "service_completed_successfully" not in waiting.values():
                problems.append(f"{name}: a one-shot that nothing waits for (service_completed_successfully)")
            if "service_healthy" in waiting.values():
                problems.append(f"{name}: a one-shot that others wait on as healthy")
        elif not check.get("test") and not (svc.get("build") and image_healthcheck(svc["build"])):
            problems.append(f"{name}: no health check (neither here nor in its image)")
        for other, condition in waiting.items():
            if condition == "service_started":
                problems.append(f"{other}: depends on {name} without a condition (healthy or completed)")
    return problems


def root_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for name, svc in doc["services"].items():
        user = str(svc.get("user", "")).split(":")[0]
        if user in ("root", "0"):
            problems.append(f"{name}: user: {svc['user']}")
        if svc.get("privileged"):
            problems.append(f"{name}: privileged")
    return problems


EXACT = re.compile(r"^[\w./-]+:([\w.-]*\d+\.\d+(\.\d+)?[\w.-]*|RELEASE\.[\dT:-]+Z)(@sha256:[0-9a-f]{64})?$")


def pin_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for name, svc in doc["services"].items():
        image = svc.get("image", "")
        if svc.get("build"):
            if not image.startswith("taskmanager/"):
                problems.append(f"{name}: a built image is named taskmanager/<name>, not {image!r}")
        elif not EXACT.match(image):
            problems.append(f"{name}: image {image!r} is not pinned to an exact version")
    return problems


SECRET_NAME = re.compile(r"PASSWORD|SECRET")
OVERRIDABLE = re.compile(r"\$\{[A-Z0-9_]+(:-local-only-[\w-]+)?\}")


def secret_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for name, svc in doc["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            value = str(value)
            if SECRET_NAME.search(key) and not OVERRIDABLE.fullmatch(value):
                problems.append(f"{name}: {key} is not ${{VAR:-local-only-...}}")
            url = re.search(r"://[^/:@]+:([^@]+)@", value)
            if url and not OVERRIDABLE.fullmatch(url.group(1)):
                problems.append(f"{name}: {key} holds a literal password")
    return problems


# --- the file -----------------------------------------------------------------------------------


def test_compose_spec_schema() -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint() -> None:
    result = subprocess.run(
        [BIN / "yamllint", "--strict", "-d", YAMLLINT, COMPOSE], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_a_health_check_or_is_a_one_shot() -> None:
    assert health_problems(compose()) == []


def test_nothing_runs_as_root_by_our_choice() -> None:
    assert root_problems(compose()) == []


def test_images_are_pinned() -> None:
    assert pin_problems(compose()) == []


def test_secrets_are_overridable_with_local_only_defaults() -> None:
    doc = compose()
    assert secret_problems(doc) == []
    assert secret_problems({"services": {k: v for k, v in doc.items() if k.startswith("x-")}}) == []


def test_the_whole_system_is_there() -> None:
    services = compose()["services"]
    expected = {"postgres", "pgbouncer", "redis", "minio", "minio-init", "db-init", "gateway"}
    expected |= {*SERVICES, *(f"{s}-migrate" for s in SERVICES)}
    assert set(services) == expected


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_migrates_before_it_starts(service: str) -> None:
    services = compose()["services"]
    svc, migrate = services[service], services[f"{service}-migrate"]
    assert migrate["entrypoint"] == [f"tm-{service}-migrate"]
    assert migrate["image"] == svc["image"] and migrate["build"] == svc["build"]
    assert migrate["environment"] == svc["environment"]
    assert svc["depends_on"][f"{service}-migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db-init"]["condition"] == "service_completed_successfully"
    assert services["gateway"]["depends_on"][service]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_service_build_matches_ci(service: str) -> None:
    """Compose builds each image with the same arguments as CI, and runs it on that port."""
    svc = compose()["services"][service]
    image = next(i for i in images.images() if i.name == service)
    assert svc["build"]["dockerfile"] == image.dockerfile
    assert svc["build"]["args"] == image.build_args
    assert svc["environment"]["GRPC_PORT"] == image.build_args["GRPC_PORT"]
    assert svc["image"] == f"taskmanager/{service}:${{TAG:-local}}"


def test_db_init_covers_every_service() -> None:
    env = compose()["services"]["db-init"]["environment"]
    assert set(env["SERVICES"].split()) == set(SERVICES)
    assert all(f"{s.upper()}_DB_PASSWORD" in env for s in SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_pools_go_through_pgbouncer_and_sessions_go_direct(service: str) -> None:
    """DATABASE_URL (the pools) names PgBouncer, DATABASE_DIRECT_URL (LISTEN, and migrations,
    whose environment is the same) Postgres, with the same role and password; the service starts
    once PgBouncer is up."""
    services = compose()["services"]
    env = services[service]["environment"]
    pooled, direct = env["DATABASE_URL"], env["DATABASE_DIRECT_URL"]
    assert "@pgbouncer:6432/taskmanager" in pooled
    assert "@postgres:5432/taskmanager" in direct
    assert (
        pooled.split("@")[0]
        == direct.split("@")[0]
        == f"postgresql+psycopg://taskmanager_{service}:"
        + (f"${{{service.upper()}_DB_PASSWORD:-local-only-{service}-db-password}}")
    )
    assert services[service]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
    assert env["DB_MAX_CONNECTIONS"] == "${DB_MAX_CONNECTIONS:-10}"


def test_pgbouncer_knows_every_role_db_init_makes() -> None:
    services = compose()["services"]
    bouncer, init = services["pgbouncer"]["environment"], services["db-init"]["environment"]
    assert bouncer["SERVICES"] == init["SERVICES"] and bouncer["DATABASE"] == init["DATABASE"]
    assert all(bouncer[f"{s.upper()}_DB_PASSWORD"] == init[f"{s.upper()}_DB_PASSWORD"] for s in SERVICES)
    assert int(bouncer["PGBOUNCER_MAX_PREPARED_STATEMENTS"]) > 0  # psycopg prepares statements
    version = services["pgbouncer"]["image"].split(":v")[1].split("-")[0]
    assert tuple(int(part) for part in version.split(".")[:2]) >= (1, 21)  # max_prepared_statements
    assert services["pgbouncer"]["depends_on"]["db-init"]["condition"] == "service_completed_successfully"


def test_files_uses_the_minio_bucket() -> None:
    services = compose()["services"]
    files, init = services["files"], services["minio-init"]
    env = files["environment"]
    assert env["BLOB_STORE"] == "s3"
    assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["S3_BUCKET"] == init["environment"]["S3_BUCKET"]
    assert env["AWS_ACCESS_KEY_ID"] == init["environment"]["FILES_S3_ACCESS_KEY"]
    assert env["AWS_SECRET_ACCESS_KEY"] == init["environment"]["FILES_S3_SECRET_KEY"]
    assert env["AWS_ACCESS_KEY_ID"] != services["minio"]["environment"]["MINIO_ROOT_USER"]
    assert files["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["minio"]["image"].startswith("quay.io/minio/minio:RELEASE.")


def test_page_token_issuers_share_one_secret() -> None:
    """tasks, files and activity read the same PAGE_TOKEN_SECRET (every replica of a service must
    have the one its tokens were made with); no other service gets it."""
    services = compose()["services"]
    secrets = {name: services[name]["environment"].get("PAGE_TOKEN_SECRET") for name in SERVICES}
    assert {name for name, value in secrets.items() if value} == PAGE_TOKEN_ISSUERS
    assert {secrets[name] for name in PAGE_TOKEN_ISSUERS} == {
        "${PAGE_TOKEN_SECRET:-local-only-page-token-secret}"
    }


def test_only_the_gateway_is_published_on_8080() -> None:
    services = compose()["services"]
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert list(published) == ["gateway"]
    (port,) = published["gateway"]
    assert port.endswith(":${GATEWAY_PORT:-8080}:8080")
    gateway_dockerfile = (ROOT / "gateway" / "Dockerfile").read_text()
    assert re.search(r"^ARG GATEWAY_PORT=8080$", gateway_dockerfile, re.MULTILINE)


def test_state_lives_in_named_volumes() -> None:
    doc = compose()
    declared = set(doc["volumes"])
    used = set()
    for name, svc in doc["services"].items():
        for mount in svc.get("volumes") or []:
            source, _target, *mode = mount.split(":")
            if source.startswith("."):
                assert source.startswith("./deploy/compose/") and mode == ["ro"], f"{name}: {mount}"
                assert (ROOT / source).is_file()
            else:
                used.add(source)
    assert used == declared == {"pg-data", "redis-data", "auth-data", "minio-data"}


# --- deploy/compose/minio-init.sh ----------------------------------------------------------------

FAKE_MC = """#!/bin/sh
# Records its arguments and its MC_HOST_minio; answers as scripted by FAKE_MC_* variables.
printf '%s\\n' "$*" >> "$FAKE_MC_LOG"
printf 'MC_HOST_minio=%s\\n' "$MC_HOST_minio" >> "$FAKE_MC_LOG"
case "$1 $2 $3" in
    "admin policy attach") [ -z "$FAKE_MC_ATTACH_FAILS" ] || { echo "already in effect" >&2; exit 1; } ;;
    "admin user info") printf '%s\\n' "$FAKE_MC_INFO" ;;
esac
exit 0
"""
INIT_ENV = {
    "MINIO_URL": "http://minio:9000",
    "MINIO_ROOT_USER": "root-user",
    "MINIO_ROOT_PASSWORD": "root-password",
    "S3_BUCKET": "bucket",
    "FILES_S3_ACCESS_KEY": "files-user",
    "FILES_S3_SECRET_KEY": "files-secret",
}


def run_init(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    (tmp_path / "bin").mkdir(exist_ok=True)
    mc = tmp_path / "bin" / "mc"
    mc.write_text(FAKE_MC)
    mc.chmod(0o755)
    log = tmp_path / "mc.log"
    log.write_text("")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "FAKE_MC_LOG": str(log), **INIT_ENV, **extra}
    env = {k: v for k, v in env.items() if v != "<unset>"}
    result = subprocess.run(
        ["sh", ROOT / "deploy" / "compose" / "minio-init.sh"], env=env, capture_output=True, text=True
    )
    return result, log.read_text().splitlines()


def test_minio_init_creates_bucket_policy_and_user(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path)
    assert result.returncode == 0, result.stderr
    commands = [c for c in calls if not c.startswith("MC_HOST_")]
    assert commands[:2] == ["mb --ignore-existing minio/bucket", "anonymous set none minio/bucket"]
    assert commands[2].startswith("admin policy create minio bucket-objects-rw /tmp/")
    assert commands[3:] == [
        "admin user add minio files-user files-secret",
        "admin policy attach minio bucket-objects-rw --user files-user",
    ]
    # Root credentials only ever in MC_HOST_minio, never on a command line.
    assert set(c for c in calls if c.startswith("MC_HOST_")) == {
        "MC_HOST_minio=http://root-user:root-password@minio:9000"
    }
    assert not any("root-password" in c for c in commands)
    policy = json.loads(Path(commands[2].split()[-1]).read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"}


def test_minio_init_accepts_a_policy_attached_before(tmp_path: Path) -> None:
    info = '{"status":"success","accessKey":"files-user","policyName":"bucket-objects-rw"}'
    result, _ = run_init(tmp_path, FAKE_MC_ATTACH_FAILS="1", FAKE_MC_INFO=info)
    assert result.returncode == 0, result.stderr


def test_minio_init_fails_when_the_policy_is_not_attached(tmp_path: Path) -> None:
    info = '{"status":"success","accessKey":"files-user","policyName":"bucket-objects-rw-other"}'
    result, _ = run_init(tmp_path, FAKE_MC_ATTACH_FAILS="1", FAKE_MC_INFO=info)
    assert result.returncode != 0
    assert "already in effect" in result.stderr


def test_minio_init_refuses_missing_settings(tmp_path: Path) -> None:
    result, calls = run_init(tmp_path, FILES_S3_SECRET_KEY="<unset>")
    assert result.returncode != 0 and "FILES_S3_SECRET_KEY" in result.stderr
    assert calls == []


# --- deploy/compose/db-init.sh, with psql against a real Postgres ------------------------------


def psql_present() -> None:
    """psql comes with Debian's postgresql-client: installed when missing, failing loudly when it
    cannot be."""
    try:
        apt.ensure(("postgresql-client",), lambda: shutil.which("psql"))
    except apt.AptUnavailable as exc:
        pytest.fail(str(exc))


def run_db_init(admin_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    psql_present()
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": str(info.get("user", "postgres")),
        "PGPASSWORD": str(info.get("password", "")),
        "SERVICES": "auth tasks",
        "AUTH_DB_PASSWORD": "auth-password",
        "TASKS_DB_PASSWORD": "tasks-password",
        **extra,
    }
    return subprocess.run(
        ["bash", ROOT / "deploy" / "compose" / "db-init.sh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def role_limits(admin_url: str, database: str) -> dict[str, tuple[int, dict[str, str]]]:
    """{role: (connection limit, its settings)} of the database's service roles."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname, rolconnlimit, rolconfig FROM pg_roles WHERE rolname LIKE %s",
            [f"{database}\\_%"],
        ).fetchall()
    return {name: (limit, dict(item.split("=", 1) for item in config or [])) for name, limit, config in rows}


def test_db_init_holds_every_role_to_its_limits(postgres_admin_url: str) -> None:
    database = f"dbinit_{os.getpid()}_{time.monotonic_ns()}"
    first = run_db_init(postgres_admin_url, DATABASE=database, TASKS_DB_CONNECTION_LIMIT="7")
    assert first.returncode == 0, first.stderr
    limits = role_limits(postgres_admin_url, database)
    assert limits[f"{database}_auth"][0] == 150 and limits[f"{database}_tasks"][0] == 7
    for _, settings in limits.values():
        assert settings["statement_timeout"] == "30s"
        assert settings["idle_in_transaction_session_timeout"] == "60s"
        assert settings["search_path"] in ("auth", "tasks")
    # Again, with other limits: the roles take them (it runs on every `up`).
    again = run_db_init(
        postgres_admin_url, DATABASE=database, DB_ROLE_CONNECTION_LIMIT="40", DB_STATEMENT_TIMEOUT="2min"
    )
    assert again.returncode == 0, again.stderr
    limits = role_limits(postgres_admin_url, database)
    assert {name: limit for name, (limit, _) in limits.items()} == {
        f"{database}_auth": 40,
        f"{database}_tasks": 40,
    }
    assert {settings["statement_timeout"] for _, settings in limits.values()} == {"2min"}
    # What a service sees, logged in as its role.
    info = psycopg.conninfo.conninfo_to_dict(postgres_admin_url)
    url = psycopg.conninfo.make_conninfo(
        postgres_admin_url, user=f"{database}_auth", password="auth-password", dbname=database
    )
    assert info["password"] != "auth-password"
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2min",)
        assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("1min",)


@pytest.mark.parametrize(
    "bad",
    [
        {"DB_STATEMENT_TIMEOUT": "30 seconds'; DROP ROLE x; --"},
        {"DB_IDLE_IN_TRANSACTION_TIMEOUT": "soon"},
        {"AUTH_DB_CONNECTION_LIMIT": "ten"},
        {"DB_ROLE_CONNECTION_LIMIT": "5; DROP ROLE x"},
    ],
)
def test_db_init_refuses_limits_that_are_not_values(postgres_admin_url: str, bad: dict[str, str]) -> None:
    database = f"dbinit_bad_{os.getpid()}_{time.monotonic_ns()}"
    result = run_db_init(postgres_admin_url, DATABASE=database, **bad)
    assert result.returncode == 1
    assert "db-init:" in result.stderr
    assert role_limits(postgres_admin_url, database) == {}  # refused before any role was made


# --- the checks fail when they should ---------------------------------------------------------


def test_the_checks_catch_bad_compose_files() -> None:
    no_check = {"services": {"a": {"image": "redis:7.4.6"}}}
    assert health_problems(no_check)
    lonely_one_shot = {
        "services": {"a": {"image": "x:1.2.3", "healthcheck": {"disable": True}, "restart": "no"}}
    }
    assert health_problems(lonely_one_shot)
    unconditional = {
        "services": {
            "a": {"image": "x:1.2.3", "healthcheck": {"test": ["CMD", "true"]}},
            "b": {"image": "x:1.2.3", "healthcheck": {"test": ["CMD", "true"]}, "depends_on": ["a"]},
        }
    }
    assert health_problems(unconditional)
    assert root_problems({"services": {"a": {"user": "root"}}})
    assert root_problems({"services": {"a": {"user": "0:0"}}})
    assert pin_problems({"services": {"a": {"image": "postgres:18"}}})
    assert pin_problems({"services": {"a": {"image": "minio/minio:latest"}}})
    assert not pin_problems({"services": {"a": {"image": "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z"}}})
    assert secret_problems({"services": {"a": {"environment": {"DB_PASSWORD": "hunter2"}}}})
    assert secret_problems({"services": {"a": {"environment": {"URL": "postgresql://u:hunter2@db:5432/x"}}}})
