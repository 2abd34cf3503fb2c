"""What read-your-writes costs a reader: while a user's writes run, the same user reads its own
activity log in a loop, and each read's Server-Timing (`own-writes;dur=<ms>`) says how long the
activity service waited for that user's latest write to be applied before answering."""

from __future__ import annotations

import re
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

DURATION = re.compile(r"own-writes;dur=([0-9.]+)")


@dataclass
class Waits:
    seconds: list[float] = field(default_factory=list)
    stale: int = 0  # reads answered "possibly stale" (past the bound)
    failed: int = 0

    def summary(self) -> str:
        if len(self.seconds) < 2:
            return "no reads"
        cuts = statistics.quantiles(self.seconds, n=100, method="inclusive")  # never past the max
        return (
            f"{len(self.seconds)} reads, wait p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
            f"max {max(self.seconds) * 1000:.1f} ms; {self.stale} possibly stale, {self.failed} failed"
        )


@contextmanager
def reading_own_writes(gateway: str, token: str) -> Iterator[Waits]:
    """Reads GET /activity?limit=1 as `token`'s user, one after another, until the block ends."""
    waits, stop = Waits(), threading.Event()

    def read() -> None:
        with httpx.Client(base_url=gateway, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get("/activity?limit=1", headers={"authorization": f"Bearer {token}"})
                except httpx.HTTPError:
                    waits.failed += 1
                    continue
                found = DURATION.match(response.headers.get("server-timing", ""))
                if response.status_code != 200 or found is None:
                    waits.failed += 1
                    continue
                waits.seconds.append(float(found.group(1)) / 1000)
                waits.stale += response.headers.get("x-possibly-stale") == "true"

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join(15)
