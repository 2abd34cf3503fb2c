"""The limits every service role is held to, as the local stack's bootstrap
(tm_devstack.postgres.bootstrap, the same as deploy/compose/db-init.sh) sets them: a connection
limit, a statement_timeout and an idle_in_transaction_session_timeout, which a session's own SET
overrides (migrations run with a longer statement_timeout)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from support.accounts import unique
from support.database import ScratchDatabase
from tm_common.config import ServiceSettings
from tm_common.migrations import upgrade_to_head
from tm_devstack import postgres
from tm_devstack.postgres import RoleLimits, ServiceRole

ROOT = Path(__file__).resolve().parents[4]


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def test_service_roles_get_the_default_limits(postgres_admin_url: str) -> None:
    scratch = ScratchDatabase(postgres_admin_url)
    for service in scratch.roles:
        with connect(scratch.url(service, driver="postgresql")) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
            assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("1min",)
            limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user").fetchone()
            assert limit == (RoleLimits().connection_limit,)


class TightRole:
    """A role of a scratch database of its own, under small limits."""

    def __init__(self, admin_url: str, limits: RoleLimits) -> None:
        self.admin_url = admin_url
        self.database = unique("limits_").lower()
        self.role = ServiceRole(
            schema="probe", role=f"{self.database}_probe", password=postgres.new_password()
        )
        self.bootstrap(limits)
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
        self.url = f"postgresql://{self.role.role}:{self.role.password}@{host}:{port}/{self.database}"

    def bootstrap(self, limits: RoleLimits) -> None:
        postgres.bootstrap(self.admin_url, self.database, [self.role], limits)


@pytest.fixture
def tight(postgres_admin_url: str) -> TightRole:
    return TightRole(
        postgres_admin_url,
        RoleLimits(
            connection_limit=2, statement_timeout="200ms", idle_in_transaction_session_timeout="300ms"
        ),
    )


def test_a_statement_longer_than_the_timeout_is_cancelled(tight: TightRole) -> None:
    with connect(tight.url) as conn:
        conn.execute("SELECT pg_sleep(0.05)")  # within the limit
        with pytest.raises(errors.QueryCanceled, match="statement timeout"):
            conn.execute("SELECT pg_sleep(1)")


def test_a_session_set_overrides_the_role_timeout(tight: TightRole) -> None:
    """What tm_common.migrations does for its session."""
    with connect(tight.url) as conn:
        conn.execute("SET statement_timeout = '5s'")
        conn.execute("SELECT pg_sleep(0.4)")


def test_a_transaction_left_idle_is_ended(tight: TightRole) -> None:
    with connect(tight.url) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT 1")
        time.sleep(0.8)
        with pytest.raises(errors.IdleInTransactionSessionTimeout):
            conn.execute("SELECT 1")


def test_connections_beyond_the_role_limit_are_refused(tight: TightRole) -> None:
    with (
        connect(tight.url),
        connect(tight.url),
        pytest.raises(psycopg.OperationalError, match="too many connections for role"),
    ):
        connect(tight.url)


def test_bootstrap_again_sets_the_limits_given(tight: TightRole) -> None:
    tight.bootstrap(RoleLimits())
    with connect(tight.url) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
        conn.execute("SELECT pg_sleep(0.4)")
        limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user").fetchone()
        assert limit == (RoleLimits().connection_limit,)


def test_migrations_connect_directly(postgres_admin_url: str) -> None:
    """DATABASE_DIRECT_URL, not DATABASE_URL (a pooler, where session SETs would not hold): here
    DATABASE_URL leads nowhere, and the migrations still run, under the role's limits."""
    scratch = ScratchDatabase(postgres_admin_url)
    settings = ServiceSettings(
        service_name="activity",
        database_url="postgresql+psycopg://nobody:x@127.0.0.1:9/nowhere",
        database_direct_url=scratch.url("activity"),
        db_schema="activity",
    )
    upgrade_to_head(ROOT / "services" / "activity" / "migrations", settings)
    with connect(scratch.url("activity", driver="postgresql")) as conn:
        row = conn.execute("SELECT count(*) FROM activity.alembic_version").fetchone()
    assert row == (1,)
