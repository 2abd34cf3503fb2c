"""Presigned transfers straight to S3 (a local moto server over real HTTP), through a files server
in this process configured for S3 and called over gRPC: a URL for a PUT, the PUT itself with the
headers it names, the confirmation that turns the object into a file (idempotent; a refused object
is removed), and a presigned GET of the bytes. moto does not check signatures, so these tests
check the flow and what the service does with the objects, not the signing."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
import pytest

from support.accounts import bearer_metadata, log_in, new_account, new_user
from support.errors import violated_fields
from support.files import MotoServer, disposition_filename, file_bytes, file_events, files_sql, sha256
from support.sharing import share_task
from support.tasks import create_task
from taskmanager.files.v1 import files_pb2


async def upload_url(stub, account, task_id: int, filename: str, size: int, **extra: Any):
    request = files_pb2.CreateUploadUrlRequest(task_id=task_id, filename=filename, file_size=size, **extra)
    return await stub.CreateUploadUrl(request, metadata=bearer_metadata(account))


async def confirm(stub, account, upload_id: str) -> files_pb2.File:
    request = files_pb2.ConfirmUploadRequest(upload_id=upload_id)
    return await stub.ConfirmUpload(request, metadata=bearer_metadata(account))


async def put(made: files_pb2.CreateUploadUrlResponse, data: bytes) -> httpx.Response:
    """The client's PUT to the presigned URL, with exactly the headers the service named."""
    assert made.method == "PUT"
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.put(made.url, content=data, headers=dict(made.headers))


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url)


def object_key(made: files_pb2.CreateUploadUrlResponse) -> str:
    """The object key a presigned URL of the local S3 (path-style: /bucket/key) points at."""
    path = httpx.URL(made.url).path
    return path.split("/", 2)[2]


async def rpc_failure(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return failure.value


def exists(moto: MotoServer, bucket: str, key: str) -> bool:
    try:
        moto.client().head_object(Bucket=bucket, Key=key)
    except moto.client().exceptions.ClientError:
        return False
    return True


@pytest.fixture
def owner(http):
    return new_account(http)


@pytest.fixture
def task(http, owner) -> dict[str, Any]:
    return create_task(http, owner)


async def test_upload_by_url_confirm_and_download_by_url(s3_stub, s3_files, moto, stack, owner, task) -> None:
    _, bucket = s3_files
    data = file_bytes(".pdf", 3 * 1024 * 1024 + 17)
    made = await upload_url(s3_stub, owner, task["id"], "../quarterly report é.pdf", len(data))
    assert made.upload_id and made.expires_at.seconds > 0
    assert dict(made.headers)["Content-Type"] == "application/pdf"
    assert dict(made.headers)["x-amz-server-side-encryption"] == "AES256"
    key = object_key(made)
    assert key.startswith("files/") and "report" not in key  # a generated key, never the name

    assert (await put(made, data)).status_code == 200
    file = await confirm(s3_stub, owner, made.upload_id)
    assert (file.task_id, file.original_filename, file.file_size, file.content_type) == (
        task["id"],
        "quarterly report é.pdf",
        len(data),
        "application/pdf",
    )
    rows = files_sql(
        stack, "SELECT blob_key, upload_id::text AS upload_id FROM files WHERE id = %s", (file.id,)
    )
    assert rows == [{"blob_key": key, "upload_id": made.upload_id}]
    assert files_sql(stack, "SELECT 1 FROM pending_uploads WHERE upload_id = %s", (made.upload_id,)) == []
    head = moto.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)

    link = await s3_stub.CreateDownloadUrl(
        files_pb2.CreateDownloadUrlRequest(id=file.id), metadata=bearer_metadata(owner)
    )
    assert link.expires_at.seconds > 0
    got = await fetch(link.url)
    assert got.status_code == 200
    assert sha256(got.content) == sha256(data)
    assert disposition_filename(got.headers["content-disposition"]) == "quarterly report é.pdf"

    # The same bytes come through the service's own download too.
    chunks = [
        message
        async for message in s3_stub.DownloadFile(
            files_pb2.DownloadFileRequest(id=file.id), metadata=bearer_metadata(owner)
        )
    ]
    assert chunks[0].metadata == file
    assert sha256(b"".join(message.chunk for message in chunks[1:])) == sha256(data)

    uploaded = file_events(stack.redis_url, task["id"], until=lambda events: len(events) >= 1)
    assert [(e.type, e.file_uploaded.file.id) for e in uploaded] == [("file.uploaded", file.id)]


async def test_confirming_twice_is_the_same_file(s3_stub, stack, owner, task) -> None:
    data = file_bytes(".png", 1000)
    made = await upload_url(s3_stub, owner, task["id"], "pic.png", len(data), content_type="image/png")
    assert (await put(made, data)).status_code == 200
    first = await confirm(s3_stub, owner, made.upload_id)
    again = await confirm(s3_stub, owner, made.upload_id)
    assert again == first
    listed = await s3_stub.ListFiles(
        files_pb2.ListFilesRequest(task_id=task["id"]), metadata=bearer_metadata(owner)
    )
    assert [f.id for f in listed.files] == [first.id]
    assert len(files_sql(stack, "SELECT id FROM files WHERE task_id = %s", (task["id"],))) == 1


