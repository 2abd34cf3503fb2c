"""`tm-tasks-migrate`: apply the tasks schema's migrations as the tasks role."""

from __future__ import annotations

from pathlib import Path

from tm_common.migrations import upgrade_to_head
from tm_tasks.config import TasksSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    upgrade_to_head(MIGRATIONS, TasksSettings())


if __name__ == "__main__":
    main()
