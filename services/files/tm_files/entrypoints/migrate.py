"""`tm-files-migrate`: apply the files schema's migrations as the files role."""

from __future__ import annotations

from pathlib import Path

from tm_common.migrations import upgrade_to_head
from tm_files.config import FilesSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    upgrade_to_head(MIGRATIONS, FilesSettings())


if __name__ == "__main__":
    main()
