import asyncio

import pytest

from tm_common.singleflight import SingleFlight


async def test_concurrent_callers_share_one_computation() -> None:
    flight, calls = SingleFlight(), []

    async def compute() -> int:
        calls.append(1)
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(flight.do("k", compute) for _ in range(10)))
    assert results == [42] * 10
    assert len(calls) == 1


async def test_a_finished_computation_is_not_reused() -> None:
    flight, calls = SingleFlight(), []

    async def compute() -> int:
        calls.append(1)
        return len(calls)

    assert await flight.do("k", compute) == 1
    assert await flight.do("k", compute) == 2


async def test_errors_reach_every_caller_and_are_not_kept() -> None:
    flight = SingleFlight()

    async def fail() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    results = await asyncio.gather(*(flight.do("k", fail) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)

    async def ok() -> int:
        return 1

    assert await flight.do("k", ok) == 1


async def test_one_cancelled_caller_does_not_cancel_the_others() -> None:
    flight = SingleFlight()

    async def compute() -> int:
        await asyncio.sleep(0.05)
        return 7

    first = asyncio.create_task(flight.do("k", compute))
    second = asyncio.create_task(flight.do("k", compute))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == 7
