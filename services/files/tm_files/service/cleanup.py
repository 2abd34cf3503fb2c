"""Keeping rows and blobs consistent after crashes: the blob deletions a commit scheduled are
carried out, presigned uploads never confirmed expire, and blobs no row knows (an upload that
died between writing its blob and committing its row) are swept once older than a bound."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from tm_files.domain.blobs import StoredBlob, older_than
from tm_files.service.files import FilesDeps, remove_blob

log = logging.getLogger(__name__)


async def remove_scheduled_blobs(deps: FilesDeps) -> int:
    async with deps.uow(read_only=True) as uow:
        keys = await uow.blob_keys.removals_due()
    for key in keys:
        await remove_blob(deps, key)
    return len(keys)


async def sweep(deps: FilesDeps, orphan_age: timedelta) -> int:
    """Expire presigned uploads, then remove unreferenced blobs older than `orphan_age`."""
    async with deps.uow() as uow:
        await uow.blob_keys.schedule_removal(await uow.uploads.take_expired(datetime.now(UTC)))
        await uow.commit()
    removed = 0
    batch: list[StoredBlob] = []
    async for blob in deps.blobs.blobs():
        if older_than(blob, orphan_age):
            batch.append(blob)
        if len(batch) >= 500:
            removed += await _remove_orphans(deps, batch)
            batch = []
    return removed + await _remove_orphans(deps, batch)


async def _remove_orphans(deps: FilesDeps, batch: list[StoredBlob]) -> int:
    if not batch:
        return 0
    async with deps.uow(read_only=True) as uow:
        needed = await uow.blob_keys.referenced([blob.key for blob in batch])
    orphans = [blob for blob in batch if blob.key not in needed]
    for blob in orphans:
        log.warning("removing an orphan blob", extra={"blob_key": blob.key, "size": blob.size})
        await deps.blobs.delete(blob.key)
    return len(orphans)


async def dangling_rows(deps: FilesDeps) -> list[tuple[int, str]]:
    """(file id, blob key) of every row whose blob is missing: data loss to report."""
    async with deps.uow(read_only=True) as uow:
        rows = await uow.files.blob_keys()
    return [(file_id, key) for file_id, key in rows if await deps.blobs.size(key) is None]


async def cleanup_loop(
    deps: FilesDeps, orphan_age: timedelta, sweep_every: float, every: float = 1.0
) -> None:
    """Background loop of the service: scheduled deletions every second, a sweep now and then."""
    next_sweep = time.monotonic() + min(sweep_every, 30.0)
    while True:
        try:
            await remove_scheduled_blobs(deps)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + sweep_every
                await sweep(deps, orphan_age)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an outage: try again on the next round
            log.warning("file cleanup postponed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        await asyncio.sleep(every)
