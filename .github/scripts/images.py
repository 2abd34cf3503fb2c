"""The container images of Task Manager, how each is built, and which of them a change touches.

An image is rebuilt exactly when one of its inputs changes: what its Dockerfile COPYs (read from the
Dockerfile itself, with ${SERVICE} filled in), the Dockerfile, and .dockerignore; a path that
.dockerignore keeps out of the build context (tests, caches) touches nothing. So a change under
services/tasks/ rebuilds tasks only; libs/common/, protos/, requirements/runtime.txt or
deploy/docker/ rebuild every service; gateway/ rebuilds the gateway.

    git diff --name-only A B | python3 .github/scripts/images.py      # what A..B touches
    python3 .github/scripts/images.py --all                            # everything

prints GitHub step outputs: `images` (JSON list of {name, dockerfile, build_args}), `services`
(JSON list of the services among them: each has migrations to run) and `gateway` (true/false).
The gateway is built for ECS: its upstreams are the services' Cloud Map names,
<service>.$SERVICE_DISCOVERY_DOMAIN:<port> (terraform output ci_variables), over mutual TLS with
the identity its task writes to /etc/gateway-tls (terraform/ecs.tf); selecting it without
SERVICE_DISCOVERY_DOMAIN is an error.
Standard library only: it runs on the CI runner's own python3.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DOCKERFILE = "deploy/docker/service.Dockerfile"
GATEWAY_DOCKERFILE = "gateway/Dockerfile"
GATEWAY = "gateway"
# Where the gateway task's init container writes the gateway's identity (terraform/ecs.tf,
# local.gateway_tls_dir), the files docker-compose.yml mounts there too.
GATEWAY_TLS_DIR = "/etc/gateway-tls"
GATEWAY_TLS_FILES = {"TLS_CA_FILE": "ca.crt", "TLS_CERT_FILE": "tls.crt", "TLS_KEY_FILE": "tls.key"}
DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: str
    build_args: dict[str, str]
    migrates: bool  # a service: run tm-<name>-migrate before rolling it out

    def output(self) -> dict[str, str]:
        args = "\n".join(f"{key}={value}" for key, value in self.build_args.items())
        return {"name": self.name, "dockerfile": self.dockerfile, "build_args": args}


# --- the catalogue -----------------------------------------------------------------------------


def services(root: Path = ROOT) -> list[str]:
    """Every service: a directory of services/ with its own pyproject.toml."""
    return sorted(p.parent.name for p in (root / "services").glob("*/pyproject.toml"))


def grpc_port(service: str, root: Path = ROOT) -> int:
    """The service's default port (its settings class), which its image listens on too."""
    config = root / "services" / service / f"tm_{service}" / "config.py"
    match = re.search(r"^\s+grpc_port:\s*int\s*=\s*(\d+)", config.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"images.py: no `grpc_port: int = N` in {config}")
    return int(match.group(1))


def images(root: Path = ROOT, env: Mapping[str, str] = os.environ) -> list[Image]:
    built = [
        Image(s, SERVICE_DOCKERFILE, {"SERVICE": s, "GRPC_PORT": str(grpc_port(s, root))}, migrates=True)
        for s in services(root)
    ]
    gateway_args = {**gateway_build_args(root, env), **gateway_identity_args(root, env)}
    return [*built, Image(GATEWAY, GATEWAY_DOCKERFILE, gateway_args, migrates=False)]


