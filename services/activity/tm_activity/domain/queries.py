"""What a caller may ask of the audit log, validated. Pure, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tm_activity.domain.entries import ACTIONS, RESOURCE_TYPES
from tm_common.errors import Problems

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
MAX_OFFSET = 100_000  # deeper than this, page with page_token
MAX_TIMELINE_PAGE = 1000

After = tuple[datetime, int]  # the (created_at, id) of the last entry of the previous page


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    resource_type: str | None
    action: str | None
    since: datetime | None  # inclusive
    until: datetime | None  # exclusive (the day after end_date; None after 9999-12-31)
    limit: int
    offset: int


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # fromisoformat alone would take week dates too


def _day(value: str | None, field: str, problems: Problems) -> date | None:
    if value is None:
        return None
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    problems.add(field, "must be a date YYYY-MM-DD")
    return None


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
    start, end = _day(start_date, "start_date", problems), _day(end_date, "end_date", problems)
    if start and end and start > end:
        problems.add("end_date", "must not be before start_date")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        problems.add("limit", f"must be 1 to {MAX_LIMIT}")
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        problems.add("offset", f"must be 0 to {MAX_OFFSET} (page further with page_token)")
    problems.raise_if_any()
    return HistoryQuery(
        resource_type=resource_type,
        action=action,
        since=_midnight(start) if start else None,
        until=_midnight(end + timedelta(days=1)) if end and end < date.max else None,
        limit=DEFAULT_LIMIT if limit is None else limit,
        offset=offset or 0,
    )


def _midnight(day: date) -> datetime:
    """Days are UTC days."""
    return datetime.combine(day, time(), tzinfo=UTC)


def timeline_page_size(page_size: int) -> int | None:
    """None: the whole timeline (0, what JSON clients send)."""
    problems = Problems()
    if not 0 <= page_size <= MAX_TIMELINE_PAGE:
        problems.add("page_size", f"must be 0 (all) to {MAX_TIMELINE_PAGE}")
    problems.raise_if_any()
    return page_size or None
