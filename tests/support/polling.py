"""The one poller of the test suites."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEFAULT_TIMEOUT = 20.0  # seconds: an event, an email or a cleanup well within it


def wait_until(
    check: Callable[[], T],
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    accept: Callable[[T], object] = bool,
    every: float = 0.05,
) -> T:
    """Call `check` until `accept` holds for what it returns (by default: until it is truthy), and
    return that; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if accept(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last: {found!r:.300})")
        time.sleep(every)
