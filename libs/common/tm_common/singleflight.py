"""Concurrent requests for the same missing value share one computation (no cache stampede)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[Any]] = {}

    async def do(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The result of `compute()`, run once for all callers that ask for `key` meanwhile."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        # Shielded: one caller giving up (a cancelled RPC) does not cancel the others' result.
        result: T = await asyncio.shield(task)
        return result
