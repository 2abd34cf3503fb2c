"""A Postgres for the adapters' tests, without the rest of the stack: the embedded server of a
test session's own (or the server DATABASE_URL names), with a fresh database holding each
service's schema and role, as the stack's bootstrap makes them, migrated to head."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from support.accounts import unique
from tm_common.config import ServiceSettings
from tm_common.db import Database
from tm_common.migrations import upgrade_to_head
from tm_devstack import postgres
from tm_devstack.ports import free_port
from tm_devstack.services import SERVICES

ROOT = Path(__file__).resolve().parents[2]


class ScratchDatabase:
    """One database on the server, with a role and a schema per service."""

    def __init__(self, admin_url: str) -> None:
        self.name = unique("adapters_")
        self.admin_url = admin_url
        self.passwords = {s.name: postgres.new_password() for s in SERVICES}
        self.roles = {s.name: f"{self.name}_{s.name}" for s in SERVICES}
        self._migrated: set[str] = set()
        postgres.bootstrap(
            admin_url,
            self.name,
            [postgres.ServiceRole(s.schema, self.roles[s.name], self.passwords[s.name]) for s in SERVICES],
        )

    def url(self, service: str, driver: str = "postgresql+psycopg") -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.admin_url)
        host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
        return f"{driver}://{self.roles[service]}:{self.passwords[service]}@{host}:{port}/{self.name}"

    def settings(self, service: str) -> ServiceSettings:
        """The settings a service's Database needs to reach its schema here."""
        return ServiceSettings(service_name=service, database_url=self.url(service), db_schema=service)

    def migrate(self, service: str) -> None:
        """The service's migrations, applied once per scratch database."""
        if service not in self._migrated:
            upgrade_to_head(ROOT / "services" / service / "migrations", self.settings(service))
            self._migrated.add(service)


def service_database(service: str, tables: str) -> Any:
    """A pytest fixture `db` for a service's adapter tests: its Database on the session's scratch
    database (fixture `scratch_database`, conftest.py), schema migrated, `tables` emptied first."""

    @pytest.fixture
    async def db(scratch_database: ScratchDatabase) -> AsyncIterator[Database]:
        scratch_database.migrate(service)
        database = Database(scratch_database.settings(service))
        async with database.transaction() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        try:
            yield database
        finally:
            await database.close()

    return db


@contextmanager
def postgres_server() -> Iterator[str]:
    """The admin URL of a Postgres: DATABASE_URL's, or an embedded one started here."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="tm-adapters-") as scratch:
        data = Path(scratch)
        password, user = postgres.new_password(), postgres.run_as()
        postgres.init_cluster(data / "pgdata", password, user)
        (data / "socket").mkdir()
        if user:
            os.chown(data / "socket", *_ids(user))
        port = free_port()
        server = subprocess.Popen(
            postgres.server_command(data / "pgdata", port, data / "socket"),
            user=user,
            group=user,
            extra_groups=[] if user else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        admin_url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        try:
            postgres.wait_ready(admin_url)
            yield admin_url
        finally:
            server.terminate()
            server.wait(30)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
