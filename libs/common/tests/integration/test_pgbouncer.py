"""A service's Database through PgBouncer in transaction mode: Debian's pgbouncer, configured and
started by the compose stack's own script (deploy/compose/pgbouncer.sh), in front of a real
Postgres whose roles were made by the stack's bootstrap (so search_path comes from the role).

Both paths (SQLAlchemy's and the psycopg fast path) run more than 5 times, past psycopg's
prepare threshold, from two Databases (two processes' worth of pools) that share ONE server
connection, so a statement prepared by one client would clash with the other's unless PgBouncer
keeps prepared statements per client (max_prepared_statements, PgBouncer >= 1.21)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import text

from support import apt
from support.database import ScratchDatabase
from tm_common.config import ServiceSettings
from tm_common.db import Database
from tm_devstack import postgres
from tm_devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "deploy" / "compose" / "pgbouncer.sh"
SERVICE = "tasks"
# Protocol-level prepared statements in transaction mode (max_prepared_statements) came in 1.21.
PREPARED_STATEMENTS_SINCE = (1, 21)


@dataclass(frozen=True)
class PgBouncerBinary:
    path: Path
    version: tuple[int, int, int]

    @property
    def keeps_prepared_statements(self) -> bool:
        return self.version[:2] >= PREPARED_STATEMENTS_SINCE


def _find() -> Path | None:
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return Path(found) if Path(found).exists() else None


@pytest.fixture(scope="session")
def pgbouncer() -> PgBouncerBinary:
    """Debian's pgbouncer, installed when missing (the test fails when it cannot be)."""
    try:
        path = apt.ensure(("pgbouncer",), _find)
    except apt.AptUnavailable as exc:
        pytest.fail(str(exc))
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"PgBouncer (\d+)\.(\d+)\.(\d+)", out)
    assert match, f"unexpected pgbouncer --version: {out!r}"
    major, minor, patch = (int(part) for part in match.groups())
    return PgBouncerBinary(path, (major, minor, patch))


@pytest.fixture(scope="module")
def scratch(postgres_admin_url: str) -> ScratchDatabase:
    """A database with every service's role and schema (tm_devstack.postgres.bootstrap), and a
    table of the service's own."""
    database = ScratchDatabase(postgres_admin_url)
    with psycopg.connect(database.url(SERVICE, driver="postgresql"), autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (n integer NOT NULL)")
    return database


class Bouncer:
    """PgBouncer started by deploy/compose/pgbouncer.sh on a free port."""

    def __init__(self, binary: PgBouncerBinary, scratch: ScratchDatabase, config_dir: Path) -> None:
        info = psycopg.conninfo.conninfo_to_dict(scratch.admin_url)
        self.port = free_port()
        self.scratch = scratch
        env = {
            "PATH": os.environ["PATH"],
            "PGBOUNCER": str(binary.path),
            "PGBOUNCER_CONFIG_DIR": str(config_dir),
            "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
            "POSTGRES_PORT": str(info.get("port", 5432)),
            "DATABASE": scratch.name,
            "SERVICES": SERVICE,
            f"{SERVICE.upper()}_DB_PASSWORD": scratch.passwords[SERVICE],
            "LISTEN_ADDR": "127.0.0.1",
            "LISTEN_PORT": str(self.port),
            # One server connection for the role: every client takes turns on it.
            "PGBOUNCER_DEFAULT_POOL_SIZE": "1",
            "PGBOUNCER_MAX_PREPARED_STATEMENTS": "100" if binary.keeps_prepared_statements else "",
        }
        user = postgres.run_as()  # PgBouncer refuses to run as root
        if user:
            for path in (config_dir.parent, config_dir):
                shutil.chown(path, user)
        self.log = config_dir.parent / "pgbouncer.log"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                ["sh", "-c", SCRIPT.read_text(), "pgbouncer.sh"],
                env=env,
                user=user,
                group=user,
                extra_groups=[] if user else None,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def url(self, driver: str = "postgresql+psycopg") -> str:
        role, password = self.scratch.roles[SERVICE], self.scratch.passwords[SERVICE]
        return f"{driver}://{role}:{password}@127.0.0.1:{self.port}/{self.scratch.name}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            if self._process.poll() is not None:
                pytest.fail(f"pgbouncer exited ({self._process.returncode}):\n{self.log.read_text()}")
            try:
                with psycopg.connect(self.url("postgresql"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)


@pytest.fixture
def bouncer(pgbouncer: PgBouncerBinary, scratch: ScratchDatabase) -> Iterator[Bouncer]:
    with tempfile.TemporaryDirectory(prefix="tm-pgbouncer-") as scratch_dir:
        config_dir = Path(scratch_dir) / "etc"
        config_dir.mkdir()
        running = Bouncer(pgbouncer, scratch, config_dir)
        try:
            yield running
        finally:
            running.stop()


def through(bouncer: Bouncer, prepared: bool) -> Database:
    """A service's Database whose pools connect through PgBouncer; LISTEN would go direct."""
    return Database(
        ServiceSettings(
            service_name=SERVICE,
            database_url=bouncer.url(),
            database_direct_url=bouncer.scratch.url(SERVICE),
            db_schema=SERVICE,
            db_prepared_statements=prepared,
        )
    )


ROUNDS = 8  # > 5: psycopg prepares a statement run 5 times on SQLAlchemy's connections


async def exercise(first: Database, second: Database) -> int:
    """Writes and reads on both paths of both Databases, in turns; how many rows it wrote."""
    written = 0
    for n in range(ROUNDS):
        for db in (first, second):
            async with db.transaction() as conn:
                await conn.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})
            written += 1
            async with db.read() as conn:
                count = (await conn.execute(text("SELECT count(*) FROM probe WHERE n >= 0"))).scalar_one()
            assert count >= written
            row = await db.fetch_one("SELECT count(*) AS rows FROM probe WHERE n <= %s", (n,))
            assert row is not None and row.rows >= 1
            rows = await db.fetch_all("SELECT n FROM probe WHERE n = %s", (n,))
            assert len(rows) >= 1
    return written


