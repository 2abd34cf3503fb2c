"""DB_MAX_CONNECTIONS: how one process's connection budget is split between the two pools and
LISTEN, and that the pools are built to it (no server needed: nothing connects before use)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import event

from tm_common import metrics
from tm_common.config import ServiceSettings
from tm_common.db import LISTEN_CONNECTIONS, ConnectionBudget, Database

URL = "postgresql+psycopg://svc:pw@pooler:6432/taskmanager"
DIRECT = "postgresql+psycopg://svc:pw@postgres:5432/taskmanager"


@pytest.mark.parametrize(
    ("total", "engine", "fast_path"),
    [(4, 1, 1), (10, 4, 4), (11, 4, 5), (32, 15, 15)],
)
def test_the_budget_is_split_and_adds_up(total: int, engine: int, fast_path: int) -> None:
    budget = ConnectionBudget(total)
    assert (budget.engine, budget.fast_path, budget.listen) == (engine, fast_path, LISTEN_CONNECTIONS)
    assert budget.engine + budget.fast_path + budget.listen == total
    assert budget.pools == total - LISTEN_CONNECTIONS


def test_a_budget_too_small_for_both_pools_and_listen_is_refused() -> None:
    with pytest.raises(ValueError, match="DB_MAX_CONNECTIONS"):
        ConnectionBudget(LISTEN_CONNECTIONS + 1)
    with pytest.raises(ValidationError):
        ServiceSettings(db_max_connections=3)


async def test_the_pools_are_built_to_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_MAX_CONNECTIONS", "12")
    db = Database(ServiceSettings(database_url=URL))
    try:
        assert db.engine.pool.size() == 5  # type: ignore[attr-defined]
        assert db.engine.pool._max_overflow == 0  # type: ignore[attr-defined]
        assert db._pool.max_size == 5
        assert db.pool_stats() == metrics.PoolStats(in_use=0, idle=0, waiting=0, max=10)
    finally:
        await db.close()


async def test_listen_goes_direct_and_the_pools_through_database_url() -> None:
    db = Database(ServiceSettings(database_url=URL, database_direct_url=DIRECT))
    try:
        assert db.libpq_url == "postgresql://svc:pw@postgres:5432/taskmanager"
        assert db.pooled_libpq_url == "postgresql://svc:pw@pooler:6432/taskmanager"
        assert db._pool.conninfo == db.pooled_libpq_url
    finally:
        await db.close()
    alone = Database(ServiceSettings(database_url=URL))
    try:
        assert alone.libpq_url == alone.pooled_libpq_url == "postgresql://svc:pw@pooler:6432/taskmanager"
    finally:
        await alone.close()


class Captured(Exception):
    pass


@pytest.mark.parametrize(("prepared", "fast_path", "engine"), [(True, 0, "unset"), (False, None, None)])
async def test_prepared_statements_can_be_turned_off(
    prepared: bool, fast_path: int | None, engine: object
) -> None:
    db = Database(ServiceSettings(database_url=URL, db_prepared_statements=prepared))
    given: dict[str, object] = {}

    @event.listens_for(db.engine.sync_engine, "do_connect")
    def capture(dialect: object, record: object, cargs: object, cparams: dict[str, object]) -> None:
        given.update(cparams)
        raise Captured  # what the driver would be given; no server needed

    try:
        assert db._pool.kwargs["prepare_threshold"] == fast_path
        with pytest.raises(Captured):
            async with db.read():
                pass
        assert given.get("prepare_threshold", "unset") == engine
        assert given["application_name"] == "service"
    finally:
        await db.close()
