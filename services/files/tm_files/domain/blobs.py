"""Blobs as the service knows them: objects under generated keys, never the user's file name."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta


def new_key() -> str:
    return f"files/{uuid.uuid4().hex}"


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    modified: float  # epoch seconds


def older_than(blob: StoredBlob, age: timedelta, now: float | None = None) -> bool:
    return (time.time() if now is None else now) - blob.modified > age.total_seconds()
