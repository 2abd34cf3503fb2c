"""The activity schema, migrated, in a Postgres of this session's own (no Redis, services or
Envoy): each test starts from empty tables."""

from support.database import service_database

db = service_database("activity", "entries, task_owners, task_viewers, processed_events")
