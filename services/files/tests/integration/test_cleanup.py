"""Keeping rows and blobs consistent: the sweeper removes blobs no row knows once they are older
than the bound (younger ones may be uploads in progress), and `tm-files-repair` reports rows whose
blob is gone. Against the stack's files schema; the sweeper's store is a directory of the test's
own, so it sees only the blobs the test puts there."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from support.accounts import new_account
from support.errors import assert_status_body
from support.files import (
    blob_key,
    blob_root,
    file_bytes,
    files_settings,
    files_sql,
    upload_raw,
    uploaded_file,
)
from support.tasks import create_task
from tm_common.db import Database
from tm_files.adapters.blobs import LocalBlobStore
from tm_files.adapters.tables import files, pending_uploads
from tm_files.bootstrap import build_deps
from tm_files.domain.blobs import new_key
from tm_files.domain.files import PendingUpload
from tm_files.service import cleanup
from tm_files.service.files import FilesDeps

BOUND = timedelta(minutes=10)
REPAIR = Path(sys.executable).parent / "tm-files-repair"


@pytest.fixture(scope="module")
async def database(stack) -> AsyncIterator[Database]:
    db = Database(files_settings(stack))
    yield db
    await db.close()


@pytest.fixture
def deps(stack, database: Database, tmp_path: Path) -> FilesDeps:
    settings = files_settings(stack, data_dir=tmp_path)
    made = build_deps(settings, database)
    assert isinstance(made.blobs, LocalBlobStore)
    return made


async def blob(deps: FilesDeps, age: timedelta) -> str:
    """A new blob whose modification time is `age` ago."""
    key = new_key()
    await deps.blobs.put(key, io.BytesIO(b"bytes"), "text/plain")
    path: Path = deps.blobs.root / key  # type: ignore[attr-defined]
    then = time.time() - age.total_seconds()
    os.utime(path, (then, then))
    return key


async def row_for(deps: FilesDeps, key: str) -> int:
    """A file row pointing at `key` (of a task id no real task has)."""
    async with deps.uow() as uow:
        meta = await uow.files.add(
            random.randint(1_500_000_000, 2_000_000_000), "kept.txt", 5, "text/plain", key, 0
        )
        await uow.commit()
    return meta.id


async def pending_upload_for(deps: FilesDeps, key: str, expires_in: timedelta) -> None:
    upload = PendingUpload(
        str(uuid.uuid4()), key, 1_999_999_999, 0, "p.txt", "text/plain", 5, datetime.now(UTC) + expires_in
    )
    async with deps.uow() as uow:
        await uow.uploads.add(upload)
        await uow.commit()


async def forget(database: Database, *keys: str) -> None:
    async with database.transaction() as conn:
        await conn.execute(delete(files).where(files.c.blob_key.in_(keys)))
        await conn.execute(delete(pending_uploads).where(pending_uploads.c.blob_key.in_(keys)))


async def present(deps: FilesDeps, *keys: str) -> set[str]:
    return {key for key in keys if await deps.blobs.size(key) is not None}


async def pending(database: Database, key: str) -> list[object]:
    """The presigned uploads still waiting for `key`."""
    async with database.read() as conn:
        query = select(pending_uploads.c.upload_id).where(pending_uploads.c.blob_key == key)
        return list(await conn.scalars(query))


async def test_the_sweeper_removes_only_old_blobs_that_no_row_needs(
    deps: FilesDeps, database: Database
) -> None:
    old_orphan = await blob(deps, BOUND * 2)
    just_old_orphan = await blob(deps, BOUND + timedelta(seconds=5))
    young_orphan = await blob(deps, BOUND - timedelta(seconds=30))
    old_with_row = await blob(deps, BOUND * 100)
    old_pending = await blob(deps, BOUND * 2)
    await row_for(deps, old_with_row)
    await pending_upload_for(deps, old_pending, timedelta(minutes=5))
    try:
        removed = await cleanup.sweep(deps, BOUND)
        assert removed == 2
        assert await present(deps, old_orphan, just_old_orphan, young_orphan, old_with_row, old_pending) == {
            young_orphan,
            old_with_row,
            old_pending,
        }
        assert await cleanup.sweep(deps, BOUND) == 0  # nothing left to do
    finally:
        await forget(database, old_with_row, old_pending)


async def test_an_expired_presigned_upload_stops_protecting_its_object(
    deps: FilesDeps, database: Database
) -> None:
    key = await blob(deps, BOUND * 2)
    await pending_upload_for(deps, key, timedelta(seconds=-1))
    try:
        await cleanup.sweep(deps, BOUND)
        assert await pending(database, key) == []
        assert await present(deps, key) == set()
    finally:
        await forget(database, key)


async def test_dangling_rows_are_those_whose_blob_is_missing(deps: FilesDeps, database: Database) -> None:
    kept = await blob(deps, timedelta(0))
    lost = await blob(deps, timedelta(0))
    kept_id, lost_id = await row_for(deps, kept), await row_for(deps, lost)
    try:
        await deps.blobs.delete(lost)
        dangling = await cleanup.dangling_rows(deps)
        assert (lost_id, lost) in dangling
        assert (kept_id, kept) not in dangling
    finally:
        await forget(database, kept, lost)


def run_repair(stack, **env: str) -> subprocess.CompletedProcess[str]:
    """tm-files-repair as an operator runs it, against the stack's files schema and blob directory."""
    settings = files_settings(stack)
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": stack.redis_url,
        "DATA_DIR": str(stack.data),
        "BLOB_STORE": "local",
        **env,
    }
    return subprocess.run([str(REPAIR)], env=environment, capture_output=True, text=True, timeout=120)


