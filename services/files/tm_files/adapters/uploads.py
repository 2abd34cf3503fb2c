"""Turning request bodies and streams into an upload's bytes in a file (never whole in memory
twice): a multipart/form-data body (the part named `file`, parsed by python-multipart, spilled to
a temporary file past 1 MiB), a raw body, or gRPC chunks."""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from python_multipart import FormParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import File, parse_options_header

from tm_common.errors import InvalidArgument
from tm_files.domain.content import HEAD_BYTES
from tm_files.domain.files import Incoming

SPOOL_BYTES = 1024 * 1024  # uploads bigger than this go to a temporary file
FEED = 256 * 1024


def _head(source: IO[bytes]) -> bytes:
    source.seek(0)
    head = source.read(HEAD_BYTES)
    source.seek(0)
    return head


def from_body(body: bytes, content_type: str, filename: str | None) -> Incoming:
    """The upload in an HTTP body: multipart/form-data (part `file`), or the raw bytes."""
    kind, options = parse_options_header(content_type)
    if kind == b"multipart/form-data":
        return _from_multipart(body, options.get(b"boundary"), filename)
    source = io.BytesIO(body)  # shares the body's buffer: no copy
    return Incoming(source, len(body), body[:HEAD_BYTES], filename, content_type or None)


def _from_multipart(body: bytes, boundary: bytes | None, filename: str | None) -> Incoming:
    if not boundary:
        raise InvalidArgument.for_field("file", "a multipart body needs a boundary in its Content-Type")
    parts: list[File] = []
    config = {
        "MAX_MEMORY_FILE_SIZE": SPOOL_BYTES,
        "UPLOAD_KEEP_FILENAME": False,
        "UPLOAD_KEEP_EXTENSIONS": False,
    }
    view = memoryview(body)
    try:  # the parser's own checks (a boundary over 256 bytes, say) raise as it is made
        parser = FormParser("multipart/form-data", None, parts.append, boundary=boundary, config=config)
        for start in range(0, len(body), FEED):
            parser.write(bytes(view[start : start + FEED]))
        parser.finalize()
    except FormParserError:
        raise InvalidArgument.for_field("file", "the multipart body cannot be parsed") from None
    found = [part for part in parts if part.field_name == b"file"]
    if len(found) != 1:
        raise InvalidArgument.for_field("file", "send exactly one multipart part named 'file'")
    part = found[0]
    source = part.file_object
    name = filename if filename is not None else (part.file_name or b"").decode("utf-8", "replace")
    declared = (
        part.content_type.decode("latin-1") if isinstance(part.content_type, bytes) else part.content_type
    )
    return Incoming(source, part.size, _head(source), name or None, declared or None)


async def from_chunks(chunks: AsyncIterator[bytes], limit: int) -> tuple[IO[bytes], int]:
    """gRPC chunks into a spooled file; InvalidArgument as soon as they pass `limit` bytes."""
    target: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  # returned
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise InvalidArgument.for_field("file", f"is larger than the limit of {limit} bytes")
            target.write(chunk)
    except BaseException:
        target.close()
        raise
    target.seek(0)
    return target, size


def head_of(source: IO[bytes]) -> bytes:
    return _head(source)