@pytest.mark.parametrize(
    ("declared", "sent", "field"),
    [
        pytest.param(1000, file_bytes(".png", 999), "file", id="shorter-than-declared"),
        pytest.param(1000, file_bytes(".png", 1001), "file", id="longer-than-declared"),
        pytest.param(1000, file_bytes(".txt", 1000), "file", id="not-a-png"),
    ],
)
async def test_a_refused_object_is_removed_and_the_upload_forgotten(
    s3_stub, s3_files, moto, stack, owner, task, declared: int, sent: bytes, field: str
) -> None:
    _, bucket = s3_files
    made = await upload_url(s3_stub, owner, task["id"], "pic.png", declared)
    assert (await put(made, sent)).status_code == 200
    assert exists(moto, bucket, object_key(made))
    failure = await rpc_failure(confirm(s3_stub, owner, made.upload_id))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(failure) == {field}
    assert not exists(moto, bucket, object_key(made))
    assert files_sql(stack, "SELECT id FROM files WHERE task_id = %s", (task["id"],)) == []
    assert files_sql(stack, "SELECT 1 FROM pending_uploads WHERE upload_id = %s", (made.upload_id,)) == []
    # The refusal is final: confirming again finds no upload.
    again = await rpc_failure(confirm(s3_stub, owner, made.upload_id))
    assert again.code() == grpc.StatusCode.NOT_FOUND


async def test_confirming_before_the_put_is_refused_and_can_be_retried(s3_stub, owner, task) -> None:
    data = file_bytes(".txt", 50)
    made = await upload_url(s3_stub, owner, task["id"], "notes.txt", len(data))
    early = await rpc_failure(confirm(s3_stub, owner, made.upload_id))
    assert early.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(early) == {"upload_id"}
    assert (await put(made, data)).status_code == 200
    assert (await confirm(s3_stub, owner, made.upload_id)).file_size == 50


@pytest.mark.parametrize(
    ("filename", "size", "extra", "fields"),
    [
        pytest.param("run.exe", 10, {}, {"filename"}, id="extension"),
        pytest.param("big.pdf", 10 * 1024 * 1024 + 1, {}, {"file_size"}, id="too-big"),
        pytest.param("empty.pdf", 0, {}, {"file_size"}, id="empty"),
        pytest.param("a.png", 10, {"content_type": "text/html"}, {"content_type"}, id="declared-type"),
        pytest.param("", 10, {}, {"filename"}, id="no-name"),
    ],
)
async def test_an_upload_url_is_refused_for_what_an_upload_would_be(
    s3_stub, stack, owner, task, filename: str, size: int, extra: dict[str, str], fields: set[str]
) -> None:
    failure = await rpc_failure(upload_url(s3_stub, owner, task["id"], filename, size, **extra))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(failure) == fields
    assert files_sql(stack, "SELECT 1 FROM pending_uploads WHERE task_id = %s", (task["id"],)) == []


async def test_presigned_transfers_follow_the_task_permissions(s3_stub, http, owner, task) -> None:
    viewer, editor, stranger = (log_in(http, new_user(http)) for _ in range(3))
    share_task(http, owner, task["id"], viewer.username, "view")
    share_task(http, owner, task["id"], editor.username, "edit")
    data = file_bytes(".gif", 64)

    denied = await rpc_failure(upload_url(s3_stub, viewer, task["id"], "a.gif", len(data)))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    hidden = await rpc_failure(upload_url(s3_stub, stranger, task["id"], "a.gif", len(data)))
    assert hidden.code() == grpc.StatusCode.NOT_FOUND

    made = await upload_url(s3_stub, editor, task["id"], "a.gif", len(data))
    assert (await put(made, data)).status_code == 200
    # An upload belongs to whoever asked for it.
    foreign = await rpc_failure(confirm(s3_stub, owner, made.upload_id))
    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    file = await confirm(s3_stub, editor, made.upload_id)

    link = await s3_stub.CreateDownloadUrl(
        files_pb2.CreateDownloadUrlRequest(id=file.id), metadata=bearer_metadata(viewer)
    )
    assert (await fetch(link.url)).content == data
    unseen = await rpc_failure(
        s3_stub.CreateDownloadUrl(
            files_pb2.CreateDownloadUrlRequest(id=file.id), metadata=bearer_metadata(stranger)
        )
    )
    assert unseen.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("upload_id", ["not-a-uuid", ""])
async def test_a_malformed_upload_id_is_a_bad_request(s3_stub, owner, upload_id: str) -> None:
    failure = await rpc_failure(confirm(s3_stub, owner, upload_id))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(failure) == {"upload_id"}


async def test_an_unknown_upload_id_is_not_found(s3_stub, owner) -> None:
    failure = await rpc_failure(confirm(s3_stub, owner, str(uuid.uuid4())))
    assert failure.code() == grpc.StatusCode.NOT_FOUND


async def test_a_plain_upload_to_the_s3_server_lands_in_the_bucket(
    s3_stub, s3_files, moto, stack, owner, task
) -> None:
    """The streaming upload with the S3 store: the object, encrypted, under the row's key."""
    _, bucket = s3_files
    data = file_bytes(".jpg", 2 * 1024 * 1024 + 5)

    async def messages():
        meta = files_pb2.UploadFileMetadata(task_id=task["id"], filename="photo.jpg", file_size=len(data))
        yield files_pb2.UploadFileRequest(metadata=meta)
        for start in range(0, len(data), 1024 * 1024):
            yield files_pb2.UploadFileRequest(chunk=data[start : start + 1024 * 1024])

    reply = await s3_stub.UploadFile(messages(), metadata=bearer_metadata(owner))
    key = files_sql(stack, "SELECT blob_key FROM files WHERE id = %s", (reply.file.id,))[0]["blob_key"]
    stored = moto.client().get_object(Bucket=bucket, Key=key)
    assert stored["ServerSideEncryption"] == "AES256"
    assert stored["ContentType"] == "image/jpeg"
    assert sha256(stored["Body"].read()) == sha256(data)
    await s3_stub.DeleteFile(files_pb2.DeleteFileRequest(id=reply.file.id), metadata=bearer_metadata(owner))
    assert not exists(moto, bucket, key)
