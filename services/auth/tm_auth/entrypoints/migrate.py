"""`tm-auth-migrate`: apply the auth schema's migrations as the auth role."""

from __future__ import annotations

from pathlib import Path

from tm_auth.config import AuthSettings
from tm_common.migrations import upgrade_to_head

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def main() -> None:
    upgrade_to_head(MIGRATIONS, AuthSettings())


if __name__ == "__main__":
    main()
