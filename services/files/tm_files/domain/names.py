"""File names as users give them, made safe to store and to show. Pure, no I/O.

The stored name is only ever shown (in JSON and in Content-Disposition), never used as a path:
blobs live under generated keys. Still, a name keeps no directory part, no control characters,
no leading dots and a bounded length, so that it cannot surprise whoever saves it again."""

from __future__ import annotations

import os
import unicodedata

from tm_common.errors import Problems

MAX_NAME = 255


def sanitize(name: str | None, problems: Problems, field: str = "filename") -> str:
    """The name to store: the last path segment, NFC, without control characters or leading
    dots and spaces, at most MAX_NAME characters with its extension kept."""
    if name is None or not name.strip():
        problems.add(field, "is required")
        return ""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control, format, ...
    name = name.strip().lstrip(". ")
    if not name:
        problems.add(field, "has no usable characters")
        return ""
    if len(name) > MAX_NAME:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: MAX_NAME - len(ext)] + ext
    return name


def extension(name: str) -> str:
    """The lowercased extension with its dot ("" for none)."""
    return os.path.splitext(name)[1].lower()


def check_extension(name: str, allowed: frozenset[str], problems: Problems, field: str = "filename") -> None:
    if name and extension(name) not in allowed:
        listed = " ".join(sorted(allowed))
        problems.add(field, f"type {extension(name) or '(none)'!r} is not allowed; allowed: {listed}")
