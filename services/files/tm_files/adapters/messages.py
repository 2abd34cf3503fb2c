"""The files service's entity as protobuf: the API message (files.v1), which the events' snapshot
(events.v1) is read from, so that a file is mapped once."""

from __future__ import annotations

from taskmanager.files.v1 import files_pb2
from tm_common.convert import timestamp
from tm_files.domain.files import FileMeta


def file_message(meta: FileMeta) -> files_pb2.File:
    return files_pb2.File(
        id=meta.id,
        task_id=meta.task_id,
        original_filename=meta.original_filename,
        file_size=meta.file_size,
        content_type=meta.content_type,
        uploaded_at=timestamp(meta.uploaded_at),
    )
