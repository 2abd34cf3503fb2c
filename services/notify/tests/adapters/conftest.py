"""The notify schema, migrated, in a Postgres of this session's own (no Redis, services or Envoy):
each test starts from empty tables."""

from support.database import service_database

db = service_database(
    "notify", "users, preferences, verification_codes, deliveries, mail_log, processed_events"
)
