"""Tables of the files schema. Unqualified: the connection's search_path selects the schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Identity, Integer, MetaData, String, Table, Text, Uuid, func

metadata = MetaData()

files = Table(
    "files",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("task_id", Integer, nullable=False),
    Column("original_filename", String(255), nullable=False),
    Column("file_size", Integer, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("blob_key", Text, nullable=False, unique=True),
    Column("uploaded_by_user_id", Integer, nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Set for files uploaded with a presigned URL: confirming the same upload twice is one file.
    Column("upload_id", Uuid, unique=True),
)

# Presigned uploads handed out and not yet confirmed (their objects are not orphans until expired).
pending_uploads = Table(
    "pending_uploads",
    metadata,
    Column("upload_id", Uuid, primary_key=True),
    Column("blob_key", Text, nullable=False, unique=True),
    Column("task_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("original_filename", String(255), nullable=False),
    Column("content_type", Text, nullable=False),
    Column("declared_size", Integer, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Blobs whose row is gone, written in the same transaction as the row's delete; removed from the
# store after the commit, by whoever gets there first (the request, or the cleanup loop).
blob_deletions = Table(
    "blob_deletions",
    metadata,
    Column("blob_key", Text, primary_key=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Tasks whose deletion this service has applied: an upload that raced with the delete sees it.
deleted_tasks = Table(
    "deleted_tasks",
    metadata,
    Column("task_id", Integer, primary_key=True),
    Column("deleted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
