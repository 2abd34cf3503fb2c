"""Alembic wiring shared by every service: each service keeps its own migrations and its own
version table inside its own schema, and runs them as its own role, under a lock timeout and a
statement timeout."""

from __future__ import annotations

import os
import re
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, create_engine, pool, text

from tm_common.config import ServiceSettings

# A migration that waits longer than this for a lock gives up (and fails the migrate job) instead
# of queueing every other query on the table behind its own lock request. CREATE INDEX
# CONCURRENTLY's waits for older transactions count too: raise it for a run next to long ones.
DEFAULT_LOCK_TIMEOUT = "5s"
# A backstop for any one statement. The long ones are CONCURRENTLY builds of big indexes, which
# block no reads or writes; statements that do block must be quick anyway (README, expand/contract).
DEFAULT_STATEMENT_TIMEOUT = "15min"
# A Postgres time value: a number, optionally with a unit (no unit: milliseconds; 0: no limit).
_DURATION = re.compile(r"\d+\s*(us|ms|s|min|h|d)?")


def _duration(name: str, value: str) -> str:
    value = value.strip()
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{name}={value!r} is not a Postgres duration such as 5s, 500ms or 15min")
    return value


def alembic_config(
    migrations_dir: Path,
    database_url: str,
    schema: str,
    *,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
) -> Config:
    """The Alembic configuration of one service's migrations, run as `database_url`'s role with
    the version table in `schema`. `migrations_dir` is the service's `migrations/`. The timeouts
    default to MIGRATION_LOCK_TIMEOUT and MIGRATION_STATEMENT_TIMEOUT from the environment, else
    to 5s and 15min."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    config.attributes["lock_timeout"] = _duration(
        "MIGRATION_LOCK_TIMEOUT",
        lock_timeout or os.environ.get("MIGRATION_LOCK_TIMEOUT") or DEFAULT_LOCK_TIMEOUT,
    )
    config.attributes["statement_timeout"] = _duration(
        "MIGRATION_STATEMENT_TIMEOUT",
        statement_timeout or os.environ.get("MIGRATION_STATEMENT_TIMEOUT") or DEFAULT_STATEMENT_TIMEOUT,
    )
    return config


def upgrade_to_head(migrations_dir: Path, settings: ServiceSettings) -> None:
    """Apply every migration of one service (what its `migrate` entry point runs), connected to
    Postgres directly (DATABASE_DIRECT_URL when set): the session SETs would not hold through a
    transaction-mode pooler. They override the role's own statement_timeout (db-init)."""
    command.upgrade(alembic_config(migrations_dir, settings.session_database_url, settings.db_schema), "head")


def downgrade(migrations_dir: Path, settings: ServiceSettings, revision: str = "-1") -> None:
    """Undo migrations of one service down to `revision` ("-1": the last one; "base": all).

    For tests and for backing out an expand step by hand: deployments never run it (see the
    README's expand/contract rules: a new version is rolled back by redeploying the old image,
    which still works on the expanded schema)."""
    command.downgrade(
        alembic_config(migrations_dir, settings.session_database_url, settings.db_schema), revision
    )


def session_statements(config: Config) -> list[str]:
    """What the migration session runs before any migration: its schema and its timeouts.

    Session-level SETs, outside the migrations' transaction, so they hold for every statement,
    inside `autocommit_block()` too (CREATE INDEX CONCURRENTLY). Through a transaction-mode pooler
    they would not stick: migrations connect to Postgres directly."""
    schema = config.attributes["schema"]
    return [
        f'SET search_path TO "{schema}"',
        f"SET lock_timeout = '{config.attributes['lock_timeout']}'",
        f"SET statement_timeout = '{config.attributes['statement_timeout']}'",
    ]


def invalid_indexes(connection: Connection, schema: str) -> list[str]:
    """Indexes of `schema` that a failed CONCURRENTLY build left behind (or one being built)."""
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :schema AND NOT i.indisvalid ORDER BY c.relname"
        ),
        {"schema": schema},
    )
    return [name for (name,) in rows]


def run_env(metadata: MetaData) -> None:
    """The body of a service's migrations/env.py. Online: against the database, refusing to start
    while a failed concurrent index build is left in the schema. Offline
    (`alembic upgrade --sql`, `command.upgrade(..., sql=True)`): the SQL script it would run,
    session settings included, which is what the migration linter reads."""
    config = context.config
    url = config.attributes["database_url"]
    schema = config.attributes["schema"]
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        for statement in session_statements(config):
            context.execute(statement)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        for statement in session_statements(config):
            connection.execute(text(statement))
        invalid = invalid_indexes(connection, schema)
        connection.commit()
        if invalid:
            raise RuntimeError(
                f"invalid indexes in schema {schema}: {', '.join(invalid)}. A CREATE INDEX "
                "CONCURRENTLY failed part way (a lock or statement timeout?), and IF NOT EXISTS "
                "would keep the broken index: DROP INDEX CONCURRENTLY each, then migrate again"
            )
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()