def test_repair_reports_a_row_whose_blob_was_deleted_and_removes_old_orphans(stack, http) -> None:
    owner = new_account(http)
    task = create_task(http, owner)
    lost = uploaded_file(upload_raw(http, owner, task["id"], file_bytes(".pdf", 2000), "lost.pdf"))
    kept = uploaded_file(upload_raw(http, owner, task["id"], file_bytes(".pdf", 2000), "kept.pdf"))
    lost_key, kept_key = blob_key(stack, lost["id"]), blob_key(stack, kept["id"])
    (blob_root(stack) / lost_key).unlink()  # the bytes are lost behind the service's back
    # A download says so (503), rather than serving nothing as if it were the file.
    assert_status_body(http.get(f"/files/{lost['id']}", headers=owner.headers), 503, 14)
    # Older than the bound given to repair, younger than the stack's own (an hour), so that only
    # repair can have removed it.
    orphan = blob_root(stack) / new_key()
    orphan.write_bytes(b"left by a crash")
    then = time.time() - 1800
    os.utime(orphan, (then, then))
    young_orphan = blob_root(stack) / new_key()
    young_orphan.write_bytes(b"an upload in progress")
    try:
        result = run_repair(stack, ORPHAN_BLOB_SECONDS="600")
        assert result.returncode == 1, result
        lines = result.stdout.splitlines()
        assert f"file {lost['id']}: its blob {lost_key} is missing" in lines, result.stdout
        assert not any(f"file {kept['id']}:" in line for line in lines), result.stdout
        removed = int(next(line for line in lines if line.startswith("orphan blobs removed:")).split(":")[1])
        assert removed >= 1
        assert not orphan.exists()
        assert young_orphan.exists()
        assert (blob_root(stack) / kept_key).exists()
    finally:
        http.delete(f"/files/{lost['id']}", headers=owner.headers)  # the operator's way out
        young_orphan.unlink(missing_ok=True)
    again = run_repair(stack, ORPHAN_BLOB_SECONDS="600")
    assert f"file {lost['id']}:" not in again.stdout, again.stdout
    assert files_sql(stack, "SELECT id FROM files WHERE id = %s", (lost["id"],)) == []
