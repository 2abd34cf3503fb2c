"""`tm-activity-migrate`: apply the activity schema's migrations as the activity role."""

from __future__ import annotations

from pathlib import Path

from tm_activity.config import ActivitySettings
from tm_common.migrations import upgrade_to_head

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    upgrade_to_head(MIGRATIONS, ActivitySettings())


if __name__ == "__main__":
    main()
