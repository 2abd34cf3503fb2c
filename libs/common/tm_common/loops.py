"""Background loops that outlive their dependencies' outages: a retry with capped exponential
backoff around the loop's body, a step repeated every few seconds, and a LISTEN connection to
wake on Postgres notifications."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql

from tm_common import tracing

log = logging.getLogger(__name__)


class Backoff:
    """0.1 s, doubling to 5 s; back to 0.1 s once the loop made progress (`reset`)."""

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self._first, self._most = first, most
        self.delay = first

    def reset(self) -> None:
        self.delay = self._first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self._most)


async def run_forever(
    name: str,
    serve: Callable[[], Awaitable[None]],
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> None:
    """Run `serve` until cancelled; when it fails with `retry_on`, log and start it again after
    the backoff (`serve` calls `backoff.reset()` whenever it gets work done). Its own calls make
    no spans (tracing.background)."""
    while True:
        try:
            with tracing.background():
                await serve()
        except asyncio.CancelledError:
            raise
        except retry_on as exc:
            if _cancelling():
                # A library turned our cancellation into an error of its own (redis-py may, when it
                # cuts off a command): the loop must still stop, or a shutdown would wait forever.
                raise asyncio.CancelledError from exc
            log.warning(
                f"{name} paused",
                extra={"error": f"{type(exc).__name__}: {exc}"[:300], "retry_in": backoff.delay},
            )
            await backoff.wait()


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def every(name: str, seconds: float, step: Callable[[], Awaitable[object]]) -> None:
    """Run `step`, then again `seconds` after it ended, until cancelled; a failed step is logged
    and retried with backoff (a sampler of the metrics, a scheduler's scan)."""
    backoff = Backoff()

    async def serve() -> None:
        while True:
            await step()
            backoff.reset()
            await asyncio.sleep(seconds)

    await run_forever(name, serve, backoff)


class Listener:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def wait(self, seconds: float) -> None:
        """Until a notification arrives or `seconds` pass; the notifications queued meanwhile
        are folded into this one (every commit notifies; one wake-up serves them all)."""
        async for _ in self._conn.notifies(timeout=seconds, stop_after=1):
            pass
        async for _ in self._conn.notifies(timeout=0.0):
            pass


@asynccontextmanager
async def listening(libpq_url: str, channel: str, application_name: str) -> AsyncIterator[Listener]:
    """A connection of its own that LISTENs on `channel`."""
    async with await psycopg.AsyncConnection.connect(
        libpq_url, autocommit=True, connect_timeout=3, application_name=application_name
    ) as conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        yield Listener(conn)
