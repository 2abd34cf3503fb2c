"""Every service's migrations go up and down cleanly, one revision at a time, on a fresh database,
run as the service's own least-privilege role (as `tm-<service>-migrate` runs them); and every
upgrade follows the expand/contract rules (README, "Migrations") that let services roll out one at
a time while the previous version still runs."""

from __future__ import annotations

import ast
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from tm_common.migrations import alembic_config, session_statements
from tm_devstack import postgres
from tm_devstack.services import SERVICES
from tm_devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]

# What each schema holds at head (besides alembic_version). A new table is added here on purpose.
EXPECTED_TABLES = {
    "auth": {"users", "outbox"},
    "tasks": {"tasks", "stats_versions", "shares", "comments", "outbox"},
    "files": {"files", "pending_uploads", "blob_deletions", "deleted_tasks", "outbox", "processed_events"},
    "activity": {"entries", "task_owners", "task_viewers", "processed_events"},
    "notify": {"users", "preferences", "verification_codes", "deliveries", "mail_log", "processed_events"},
}
NAMES = [service.name for service in SERVICES]


def migrations_dir(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


def test_every_service_is_covered() -> None:
    with_migrations = {p.parent.name for p in (ROOT / "services").glob("*/migrations")}
    assert with_migrations == set(NAMES) == set(EXPECTED_TABLES)


# --- up and down on a fresh database ----------------------------------------------------------


@dataclass(frozen=True)
class FreshDatabase:
    admin_url: str  # superuser, connected to the fresh database
    role_urls: dict[str, str]  # service -> SQLAlchemy URL of its own role


@pytest.fixture(scope="module")
def fresh(stack: Stack) -> Iterator[FreshDatabase]:
    """A new database in the stack's Postgres with one role + schema per service, as the
    bootstrap makes them (role names are cluster-wide: these are new ones, dropped afterwards)."""
    suffix = secrets.token_hex(4)
    database = f"migrations_{suffix}"
    roles = [
        postgres.ServiceRole(
            schema=s.schema, role=f"migrations_{suffix}_{s.name}", password=postgres.new_password()
        )
        for s in SERVICES
    ]
    postgres.bootstrap(stack.admin_url, database, roles)
    info = psycopg.conninfo.conninfo_to_dict(stack.admin_url)
    host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
    try:
        yield FreshDatabase(
            admin_url=psycopg.conninfo.make_conninfo(stack.admin_url, dbname=database),
            role_urls={
                s.name: f"postgresql+psycopg://{r.role}:{r.password}@{host}:{port}/{database}"
                for s, r in zip(SERVICES, roles, strict=True)
            },
        )
    finally:
        # Best effort: the stack's own Postgres is thrown away after the run anyway.
        try:
            with psycopg.connect(postgres.maintenance_url(stack.admin_url), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
                )
                for r in roles:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(r.role)))
        except psycopg.Error as exc:
            warnings.warn(f"could not drop {database} and its roles: {exc}", stacklevel=1)


def snapshot(admin_url: str, schema: str) -> dict[str, Any]:
    """Everything a migration can leave in a schema, alembic's own version table aside."""
    queries = {
        "columns": """
            SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
            FROM information_schema.columns
            WHERE table_schema = %(s)s AND table_name <> 'alembic_version'""",
        "relations": """
            SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(s)s AND c.relname NOT LIKE 'alembic_version%%'""",
        "indexes": """
            SELECT indexname, indexdef FROM pg_indexes
            WHERE schemaname = %(s)s AND tablename <> 'alembic_version'""",
        "constraints": """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = %(s)s AND c.conrelid::regclass::text NOT LIKE '%%alembic_version'""",
        "functions": """
            SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s""",
        "triggers": """
            SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(s)s AND NOT t.tgisinternal""",
        "types": """
            SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = %(s)s AND t.typtype IN ('e', 'd', 'r', 'm')""",
    }
    with psycopg.connect(admin_url) as conn:
        return {key: sorted(conn.execute(query, {"s": schema}).fetchall()) for key, query in queries.items()}


def tables(admin_url: str, schema: str) -> set[str]:
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'alembic_version'",
            [schema],
        )
        return {name for (name,) in rows}


def current(admin_url: str, schema: str) -> str | None:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
        )
        found = row.fetchone()
        return found[0] if found else None


