"""Squawk over every migration: the SQL each upgrade runs (rendered by Alembic's offline mode,
through the same run_env as a deploy, session settings included) must pass the linter configured
in `.squawk.toml`, which carries the README's expand/contract rules (Migrations). Released
migrations that predate the linter are excepted rule by rule below, each with its reason, and a
test checks that every exception is still needed. New migrations get no exceptions: the negative
tests below write one that breaks a rule and expect the lint to fail."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from tm_common.migrations import alembic_config
from tm_devstack.services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".squawk.toml"
SQUAWK = Path(sys.executable).parent / "squawk"
# Offline mode never connects: the URL only picks the dialect.
OFFLINE_URL = "postgresql+psycopg://lint@localhost/lint"
SCHEMAS = {s.name: s.schema for s in SERVICES}

# Rule 3 (README): a migration whose docstring starts with "contract:" may remove what no running
# release uses any more. SET NOT NULL and type changes stay linted even there: they must take the
# lock-light way (a CHECK ... NOT VALID, VALIDATE, then SET NOT NULL; a new column and a backfill).
CONTRACT_ALLOWS = ("ban-drop-column", "ban-drop-table")

# Released migrations are never edited: databases have run them, and an edit would make a fresh
# database differ from a migrated one. Where one breaks a rule the linter enforces for new
# migrations, it is excepted here, for that rule only.
_IMPLICIT_SERIAL = (
    "released; SQLAlchemy renders a lone Integer primary key as SERIAL, and this one's values "
    "always come from elsewhere (a user or task id), so its sequence is never used. New "
    "migrations pass autoincrement=False."
)
_NOT_RERUNNABLE = (
    "released; its index is built CONCURRENTLY after the transaction that adds the columns has "
    "committed, so if the build fails a rerun stops on the existing columns: drop them and the "
    "INVALID index by hand, then rerun. New migrations add columns with if_not_exists=True."
)
RELEASED_EXCEPTIONS: dict[tuple[str, str], dict[str, str]] = {
    ("tasks", "0003"): {
        # Issue 16. 0003 may not be edited, and no later migration can make a lock already taken
        # not have been taken. Every database past 0003 has built its indexes; one that has not run
        # it yet runs it in the same upgrade transaction as 0001 (run_env: one transaction for all
        # pending steps), on a tasks table that 0001 just created empty. Only a database stopped at
        # 0002 with rows in it would take the write lock, and a new migration runs after 0003 so
        # could not spare it that. Rebuilding the six indexes CONCURRENTLY in a new migration would
        # only cost I/O everywhere and change no schema.
        "require-concurrent-index-creation": "released before this linter (issue 16): see above",
        "require-concurrent-index-deletion": "released before this linter (issue 16): see above",
    },
    ("tasks", "0002"): {"prefer-identity": _IMPLICIT_SERIAL},
    ("activity", "0001"): {"prefer-identity": _IMPLICIT_SERIAL},
    ("files", "0001"): {"prefer-identity": _IMPLICIT_SERIAL},
    ("notify", "0001"): {"prefer-identity": _IMPLICIT_SERIAL},
    ("auth", "0003"): {"prefer-robust-stmts": _NOT_RERUNNABLE},
    ("files", "0002"): {"prefer-robust-stmts": _NOT_RERUNNABLE},
    ("tasks", "0007"): {"prefer-robust-stmts": _NOT_RERUNNABLE},
    ("tasks", "0008"): {"prefer-robust-stmts": _NOT_RERUNNABLE},
}


def migrations_dir(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


def upgrade_sql(migrations: Path, schema: str, revision: str) -> tuple[str, bool]:
    """The SQL that upgrading from `revision`'s parent to `revision` runs, and whether it is a
    `contract:` migration."""
    config = alembic_config(migrations, OFFLINE_URL, schema)
    script = ScriptDirectory.from_config(config).get_revision(revision)
    assert script is not None, revision
    assert not isinstance(script.down_revision, tuple), f"{revision}: merge revisions are not linted"
    config.output_buffer = io.StringIO()
    command.upgrade(
        config, f"{script.down_revision}:{revision}" if script.down_revision else revision, sql=True
    )
    contract = (script.module.__doc__ or "").strip().lower().startswith("contract:")
    return config.output_buffer.getvalue(), contract


def configured_exclusions() -> list[str]:
    return list(tomllib.loads(CONFIG.read_text())["excluded_rules"])


def squawk(sql: str, path: Path, exclude: Iterable[str] = ()) -> list[dict[str, object]]:
    """Squawk's findings on `sql` (written to `path`, which names it in the report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    # Rules excluded on the command line replace the config file's list instead of adding to it,
    # so both go on the command line.
    excluded = ",".join(sorted({*configured_exclusions(), *exclude}))
    args = [str(SQUAWK), f"--config={CONFIG}", "--reporter=json", str(path)]
    if excluded:
        args.append(f"--exclude={excluded}")
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    assert (result.returncode == 1) == bool(findings), result
    return findings


