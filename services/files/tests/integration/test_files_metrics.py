"""tm_files_bytes_total through a files server in this process (blobs in a local S3, called over
gRPC): uploads stored count in, downloads sent count out, by their size; a refused upload and
presigned transfers (straight to S3) count nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.api import httpbody_pb2
from prometheus_client import REGISTRY

from support.accounts import bearer_metadata, new_account
from support.files import file_bytes
from support.tasks import create_task
from taskmanager.files.v1 import files_pb2


def moved(direction: str) -> float:
    return REGISTRY.get_sample_value("tm_files_bytes_total", {"direction": direction}) or 0.0


@pytest.fixture
def owner(http):
    return new_account(http)


@pytest.fixture
def task(http, owner) -> dict[str, Any]:
    return create_task(http, owner)


async def streamed(task_id: int, filename: str, data: bytes) -> AsyncIterator[files_pb2.UploadFileRequest]:
    metadata = files_pb2.UploadFileMetadata(task_id=task_id, filename=filename, file_size=len(data))
    yield files_pb2.UploadFileRequest(metadata=metadata)
    for start in range(0, len(data), 256 * 1024):
        yield files_pb2.UploadFileRequest(chunk=data[start : start + 256 * 1024])


async def test_uploads_count_in_and_downloads_count_out_by_their_size(s3_stub, owner, task) -> None:
    auth = bearer_metadata(owner)
    streamed_data = file_bytes(".pdf", 1024 * 1024 + 5)
    before_in, before_out = moved("in"), moved("out")
    made = await s3_stub.UploadFile(streamed(task["id"], "big.pdf", streamed_data), metadata=auth)
    assert (moved("in"), moved("out")) == (before_in + len(streamed_data), before_out)

    body = file_bytes(".txt", 1000)
    small = await s3_stub.CreateFile(
        files_pb2.CreateFileRequest(
            task_id=task["id"],
            filename="notes.txt",
            content=httpbody_pb2.HttpBody(content_type="text/plain", data=body),
        ),
        metadata=auth,
    )
    assert moved("in") == before_in + len(streamed_data) + len(body)

    messages = [
        m async for m in s3_stub.DownloadFile(files_pb2.DownloadFileRequest(id=made.file.id), metadata=auth)
    ]
    assert b"".join(m.chunk for m in messages[1:]) == streamed_data
    assert moved("out") == before_out + len(streamed_data)
    content = await s3_stub.GetFileContent(files_pb2.GetFileContentRequest(id=small.id), metadata=auth)
    assert content.data == body
    assert moved("out") == before_out + len(streamed_data) + len(body)
    assert moved("in") == before_in + len(streamed_data) + len(body)


async def test_a_refused_upload_counts_nothing(s3_stub, owner, task) -> None:
    data = file_bytes(".pdf", 2000)
    before = moved("in")
    metadata = files_pb2.UploadFileMetadata(task_id=task["id"], filename="a.pdf", file_size=len(data) + 1)

    async def wrong_size() -> AsyncIterator[files_pb2.UploadFileRequest]:
        yield files_pb2.UploadFileRequest(metadata=metadata)
        yield files_pb2.UploadFileRequest(chunk=data)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await s3_stub.UploadFile(wrong_size(), metadata=bearer_metadata(owner))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert moved("in") == before


async def test_presigned_transfers_bypass_the_count(s3_stub, owner, task) -> None:
    auth = bearer_metadata(owner)
    data = file_bytes(".pdf", 3000)
    before_in, before_out = moved("in"), moved("out")
    made = await s3_stub.CreateUploadUrl(
        files_pb2.CreateUploadUrlRequest(task_id=task["id"], filename="direct.pdf", file_size=len(data)),
        metadata=auth,
    )
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.put(made.url, content=data, headers=dict(made.headers))).status_code == 200
        file = await s3_stub.ConfirmUpload(
            files_pb2.ConfirmUploadRequest(upload_id=made.upload_id), metadata=auth
        )
        link = await s3_stub.CreateDownloadUrl(files_pb2.CreateDownloadUrlRequest(id=file.id), metadata=auth)
        assert (await client.get(link.url)).content == data
    assert (moved("in"), moved("out")) == (before_in, before_out)
