"""What a file is, judged by its extension and checked against its first bytes. Pure, no I/O.

The content type we store and serve is the one the extension implies, never the one the client
declared (which could be text/html on a .txt); a declared type that contradicts the extension, or
leading bytes that contradict it where a signature is cheap to check, are a 400."""

from __future__ import annotations

from urllib.parse import quote

from tm_common.errors import Problems
from tm_files.domain.names import extension

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
SIGNATURES = {
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".pdf": (b"%PDF-",),
    ".doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),  # OLE2 compound file
    ".docx": (b"PK\x03\x04",),  # a zip
}
# What clients send when they do not know better: never a contradiction.
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
HEAD_BYTES = 512  # how much of the file the checks look at


def content_type(name: str, declared: str | None, head: bytes | None, problems: Problems) -> str:
    """The type to store for a file named `name` whose first bytes are `head` (None while the
    bytes are not there yet, as for a presigned upload: only the declared type is checked)."""
    ext = extension(name)
    expected = CONTENT_TYPES.get(ext, "application/octet-stream")
    given = (declared or "").split(";")[0].strip().lower()
    if given not in GENERIC_TYPES and given != expected:
        problems.add("content_type", f"{given!r} does not match a {ext} file (expected {expected})")
    if head is None:
        return expected
    signatures = SIGNATURES.get(ext)
    if signatures and not head.startswith(signatures):
        problems.add("file", f"the content is not a {ext} file")
    if ext == ".txt" and b"\x00" in head:
        problems.add("file", "a .txt file must be text (it contains NUL bytes)")
    return expected


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback and the exact name as UTF-8 (RFC 5987) for clients that read it."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
