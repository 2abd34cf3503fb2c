"""Bench users and their tasks: registered through the gateway, tasks inserted directly in SQL as
the tasks service's role (one INSERT ... SELECT over generate_series), then VACUUM ANALYZE."""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass

import httpx
import psycopg

PASSWORD = "bench-password-1"
# Titles are two of these words and a number, half the descriptions two more: searching one of
# them finds about a sixth of a user's tasks.
WORDS = (
    "report", "invoice", "meeting", "deploy", "review", "budget", "design", "release",
    "customer", "backup", "migration", "refactor", "security", "training", "hiring", "roadmap",
)  # fmt: skip
TAGS = ("work", "home", "urgent", "errand", "health", "finance", "learning", "someday")
SEARCH_WORD = "invoice"
SMALL_USER_TASKS = 1000  # the small bench user (the big one: BENCH_TASKS)

# Priorities 1-3 evenly, ~30% completed, due dates within a year either way (15% none), 0-3 tags,
# created over the past year. `WHERE g > 0` ties the tag subquery to its row: one draw per task.
INSERT_TASKS = """
WITH seeded AS (
    INSERT INTO tasks.tasks (user_id, title, description, completed, priority, due_date, tags, created_at)
    SELECT
        %(user_id)s,
        initcap(w[1 + floor(random() * n)::int]) || ' ' || w[1 + floor(random() * n)::int] || ' #' || g,
        CASE WHEN random() < 0.5
            THEN 'Notes on the ' || w[1 + floor(random() * n)::int] || ' and the '
                 || w[1 + floor(random() * n)::int] || ', step ' || g
        END,
        random() < 0.3,
        1 + floor(random() * 3)::int,
        CASE WHEN random() >= 0.15 THEN current_date + (floor(random() * 731)::int - 365) END,
        ARRAY(SELECT t FROM unnest(%(tags)s::text[]) AS t WHERE g > 0
              ORDER BY random() LIMIT floor(random() * 4)::int),
        now() - random() * interval '365 days'
    FROM generate_series(1, %(count)s) AS g,
         (SELECT %(words)s::text[] AS w, cardinality(%(words)s::text[]) AS n) AS vocabulary
    RETURNING id
)
SELECT min(id), max(id), count(*) FROM seeded
"""
# Writes bump the user's stats version (the service does it in each write's transaction).
BUMP_STATS_VERSION = """
INSERT INTO tasks.stats_versions (user_id, version) VALUES (%(user_id)s, 1)
ON CONFLICT (user_id) DO UPDATE SET version = tasks.stats_versions.version + 1
"""


@dataclass(frozen=True)
class BenchUser:
    label: str  # "1k", "100k", ...
    username: str
    user_id: int
    tasks: int
    first_id: int  # the seeded tasks' ids are first_id..last_id, all of them this user's
    last_id: int


def register(http: httpx.Client) -> tuple[str, int]:
    """A new account: (username, user id)."""
    username = f"bench{uuid.uuid4().hex[:12]}"
    payload = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    response = http.post("/auth/register", json=payload)
    response.raise_for_status()
    return username, int(response.json()["id"])


def login(http: httpx.Client, username: str) -> str:
    response = http.post("/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def label(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)


def seed_users(http: httpx.Client, database_url: str, counts: list[int]) -> list[BenchUser]:
    users = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")  # the same tasks every run
        for count in counts:
            started = time.monotonic()
            username, user_id = register(http)
            params = {"user_id": user_id, "count": count, "words": list(WORDS), "tags": list(TAGS)}
            with conn.transaction():
                row = conn.execute(INSERT_TASKS, params).fetchone()
                conn.execute(BUMP_STATS_VERSION, params)
            assert row is not None
            first, last, inserted = (int(v) for v in row)
            if last - first + 1 != inserted:  # someone else inserted meanwhile: ids not all ours
                sys.exit(f"bench: the seeded ids {first}..{last} are not contiguous ({inserted} tasks)")
            users.append(BenchUser(label(count), username, user_id, count, first, last))
            took = time.monotonic() - started
            print(f"bench: seeded {count} tasks for user {user_id} in {took:.1f}s", file=sys.stderr)
        started = time.monotonic()
        # Steady state, as autovacuum would leave it (and so that it does not start mid-run).
        conn.execute("VACUUM (ANALYZE) tasks.tasks")
        print(f"bench: VACUUM ANALYZE tasks in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return users
