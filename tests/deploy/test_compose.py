"""docker-compose.yml, offline: valid against the compose spec and yamllint; every long-running
service has a health check and every one-shot (schema bootstrap, migrations, the bucket, the
certificates) has its health check disabled and something waiting for it to complete; nothing runs
as root by our choice; images are pinned; secrets are overridable with local-only defaults; each
service migrates before it starts; the files service uses the MinIO bucket; only the gateway is
published; every service and the gateway talk mTLS with an identity of their own, which only they
mount. And the bucket bootstrap script (deploy/compose/minio-init.sh) does what it says, against a
fake `mc`; the certificate one-shot's CLI (tm_common.certs), run twice, keeps its files and makes
certificates a real mTLS handshake accepts."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import psycopg
import pytest
import yaml

from support import apt
from tm_common import identity
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
    expected = {"postgres", "pgbouncer", "redis", "minio", "minio-init", "db-init", "certs", "gateway"}
    expected |= {*SERVICES, *(f"{s}-migrate" for s in SERVICES)}
    assert set(services) == expected


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_migrates_before_it_starts(service: str) -> None:
    services = compose()["services"]
    svc, migrate = services[service], services[f"{service}-migrate"]
    assert migrate["entrypoint"] == [f"tm-{service}-migrate"]
    assert migrate["image"] == svc["image"] and migrate["build"] == svc["build"]
    # The same settings, but no identity: a migration talks to Postgres only.
    assert migrate["environment"] == {k: v for k, v in svc["environment"].items() if k not in IDENTITY_ENV}
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


def mounts(svc: dict[str, Any]) -> list[dict[str, Any]]:
    """A service's volumes in the long syntax (type, source, target, read_only, volume.subpath)."""
    result = []
    for mount in svc.get("volumes") or []:
        if isinstance(mount, dict):
            result.append(mount)
            continue
        source, target, *mode = mount.split(":")
        kind = "bind" if source.startswith(".") else "volume"
        result.append({"type": kind, "source": source, "target": target, "read_only": mode == ["ro"]})
    return result


def test_state_lives_in_named_volumes() -> None:
    doc = compose()
    declared = set(doc["volumes"])
    used = set()
    for name, svc in doc["services"].items():
        for mount in mounts(svc):
            source = mount["source"]
            if mount["type"] == "bind":
                assert source.startswith("./deploy/compose/") and mount["read_only"], f"{name}: {mount}"
                assert (ROOT / source).is_file()
            else:
                assert mount["type"] == "volume", f"{name}: {mount}"
                used.add(source)
    assert used == declared == {"pg-data", "redis-data", "auth-data", "minio-data", "tls"}


# --- service identity (mTLS) ----------------------------------------------------------------------

IDENTITY_ENV = {"TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE", "HEALTH_PORT"}
IDENTITIES = [*SERVICES, "gateway"]
GATEWAY_TLS = "/etc/gateway-tls"  # where the gateway image (gateway/Dockerfile) finds its identity


def identity_problems(doc: dict[str, Any]) -> list[str]:
    """Who mounts what of the tls volume: certs all of it (it holds the CA's key), every service and
    the gateway its own directory only, read-only, after certs has made it; nobody else anything.
    A service's TLS_* name files under that mount; the gateway is built to read them under its own."""
    problems = []
    services = doc["services"]
    certs = services.get("certs")
    if certs is None:
        return ["no certs one-shot"]
    issued = certs.get("command") or []
    if sorted(issued) != sorted(IDENTITIES):
        problems.append(f"certs issues {issued}, not one identity for each of {IDENTITIES}")
    for name, svc in services.items():
        tls = [m for m in mounts(svc) if m["source"] == "tls"]
        env = svc.get("environment") or {}
        if name == "certs":
            if [m.get("volume", {}).get("subpath") for m in tls] != [None]:
                problems.append("certs: mounts the tls volume other than once, whole")
            continue
        if name not in IDENTITIES:
            if tls or IDENTITY_ENV & set(env):
                problems.append(f"{name}: has an identity (tls mount or TLS_*) it does not need")
            continue
        subpaths = [m.get("volume", {}).get("subpath") for m in tls]
        if subpaths != [name]:
            problems.append(f"{name}: mounts {subpaths} of the tls volume, not its own directory alone")
            continue
        (mount,) = tls
        if not mount.get("read_only"):
            problems.append(f"{name}: its identity is mounted writable")
        waits = (svc.get("depends_on") or {}).get("certs", {}).get("condition")
        if waits != "service_completed_successfully":
            problems.append(f"{name}: does not wait for certs to complete")
        files = (svc.get("build", {}).get("args") or {}) if name == "gateway" else env
        if name == "gateway" and mount["target"] != GATEWAY_TLS:
            problems.append(f"gateway: its identity is mounted at {mount['target']}, not {GATEWAY_TLS}")
        expected = {"TLS_CA_FILE": "ca.crt", "TLS_CERT_FILE": "tls.crt", "TLS_KEY_FILE": "tls.key"}
        for key, file in expected.items():
            if files.get(key) != f"{mount['target']}/{file}":
                problems.append(f"{name}: {key}={files.get(key)!r}, not {file} of its own mount")
    return problems


