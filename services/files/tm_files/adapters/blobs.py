"""Where the bytes live: a directory on local disk (the `make run` default) or an S3 bucket (AWS or
any S3-compatible endpoint). Objects are stored under generated keys, never the user's file name.

Both stores move bytes in chunks (CHUNK) from and to files, so no upload or download is ever held
whole in memory here; blocking I/O (disk, boto3) runs in threads. Both are the BlobStore of
service/unit_of_work.py; S3BlobStore also gives its PresignedUrls."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from tm_files.domain.blobs import StoredBlob

CHUNK = 1024 * 1024


class LocalBlobStore:
    """Objects as files under `root` (DATA_DIR/blobs), written under a temporary name and renamed
    into place, so a reader never sees half an object."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        if not key.startswith("files/") or "/" in key[6:] or key[6:] in ("", ".", ".."):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key

    async def put(self, key: str, source: IO[bytes], content_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), source)

    @staticmethod
    def _put(path: Path, source: IO[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            with open(partial, "wb") as target:
                shutil.copyfileobj(source, target, CHUNK)
                target.flush()
                os.fsync(target.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def blobs(self) -> AsyncIterator[StoredBlob]:
        folder = self.root / "files"
        names = await asyncio.to_thread(lambda: os.listdir(folder) if folder.is_dir() else [])
        for name in names:
            if name.startswith("."):
                continue
            try:
                stat = await asyncio.to_thread((folder / name).stat)
            except FileNotFoundError:
                continue
            yield StoredBlob(f"files/{name}", stat.st_size, stat.st_mtime)


@dataclass(frozen=True)
class S3Config:
    bucket: str
    region: str
    endpoint_url: str | None = None  # any S3-compatible endpoint (MinIO, moto)
    server_side_encryption: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None


class S3BlobStore:
    def __init__(self, config: S3Config, client: Any | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.config = config
        self.client = client or boto3.client(
            "s3",
            region_name=config.region,
            endpoint_url=config.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, s3={"addressing_style": "path"}),
        )

    def _encryption(self) -> dict[str, str]:
        extra: dict[str, str] = {}
        if self.config.server_side_encryption:
            extra["ServerSideEncryption"] = self.config.server_side_encryption
            if self.config.kms_key_id:
                extra["SSEKMSKeyId"] = self.config.kms_key_id
        return extra

    async def put(self, key: str, source: IO[bytes], content_type: str) -> None:
        extra = {"ContentType": content_type, **self._encryption()}
        await asyncio.to_thread(self.client.upload_fileobj, source, self.config.bucket, key, ExtraArgs=extra)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        try:
            response = await asyncio.to_thread(self.client.get_object, Bucket=self.config.bucket, Key=key)
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(key) from exc
        body = response["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.config.bucket, Key=key)

    async def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.config.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    async def blobs(self) -> AsyncIterator[StoredBlob]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.config.bucket, Prefix="files/"))
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            for item in page.get("Contents", []):
                modified: datetime = item["LastModified"]
                yield StoredBlob(item["Key"], int(item["Size"]), modified.timestamp())

    def presigned_put(self, key: str, content_type: str, expires: timedelta) -> tuple[str, dict[str, str]]:
        """A URL for one PUT of the object, and the headers that PUT must carry."""
        headers = {"Content-Type": content_type}
        params: dict[str, Any] = {"Bucket": self.config.bucket, "Key": key, "ContentType": content_type}
        if self.config.server_side_encryption:
            params["ServerSideEncryption"] = self.config.server_side_encryption
            headers["x-amz-server-side-encryption"] = self.config.server_side_encryption
        url = self.client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=int(expires.total_seconds())
        )
        return url, headers

    def presigned_get(self, key: str, filename_disposition: str, expires: timedelta) -> str:
        params = {
            "Bucket": self.config.bucket,
            "Key": key,
            "ResponseContentDisposition": filename_disposition,
        }
        return str(
            self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=int(expires.total_seconds())
            )
        )
