"""What a list request asks for: validated filters, order and page. Pure, no I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tm_common import time_filters
from tm_common.errors import Problems
from tm_tasks.domain import cursor, rules
from tm_tasks.domain.cursor import Cursor
from tm_tasks.domain.tasks import Task

SORTABLE = ("id", "title", "priority", "completed", "created_at", "due_date")
DEFAULT_LIMIT = 100
MAX_LIMIT = 100
MAX_SKIP = 1_000_000_000  # keeps `page` within int32; page_token pages any further
MAX_SEARCH = 200  # characters; a task's title and description are at most 1200 together


@dataclass(frozen=True)
class ListQuery:
    completed: bool | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    overdue: bool | None = None
    search: str | None = None
    created_after: datetime | None = None  # inclusive (UTC)
    created_before: datetime | None = None  # exclusive: just after the last instant it admits
    due_after: date | None = None  # inclusive
    due_before: date | None = None  # inclusive
    sort_by: str = "id"
    descending: bool = False
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None  # cursor paging: continue after this row (skip is then ignored)

    @property
    def position(self) -> int:
        """How many matching rows come before this page."""
        return self.after.position if self.after else self.skip


def list_query(
    *,
    completed: bool | None = None,
    priority: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    overdue: bool | None = None,
    search: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    due_after: str | None = None,
    due_before: str | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
    skip: int | None = None,
    limit: int | None = None,
) -> ListQuery:
    """Validate a list request; `tags` items may be comma lists ("a,b"). The date filters take a
    date (a whole UTC day) or a date-time (an instant; for due_* its UTC date): tm_common.time_filters."""
    problems = Problems()
    if len(tags) > rules.MAX_TAGS or sum(len(item) for item in tags) > rules.MAX_TAGS * (rules.MAX_TAG + 1):
        problems.add("tags", f"at most {rules.MAX_TAGS} tags")
        tags = ()
    wanted_tags = tuple(dict.fromkeys(t.strip() for item in tags for t in item.split(",") if t.strip()))
    if priority is not None:
        rules.priority(priority, problems)
    if len(wanted_tags) > rules.MAX_TAGS:
        problems.add("tags", f"at most {rules.MAX_TAGS} tags")
    if search is not None and (len(search) > MAX_SEARCH or not rules.text_ok(search)):
        problems.add("search", f"must be at most {MAX_SEARCH} characters, without NUL")
    if not all(rules.text_ok(tag) for tag in wanted_tags):
        problems.add("tags", "must not contain NUL characters")
    if sort_by is not None and sort_by not in SORTABLE:
        problems.add("sort_by", f"must be one of {', '.join(SORTABLE)}")
    if sort_order is not None and sort_order not in ("asc", "desc"):
        problems.add("sort_order", "must be asc or desc")
    if skip is not None and not 0 <= skip <= MAX_SKIP:
        problems.add("skip", f"must be 0 to {MAX_SKIP} (page_token pages further)")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        problems.add("limit", f"must be 1 to {MAX_LIMIT}")
    years = {"min_year": rules.MIN_YEAR, "max_year": rules.MAX_YEAR}
    created_since = time_filters.since(created_after, "created_after", problems, **years)
    created_until = time_filters.until(created_before, "created_before", problems, **years)
    due_from = time_filters.calendar_day(due_after, "due_after", problems, **years)
    due_through = time_filters.calendar_day(due_before, "due_before", problems, **years)
    time_filters.check_order(
        created_since, created_until, "created_after", "created_before", problems, end_exclusive=True
    )
    time_filters.check_order(due_from, due_through, "due_after", "due_before", problems, end_exclusive=False)
    query = ListQuery(
        completed=completed,
        priority=priority,
        tags=wanted_tags,
        overdue=overdue,
        search=search.strip() or None if search is not None else None,
        created_after=created_since,
        created_before=created_until,
        due_after=due_from,
        due_before=due_through,
        sort_by=sort_by or "id",
        descending=sort_order == "desc",
        skip=skip or 0,
        limit=limit or DEFAULT_LIMIT,
    )
    problems.raise_if_any()
    return query


def resume(query: ListQuery, token_values: list[Any]) -> ListQuery:
    """The query continued after the cursor in a page token's values."""
    return dataclasses.replace(query, after=cursor.decode(token_values, query))


def page_numbers(total: int, skip: int, limit: int) -> tuple[int, int]:
    """(page, pages) as the original API reports them: skip // limit + 1 and ceil(total / limit)."""
    return skip // limit + 1, -(-total // limit)


def sort_value(task: Task, sort_by: str) -> Any:
    """A task's value of the sort column as the list compares it (priority by rank): what a page
    token carries of the last row."""
    return rules.RANK[task.priority] if sort_by == "priority" else getattr(task, sort_by)