@pytest.mark.parametrize("service", NAMES)
def test_migrations_up_and_down(fresh: FreshDatabase, service: str) -> None:
    """Stairway: for each revision, upgrade to it, step back one, and upgrade again, comparing the
    whole schema each time; then all the way down to an empty schema and back up to head."""
    schema = next(s.schema for s in SERVICES if s.name == service)
    config = alembic_config(migrations_dir(service), fresh.role_urls[service], schema)
    revisions = [
        script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))
    ]
    assert revisions, f"{service} has no migrations"

    empty = snapshot(fresh.admin_url, schema)
    assert not any(empty.values()), f"the fresh schema {schema} is not empty: {empty}"
    before = empty
    for revision in revisions:
        command.upgrade(config, revision)
        after = snapshot(fresh.admin_url, schema)
        assert after != before, f"{service} {revision}: the upgrade changed nothing"
        command.downgrade(config, "-1")
        assert snapshot(fresh.admin_url, schema) == before, (
            f"{service} {revision}: downgrade() is not the inverse"
        )
        command.upgrade(config, revision)
        assert snapshot(fresh.admin_url, schema) == after, (
            f"{service} {revision}: upgrade after downgrade differs"
        )
        assert current(fresh.admin_url, schema) == revision
        before = after
    head = before

    command.downgrade(config, "base")
    assert snapshot(fresh.admin_url, schema) == empty, f"{service}: something is left after downgrade base"
    assert current(fresh.admin_url, schema) is None
    command.upgrade(config, "head")
    assert snapshot(fresh.admin_url, schema) == head
    assert tables(fresh.admin_url, schema) == EXPECTED_TABLES[service]
    assert current(fresh.admin_url, schema) == revisions[-1]


# --- expand/contract, statically ----------------------------------------------------------------

# A migration whose docstring starts with "contract:" may remove what the previous release no
# longer uses; every other upgrade() only adds (README, "Migrations").
DESTRUCTIVE = {"drop_table", "drop_column", "drop_constraint", "rename_table"}


def problems(source: str, name: str = "migration") -> list[str]:
    """Expand/contract violations in the upgrade() of one migration's source."""
    tree = ast.parse(source)
    contract = (ast.get_docstring(tree) or "").lower().startswith("contract:")
    upgrade = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    if upgrade is None:
        return [f"{name}: no upgrade()"]
    found = []
    for node in ast.walk(upgrade):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        op, kwargs = node.func.attr, {k.arg: k.value for k in node.keywords}
        if op == "rename_table" or (op == "alter_column" and "new_column_name" in kwargs):
            found.append(f"{name}:{node.lineno}: {op} renames: add the new name, copy, drop the old later")
        elif op in DESTRUCTIVE and not contract:
            found.append(f"{name}:{node.lineno}: {op} outside a 'contract:' migration")
        elif op == "alter_column" and not contract and ({"type_", "nullable"} & kwargs.keys()):
            found.append(
                f"{name}:{node.lineno}: alter_column type/nullability outside a 'contract:' migration"
            )
        elif op == "add_column" and _not_null_without_default(node):
            found.append(f"{name}:{node.lineno}: a NOT NULL column needs a server_default")
        elif op == "execute" and not contract and _destructive_sql(node):
            found.append(f"{name}:{node.lineno}: destructive SQL outside a 'contract:' migration")
    return found


def _not_null_without_default(call: ast.Call) -> bool:
    for column in call.args[1:]:
        if isinstance(column, ast.Call):
            kwargs = {k.arg: k.value for k in column.keywords}
            nullable = kwargs.get("nullable")
            if (
                isinstance(nullable, ast.Constant)
                and nullable.value is False
                and "server_default" not in kwargs
            ):
                return True
    return False


def _destructive_sql(call: ast.Call) -> bool:
    text = " ".join(str(a.value) for a in call.args if isinstance(a, ast.Constant)).upper()
    return any(word in text for word in ("DROP TABLE", "DROP COLUMN", "RENAME", "SET NOT NULL", "ALTER TYPE"))


def all_migrations() -> list[Path]:
    return sorted((ROOT / "services").glob("*/migrations/versions/*.py"))


