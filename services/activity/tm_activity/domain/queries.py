"""What a caller may ask of the audit log, validated. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tm_activity.domain.entries import ACTIONS, RESOURCE_TYPES
from tm_common import time_filters
from tm_common.errors import Problems

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
MAX_OFFSET = 100_000  # deeper than this, page with page_token
MAX_TIMELINE_PAGE = 1000

After = tuple[datetime, int]  # the (created_at, id) of the last entry of the previous page


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    resource_type: str | None
    action: str | None
    since: datetime | None  # inclusive: start_date's 00:00 UTC, or the instant it names
    until: datetime | None  # exclusive: the day after end_date, or just after the instant it names;
    # None also when end_date reaches the last representable instant (9999-12-31)
    limit: int
    offset: int


def history_query(
    resource_type: str | None,
    action: str | None,
    start_date: str | None,
    end_date: str | None,
    limit: int | None,
    offset: int | None,
) -> HistoryQuery:
    problems = Problems()
    if resource_type is not None and resource_type not in RESOURCE_TYPES:
        problems.add("resource_type", f"must be one of {', '.join(RESOURCE_TYPES)}")
    if action is not None and action not in ACTIONS:
        problems.add("action", f"must be one of {', '.join(ACTIONS)}")
    since = time_filters.since(start_date, "start_date", problems)
    until = time_filters.until(end_date, "end_date", problems)
    time_filters.check_order(since, until, "start_date", "end_date", problems, end_exclusive=True)
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        problems.add("limit", f"must be 1 to {MAX_LIMIT}")
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        problems.add("offset", f"must be 0 to {MAX_OFFSET} (page further with page_token)")
    problems.raise_if_any()
    return HistoryQuery(
        resource_type=resource_type,
        action=action,
        since=since,
        until=until,
        limit=DEFAULT_LIMIT if limit is None else limit,
        offset=offset or 0,
    )


def timeline_page_size(page_size: int) -> int | None:
    """None: the whole timeline (0, what JSON clients send)."""
    problems = Problems()
    if not 0 <= page_size <= MAX_TIMELINE_PAGE:
        problems.add("page_size", f"must be 0 (all) to {MAX_TIMELINE_PAGE}")
    problems.raise_if_any()
    return page_size or None
