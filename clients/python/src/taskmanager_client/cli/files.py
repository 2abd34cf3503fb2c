"""files upload/download/ls/rm: streaming gRPC with a progress bar on a terminal's stderr."""

from __future__ import annotations

import argparse
import contextlib
import mimetypes
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from taskmanager.files.v1 import files_pb2

from .app import Context
from .errors import ERROR, INVALID, CliError
from .output import print_json, print_table, size, when
from .pages import every_page
from .progress import Progress

# The service takes chunks of at most 1 MiB; smaller ones move the progress bar more smoothly.
CHUNK_BYTES = 256 * 1024
MAX_INT32 = 2**31 - 1


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    files = commands.add_parser("files", help="attachments of tasks: upload, download, ls, rm")
    sub = files.add_subparsers(dest="action", metavar="ACTION", required=True)

    upload = sub.add_parser("upload", help="attach a file to a task")
    upload.add_argument("task_id", type=int)
    upload.add_argument("path", type=Path)
    upload.add_argument("--name", help="file name to store (default: the path's name)")
    upload.add_argument("--content-type", help="default: guessed from the name")
    upload.set_defaults(run=upload_file)

    download = sub.add_parser("download", help="download a file")
    download.add_argument("file_id", type=int)
    download.add_argument(
        "-o", "--output", help="file or directory to write, - for stdout (default: its name)"
    )
    download.add_argument("--force", "-f", action="store_true", help="overwrite an existing file")
    download.set_defaults(run=download_file)

    ls = sub.add_parser("ls", help="a task's files")
    ls.add_argument("task_id", type=int)
    ls.set_defaults(run=list_files)

    rm = sub.add_parser("rm", help="delete a file")
    rm.add_argument("file_id", type=int)
    rm.set_defaults(run=remove_file)
    for parser in (upload, download, ls, rm):
        parser.set_defaults(needs_auth=True)


def upload_file(ctx: Context) -> int:
    args = ctx.args
    path: Path = args.path
    name = args.name or path.name
    try:
        source = path.open("rb")
        total = os.fstat(source.fileno()).st_size
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}", INVALID) from error
    with source:
        if total > MAX_INT32:
            raise CliError(f"{path} is too large ({size(total)})", INVALID)
        metadata = files_pb2.UploadFileMetadata(task_id=args.task_id, filename=name, file_size=total)
        content_type = args.content_type or mimetypes.guess_type(name)[0]
        if content_type:
            metadata.content_type = content_type
        progress = Progress(f"upload {name}", total)
        try:
            reply = ctx.client.files.UploadFile(
                _requests(metadata, source, progress), timeout=ctx.transfer_timeout
            )
        finally:
            progress.finish()
    file = reply.file
    if ctx.json:
        print_json(file)
    else:
        name, length = file.original_filename, size(file.file_size)
        print(f"Uploaded {name} as file {file.id} ({length}) to task {file.task_id}.")
    return 0


def _requests(
    metadata: files_pb2.UploadFileMetadata, source: BinaryIO, progress: Progress
) -> Iterator[files_pb2.UploadFileRequest]:
    yield files_pb2.UploadFileRequest(metadata=metadata)
    while chunk := source.read(CHUNK_BYTES):
        progress.advance(len(chunk))
        yield files_pb2.UploadFileRequest(chunk=chunk)


def download_file(ctx: Context) -> int:
    args = ctx.args
    request = files_pb2.DownloadFileRequest(id=args.file_id)
    replies = ctx.client.files.DownloadFile(request, timeout=ctx.transfer_timeout)
    first = next(iter(replies), None)
    if first is None or first.WhichOneof("data") != "metadata":
        raise CliError("the server sent no file metadata", ERROR)
    file = first.metadata
    chunks = (reply.chunk for reply in replies)
    if args.output == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return 0
    target = _target(args.output, file)
    if target.exists() and not args.force:
        raise CliError(f"{target} exists; use --force to overwrite it", INVALID)
    _write(target, chunks, file)
    return ctx.report(
        {"file": file.id, "path": str(target), "bytes": file.file_size},
        f"Downloaded {file.original_filename} to {target} ({size(file.file_size)}).",
    )


def _target(output: str | None, file: files_pb2.File) -> Path:
    name = Path(file.original_filename).name
    if name in ("", ".", ".."):
        name = f"file-{file.id}"
    if output is None:
        return Path(name)
    target = Path(output)
    return target / name if target.is_dir() else target


def _write(target: Path, chunks: Iterator[bytes], file: files_pb2.File) -> None:
    """Writes to a temporary file beside `target` and renames it only once every byte arrived."""
    try:
        fd, temporary = tempfile.mkstemp(
            dir=target.parent or Path("."), prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as error:
        raise CliError(f"cannot write in {target.parent}: {error.strerror}", INVALID) from error
    progress = Progress(f"download {file.original_filename}", file.file_size)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                progress.advance(len(chunk))
        if progress.done != file.file_size:
            raise CliError(f"download incomplete: {progress.done} of {file.file_size} bytes", ERROR)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 is for secrets, not downloads
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        progress.finish()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def list_files(ctx: Context) -> int:
    files = every_page(
        ctx.client.files.ListFiles,
        files_pb2.ListFilesRequest(task_id=ctx.args.task_id, page_size=100),
        "files",
    )
    if ctx.json:
        print_json(files)
    else:
        rows = (
            (f.id, f.original_filename, size(f.file_size), f.content_type or "-", when(f.uploaded_at))
            for f in files
        )
        print_table(("ID", "NAME", "SIZE", "TYPE", "UPLOADED (UTC)"), rows)
    return 0


def remove_file(ctx: Context) -> int:
    ctx.client.files.DeleteFile(files_pb2.DeleteFileRequest(id=ctx.args.file_id))
    return ctx.report({"deleted": ctx.args.file_id}, f"Deleted file {ctx.args.file_id}.")
