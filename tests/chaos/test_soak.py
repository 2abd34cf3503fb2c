"""The soak: SOAK_SECONDS (default 600) of steady load on the REPLICAS=2 stack. The resident memory
and open file descriptors of every process (services, Envoy, Postgres, Redis, the span sink) are
sampled every few seconds; after a warm-up (pools, caches, allocator arenas filling), the slope
of each is fitted by least squares, printed, and held under a bound. At the end nothing is left
behind in Redis: streams no longer than the events written, no pending entry in any consumer
group, no dead letter.

Bounds (per process, after warm-up):
* memory: under 1 MiB a minute. The load makes ~3,000 requests a minute, so a leak of ~350 bytes
  per request (one small object kept per call) crosses it; below that, a 10-minute fit cannot tell
  a leak from the allocator's own noise (arenas are freed and refilled in 256 KiB-1 MiB steps).
* file descriptors: under 2 a minute. Sockets come and go (a count moves by a few between two
  samples), but one descriptor kept per thousand calls is already 3 a minute, and a leak per
  request or per connection is hundreds.
* Redis grows by its streams' entries (each event kept until MAXLEN trims), about 0.2-0.5 MiB a
  minute at this load: data, not a leak, and inside the memory bound.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from chaos.checks import SETTLE_SECONDS, assert_events_applied_once, assert_writes_kept
from chaos.load import Load
from redis import Redis

from support.polling import wait_until
from tm_devstack.stack import Stack

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS") or 600)
SAMPLE_SECONDS = 5.0
WARM_UP = 0.25  # the share of the soak left out of the fit
RSS_BOUND_KIB_PER_MINUTE = 1024.0
FD_BOUND_PER_MINUTE = 2.0


@dataclass
class Series:
    pid: int
    times: list[float] = field(default_factory=list)
    rss_kib: list[float] = field(default_factory=list)
    fds: list[float] = field(default_factory=list)


def slope_per_minute(times: list[float], values: list[float]) -> float:
    """Least-squares slope of values over times (seconds), per minute."""
    n = len(times)
    mean_t, mean_v = sum(times) / n, sum(values) / n
    spread = sum((t - mean_t) ** 2 for t in times)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / spread


def _rss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _programs(stack: Stack) -> list[str]:
    names = [line.split()[0] for line in stack.ctl("status").splitlines() if "RUNNING" in line]
    return [name for name in names if stack.pid(name)]


def _sample(series: dict[str, Series], stop: threading.Event) -> None:
    started = time.monotonic()
    while not stop.wait(SAMPLE_SECONDS):
        for found in series.values():
            try:
                rss, fds = _rss_kib(found.pid), len(os.listdir(f"/proc/{found.pid}/fd"))
            except FileNotFoundError:
                continue  # gone: the test names the processes that were restarted
            found.times.append(time.monotonic() - started)
            found.rss_kib.append(rss)
            found.fds.append(fds)


def _redis_leftovers(stack: Stack) -> tuple[dict[str, int], list[str]]:
    """Each stream's length, and what is left: pending entries per group, dead letters."""
    redis = Redis.from_url(stack.redis_url)
    lengths, left = {}, []
    for key in sorted(k.decode() for k in redis.scan_iter("events:*", _type="stream")):
        lengths[key] = redis.xlen(key)
        if key.endswith(":dead"):
            left += [f"{key}: {lengths[key]} dead letters"] if lengths[key] else []
            continue
        for group in redis.xinfo_groups(key):
            if group["pending"]:
                left.append(f"{key} {group['name'].decode()}: {group['pending']} pending")
    return lengths, left


def _nothing_left(found: tuple[dict[str, int], list[str]]) -> bool:
    return not found[1]


@pytest.mark.timeout(SOAK_SECONDS + 600)
def test_soak_memory_and_descriptors_are_flat(stack: Stack, http: httpx.Client) -> None:
    series = {name: Series(stack.pid(name)) for name in _programs(stack)}
    assert len(series) >= 2 * 5 + 2, series.keys()
    lengths_before, _ = _redis_leftovers(stack)
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(series, stop), daemon=True)
    with Load(stack.gateway_url) as load:
        sampler.start()
        try:
            time.sleep(SOAK_SECONDS)
        finally:
            stop.set()
            sampler.join()
    creates, renames, reads = load.snapshot()
    restarted = {name: s.pid for name, s in series.items() if stack.pid(name) != s.pid}
    assert not restarted, f"restarted during the soak: {restarted}"

    report, over = [], []
    for name, found in sorted(series.items()):
        kept = [i for i, t in enumerate(found.times) if t >= WARM_UP * SOAK_SECONDS]
        times = [found.times[i] for i in kept]
        rss = slope_per_minute(times, [found.rss_kib[i] for i in kept])
        fds = slope_per_minute(times, [found.fds[i] for i in kept])
        report.append(
            f"{name:<11} rss {found.rss_kib[0] / 1024:7.1f} -> {found.rss_kib[-1] / 1024:7.1f} MiB, "
            f"slope {rss:+8.1f} KiB/min   fds {found.fds[0]:4.0f} -> {found.fds[-1]:4.0f}, "
            f"slope {fds:+.2f}/min"
        )
        if rss > RSS_BOUND_KIB_PER_MINUTE or fds > FD_BOUND_PER_MINUTE:
            over.append(name)
    print(
        f"\nsoak {SOAK_SECONDS:.0f} s: {creates} creates, {renames} renames, {reads} reads accepted; "
        f"{load.unknown_creates} creates and {len(load.failed_reads)} reads failed"
    )
    print("\n".join(report))
    assert not over, f"growing: {over}\n" + "\n".join(report)

    assert_writes_kept(http, load)
    assert_events_applied_once(stack, load)
    lengths, _ = wait_until(
        lambda: _redis_leftovers(stack), "nothing left in Redis", SETTLE_SECONDS, accept=_nothing_left
    )
    print(f"streams: {lengths_before} -> {lengths}")
    # Bounded: a stream grows by the events written, never more (one per create or rename tried).
    grown = lengths.get("events:tasks", 0) - lengths_before.get("events:tasks", 0)
    written = creates + load.unknown_creates + sum(len(t.renames) for t in load.tasks)
    assert grown <= written, (lengths_before, lengths, written)
