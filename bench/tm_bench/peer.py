"""Ours beside the original task manager (issue 17's table): BENCH_PEER_URL names a running original
(loopback only), e.g. its one uvicorn worker on http://127.0.0.1:8000. The bench then gives the
original a user of its own with SMALL_USER_TASKS tasks, made through its API (it has no database
of ours to seed), and runs each compared scenario on it right after ours, as JSON over HTTP with
the same k6 script, connections and length: one run, side by side.

The compared scenarios are the 1k-task user's get, list (filtered, sorted, 20 a page), search,
stats from the cache and create (scenarios.py), ours as JSON through Envoy with every service and
consumer running."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from datetime import date, timedelta

import httpx

from tm_bench.k6 import Result, Scenario
from tm_bench.scenarios import JSON_VIA_ENVOY, task_scenarios
from tm_bench.seed import SMALL_USER_TASKS, TAGS, WORDS, BenchUser, label, login, register
from tm_bench.target import Target, host_port

COMPARED = ("get", "list", "search", "stats hit", "create")
PEER = "original"  # the transport column of the original's scenarios
GOAL = 10.0  # issue 17: ours at least ten times the original on every scenario


def peer_target(url: str) -> Target:
    host_port(url)  # loopback only
    return Target(
        gateway=url.rstrip("/"), auth_direct=None, tasks_direct=None, tasks_database=None, redis=None
    )


def new_tasks(count: int) -> Iterator[dict[str, object]]:
    """Tasks like seed.py's SQL makes (the same words, priorities, share completed, due dates and
    tags), so that the list filter and the search find as many."""
    draw = random.Random(42)
    today = date.today()
    for number in range(1, count + 1):
        task: dict[str, object] = {
            "title": f"{draw.choice(WORDS).capitalize()} {draw.choice(WORDS)} #{number}",
            "priority": draw.choice(("low", "medium", "high")),
            "completed": draw.random() < 0.3,
            "tags": draw.sample(TAGS, draw.randrange(4)),
        }
        if draw.random() < 0.5:
            task["description"] = (
                f"Notes on the {draw.choice(WORDS)} and the {draw.choice(WORDS)}, step {number}"
            )
        if draw.random() >= 0.15:
            task["due_date"] = (today + timedelta(days=draw.randrange(731) - 365)).isoformat()
        yield task


def seed_peer(http: httpx.Client, count: int = SMALL_USER_TASKS) -> BenchUser:
    """A user of the original with count tasks, made through its API; their ids must be
    contiguous (k6 draws ids from the range), so nothing else may write to it meanwhile."""
    username, user_id = register(http)
    headers = {"authorization": f"Bearer {login(http, username)}"}
    ids = []
    for task in new_tasks(count):
        response = http.post("/tasks", json=task, headers=headers)
        response.raise_for_status()
        ids.append(int(response.json()["id"]))
    if max(ids) - min(ids) + 1 != count:
        sys.exit(
            f"bench: the original's task ids {min(ids)}..{max(ids)} are not contiguous (another writer?)"
        )
    http.get("/tasks/stats", headers=headers).raise_for_status()  # cached, as ours (describe)
    print(f"bench: the original at {http.base_url}: user {user_id} with {count} tasks", file=sys.stderr)
    return BenchUser(label(count), username, user_id, count, min(ids), max(ids))


def peer_scenarios(peer: Target, user: BenchUser) -> dict[str, Scenario]:
    """The original's compared scenarios, by name."""
    return {
        s.name: Scenario(s.user, s.name, PEER, s.script, s.env, s.username, login_url=peer.gateway)
        for s in task_scenarios(peer, user)
        if s.name in COMPARED and s.transport == JSON_VIA_ENVOY
    }


def is_compared(scenario: Scenario) -> bool:
    """One of ours that the original runs right after."""
    return (
        scenario.user == label(SMALL_USER_TASKS)
        and scenario.transport == JSON_VIA_ENVOY
        and scenario.name in COMPARED
    )


def comparison(results: list[Result], peer_url: str | None) -> str:
    """Issue 17's table: ours (JSON via Envoy, 1k-task user) and the original, req/s (p99)."""
    ours = {r.scenario.name: r for r in results if r.scenario.transport != PEER and is_compared(r.scenario)}
    theirs = {r.scenario.name: r for r in results if r.scenario.transport == PEER}
    rows = [("scenario", "ours, req/s (p99 ms)", "original, req/s (p99 ms)", "ratio")]
    for name in COMPARED:
        mine, other = ours.get(name), theirs.get(name)
        if mine is None:
            continue
        ratio = f"{mine.per_second / other.per_second:.1f}x" if other and other.per_second else "-"
        if other and other.per_second and mine.per_second / other.per_second < GOAL:
            ratio += f" (< {GOAL:g}x)"
        rows.append((name, _figure(mine), _figure(other) if other else "not run", ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    where = (
        f"the original at {peer_url}"
        if peer_url
        else "the original not run: set BENCH_PEER_URL (README, Performance)"
    )
    return "\n".join([f"Ours beside the original ({where}), 1k-task user, JSON over HTTP:", *lines])


def _figure(result: Result) -> str:
    return f"{result.per_second:.0f} ({result.p99_ms:.1f})"