def lint(
    migrations: Path, service: str, revision: str, tmp_path: Path, *, exceptions: bool = True
) -> set[str]:
    """The rules one revision breaks, after its contract and released exceptions."""
    sql, contract = upgrade_sql(migrations, SCHEMAS[service], revision)
    exclude = [*(CONTRACT_ALLOWS if contract else ())]
    if exceptions:
        exclude += RELEASED_EXCEPTIONS.get((service, revision), {})
    findings = squawk(sql, tmp_path / service / f"{revision}.sql", exclude)
    return {str(f["rule_name"]) for f in findings}


def all_revisions() -> list[tuple[str, str]]:
    found = []
    for service in sorted(SCHEMAS):
        config = alembic_config(migrations_dir(service), OFFLINE_URL, SCHEMAS[service])
        found += [(service, s.revision) for s in ScriptDirectory.from_config(config).walk_revisions()]
    return sorted(found)


def test_squawk_is_the_pinned_version() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements/dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    result = subprocess.run([str(SQUAWK), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["squawk", pins["squawk-cli"]]


@pytest.mark.parametrize(("service", "revision"), all_revisions(), ids=lambda v: v)
def test_every_upgrade_passes_squawk(service: str, revision: str, tmp_path: Path) -> None:
    assert lint(migrations_dir(service), service, revision, tmp_path) == set()


@pytest.mark.parametrize(
    ("service", "revision", "rule"),
    [(s, r, rule) for (s, r), rules in RELEASED_EXCEPTIONS.items() for rule in rules],
    ids=lambda v: v,
)
def test_every_exception_is_still_needed(service: str, revision: str, rule: str, tmp_path: Path) -> None:
    """A released exception that squawk no longer reports is stale; this also shows that squawk
    does catch 0003's indexes on the existing tasks table."""
    assert rule in lint(migrations_dir(service), service, revision, tmp_path, exceptions=False)


def test_every_upgrade_sets_its_timeouts_first(tmp_path: Path) -> None:
    """run_env's session settings are what satisfy squawk's timeout rules: without them, an
    upgrade that takes a lock is reported."""
    sql, _ = upgrade_sql(migrations_dir("tasks"), "tasks", "0008")
    timeouts = ("SET lock_timeout", "SET statement_timeout")
    lines = sql.splitlines()
    assert all(any(line.startswith(setting) for line in lines) for setting in timeouts)
    bare = "\n".join(line for line in lines if not line.startswith(timeouts))
    found = {
        str(f["rule_name"])
        for f in squawk(bare, tmp_path / "bare.sql", RELEASED_EXCEPTIONS[("tasks", "0008")])
    }
    assert {"require-lock-timeout", "require-statement-timeout"} <= found


# --- new migrations: what the lint refuses and what it lets through -----------------------------

HEAD = "0008"  # the tasks service's head: the scratch migration below follows it


def new_tasks_migration(tmp_path: Path, docstring: str, body: str) -> Path:
    """A copy of the tasks service's migrations plus a new revision 0009 after its head."""
    migrations = tmp_path / "migrations"
    shutil.copytree(migrations_dir("tasks"), migrations, ignore=shutil.ignore_patterns("__pycache__"))
    config = alembic_config(migrations, OFFLINE_URL, "tasks")
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD, "update HEAD"
    source = (
        f'"""{docstring}"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "0009"\ndown_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n" + "".join(f"    {line}\n" for line in body.strip().splitlines()) + "\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    (migrations / "versions" / "0009_new.py").write_text(source)
    return migrations


# How a new migration builds an index on an existing table (inside autocommit_block()).
CONCURRENTLY = "postgresql_concurrently=True, if_not_exists=True"
REFUSED = {
    "index on an existing table, in the transaction": (
        "an index",
        'op.create_index("tasks_title_again", "tasks", ["title"])',
        "require-concurrent-index-creation",
    ),
    "index on an existing table, in the transaction, by hand": (
        "an index",
        'op.execute("CREATE INDEX tasks_title_again ON tasks (title)")',
        "require-concurrent-index-creation",
    ),
    "CONCURRENTLY but inside the transaction": (
        "an index",
        f'op.create_index("t_again", "tasks", ["title"], {CONCURRENTLY})',
        "ban-concurrent-index-creation-in-transaction",
    ),
    "drop an index without CONCURRENTLY": (
        "contract: an index nothing uses",
        'op.drop_index("tasks_user_title", "tasks")',
        "require-concurrent-index-deletion",
    ),
    "drop a column outside a contract migration": (
        "an expand step",
        'op.drop_column("tasks", "description")',
        "ban-drop-column",
    ),
    "drop a table outside a contract migration": (
        "an expand step",
        'op.drop_table("comments")',
        "ban-drop-table",
    ),
    "rename a column": (
        "contract: a new name",
        'op.alter_column("tasks", "title", new_column_name="name")',
        "renaming-column",
    ),
    "a NOT NULL column without a default": (
        "an owner",
        'op.add_column("tasks", sa.Column("owner", sa.Integer, nullable=False))',
        "adding-required-field",
    ),
    "a type change": (
        "contract: longer titles",
        'op.alter_column("tasks", "title", type_=sa.Text)',
        "changing-column-type",
    ),
    "a column added before a concurrent build, not rerunnable": (
        "a column and its index",
        'op.add_column("tasks", sa.Column("label", sa.Text))\n'
        "with op.get_context().autocommit_block():\n"
        f'    op.create_index("tasks_label", "tasks", ["label"], {CONCURRENTLY})',
        "prefer-robust-stmts",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_lint_refuses_a_new_migration_that_breaks_a_rule(case: str, tmp_path: Path) -> None:
    docstring, body, rule = REFUSED[case]
    assert rule in lint(new_tasks_migration(tmp_path, docstring, body), "tasks", "0009", tmp_path)


ACCEPTED = {
    "index built CONCURRENTLY outside the transaction": (
        "an index",
        "with op.get_context().autocommit_block():\n"
        f'    op.create_index("t_again", "tasks", ["title"], {CONCURRENTLY})',
    ),
    "a new table and its index, in one transaction": (
        "labels",
        'op.create_table("labels", sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),'
        ' sa.Column("task_id", sa.Integer, nullable=False))\n'
        'op.create_index("labels_task", "labels", ["task_id"])',
    ),
    "a nullable column, then its index CONCURRENTLY": (
        "a column and its index",
        'op.add_column("tasks", sa.Column("label", sa.Text), if_not_exists=True)\n'
        "with op.get_context().autocommit_block():\n"
        f'    op.create_index("tasks_label", "tasks", ["label"], {CONCURRENTLY})',
    ),
    "a NOT NULL column with a constant default": (
        "an owner",
        'op.add_column("tasks", sa.Column("owner", sa.Integer, nullable=False, server_default="0"))',
    ),
    "drop a column in a contract migration": (
        "contract: description is read by no running release",
        'op.drop_column("tasks", "description")',
    ),
    "drop an index CONCURRENTLY in a contract migration": (
        "contract: an index nothing uses",
        "with op.get_context().autocommit_block():\n"
        '    op.drop_index("tasks_user_title", "tasks", postgresql_concurrently=True, if_exists=True)',
    ),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_lint_accepts_a_new_migration_that_follows_the_rules(case: str, tmp_path: Path) -> None:
    docstring, body = ACCEPTED[case]
    assert lint(new_tasks_migration(tmp_path, docstring, body), "tasks", "0009", tmp_path) == set()
