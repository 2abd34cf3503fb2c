"""The task, a new task and a change to a task. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tm_common.errors import InvalidArgument, Problems
from tm_tasks.domain import rules

PATCHABLE = ("title", "description", "completed", "priority", "due_date", "tags")
CLEARABLE = ("description", "due_date")


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    user_id: int
    title: str
    description: str | None
    completed: bool
    priority: str
    due_date: date | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewTask:
    title: str
    description: str | None
    completed: bool
    priority: str
    due_date: date | None
    tags: tuple[str, ...]


def new_task(
    title: str,
    description: str | None = None,
    priority: str | None = None,
    due_date: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    completed: bool | None = None,
) -> NewTask:
    problems = Problems()
    task = NewTask(
        title=rules.title(title, problems),
        description=rules.description(description, problems),
        completed=bool(completed),
        priority=rules.priority("medium" if priority is None else priority, problems),
        due_date=rules.calendar_date(due_date, problems, "due_date"),
        tags=rules.tags(list(tags), problems),
    )
    problems.raise_if_any()
    return task


def changes(patch: Mapping[str, Any]) -> dict[str, Any]:
    """Validated column values from a partial update: only the fields present change.

    `patch` maps field names to JSON values (None is JSON null). Null clears description and
    due_date, empties tags, and is refused for title, completed and priority.
    """
    if not patch:
        raise InvalidArgument("an update needs at least one field", {"patch": "no fields to update"})
    problems = Problems()
    result: dict[str, Any] = {}
    for field, value in patch.items():
        if field not in PATCHABLE:
            problems.add(field, "is not a field that can be updated")
        elif value is None and field not in (*CLEARABLE, "tags"):
            problems.add(field, "cannot be null")
        elif field == "title":
            result["title"] = rules.title(value, problems)
        elif field == "description":
            result["description"] = rules.description(value, problems)
        elif field == "completed":
            result["completed"] = rules.completed(value, problems)
        elif field == "priority":
            result["priority"] = rules.priority(value, problems)
        elif field == "due_date":
            result["due_date"] = rules.calendar_date(value, problems, "due_date")
        else:
            result["tags"] = rules.tags([] if value is None else value, problems)
    problems.raise_if_any()
    return result
