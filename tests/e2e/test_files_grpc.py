"""Files over native gRPC: streaming upload (UploadFile) and download (DownloadFile) through the
gateway's port with the stack's 10 MiB limit, the same files seen over JSON, and a 20 MiB round
trip against a files server in this process that allows 32 MiB (called directly: the stack's own
files service, behind Envoy, keeps the default limit that the JSON tests rely on)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from support.accounts import Account, bearer_metadata, log_in, new_user
from support.errors import rpc_error, violated_fields
from support.files import (
    MIB,
    blob_key,
    blob_names,
    download,
    file_bytes,
    files_server,
    files_sql,
    list_files,
    sha256,
    upload_raw,
    uploaded_file,
)
from support.sharing import share_task
from support.tasks import create_task
from taskmanager.files.v1 import files_pb2, files_pb2_grpc

LIMIT = 10 * MIB


@pytest.fixture(scope="module")
def stub(gateway_channel) -> files_pb2_grpc.FilesServiceStub:
    return files_pb2_grpc.FilesServiceStub(gateway_channel)


@pytest.fixture
def task(http, account) -> dict[str, Any]:
    return create_task(http, account)


def metadata(task_id: int, filename: str, size: int | None = None, kind: str | None = None):
    meta = files_pb2.UploadFileMetadata(task_id=task_id, filename=filename)
    if size is not None:
        meta.file_size = size
    if kind is not None:
        meta.content_type = kind
    return files_pb2.UploadFileRequest(metadata=meta)


def chunks(data: bytes, size: int = MIB) -> Iterator[files_pb2.UploadFileRequest]:
    for start in range(0, len(data), size):
        yield files_pb2.UploadFileRequest(chunk=data[start : start + size])


def messages(task_id: int, filename: str, data: bytes, declare: bool = True, **extra: Any):
    yield metadata(task_id, filename, len(data) if declare else None, **extra)
    yield from chunks(data)


def received(replies) -> tuple[files_pb2.File, bytes, list[int]]:
    """(metadata, content, chunk sizes) of a DownloadFile stream; the metadata comes first, once."""
    replies = list(replies)
    assert replies and replies[0].WhichOneof("data") == "metadata", replies[:1]
    assert all(reply.WhichOneof("data") == "chunk" for reply in replies[1:])
    sizes = [len(reply.chunk) for reply in replies[1:]]
    return replies[0].metadata, b"".join(reply.chunk for reply in replies[1:]), sizes


def upload(stub, account: Account, requests) -> files_pb2.File:
    return stub.UploadFile(requests, metadata=bearer_metadata(account)).file


def fetch(stub, account: Account, file_id: int):
    return received(
        stub.DownloadFile(files_pb2.DownloadFileRequest(id=file_id), metadata=bearer_metadata(account))
    )


# -- through Envoy ---------------------------------------------------------------------------
def test_a_9_mib_streaming_round_trip_through_the_gateway(stub, http, account, task, stack) -> None:
    data = file_bytes(".pdf", 9 * MIB + 12345)
    file = upload(stub, account, messages(task["id"], "../big scan.pdf", data))
    assert (file.task_id, file.original_filename, file.file_size, file.content_type) == (
        task["id"],
        "big scan.pdf",
        len(data),
        "application/pdf",
    )
    meta, content, sizes = fetch(stub, account, file.id)
    assert meta == file
    assert sha256(content) == sha256(data)
    assert max(sizes) <= MIB
    # The same file over JSON, and on disk.
    assert [f["id"] for f in list_files(http, account, task["id"])] == [file.id]
    assert sha256(download(http, account, file.id).content) == sha256(data)
    assert sha256((Path(stack.data) / "blobs" / blob_key(stack, file.id)).read_bytes()) == sha256(data)


def test_small_chunks_and_an_undeclared_size_work_too(stub, account, task) -> None:
    data = file_bytes(".png", 100_000)

    def requests():
        yield metadata(task["id"], "pic.png", kind="image/png")
        yield from chunks(data, 7777)

    file = upload(stub, account, requests())
    assert file.file_size == len(data)
    assert fetch(stub, account, file.id)[1] == data


def test_a_json_upload_streams_back_over_grpc(stub, http, account, task) -> None:
    data = file_bytes(".gif", 3 * MIB)
    file = uploaded_file(upload_raw(http, account, task["id"], data, "anim.gif", "image/gif"))
    meta, content, _ = fetch(stub, account, file["id"])
    assert (meta.id, meta.original_filename, meta.file_size) == (file["id"], "anim.gif", len(data))
    assert content == data


def test_list_pages_with_tokens(stub, http, account, task) -> None:
    made = [
        uploaded_file(upload_raw(http, account, task["id"], b"x", f"{n}.txt", "text/plain")) for n in range(5)
    ]
    seen: list[int] = []
    token = ""
    for _ in range(10):
        page = stub.ListFiles(
            files_pb2.ListFilesRequest(task_id=task["id"], page_size=2, page_token=token),
            metadata=bearer_metadata(account),
        )
        assert len(page.files) <= 2
        seen += [f.id for f in page.files]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f["id"] for f in made]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(
            lambda t: messages(t, "big.pdf", file_bytes(".pdf", LIMIT + 1), declare=False),
            "file",
            id="streamed-over",
        ),
        pytest.param(lambda t: iter([metadata(t, "big.pdf", 20 * MIB)]), "file_size", id="declared-over"),
        pytest.param(
            lambda t: iter([metadata(t, "a.txt", 10), *chunks(b"only five")]),
            "file_size",
            id="declared-mismatch",
        ),
        pytest.param(lambda t: iter(chunks(b"no metadata")), "metadata", id="no-metadata-first"),
        pytest.param(lambda t: iter([]), "metadata", id="empty-stream"),
        pytest.param(
            lambda t: iter([metadata(t, "a.txt"), files_pb2.UploadFileRequest(chunk=b"a" * (MIB + 1))]),
            "chunk",
            id="chunk-over-1MiB",
        ),
        pytest.param(
            lambda t: iter([metadata(t, "a.txt"), *chunks(b"x"), metadata(t, "b.txt")]),
            "chunk",
            id="metadata-twice",
        ),
        pytest.param(lambda t: messages(t, "run.exe", b"MZ\x90"), "filename", id="extension"),
        pytest.param(lambda t: messages(t, "fake.png", b"not a png at all"), "file", id="content"),
        pytest.param(
            lambda t: messages(t, "a.txt", b"plain", kind="text/html"), "content_type", id="declared-type"
        ),
        pytest.param(lambda t: iter([metadata(t, "empty.txt")]), "file", id="no-bytes"),
    ],
)
def test_a_refused_stream_is_invalid_argument_and_stores_nothing(
    stub, account, task, stack, build, field
) -> None:
    before = blob_names(stack)
    error = rpc_error(lambda: upload(stub, account, build(task["id"])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert violated_fields(error) == {field}
    assert files_sql(stack, "SELECT id FROM files WHERE task_id = %s", (task["id"],)) == []
    assert blob_names(stack) - before == set()


def test_grpc_follows_the_task_permissions(stub, http, account, task, stack) -> None:
    viewer, stranger = log_in(http, new_user(http)), log_in(http, new_user(http))
    share_task(http, account, task["id"], viewer.username, "view")
    file = upload(stub, account, messages(task["id"], "a.txt", b"shared"))
    assert fetch(stub, viewer, file.id)[1] == b"shared"
    denied = rpc_error(lambda: upload(stub, viewer, messages(task["id"], "b.txt", b"mine")))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    for call in (
        lambda: upload(stub, stranger, messages(task["id"], "b.txt", b"mine")),
        lambda: fetch(stub, stranger, file.id),
        lambda: stub.DeleteFile(files_pb2.DeleteFileRequest(id=file.id), metadata=bearer_metadata(stranger)),
    ):
        assert rpc_error(call).code() == grpc.StatusCode.NOT_FOUND
    for call in (
        lambda: stub.UploadFile(messages(task["id"], "b.txt", b"anon")),
        lambda: list(stub.DownloadFile(files_pb2.DownloadFileRequest(id=file.id))),
    ):
        assert rpc_error(call).code() == grpc.StatusCode.UNAUTHENTICATED
    assert [
        row["id"] for row in files_sql(stack, "SELECT id FROM files WHERE task_id = %s", (task["id"],))
    ] == [file.id]


# -- 20 MiB against a server that allows it --------------------------------------------------
@pytest.fixture(scope="module")
async def roomy_files(stack, tmp_path_factory) -> AsyncIterator[tuple[str, Path]]:
    """(address, blob root) of a files server in this process with MAX_FILE_BYTES = 32 MiB."""
    data_dir = tmp_path_factory.mktemp("roomy-files")
    async with files_server(stack, max_file_bytes=32 * MIB, data_dir=data_dir) as address:
        yield address, data_dir / "blobs"


async def test_a_20_mib_streaming_round_trip(roomy_files, http, stack) -> None:
    address, blobs = roomy_files
    account = log_in(http, new_user(http))
    task = create_task(http, account)
    data = file_bytes(".pdf", 20 * MIB + 3)

    async def requests() -> AsyncIterator[files_pb2.UploadFileRequest]:
        for request in messages(task["id"], "twenty.pdf", data):
            yield request

    async with grpc.aio.insecure_channel(address) as channel:
        direct = files_pb2_grpc.FilesServiceStub(channel)
        reply = await direct.UploadFile(requests(), metadata=bearer_metadata(account))
        assert (reply.file.file_size, reply.file.content_type) == (len(data), "application/pdf")
        stream = direct.DownloadFile(
            files_pb2.DownloadFileRequest(id=reply.file.id), metadata=bearer_metadata(account)
        )
        meta, content, sizes = received([message async for message in stream])
        assert meta == reply.file
        assert sha256(content) == sha256(data)
        assert max(sizes) <= MIB
        assert sha256((blobs / blob_key(stack, reply.file.id)).read_bytes()) == sha256(data)

        over = file_bytes(".pdf", 32 * MIB + 1)

        async def too_much() -> AsyncIterator[files_pb2.UploadFileRequest]:
            for request in messages(task["id"], "over.pdf", over, declare=False):
                yield request

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await direct.UploadFile(too_much(), metadata=bearer_metadata(account))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        await direct.DeleteFile(
            files_pb2.DeleteFileRequest(id=reply.file.id), metadata=bearer_metadata(account)
        )
    assert files_sql(stack, "SELECT id FROM files WHERE task_id = %s", (task["id"],)) == []
    assert [path.name for path in (blobs / "files").iterdir()] == []
