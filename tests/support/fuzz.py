"""Schema fuzzing with schemathesis (tests/e2e/test_schemathesis.py): the budget, the loaded
document, the fuzzing user's own resources and the bearer token on every non-public call."""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from support.accounts import Account

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "build" / "openapi" / "openapi.json"

# Every response is checked by these; use_after_free also sees the stateful run's history (a
# deleted task, comment or file stays gone).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    use_after_free,
]

REFUSALS = (
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "413",
    "414",
    "415",
    "422",
    "428",
    "429",
    "431",
    "5xx",
)


@dataclass(frozen=True)
class Budget:
    """How long the fuzz runs. The defaults keep tests/e2e/test_schemathesis.py near 90 s on 2
    cores with the stack up; raise them for a longer local run (README, "Schema fuzzing")."""

    max_examples: int  # per operation, generated (fuzzing) phase; the coverage phase adds its own
    stateful_examples: int  # scenarios of the stateful run
    stateful_steps: int  # calls per scenario at most
    seed: int

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Budget:
        env = dict(os.environ if env is None else env)
        return cls(
            max_examples=int(env.get("TM_FUZZ_MAX_EXAMPLES") or 100),
            stateful_examples=int(env.get("TM_FUZZ_STATEFUL_EXAMPLES") or 150),
            stateful_steps=int(env.get("TM_FUZZ_STATEFUL_STEPS") or 10),
            seed=int(env.get("TM_FUZZ_SEED") or 14),
        )


def load_schema(budget: Budget) -> OpenApiSchema:
    """The generated document: positive and negative data, a fixed seed, no example database (a
    run sends the same cases). Calls name the gateway's URL."""
    config = schemathesis.Config.from_dict(
        {
            "seed": budget.seed,
            "generation": {
                "mode": "all",
                "max-examples": budget.max_examples,
                "database": "none",
                # The token is the test's (auth_headers), not a parameter to fuzz.
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": False},  # the document has no examples
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": max(budget.stateful_steps, 2)},
            },
            "checks": {
                # The default refusals, and the edge's own: a body, URI or headers too large.
                "negative_data_rejection": {"expected-statuses": [*REFUSALS]},
            },
            "request-timeout": 10,
        }
    )
    return schemathesis.openapi.from_path(DOCUMENT, config=config)


def is_public(case: Case) -> bool:
    """An operation whose security is `[]`: register, login, health, version, JWKS."""
    return case.operation.definition.raw.get("security") == []


def auth_headers(case: Case, token: str) -> dict[str, str]:
    return {} if is_public(case) else {"Authorization": f"Bearer {token}"}


@dataclass
class Owned:
    """Resources of the fuzzing user that generated path parameters are aimed at, so the fuzz
    reaches past 404: tasks (the first tagged, commented on, with a file and shared), and the
    user the first task is shared with."""

    tasks: list[int] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)
    files: list[int] = field(default_factory=list)
    partner: str = ""
    tag: str = "fuzz"

    def value_for(self, template: str, variable: str, seed: int) -> Any | None:
        """An owned value for a path variable, or None where there is none to give."""
        before = template.split("/{" + variable + "}", 1)[0].rsplit("/", 1)[-1]
        noun = variable.removesuffix("_id") if variable.endswith("_id") else before.removesuffix("s")
        pool: list[Any] = {
            "task": self.tasks,
            "comment": self.comments,
            "file": self.files,
            "username": [self.partner] if self.partner else [],
            "tag": [self.tag],
        }.get(noun if variable in ("id", f"{noun}_id") else variable, [])
        return pool[seed % len(pool)] if pool else None


def is_positive(case: Case) -> bool:
    """A case generated as valid (a negative one must stay invalid: nothing is aimed there)."""
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def aim(case: Case, owned: Owned) -> None:
    """Point about half of the positive cases' path parameters at the user's own resources,
    chosen from the generated values (so a run repeats)."""
    if not case.path_parameters or not is_positive(case):
        return
    seed = zlib.crc32(json.dumps(case.path_parameters, sort_keys=True, default=str).encode())
    if seed % 2:
        return
    for name in list(case.path_parameters):
        value = owned.value_for(case.operation.path, name, seed >> 1)
        if value is not None:
            case.path_parameters[name] = value


def share_with_partner(case: Case, username: str) -> None:
    """Half of the valid shares name a user who exists, so share -> update -> unshare is reached."""
    body = case.body
    if case.operation.definition.raw.get("operationId") != "ShareTask" or not isinstance(body, dict):
        return
    if is_positive(case) and len(str(body.get("shared_with_username", ""))) % 2 == 0:
        body["shared_with_username"] = username


def create_owned(http: httpx.Client, account: Account, partner: str) -> Owned:
    """Two tasks of `account`: the first tagged, commented on, with a file, shared with `partner`."""
    headers = account.headers
    owned = Owned(partner=partner)
    for title in ("fuzzed", "fuzzed too"):
        reply = http.post("/tasks", json={"title": title, "tags": [owned.tag]}, headers=headers)
        assert reply.status_code == 201, reply.text
        owned.tasks.append(reply.json()["id"])
    first = owned.tasks[0]
    reply = http.post(f"/tasks/{first}/comments", json={"content": "fuzz me"}, headers=headers)
    assert reply.status_code == 201, reply.text
    owned.comments.append(reply.json()["id"])
    files = {"file": ("fuzz.txt", b"fuzz", "text/plain")}
    reply = http.post(f"/tasks/{first}/files", files=files, headers=headers)
    assert reply.status_code == 201, reply.text
    owned.files.append(reply.json()["id"])
    share = {"shared_with_username": partner, "permission": "view"}
    reply = http.post(f"/tasks/{first}/share", json=share, headers=headers)
    assert reply.status_code == 201, reply.text
    return owned
