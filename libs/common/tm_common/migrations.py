"""Alembic wiring shared by every service: each service keeps its own migrations and its own
version table inside its own schema, and runs them as its own role."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool, text

from tm_common.config import ServiceSettings


def alembic_config(migrations_dir: Path, database_url: str, schema: str) -> Config:
    """The Alembic configuration of one service's migrations, run as `database_url`'s role with
    the version table in `schema`. `migrations_dir` is the service's `migrations/`."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    return config


def upgrade_to_head(migrations_dir: Path, settings: ServiceSettings) -> None:
    """Apply every migration of one service (what its `migrate` entry point runs)."""
    command.upgrade(alembic_config(migrations_dir, settings.database_url, settings.db_schema), "head")


def downgrade(migrations_dir: Path, settings: ServiceSettings, revision: str = "-1") -> None:
    """Undo migrations of one service down to `revision` ("-1": the last one; "base": all).

    For tests and for backing out an expand step by hand: deployments never run it (see the
    README's expand/contract rules: a new version is rolled back by redeploying the old image,
    which still works on the expanded schema)."""
    command.downgrade(alembic_config(migrations_dir, settings.database_url, settings.db_schema), revision)


def run_env(metadata: MetaData) -> None:
    """The body of a service's migrations/env.py (online mode only: we always have a database)."""
    url = context.config.attributes["database_url"]
    schema = context.config.attributes["schema"]
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text(f'SET search_path TO "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()
