"""One contract, two blob stores: LocalBlobStore on a temporary directory and S3BlobStore against
a local S3 (moto) over real HTTP. Both must behave the same for everything the service relies on."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from support.files import MIB, MotoServer, sha256
from tm_files.adapters.blobs import CHUNK, LocalBlobStore, S3BlobStore, S3Config
from tm_files.domain.blobs import StoredBlob, new_key, older_than


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocalBlobStore | S3BlobStore:
    """A fresh, empty store of each kind."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    moto: MotoServer = request.getfixturevalue("moto")
    return S3BlobStore(S3Config(bucket=moto.new_bucket(), region="us-east-1", endpoint_url=moto.endpoint_url))


async def content(store: LocalBlobStore | S3BlobStore, key: str) -> tuple[bytes, list[int]]:
    """The object's bytes and the sizes of the chunks they came in."""
    chunks = [chunk async for chunk in store.read(key)]
    return b"".join(chunks), [len(chunk) for chunk in chunks]


async def every_blob(store: LocalBlobStore | S3BlobStore) -> dict[str, StoredBlob]:
    found: AsyncIterator[StoredBlob] = store.blobs()
    return {blob.key: blob async for blob in found}


def test_keys_are_fresh_and_never_user_names() -> None:
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(key.startswith("files/") and len(key) == len("files/") + 32 for key in keys)


async def test_put_then_read_returns_the_exact_bytes_in_bounded_chunks(store) -> None:
    data = os.urandom(2 * CHUNK + 12345)
    key = new_key()
    await store.put(key, io.BytesIO(data), "application/pdf")
    got, sizes = await content(store, key)
    assert sha256(got) == sha256(data)
    assert max(sizes) <= CHUNK
    assert await store.size(key) == len(data)


async def test_put_reads_the_source_from_its_position_to_its_end(store) -> None:
    source = io.BytesIO(b"skipped|kept")
    source.seek(8)
    key = new_key()
    await store.put(key, source, "text/plain")
    assert (await content(store, key))[0] == b"kept"


async def test_an_empty_object_round_trips(store) -> None:
    key = new_key()
    await store.put(key, io.BytesIO(b""), "text/plain")
    assert await store.size(key) == 0
    assert (await content(store, key))[0] == b""


async def test_put_replaces_an_object_whole(store) -> None:
    key = new_key()
    await store.put(key, io.BytesIO(b"first version, longer"), "text/plain")
    await store.put(key, io.BytesIO(b"second"), "text/plain")
    assert (await content(store, key))[0] == b"second"
    assert await store.size(key) == 6


async def test_a_missing_key_has_no_size_raises_on_read_and_deletes_quietly(store) -> None:
    key = new_key()
    assert await store.size(key) is None
    with pytest.raises(FileNotFoundError):
        await content(store, key)
    await store.delete(key)  # no error
    assert await every_blob(store) == {}


async def test_delete_removes_only_that_object(store) -> None:
    kept, gone = new_key(), new_key()
    await store.put(kept, io.BytesIO(b"kept"), "text/plain")
    await store.put(gone, io.BytesIO(b"gone"), "text/plain")
    await store.delete(gone)
    assert await store.size(gone) is None
    with pytest.raises(FileNotFoundError):
        await content(store, gone)
    assert (await content(store, kept))[0] == b"kept"
    await store.delete(gone)  # twice: still no error


async def test_blobs_lists_every_object_with_its_size_and_time(store) -> None:
    before = time.time() - 5
    written = {new_key(): os.urandom(size) for size in (1, 1000, CHUNK + 1)}
    for key, data in written.items():
        await store.put(key, io.BytesIO(data), "image/png")
    listed = await every_blob(store)
    assert set(listed) == set(written)
    for key, blob in listed.items():
        assert blob.size == len(written[key])
        assert before <= blob.modified <= time.time() + 5
        assert not older_than(blob, timedelta(minutes=1))
        assert older_than(StoredBlob(key, blob.size, blob.modified - 120), timedelta(minutes=1))


async def test_concurrent_puts_of_different_keys_do_not_mix(store) -> None:
    written = {new_key(): os.urandom(MIB + n) for n in range(6)}
    await asyncio.gather(*(store.put(k, io.BytesIO(v), "application/pdf") for k, v in written.items()))
    for key, data in written.items():
        assert sha256((await content(store, key))[0]) == sha256(data)


async def test_a_local_object_is_never_seen_half_written(tmp_path: Path) -> None:
    """The local store writes a hidden partial file and renames it: listing skips partials, and a
    put that fails leaves nothing behind."""
    store = LocalBlobStore(tmp_path / "blobs")

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            if self.sent > 3 * MIB:
                raise OSError("the client went away")
            buffer[: len(buffer)] = b"x" * len(buffer)
            self.sent += len(buffer)
            return len(buffer)

    key = new_key()
    with pytest.raises(OSError, match="went away"):
        await store.put(key, io.BufferedReader(Failing()), "text/plain")
    assert await store.size(key) is None
    assert list((tmp_path / "blobs" / "files").iterdir()) == []
    (tmp_path / "blobs" / "files" / ".abc.partial").write_bytes(b"half")
    assert await every_blob(store) == {}


@pytest.mark.parametrize("key", ["../etc/passwd", "files/../../x", "files/a/b", "files/", "files/..", "x"])
async def test_the_local_store_refuses_keys_that_are_not_its_own(tmp_path: Path, key: str) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="not a blob key"):
        await store.put(key, io.BytesIO(b"x"), "text/plain")
    with pytest.raises(ValueError, match="not a blob key"):
        await store.size(key)
    assert not (tmp_path / "etc").exists()


async def test_s3_objects_carry_their_type_and_encryption(moto: MotoServer) -> None:
    bucket = moto.new_bucket()
    config = S3Config(
        bucket=bucket, region="us-east-1", endpoint_url=moto.endpoint_url, server_side_encryption="AES256"
    )
    store = S3BlobStore(config)
    key = new_key()
    await store.put(key, io.BytesIO(b"%PDF-1.7"), "application/pdf")
    head = moto.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "application/pdf"
    assert head["ServerSideEncryption"] == "AES256"


async def test_s3_lists_past_one_page(moto: MotoServer) -> None:
    """list_objects_v2 pages hold 1000 keys: the sweeper must see the rest."""
    bucket = moto.new_bucket()
    client = moto.client()
    keys = {new_key() for _ in range(1005)}
    await asyncio.gather(
        *(asyncio.to_thread(client.put_object, Bucket=bucket, Key=key, Body=b"x") for key in keys)
    )
    client.put_object(Bucket=bucket, Key="elsewhere/not-ours", Body=b"x")
    store = S3BlobStore(S3Config(bucket=bucket, region="us-east-1", endpoint_url=moto.endpoint_url))
    assert set(await every_blob(store)) == keys
