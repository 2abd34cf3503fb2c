"""Init container of every service's pods: wait until the service's schema has been migrated.

    python /etc/schema-gate/schema_gate.py SERVICE [TIMEOUT_SECONDS]

Runs in the service's own image (its migrations are in it) with the service's DATABASE_URL and
DB_SCHEMA, and only reads: the migration itself is the Job `<service>-migrate`. Ready when the
schema's Alembic revision is this image's head, or a revision this image does not know (a later
release migrated it, and a rollback runs the older code on that backward-compatible schema).
Waits otherwise (no migration yet, or an older revision), and exits 1 after the timeout so that
the pod's events show it; the kubelet then runs it again.
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
    service = argv[1]
    timeout = float(argv[2]) if len(argv) > 2 else 900.0
    migrations, settings = service_migrations(service)
    script = ScriptDirectory(str(migrations))
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            current = current_revisions(settings.database_url, settings.db_schema)
            ready, why = readiness(script, current)
        except SQLAlchemyError as exc:
            ready, why, current = False, f"database unavailable: {type(exc).__name__}", set()
        if ready:
            log(service, "schema ready", reason=why, revisions=sorted(current))
            return 0
        if time.monotonic() > deadline:
            log(service, "schema not ready: is the migration Job done?", reason=why, timeout=timeout)
            return 1
        if why != last:  # once per state, not once per poll
            log(service, "waiting for the schema", reason=why, revisions=sorted(current))
            last = why
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
