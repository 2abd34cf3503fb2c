"""What taskctl prints: aligned tables for people, JSON (the proto's field names) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def print_json(value: Any) -> None:
    if isinstance(value, Message):
        value = as_dict(value)
    elif isinstance(value, list):
        value = [as_dict(item) if isinstance(item, Message) else item for item in value]
    json.dump(value, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "(none)") -> None:
    rows = list(rows)
    print(table(headers, rows) if rows else empty)


def when(stamp: timestamp_pb2.Timestamp, present: bool = True, zone: str = "") -> str:
    """A Timestamp in UTC as 'YYYY-MM-DD HH:MM' (then `zone`); '-' when unset."""
    if not present or (stamp.seconds == 0 and stamp.nanos == 0):
        return "-"
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M") + zone


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def key_values(pairs: Sequence[tuple[str, object]]) -> None:
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        print(f"{key + ':':<{width + 1}} {value}")