def gateway_build_args(root: Path = ROOT, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Behind the ALB, which appends the client's address to X-Forwarded-For; and the edge's rate
    limits named in GATEWAY_EDGE_LIMITS ("NAME=VALUE NAME=VALUE", a repository variable), if any."""
    args = {"XFF_NUM_TRUSTED_HOPS": "1"}
    text = (root / GATEWAY_DOCKERFILE).read_text()
    limits = {a.partition("=")[0] for k, a in instructions(text) if k == "ARG" and "EDGE" in a}
    for item in env.get("GATEWAY_EDGE_LIMITS", "").split():
        name, _, value = item.partition("=")
        if name not in limits or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"images.py: GATEWAY_EDGE_LIMITS: {item!r} is not one of {sorted(limits)}=N")
        args[name] = value
    return args


def gateway_identity_args(root: Path = ROOT, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The services' ECS addresses (<SERVICE>_ADDRESS = <service>.<SERVICE_DISCOVERY_DOMAIN>:<port>,
    the names their certificates hold) and the gateway's identity files (TLS_*_FILE); none
    without SERVICE_DISCOVERY_DOMAIN (main refuses to select the gateway then)."""
    domain = env.get("SERVICE_DISCOVERY_DOMAIN", "").strip()
    if not domain:
        return {}
    if not DOMAIN.fullmatch(domain):
        raise SystemExit(f"images.py: SERVICE_DISCOVERY_DOMAIN {domain!r} is not a DNS name")
    args = {f"{s.upper()}_ADDRESS": f"{s}.{domain}:{grpc_port(s, root)}" for s in services(root)}
    args.update({name: f"{GATEWAY_TLS_DIR}/{file}" for name, file in GATEWAY_TLS_FILES.items()})
    return args


# --- Dockerfiles -------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction: comments dropped, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def substitute(value: str, variables: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ValueError(f"${name} has no value")
        return variables[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, value)


def copy_sources(text: str, build_args: dict[str, str]) -> list[str]:
    """The build-context paths a Dockerfile COPYs or ADDs (never those of `--from` stages), with
    ARG defaults and `build_args` substituted; raises ValueError for a variable without a value."""
    variables: dict[str, str] = {}
    sources: list[str] = []
    for keyword, args in instructions(text):
        if keyword == "ARG":
            name, sep, default = args.partition("=")
            if name in build_args:
                variables[name] = build_args[name]
            elif sep:
                variables[name] = default
        elif keyword in ("COPY", "ADD"):
            words = json.loads(args) if args.startswith("[") else shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if any(f.startswith("--from") for f in flags):
                continue
            for source in paths[:-1]:
                path = substitute(source, variables).removeprefix("./").rstrip("/")
                sources.append(path or ".")
    return sources


def inputs(image: Image, root: Path = ROOT) -> list[str]:
    text = (root / image.dockerfile).read_text()
    return sorted({*copy_sources(text, image.build_args), image.dockerfile, ".dockerignore"})


# --- .dockerignore -----------------------------------------------------------------------------


def dockerignore_patterns(root: Path = ROOT) -> list[str]:
    path = root / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out: it, or a directory above it, matches a pattern
    (`**/` matches any number of directories, none included). Exceptions (`!`) are not used here."""
    if any(p.startswith("!") for p in patterns):
        raise ValueError(".dockerignore exceptions (!) are not supported by images.py")
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        options = [pattern]
        if pattern.startswith("**/"):
            options.append(pattern[3:])
        for prefix in prefixes:
            if any(fnmatch.fnmatchcase(prefix, o) for o in options):
                return True
    return False


# --- changes -----------------------------------------------------------------------------------


def touched(changed: list[str], root: Path = ROOT) -> list[Image]:
    """The images whose inputs one of the changed paths (relative to the repository root) is."""
    patterns = dockerignore_patterns(root)
    paths = [p.strip().removeprefix("./") for p in changed if p.strip()]
    relevant = [p for p in paths if not ignored(p, patterns)]
    result = []
    for image in images(root):
        sources = inputs(image, root)
        if any(p == s or p.startswith(s + "/") or s == "." for p in relevant for s in sources):
            result.append(image)
    return result


def outputs(selected: list[Image]) -> str:
    return "\n".join(
        [
            "images=" + json.dumps([i.output() for i in selected], separators=(",", ":")),
            "services=" + json.dumps([i.name for i in selected if i.migrates], separators=(",", ":")),
            "gateway=" + ("true" if any(i.name == GATEWAY for i in selected) else "false"),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="every image, whatever changed")
    args = parser.parse_args(argv)
    selected = images() if args.all else touched(sys.stdin.read().splitlines())
    if any(i.name == GATEWAY for i in selected) and not gateway_identity_args():
        raise SystemExit(
            "images.py: SERVICE_DISCOVERY_DOMAIN is not set (repository variable, terraform output "
            "ci_variables): the gateway would dial compose's addresses in plaintext, not the services on ECS"
        )
    print(outputs(selected))
    names = ", ".join(i.name for i in selected) or "none"
    print(f"images.py: {names}", file=sys.stderr)


if __name__ == "__main__":
    main()