@pytest.mark.parametrize("path", all_migrations(), ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_upgrades_only_expand(path: Path) -> None:
    assert problems(path.read_text(), str(path.relative_to(ROOT))) == []


def test_expand_contract_check_catches_violations() -> None:
    bad = '''"""add a column"""
def upgrade():
    op.drop_column("tasks", "title")
    op.alter_column("tasks", "title", new_column_name="name")
    op.add_column("tasks", sa.Column("owner", sa.Integer, nullable=False))
    op.alter_column("tasks", "due_date", nullable=False)
    op.execute("ALTER TABLE tasks DROP COLUMN title")
'''
    assert len(problems(bad)) == 5
    fine = '''"""contract: drop the old title column (nothing reads it since 0.2)"""
def upgrade():
    op.drop_column("tasks", "title")
    op.add_column("tasks", sa.Column("owner", sa.Integer, nullable=False, server_default="0"))
'''
    assert problems(fine) == []


# --- lock and statement timeouts ----------------------------------------------------------------

SCRATCH_ENV = """from sqlalchemy import MetaData

from tm_common.migrations import run_env

run_env(MetaData())
"""


@pytest.fixture
def scratch(fresh: FreshDatabase) -> Iterator[tuple[str, str]]:
    """A schema of its own in the fresh database, holding a table `victim`, for migrations written
    by the test: (its name, a SQLAlchemy URL of the superuser)."""
    schema = f"scratch_{secrets.token_hex(4)}"
    info = psycopg.conninfo.conninfo_to_dict(fresh.admin_url)
    url = URL.create(
        "postgresql+psycopg",
        username=str(info.get("user", "postgres")),
        password=str(info["password"]) if info.get("password") else None,
        host=str(info.get("host", "127.0.0.1")),
        port=int(info.get("port", 5432)),
        database=str(info["dbname"]),
    ).render_as_string(hide_password=False)
    with psycopg.connect(fresh.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.victim (id integer PRIMARY KEY)").format(sql.Identifier(schema))
        )
    yield schema, url
    with psycopg.connect(fresh.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def one_migration(tmp_path: Path, body: str) -> Path:
    """A migrations directory run by the shared run_env, with one revision whose upgrade() is
    `body`."""
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text(SCRATCH_ENV)
    (migrations / "versions" / "0001_step.py").write_text(
        '"""one step"""\n\nfrom alembic import op\n\n'
        'revision = "0001"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n" + "".join(f"    {line}\n" for line in body.strip().splitlines()) + "\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    return migrations


def columns(admin_url: str, schema: str) -> set[str]:
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'victim'",
            [schema],
        )
        return {name for (name,) in rows}


def indexes(admin_url: str, schema: str) -> set[str]:
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'victim'", [schema]
        )
        return {name for (name,) in rows}


# A step in the migration's transaction, and one in autocommit_block() (CREATE INDEX CONCURRENTLY
# commits first: a SET LOCAL would be gone by then), each with the lock that another session's
# open transaction holds and that the step must wait for.
LOCK_WAITS = {
    "in the transaction": ('op.execute("ALTER TABLE victim ADD COLUMN added integer")', "ACCESS SHARE"),
    "in autocommit_block": (
        "with op.get_context().autocommit_block():\n"
        '    op.execute("CREATE INDEX CONCURRENTLY victim_id ON victim (id)")',
        "SHARE UPDATE EXCLUSIVE",
    ),
}


@pytest.mark.timeout(120)  # without a lock timeout the upgrade waits for the holder forever
@pytest.mark.parametrize("where", sorted(LOCK_WAITS))
def test_a_migration_waiting_on_a_lock_fails_at_lock_timeout(
    fresh: FreshDatabase, scratch: tuple[str, str], tmp_path: Path, where: str
) -> None:
    schema, url = scratch
    body, mode = LOCK_WAITS[where]
    config = alembic_config(one_migration(tmp_path, body), url, schema, lock_timeout="200ms")
    with psycopg.connect(fresh.admin_url) as holder:  # a transaction, open until the block ends
        holder.execute(
            sql.SQL("LOCK TABLE {}.victim IN {} MODE").format(sql.Identifier(schema), sql.SQL(mode))
        )
        with pytest.raises(OperationalError) as failure:
            command.upgrade(config, "head")
        assert isinstance(failure.value.orig, psycopg.errors.LockNotAvailable), failure.value
        assert holder.execute("SELECT 1").fetchone() == (1,)  # the holder was not the one stopped
    assert columns(fresh.admin_url, schema) == {"id"}
    assert indexes(fresh.admin_url, schema) == {"victim_pkey"}


def index_valid(admin_url: str, schema: str, name: str) -> bool | None:
    """Whether the index is valid; None: there is none."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            [schema, name],
        ).fetchone()
        return None if row is None else bool(row[0])


@pytest.mark.timeout(120)
def test_a_failed_concurrent_build_stops_the_next_run(
    fresh: FreshDatabase, scratch: tuple[str, str], tmp_path: Path
) -> None:
    """CREATE INDEX CONCURRENTLY waits for the transactions older than it; under lock_timeout it
    gives up, leaving an INVALID index that IF NOT EXISTS would then keep for good. The next run
    refuses to start until it is dropped."""
    schema, url = scratch
    body = (
        "with op.get_context().autocommit_block():\n"
        '    op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS victim_id ON victim (id)")'
    )
    config = alembic_config(one_migration(tmp_path, body), url, schema, lock_timeout="200ms")
    with psycopg.connect(fresh.admin_url) as old:  # a snapshot older than the build, held open
        old.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        old.execute("SELECT count(*) FROM pg_class")
        with pytest.raises(OperationalError) as failure:
            command.upgrade(config, "head")
        assert isinstance(failure.value.orig, psycopg.errors.LockNotAvailable), failure.value
    assert index_valid(fresh.admin_url, schema, "victim_id") is False

    with pytest.raises(RuntimeError, match="victim_id"):
        command.upgrade(config, "head")
    assert current(fresh.admin_url, schema) is None

    with psycopg.connect(fresh.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}.victim_id").format(sql.Identifier(schema)))
    command.upgrade(config, "head")
    assert index_valid(fresh.admin_url, schema, "victim_id") is True
    assert current(fresh.admin_url, schema) == "0001"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("autocommit", [False, True], ids=["in the transaction", "in autocommit_block"])
def test_a_migration_statement_stops_at_statement_timeout(
    scratch: tuple[str, str], tmp_path: Path, autocommit: bool
) -> None:
    schema, url = scratch
    step = 'op.execute("SELECT pg_sleep(60)")'
    body = f"with op.get_context().autocommit_block():\n    {step}" if autocommit else step
    config = alembic_config(one_migration(tmp_path, body), url, schema, statement_timeout="200ms")
    with pytest.raises(OperationalError) as failure:
        command.upgrade(config, "head")
    assert isinstance(failure.value.orig, psycopg.errors.QueryCanceled), failure.value


def test_a_migration_that_waits_less_than_the_timeouts_goes_through(
    fresh: FreshDatabase, scratch: tuple[str, str], tmp_path: Path
) -> None:
    schema, url = scratch
    body = (
        'op.execute("ALTER TABLE victim ADD COLUMN added integer")\n'
        "with op.get_context().autocommit_block():\n"
        '    op.execute("CREATE INDEX CONCURRENTLY victim_added ON victim (added)")'
    )
    command.upgrade(alembic_config(one_migration(tmp_path, body), url, schema), "head")
    assert columns(fresh.admin_url, schema) == {"id", "added"}
    assert "victim_added" in indexes(fresh.admin_url, schema)


def test_timeouts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", "250ms")
    monkeypatch.setenv("MIGRATION_STATEMENT_TIMEOUT", "2h")
    config = alembic_config(tmp_path, "postgresql+psycopg://x@localhost/x", "tasks")
    assert session_statements(config)[1:] == ["SET lock_timeout = '250ms'", "SET statement_timeout = '2h'"]
    monkeypatch.delenv("MIGRATION_LOCK_TIMEOUT")
    monkeypatch.delenv("MIGRATION_STATEMENT_TIMEOUT")
    config = alembic_config(tmp_path, "postgresql+psycopg://x@localhost/x", "tasks")
    assert session_statements(config)[1:] == ["SET lock_timeout = '5s'", "SET statement_timeout = '15min'"]
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", "")  # empty: the default too
    assert (
        alembic_config(tmp_path, "postgresql+psycopg://x@localhost/x", "tasks").attributes["lock_timeout"]
        == "5s"
    )


@pytest.mark.parametrize("value", ["5 seconds", "5s'; DROP TABLE tasks; --", "-1", "1.5s"])
def test_a_timeout_that_is_not_a_duration_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT", value)
    with pytest.raises(ValueError, match="MIGRATION_LOCK_TIMEOUT"):
        alembic_config(Path("."), "postgresql+psycopg://x@localhost/x", "tasks")