def test_every_service_and_the_gateway_has_its_own_identity_and_no_one_else_any() -> None:
    assert identity_problems(compose()) == []


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_mtls_with_a_plaintext_health_port(service: str) -> None:
    """TLS_* on (identity_problems checks where they point) and HEALTH_PORT, the plaintext port the
    image's HEALTHCHECK asks once the gRPC port speaks mTLS only (tests/deploy/test_images.py)."""
    env = compose()["services"][service]["environment"]
    assert set(env) >= IDENTITY_ENV
    assert int(env["HEALTH_PORT"]) > 0 and env["HEALTH_PORT"] != env["GRPC_PORT"]


def test_certs_is_a_non_root_one_shot_of_a_service_image_into_the_tls_volume() -> None:
    """tm-certs (libs/common's console script, in every service image) into the image's DATA_DIR:
    a new volume mounted there takes that directory's owner, the services' user, which certs runs
    as (the image's USER: no user here), so that what it writes is readable by 10001 only."""
    services = compose()["services"]
    certs = services["certs"]
    assert certs["image"] == services["auth"]["image"] and certs["build"] == services["auth"]["build"]
    assert "user" not in certs
    assert certs["entrypoint"] == ["tm-certs", "/var/lib/taskmanager"]
    assert [(m["source"], m["target"]) for m in mounts(certs)] == [("tls", "/var/lib/taskmanager")]
    assert 'tm-certs = "tm_common.certs:main"' in (ROOT / "libs" / "common" / "pyproject.toml").read_text()
    dockerfile = (ROOT / "deploy" / "docker" / "service.Dockerfile").read_text()
    assert "install -d -o taskmanager -g taskmanager -m 0700 /var/lib/taskmanager" in dockerfile
    assert "DATA_DIR=/var/lib/taskmanager" in dockerfile and "USER 10001:10001" in dockerfile
    assert "test -x /opt/venv/bin/tm-certs" in dockerfile


def test_the_gateway_image_declares_the_tls_build_args() -> None:
    """Empty by default (plaintext upstreams, as Kubernetes renders its own config); compose sets
    them (identity_problems checks to what)."""
    text = (ROOT / "gateway" / "Dockerfile").read_text()
    for arg in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        assert re.search(rf"^ARG {arg}=$", text, re.MULTILINE), arg


# --- the certs one-shot's CLI (tm_common.certs), as compose runs it --------------------------------


