"""Files: attachments through the gateway; the files schema, blob directory and events as an
operator sees them; a moto S3 and a files server of a test's own."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from support.accounts import Account, unique
from support.events import stream_events
from support.polling import wait_until
from support.sql import service_sql

FILES_EVENTS_STREAM = "events:files"
FILE_KEYS = frozenset({"id", "task_id", "original_filename", "file_size", "content_type", "uploaded_at"})


FILES_TIMEOUT = 15.0  # seconds an event, a consumer or the cleanup loop may take
MIB = 1024 * 1024


# First bytes that pass the files service's content checks, per extension.
FILE_HEADS = {
    ".txt": b"plain text\n",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff\xe0",
    ".jpeg": b"\xff\xd8\xff\xdb",
    ".gif": b"GIF89a",
    ".pdf": b"%PDF-1.7\n",
    ".doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    ".docx": b"PK\x03\x04",
}


def file_bytes(extension: str, size: int) -> bytes:
    """`size` bytes that pass the checks of a file with this extension (random after the head;
    printable for .txt)."""
    import os

    head = FILE_HEADS[extension]
    if extension == ".txt":
        body = base64.b64encode(os.urandom(size))[: max(size - len(head), 0)]
    else:
        body = os.urandom(max(size - len(head), 0))
    return (head + body)[:size]


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def files_path(task_id: int) -> str:
    return f"/tasks/{task_id}/files"


def upload_multipart(
    http: httpx.Client,
    account: Account,
    task_id: int,
    data: bytes,
    filename: str,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    """POST /tasks/{task_id}/files with the file in multipart part `file`; unchecked."""
    return http.post(
        files_path(task_id), files={"file": (filename, data, content_type)}, headers=account.headers
    )


def upload_raw(
    http: httpx.Client,
    account: Account,
    task_id: int,
    data: bytes,
    filename: str | None,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    """POST /tasks/{task_id}/files with the bytes as the body and `?filename=`; unchecked."""
    params = {} if filename is None else {"filename": filename}
    headers = {**account.headers, "content-type": content_type}
    return http.post(files_path(task_id), params=params, content=data, headers=headers)


def uploaded_file(response: httpx.Response) -> dict[str, Any]:
    """The File of a 201 upload response (asserting its shape)."""
    assert response.status_code == 201, response.text
    file: dict[str, Any] = response.json()
    assert set(file) == FILE_KEYS, file
    return file


def list_files(http: httpx.Client, account: Account, task_id: int) -> list[dict[str, Any]]:
    """GET /tasks/{task_id}/files as `account`; asserts 200 and a bare JSON array."""
    response = http.get(files_path(task_id), headers=account.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    assert isinstance(found, list), found
    return found


def download(http: httpx.Client, account: Account, file_id: int) -> httpx.Response:
    """GET /files/{file_id} as `account`; unchecked."""
    return http.get(f"/files/{file_id}", headers=account.headers)


def files_sql(stack: Any, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return service_sql(stack, "files", query, params)


def blob_key(stack: Any, file_id: int) -> str:
    """The blob key of a file's row (the row must exist)."""
    rows = files_sql(stack, "SELECT blob_key FROM files WHERE id = %s", (file_id,))
    assert rows, f"file {file_id} has no row"
    key: str = rows[0]["blob_key"]
    return key


def blob_root(stack: Any) -> Path:
    """Where the stack's files service keeps its blobs (LocalBlobStore under DATA_DIR/blobs)."""
    return Path(stack.data) / "blobs"


def blob_names(stack: Any) -> set[str]:
    """Every entry of the local blob directory, partial uploads included."""
    folder = blob_root(stack) / "files"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def file_events(
    redis_url: str,
    task_id: int,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = FILES_TIMEOUT,
) -> list[Any]:
    """The events of `events:files` about task `task_id`, oldest first (see stream_events)."""
    return stream_events(
        redis_url,
        FILES_EVENTS_STREAM,
        lambda event: event.HasField("task_id") and event.task_id == task_id,
        until,
        timeout,
    )


