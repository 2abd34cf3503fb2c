"""`tm-files-repair`: report rows whose blob is missing (data loss, for an operator to act on)
and remove orphan blobs older than ORPHAN_BLOB_SECONDS now, instead of at the next sweep.
Exit status 1 when a row has no blob."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from tm_common.db import Database
from tm_files.bootstrap import build_deps
from tm_files.config import FilesSettings
from tm_files.service import cleanup


async def repair(settings: FilesSettings) -> int:
    db = Database(settings)
    deps = build_deps(settings, db)
    try:
        removed = await cleanup.sweep(deps, timedelta(seconds=settings.orphan_blob_seconds))
        dangling = await cleanup.dangling_rows(deps)
    finally:
        await db.close()
    print(f"orphan blobs removed: {removed}")
    for file_id, key in dangling:
        print(f"file {file_id}: its blob {key} is missing")
    print(f"files without their blob: {len(dangling)}")
    return 1 if dangling else 0


def main() -> None:
    sys.exit(asyncio.run(repair(FilesSettings())))


if __name__ == "__main__":
    main()