def run_certs(directory: Path) -> subprocess.CompletedProcess[str]:
    """certs' command into directory (its entrypoint's console script is tm_common.certs:main)."""
    names = compose()["services"]["certs"]["command"]
    return subprocess.run(
        [sys.executable, "-m", "tm_common.certs", directory, *names],
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file and directory under directory: (content, mtime in ns, mode)."""
    return {
        str(p.relative_to(directory)): (
            p.read_bytes() if p.is_file() else b"",
            p.stat().st_mtime_ns,
            p.stat().st_mode,
        )
        for p in sorted(directory.rglob("*"))
    }


def identity_files(directory: Path, name: str) -> identity.TlsFiles:
    """The files name's container reads (its TLS_*), found where the certs one-shot wrote them: its
    mount of the tls volume, directory/<subpath>, in place of the mount's target."""
    svc = compose()["services"][name]
    (mount,) = [m for m in mounts(svc) if m["source"] == "tls"]
    env = svc["build"]["args"] if name == "gateway" else svc["environment"]
    local = directory / mount["volume"]["subpath"]
    paths = [
        Path(env[k].replace(mount["target"], str(local), 1))
        for k in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE")
    ]
    return identity.TlsFiles(*paths)


def test_certs_is_idempotent_and_keeps_keys_private(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    first = run_certs(directory)
    assert first.returncode == 0, first.stderr
    made = snapshot(directory)
    again = run_certs(directory)
    assert again.returncode == 0, again.stderr
    assert snapshot(directory) == made  # not one file written again
    assert "issued" in first.stdout and "issued" not in again.stdout and "reused" in again.stdout
    # The CA's key at the top only; each identity's directory holds its own key and no other.
    keys = {p.relative_to(directory).as_posix() for p in directory.rglob("*.key")}
    assert keys == {"ca.key", *(f"{name}/tls.key" for name in IDENTITIES)}
    for path in [directory, *directory.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert path.stat().st_uid == os.getuid()  # the services' user, in the container
        if path.is_dir():
            assert mode == 0o700, path
        elif path.suffix == ".key":
            assert mode == 0o600, path
        else:
            assert mode & 0o022 == 0, path


async def who_am_i(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return (identity.caller_identity(context) or "").encode()


async def test_certs_makes_identities_that_a_real_mtls_handshake_accepts(tmp_path: Path) -> None:
    """A server with auth's files (tm_common.identity's credentials, as the services use them)
    accepts the gateway and tasks, dialled by the compose name "auth", and reads who they are;
    it refuses another deployment's certificate and a caller without one."""
    assert run_certs(tmp_path / "tls").returncode == 0
    assert run_certs(tmp_path / "other").returncode == 0
    server = grpc.aio.server()
    handlers = {"WhoAmI": grpc.unary_unary_rpc_method_handler(who_am_i)}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Identity", handlers)])
    port = server.add_secure_port(
        "127.0.0.1:0", identity.server_credentials(identity_files(tmp_path / "tls", "auth"))
    )
    await server.start()

    async def call(credentials: grpc.ChannelCredentials | None) -> bytes:
        target, options = f"127.0.0.1:{port}", [("grpc.ssl_target_name_override", "auth")]
        channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.aio.insecure_channel(target)
        )
        async with channel:
            return await channel.unary_unary("/test.Identity/WhoAmI")(b"", timeout=5)

    try:
        for caller in ("gateway", "tasks"):
            files = identity_files(tmp_path / "tls", caller)
            assert await call(identity.channel_credentials(files)) == caller.encode()
        for refused in (identity.channel_credentials(identity_files(tmp_path / "other", "gateway")), None):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await call(refused)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


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
    assert identity_problems({"services": {}})
    good = compose()
    assert identity_problems(good) == []

    def broken(change: Any) -> list[str]:
        doc = copy.deepcopy(good)
        change(doc["services"])
        return identity_problems(doc)

    whole = {"type": "volume", "source": "tls", "target": "/etc/taskmanager/tls", "read_only": True}
    assert broken(lambda s: s["tasks"].update(volumes=[whole]))  # the CA's key with it
    assert broken(lambda s: s["tasks"]["volumes"][0]["volume"].update(subpath="auth"))
    assert broken(lambda s: s["tasks"]["volumes"].append(s["auth"]["volumes"][1]))
    assert broken(lambda s: s["tasks"]["volumes"][0].update(read_only=False))
    assert broken(lambda s: s["tasks"]["environment"].update(TLS_KEY_FILE="/etc/taskmanager/tls.key"))
    assert broken(lambda s: s["tasks"]["depends_on"].pop("certs"))
    assert broken(lambda s: s["tasks-migrate"].update(volumes=s["tasks"]["volumes"]))
    assert broken(lambda s: s["tasks-migrate"]["environment"].update(TLS_CA_FILE="/x/ca.crt"))
    assert broken(lambda s: s["gateway"]["build"]["args"].pop("TLS_CA_FILE"))
    assert broken(lambda s: s["gateway"]["volumes"][0].update(target="/etc/envoy/tls"))
    assert broken(lambda s: s["certs"]["command"].remove("notify"))
    assert secret_problems({"services": {"a": {"environment": {"URL": "postgresql://u:hunter2@db:5432/x"}}}})
