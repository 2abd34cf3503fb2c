"""Two instances of every service (REPLICAS=2) under a steady load of writes and reads:

* calls spread evenly over both instances of a service;
* kill -9 of each instance in turn: no idempotent read fails (Envoy's retries, health checks and
  outlier detection absorb it), every accepted write is there, every event is applied once;
* Postgres stopped for 10 s, Redis restarted: the services recover by themselves, and every write
  accepted before, during or after is kept, its events applied once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from chaos.checks import assert_events_applied_once, assert_writes_kept
from chaos.load import Load

from support.accounts import new_account
from support.polling import wait_until
from support.prometheus import scrape, value
from tm_devstack.services import SERVICES
from tm_devstack.stack import Stack

WARM_UP_SECONDS = 3.0


def healthy_hosts(stack: Stack, cluster: str) -> float:
    return value(
        scrape(stack.gateway_stats_url), "envoy_cluster_membership_healthy", {"envoy_cluster_name": cluster}
    )


def wait_all_healthy(stack: Stack, timeout: float = 45.0) -> None:
    """Every instance serving, and Envoy routing to it again (an ejection lasts 15 s)."""
    for instance in stack.all_instances():
        stack.wait_serving(instance)
    for service in SERVICES:
        wait_until(
            lambda name=service.name: healthy_hosts(stack, name),
            f"{service.name}: 2 healthy hosts",
            timeout,
            accept=lambda n: n == 2,
        )


@pytest.fixture
def load(stack: Stack) -> Iterator[Load]:
    wait_all_healthy(stack)
    with Load(stack.gateway_url) as running:
        time.sleep(WARM_UP_SECONDS)
        yield running


def test_every_service_runs_two_instances_behind_the_gateway(stack: Stack) -> None:
    programs = {i.program for i in stack.all_instances()}
    assert programs == {s.name for s in SERVICES} | {f"{s.name}-2" for s in SERVICES}
    assert all(stack.pid(program) for program in programs)
    wait_all_healthy(stack)
    assert healthy_hosts(stack, "ops") == 2 * len(SERVICES)


def _handled(stack: Stack, program: str, method: str) -> float:
    samples = scrape(stack.metrics_urls()[program])
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "grpc_server_handled_total" and ("grpc_method", method) in labels
    )


def test_calls_spread_evenly_over_both_instances(stack: Stack, http: httpx.Client) -> None:
    wait_all_healthy(stack)
    account = new_account(http)
    task = http.post("/tasks", json={"title": "spread"}, headers=account.headers).json()
    before = {p: _handled(stack, p, "GetTask") for p in ("tasks", "tasks-2")}
    calls = 400
    for _ in range(calls):
        assert http.get(f"/tasks/{task['id']}", headers=account.headers).status_code == 200
    served = {p: _handled(stack, p, "GetTask") - before[p] for p in before}
    assert sum(served.values()) == calls, served
    # Round robin per Envoy worker: about half each; 35% leaves room for the workers' phases.
    assert min(served.values()) >= 0.35 * calls, served


@pytest.mark.timeout(900)  # ten kills, each waited out until Envoy routes to the instance again
def test_killing_each_instance_in_turn_fails_no_read(stack: Stack, http: httpx.Client, load: Load) -> None:
    for instance in stack.all_instances():
        old = stack.kill_program(instance.program)
        wait_until(lambda: stack.pid(instance.program) not in (0, old), f"{instance.program} restarted", 30)  # noqa: B023
        wait_all_healthy(stack)
        time.sleep(1.0)  # load on both instances again before the next kill
    load.stop()
    creates, renames, reads = load.snapshot()
    print(f"\n{creates} creates, {renames} renames and {reads} reads accepted over 10 kills")
    assert creates > 20 and renames > 20 and reads > 100, load.snapshot()
    assert load.failed_reads == [], (
        f"{len(load.failed_reads)} of {reads} reads failed: {load.failed_reads[:5]}"
    )
    assert_writes_kept(http, load)
    assert_events_applied_once(stack, load)


def _outage(stack: Stack, http: httpx.Client, load: Load, program: str, seconds: float) -> int:
    """Stop `program` for `seconds`, then start it; the requests that failed meanwhile."""
    before = load.snapshot()
    stack.stop_program(program)
    try:
        time.sleep(seconds)
    finally:
        stack.start_program(program)
    # The services recover by themselves: writes are accepted again, nobody restarts anything.
    wait_until(lambda: load.snapshot()[0] > before[0] + 5, "writes accepted again", 60, every=0.5)
    wait_until(lambda: http.get("/health").status_code, "healthy again", 60, accept=lambda s: s == 200)
    time.sleep(2.0)
    load.stop()
    failed = load.unknown_creates + len(load.failed_reads)
    print(f"\n{program}: (creates, renames, reads) {load.snapshot()} accepted, {failed} failed")
    assert_writes_kept(http, load)
    assert_events_applied_once(stack, load)
    return failed


@pytest.mark.timeout(600)
def test_postgres_stopped_for_ten_seconds(stack: Stack, http: httpx.Client, load: Load) -> None:
    if stack.config.database_url:
        pytest.skip("needs the stack's own Postgres")
    assert _outage(stack, http, load, "postgres", 10.0) > 0, (
        "the outage went unnoticed: was Postgres stopped?"
    )


@pytest.mark.timeout(600)
def test_redis_restarted(stack: Stack, http: httpx.Client, load: Load) -> None:
    if stack.config.redis_url:
        pytest.skip("needs the stack's own Redis")
    _outage(stack, http, load, "redis", 0.0)
