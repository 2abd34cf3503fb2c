"""tm_common.loops.run_forever: retries a failing body, and stops when cancelled, even when a
library turns the cancellation into an error of its own."""

from __future__ import annotations

import asyncio

from tm_common.loops import Backoff, run_forever


async def test_a_failing_body_is_run_again() -> None:
    runs = 0
    third = asyncio.Event()

    async def serve() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise ConnectionError("down")
        third.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(run_forever("test loop", serve, Backoff(first=0.01)))
    await asyncio.wait_for(third.wait(), timeout=2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and runs == 3


async def test_a_cancellation_turned_into_another_error_still_stops_the_loop() -> None:
    started = asyncio.Event()

    async def serve() -> None:  # as redis-py may do when it cuts a command off
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ConnectionError("Connection closed by server.") from None

    task = asyncio.create_task(run_forever("test loop", serve, Backoff(first=0.01)))
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done == {task}, "the loop swallowed its cancellation and went on"
    assert task.cancelled()