def content_disposition_params(header: str) -> tuple[str, dict[str, str]]:
    """(disposition type, {parameter: raw value}) of a Content-Disposition header, split as RFC
    6266 reads it (quoted strings may hold ';'); quoted values are returned unquoted."""
    import re

    token = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    pattern = re.compile(rf'\s*;\s*({token})\s*=\s*("(?:[^"\\]|\\.)*"|{token})')
    kind = re.match(token, header)
    assert kind, header
    params: dict[str, str] = {}
    position = kind.end()
    while position < len(header):
        found = pattern.match(header, position)
        assert found, f"unparsable Content-Disposition at {position}: {header!r}"
        name, value = found.group(1).lower(), found.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        assert name not in params, f"{name} twice: {header!r}"
        params[name] = value
        position = found.end()
    return kind.group(0).lower(), params


def disposition_filename(header: str) -> str:
    """The file name an RFC 6266 client saves under: filename* (RFC 8187) when present."""
    from urllib.parse import unquote

    _, params = content_disposition_params(header)
    if "filename*" in params:
        charset, _, encoded = params["filename*"].split("'", 2)
        assert charset.lower() == "utf-8", header
        return unquote(encoded, encoding="utf-8", errors="strict")
    return params["filename"]


class MotoServer:
    """A local S3 (moto's server mode) on a free port, reached over real HTTP with dummy keys."""

    CREDENTIALS = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: Any = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        import os
        import subprocess
        import sys

        from tm_devstack.ports import free_port

        os.environ.update(self.CREDENTIALS)  # boto3 (also in this process's servers) reads them
        self.port = free_port()
        binary = Path(sys.executable).parent / "moto_server"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=log
            )

        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError("moto_server exited")
            try:
                return httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        try:
            wait_until(up, "moto_server to start", timeout, every=0.1)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"moto_server did not start; see {self.log_path}") from None
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait(10)

    def client(self) -> Any:
        """A boto3 S3 client of this server (path-style, as the files service's)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=self.endpoint_url,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = unique("bucket-")
        self.client().create_bucket(Bucket=name)
        return name


def files_settings(stack: Any, **overrides: Any) -> Any:
    """FilesSettings of a files server against the stack's Postgres (the files schema, shared with
    the stack's files service), Redis, auth and tasks."""
    from tm_devstack.services import SERVICES
    from tm_files.config import FilesSettings

    spec = next(s for s in SERVICES if s.name == "files")
    values: dict[str, Any] = {
        "database_url": stack.service_database_url(spec),
        "redis_url": stack.redis_url,
        "auth_address": stack.service_address("auth"),
        "tasks_address": stack.service_address("tasks"),
        "outbox_relay": False,
        "consume_streams": "",
        "consumer_group": unique("files-test-"),
        **overrides,
    }
    return FilesSettings(**values)


def files_server(stack: Any, **overrides: Any) -> Any:
    """An async context manager: a files server in this process on a free port (it yields the
    address), serving RPCs only, with the stack's settings and `overrides`.

    It shares the files schema with the stack's files service, so it runs none of the background
    loops: the stack's service relays the shared outbox and consumes task deletions, and a second
    cleanup loop with another blob store would carry out (and so lose) the stack's scheduled blob
    deletions against the wrong store."""
    import dataclasses
    from contextlib import asynccontextmanager

    from support.identity import calling_as
    from support.stacks import serving_in_process
    from tm_files.bootstrap import build

    @asynccontextmanager
    async def serving() -> Any:
        settings = files_settings(stack, **overrides)
        # It serves plaintext (tests call it directly) and calls the stack's auth and tasks as files.
        with calling_as(stack, "files"):
            definition = dataclasses.replace(build(settings), background=[])
            async with serving_in_process(definition, settings) as address:
                yield address

    return serving()
