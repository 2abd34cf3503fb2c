"""Init container of every service's pods: wait until the service's schema has been migrated.

    python /etc/schema-gate/schema_gate.py SERVICE [TIMEOUT_SECONDS]
    python /etc/schema-gate/schema_gate.py --db-init SERVICE [TIMEOUT_SECONDS]

Runs in the service's own image (its migrations are in it) with the service's DATABASE_URL
(DATABASE_DIRECT_URL, Postgres itself, when the pools go through PgBouncer) and DB_SCHEMA, and
only reads: the migration itself is the Job `<service>-migrate`. Ready when the
schema's Alembic revision is this image's head, or a revision this image does not know (a later
release migrated it, and a rollback runs the older code on that backward-compatible schema).
Waits otherwise (no migration yet, or an older revision), and exits 1 after the timeout so that
the pod's events show it; the kubelet then runs it again.

With --db-init it is the migration Job's init container instead: it waits until the service's role
can log in and owns the service's schema, i.e. until the Job `<service>-db-init-<tag>`
(deploy/compose/db-init.sh) has run, so the migration never races the role's creation.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import SQLAlchemyError

from tm_common.config import ServiceSettings

POLL_SECONDS = 3.0


def log(service: str, message: str, **extra: object) -> None:
    print(json.dumps({"service": f"{service}-schema-gate", "message": message, **extra}), flush=True)


def readiness(script: ScriptDirectory, current: set[str]) -> tuple[bool, str]:
    """Whether a schema at the `current` revisions may be served by code whose migrations are `script`."""
    heads = set(script.get_heads())
    if not current:
        return False, "no migration has run"
    known = {revision.revision for revision in script.walk_revisions()}
    if current - known:
        return True, "migrated by a later release"
    if current == heads:
        return True, "at head"
    return False, f"waiting for {sorted(heads)}"


def current_revisions(database_url: str, schema: str) -> set[str]:
    """The revisions in the schema's alembic_version table (empty before the first migration)."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            table = f'"{schema}".alembic_version'
            if connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
                return set()
            return set(connection.execute(text(f"SELECT version_num FROM {table}")).scalars())
    finally:
        engine.dispose()


def schema_owned(database_url: str, schema: str) -> bool:
    """Whether the role of `database_url` logs in and owns `schema` (what db-init.sh makes)."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            query = text(
                "SELECT pg_get_userbyid(nspowner) = current_user FROM pg_namespace WHERE nspname = :s"
            )
            return bool(connection.execute(query, {"s": schema}).scalar())
    finally:
        engine.dispose()


def service_migrations(service: str) -> tuple[Path, ServiceSettings]:
    """The service's migrations directory and settings (what `tm-<service>-migrate` uses)."""
    module = importlib.import_module(f"tm_{service}.entrypoints.migrate")
    settings_class = next(
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ServiceSettings) and value is not ServiceSettings
    )
    return Path(module.MIGRATIONS), settings_class()


def main(argv: list[str]) -> int:
    args = argv[1:]
    db_init = args[:1] == ["--db-init"]
    if db_init:
        args = args[1:]
    service = args[0]
    timeout = float(args[1]) if len(args) > 1 else 900.0
    migrations, settings = service_migrations(service)
    script = ScriptDirectory(str(migrations))
    deadline = time.monotonic() + timeout
    last = None
    while True:
        current: set[str] = set()
        try:
            if db_init:
                ready = schema_owned(settings.session_database_url, settings.db_schema)
                why = "schema owned by the role" if ready else "the role does not own the schema yet"
            else:
                current = current_revisions(settings.session_database_url, settings.db_schema)
                ready, why = readiness(script, current)
        except SQLAlchemyError as exc:
            ready, why = False, f"database unavailable: {type(exc).__name__}"
        if ready:
            log(service, "schema ready", reason=why, revisions=sorted(current))
            return 0
        if time.monotonic() > deadline:
            job = "db-init" if db_init else "migration"
            log(service, f"schema not ready: is the {job} Job done?", reason=why, timeout=timeout)
            return 1
        if why != last:  # once per state, not once per poll
            log(service, "waiting for the schema", reason=why, revisions=sorted(current))
            last = why
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
