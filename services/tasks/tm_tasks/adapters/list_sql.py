"""The SQL of list requests, written by hand and run as prepared statements: building them with
SQLAlchemy cost about a tenth of a list request. Only validated names (the sort column from the
whitelist in domain/listing.py) are written into the text; every value is a parameter."""

from __future__ import annotations

from datetime import date
from typing import Any

from tm_tasks.domain.listing import SORTABLE, ListQuery
from tm_tasks.domain.rules import RANK


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where(user_id: int, query: ListQuery, today: date) -> tuple[list[str], list[Any]]:
    """The filters of a list query: SQL conditions (ANDed) and their parameters."""
    clauses, params = ["user_id = %s"], [user_id]

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    if query.completed is not None:
        add("completed = %s", query.completed)
    if query.priority is not None:
        add("priority = %s", RANK[query.priority])
    if query.tags:
        add("tags @> %s::text[]", list(query.tags))
    if query.overdue is True:
        add("(due_date < %s AND NOT completed)", today)
    elif query.overdue is False:
        add("(due_date IS NULL OR due_date >= %s OR completed)", today)
    if query.search:
        add("(title ILIKE %s OR description ILIKE %s)", _like(query.search), _like(query.search))
    if query.created_after:
        add("created_at >= %s", query.created_after)
    if query.created_before:  # an exclusive bound (domain/listing.py)
        add("created_at < %s", query.created_before)
    if query.due_after:
        add("due_date >= %s", query.due_after)
    if query.due_before:
        add("due_date <= %s", query.due_before)
    return clauses, params


def _after(query: ListQuery) -> tuple[str, list[Any]]:
    """Rows after the cursor in the query's order (ties by id; tasks without due date last)."""
    assert query.after is not None
    last_id, value = query.after.last_id, query.after.last_value
    beyond, later_id = ("<", "id < %s") if query.descending else (">", "id > %s")
    column = query.sort_by
    if column == "id":
        return later_id, [last_id]
    if value is None:  # only due_date is nullable: the cursor is already among the nulls
        return f"({column} IS NULL AND {later_id})", [last_id]
    after = f"{column} {beyond} %s OR ({column} = %s AND {later_id})"
    if column == "due_date":
        after += f" OR {column} IS NULL"
    return f"({after})", [value, value, last_id]


def page(columns: str, user_id: int, query: ListQuery, today: date) -> tuple[str, list[Any]]:
    """One more row than the page holds, so the caller knows whether another page follows."""
    assert query.sort_by in SORTABLE
    clauses, params = where(user_id, query, today)
    direction = "DESC" if query.descending else "ASC"
    order = f"{query.sort_by} {direction}"
    if query.sort_by == "due_date":
        order += " NULLS LAST"
    if query.after is not None:
        clause, values = _after(query)
        clauses.append(clause)
        params.extend(values)
        offset = 0
    else:
        offset = query.skip
    text = (
        f"SELECT {columns} FROM tasks WHERE {' AND '.join(clauses)}"
        f" ORDER BY {order}, id {direction} LIMIT %s OFFSET %s"
    )
    return text, [*params, query.limit + 1, offset]


def count(user_id: int, query: ListQuery, today: date) -> tuple[str, list[Any]]:
    clauses, params = where(user_id, query, today)
    return f"SELECT count(*) AS n FROM tasks WHERE {' AND '.join(clauses)}", params
