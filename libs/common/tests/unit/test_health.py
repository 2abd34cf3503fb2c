from tm_common.health import run_checks, summarize


def test_all_healthy_is_ok() -> None:
    report = summarize(
        {"auth": {"database": "healthy", "redis": "healthy"}, "tasks": {"database": "healthy"}}
    )
    assert (report.status, report.database, report.redis) == ("ok", "healthy", "healthy")
    assert list(report.down) == []
    assert report.services["tasks"].status == "ok"


def test_unreachable_service_is_named_down() -> None:
    report = summarize({"auth": {"database": "healthy"}, "tasks": None})
    assert report.status == "degraded"
    assert list(report.down) == ["tasks"]
    assert report.services["tasks"].status == "down"
    assert report.database == "healthy"


def test_failing_dependency_is_named_down() -> None:
    report = summarize({"auth": {"database": "unhealthy: timeout", "redis": "healthy"}})
    assert report.status == "degraded"
    assert list(report.down) == ["auth.database"]
    assert report.database == "unhealthy"
    assert report.redis == "healthy"


async def test_run_checks_reports_failures_and_timeouts() -> None:
    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("nope")

    async def slow() -> None:
        import asyncio

        await asyncio.sleep(5)

    results = await run_checks({"a": ok, "b": broken, "c": slow}, seconds_each=0.1)
    assert results["a"] == "healthy"
    assert results["b"].startswith("unhealthy: ConnectionRefusedError")
    assert results["c"].startswith("unhealthy: TimeoutError")