async def server_prepared_statements(db: Database) -> int:
    """Prepared statements on the one server connection (a transaction keeps us on it)."""
    async with db.transaction() as conn:
        return (await conn.execute(text("SELECT count(*) FROM pg_prepared_statements"))).scalar_one()


async def test_a_database_without_prepared_statements_works_through_any_pgbouncer(
    bouncer: Bouncer,
) -> None:
    first, second = through(bouncer, prepared=False), through(bouncer, prepared=False)
    try:
        start = await _rows(first)
        assert await exercise(first, second) == 2 * ROUNDS
        assert await _rows(second) == start + 2 * ROUNDS
        assert await server_prepared_statements(first) == 0
        # Two Databases' pools, one server connection: PgBouncer's (default_pool_size 1).
        assert server_connections(bouncer) == 1
        # search_path came from the role (PgBouncer ignores psycopg's `options`).
        row = await first.fetch_one("SELECT current_schema() AS schema")
        assert row is not None and row.schema == SERVICE
        assert first.libpq_url != first.pooled_libpq_url  # LISTEN would not go through it
    finally:
        await first.close()
        await second.close()


async def test_prepared_statements_through_pgbouncer_need_max_prepared_statements(
    bouncer: Bouncer, pgbouncer: PgBouncerBinary
) -> None:
    """PgBouncer >= 1.21 keeps each client's prepared statements apart (max_prepared_statements):
    both paths work and statements really are prepared. An older one (Debian 12 ships 1.18) hands
    one client's statement names to another: the clash that DB_PREPARED_STATEMENTS=false avoids."""
    first, second = through(bouncer, prepared=True), through(bouncer, prepared=True)
    try:
        if pgbouncer.keeps_prepared_statements:
            assert await exercise(first, second) == 2 * ROUNDS
            assert await server_prepared_statements(first) > 0
        else:
            with pytest.raises((psycopg.Error, sqlalchemy.exc.DBAPIError)) as failure:
                await exercise(first, second)
            assert "prepared statement" in str(failure.value)
    finally:
        await first.close()
        await second.close()


def test_the_script_refuses_a_service_without_a_password(pgbouncer: PgBouncerBinary, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PGBOUNCER": str(pgbouncer.path),
        "PGBOUNCER_CONFIG_DIR": str(tmp_path / "etc"),
        "POSTGRES_HOST": "127.0.0.1",
        "DATABASE": "taskmanager",
        "SERVICES": "auth tasks",
        "AUTH_DB_PASSWORD": "secret",
    }
    result = subprocess.run(["sh", SCRIPT], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "TASKS_DB_PASSWORD is not set" in result.stderr


def server_connections(bouncer: Bouncer) -> int:
    """The role's connections that Postgres sees."""
    with psycopg.connect(bouncer.scratch.admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [bouncer.scratch.roles[SERVICE]]
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _rows(db: Database) -> int:
    row = await db.fetch_one("SELECT count(*) AS rows FROM probe")
    assert row is not None
    return int(row.rows)
