"""The files schema, migrated, in a Postgres of this session's own (no Redis, services or Envoy):
each test starts from empty tables."""

from support.database import service_database

db = service_database(
    "files", "files, pending_uploads, blob_deletions, deleted_tasks, outbox, processed_events"
)
