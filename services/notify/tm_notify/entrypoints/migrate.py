"""`tm-notify-migrate`: apply the notify schema's migrations as the notify role."""

from __future__ import annotations

from pathlib import Path

from tm_common.migrations import upgrade_to_head
from tm_notify.config import NotifySettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    upgrade_to_head(MIGRATIONS, NotifySettings())


if __name__ == "__main__":
    main()
