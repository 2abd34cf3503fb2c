"""Alembic wiring shared by every service: each service keeps its own migrations and its own
version table inside its own schema, and runs them as its own role."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool, text

from tm_common.config import ServiceSettings


def upgrade_to_head(migrations_dir: Path, settings: ServiceSettings) -> None:
    """Apply every migration of one service (what its `migrate` entry point runs).

    `migrations_dir` is the service's `migrations/`, beside its package."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = settings.database_url
    config.attributes["schema"] = settings.db_schema
    command.upgrade(config, "head")


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
