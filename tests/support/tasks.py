"""Tasks through the gateway (JSON): create, read, list, bulk update, stats, cursor paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from support.accounts import Account, unique
from tm_common.paging import PageTokens

# The Task JSON of API.md: these members are always there; the optional ones are left out when unset.
TASK_REQUIRED = frozenset({"id", "title", "completed", "priority", "tags", "user_id", "created_at"})
TASK_OPTIONAL = frozenset({"description", "due_date", "updated_at"})


# Priorities sort by rank, not alphabetically (our documented choice).
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}


def create_task(http: httpx.Client, account: Account, **fields: Any) -> dict[str, Any]:
    """POST /tasks as `account` (a unique title unless given); asserts 201 and returns the task."""
    fields.setdefault("title", unique("task"))
    response = http.post("/tasks", json=fields, headers=account.headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def get_task_detail(http: httpx.Client, account: Account, task_id: int) -> dict[str, Any]:
    """GET /tasks/{id} as `account`; asserts 200 and returns the task with its `comments`."""
    response = http.get(f"/tasks/{task_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    assert isinstance(task.get("comments"), list), task
    return task


def get_task(http: httpx.Client, account: Account, task_id: int) -> dict[str, Any]:
    """GET /tasks/{id} as `account`; asserts 200 and returns the task as the lists show it: without
    the `comments` it embeds (tests/e2e/test_task_detail.py checks those)."""
    task = get_task_detail(http, account, task_id)
    del task["comments"]
    return task


def list_tasks(http: httpx.Client, account: Account, query: Any = None) -> dict[str, Any]:
    """GET /tasks as `account`; asserts 200 and returns {tasks, total, page, pages, ...}.

    `query` is a dict or a list of pairs (encoded by httpx) or a raw query string sent as is."""
    if isinstance(query, str):
        response = http.get(f"/tasks?{query}", headers=account.headers)
    else:
        response = http.get("/tasks", params=query, headers=account.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


STATS_KEYS = frozenset(
    {"total", "completed", "incomplete", "by_priority", "by_tag", "overdue", "completion_rate"}
)


def bulk_update(
    http: httpx.Client, account: Account, task_ids: list[int], updates: dict[str, Any]
) -> httpx.Response:
    """PATCH /tasks/bulk as `account`; returns the response unchecked."""
    return http.patch(
        "/tasks/bulk", json={"task_ids": list(task_ids), "updates": updates}, headers=account.headers
    )


def task_stats(http: httpx.Client, account: Account) -> dict[str, Any]:
    """GET /tasks/stats as `account`; asserts 200 and returns the stats."""
    response = http.get("/tasks/stats", headers=account.headers)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


def expected_stats(tasks: Iterable[dict[str, Any]], today: date | None = None) -> dict[str, Any]:
    """The stats API.md promises for these Task JSONs: overdue = due before `today` (UTC) and not
    completed; completion_rate = completed / total, 0 without tasks."""
    today = today or datetime.now(UTC).date()
    tasks = list(tasks)
    completed = sum(task["completed"] for task in tasks)
    by_priority = {"low": 0, "medium": 0, "high": 0}
    by_tag: dict[str, int] = {}
    for task in tasks:
        by_priority[task["priority"]] += 1
        for tag in set(task["tags"]):
            by_tag[tag] = by_tag.get(tag, 0) + 1
    overdue = sum(
        1
        for task in tasks
        if not task["completed"] and "due_date" in task and date.fromisoformat(task["due_date"]) < today
    )
    return {
        "total": len(tasks),
        "completed": completed,
        "incomplete": len(tasks) - completed,
        "by_priority": by_priority,
        "by_tag": by_tag,
        "overdue": overdue,
        "completion_rate": completed / len(tasks) if tasks else 0.0,
    }


def assert_stats(http: httpx.Client, account: Account, tasks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """GET /tasks/stats equals expected_stats(tasks) (the rate within float rounding); returns it."""
    stats = task_stats(http, account)
    want = expected_stats(tasks)
    assert set(stats) == STATS_KEYS, stats
    exact = {key: value for key, value in stats.items() if key != "completion_rate"}
    assert exact == {key: value for key, value in want.items() if key != "completion_rate"}, stats
    assert abs(stats["completion_rate"] - want["completion_rate"]) < 1e-9, stats
    return stats


def walk_tasks(
    http: httpx.Client,
    account: Account,
    query: dict[str, Any] | None = None,
    *,
    limit: int,
    between: Callable[[int], None] | None = None,
    max_pages: int = 300,
) -> list[dict[str, Any]]:
    """The pages of GET /tasks?<query>&limit=<limit>, following next_page_token (with the same
    query) until it is empty. `between(n)` runs after page n when another page follows."""
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {**(query or {}), "limit": limit}
        if token:
            params["page_token"] = token
        page = list_tasks(http, account, params)
        pages.append(page)
        assert isinstance(page.get("next_page_token"), str), page
        token = page["next_page_token"]
        if not token:
            return pages
        assert len(pages) < max_pages, "next_page_token never ran out"
        if between is not None:
            between(len(pages))


def stack_page_tokens(stack: Any) -> PageTokens:
    """Page tokens under the stack's PAGE_TOKEN_SECRET: to read the values of a real token and to
    make tokens the services accept, e.g. with values no service would put in one."""
    return PageTokens(stack.secrets["page_token"].encode())


# Patches a task update refuses, with the field the 400 names (PATCH /tasks/{id} and bulk alike).
INVALID_PATCHES = [
    pytest.param({"title": None}, "title", id="null-title"),
    pytest.param({"completed": None}, "completed", id="null-completed"),
    pytest.param({"priority": None}, "priority", id="null-priority"),
    pytest.param({"title": ""}, "title", id="title-empty"),
    pytest.param({"title": "   "}, "title", id="title-blank"),
    pytest.param({"title": "t" * 201}, "title", id="title-201"),
    pytest.param({"description": "d" * 1001}, "description", id="description-1001"),
    pytest.param({"priority": "urgent"}, "priority", id="priority-unknown"),
    pytest.param({"due_date": "2026-13-01"}, "due_date", id="due-month-13"),
    pytest.param({"due_date": "tomorrow"}, "due_date", id="due-word"),
    pytest.param({"title": 5}, "title", id="title-number"),
    pytest.param({"completed": "yes"}, "completed", id="completed-string"),
    pytest.param({"tags": "a"}, "tags", id="tags-string"),
]
