"""GET /tasks through the gateway: filters, sorting, offset paging and validation of the query.

Every test registers its own user and asserts on that user's tasks only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from support.accounts import new_account
from support.errors import assert_bad_request
from support.tasks import PRIORITY_RANK, create_task, list_tasks

PAST, FUTURE = "2000-01-01", "2099-12-31"  # far from today, whatever the time zone

# One user's tasks, created in this order, for the filter tests.
CATALOGUE: list[tuple[str, dict[str, Any]]] = [
    ("rent", {"title": "Pay rent", "priority": "high", "due_date": PAST, "tags": ["work", "urgent"]}),
    ("taxes", {"title": "File taxes", "due_date": "2000-01-02", "completed": True, "tags": ["home"]}),
    (
        "trip",
        {
            "title": "Plan trip",
            "description": "Book the FLIGHTS and hotel",
            "priority": "low",
            "due_date": FUTURE,
            "tags": ["home", "travel"],
        },
    ),
    ("novel", {"title": "Read book"}),
    (
        "release",
        {
            "title": "Ship release",
            "priority": "high",
            "due_date": "2099-06-01",
            "completed": True,
            "tags": ["work"],
        },
    ),
]


@pytest.fixture
def catalogue(http, account) -> dict[str, dict[str, Any]]:
    return {name: create_task(http, account, **fields) for name, fields in CATALOGUE}


def ids(page: dict[str, Any]) -> list[int]:
    return [task["id"] for task in page["tasks"]]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- the response ----------------------------------------------------------------------------
def test_a_new_user_has_no_tasks(http, account) -> None:
    page = list_tasks(http, account)
    assert {"tasks", "total", "page", "pages"} <= set(page)
    assert (page["tasks"], page["total"], page["page"], page["pages"]) == ([], 0, 1, 0)


def test_lists_own_tasks_by_id_with_default_paging(http, account) -> None:
    created = [create_task(http, account) for _ in range(3)]
    page = list_tasks(http, account)
    assert page["tasks"] == created  # the same Task JSON as POST answered, ordered by id
    assert (page["total"], page["page"], page["pages"]) == (3, 1, 1)
    assert all(type(page[key]) is int for key in ("total", "page", "pages"))


def test_default_limit_is_100(http, account) -> None:
    for _ in range(101):
        create_task(http, account)
    page = list_tasks(http, account)
    assert (len(page["tasks"]), page["total"], page["page"], page["pages"]) == (100, 101, 1, 2)


def test_other_users_tasks_are_never_listed(http, account, catalogue) -> None:
    other = new_account(http)
    mine = create_task(http, other, title="Pay rent too", priority="high", tags=["work"])
    for query, expected in [
        (None, [mine["id"]]),
        ("tags=work", [mine["id"]]),
        ("tags=urgent", []),
        ("search=rent", [mine["id"]]),
        ("priority=high&sort_by=title", [mine["id"]]),
        ("overdue=true", []),
        ("completed=true", []),
    ]:
        page = list_tasks(http, other, query)
        assert (ids(page), page["total"]) == (expected, len(expected)), query


# -- filters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, expected",
    [
        ("completed=true", ["taxes", "release"]),
        ("completed=false", ["rent", "trip", "novel"]),
        ("priority=high", ["rent", "release"]),
        ("priority=medium", ["taxes", "novel"]),
        ("priority=low", ["trip"]),
        ("tags=work", ["rent", "release"]),
        ("tags=work,urgent", ["rent"]),
        ("tags=home,travel", ["trip"]),
        ("tags=work,home", []),
        ("tags=work&tags=urgent", ["rent"]),
        ("tags=home&tags=travel", ["trip"]),
        ("tags=nothing", []),
        ("overdue=true", ["rent"]),
        ("overdue=false", ["taxes", "trip", "novel", "release"]),
        ("search=rent", ["rent"]),
        ("search=RENT", ["rent"]),
        ("search=flights", ["trip"]),
        ("search=BOOK", ["trip", "novel"]),
        ("search=zebra", []),
        ("due_after=2099-06-01", ["trip", "release"]),
        ("due_before=2000-01-02", ["rent", "taxes"]),
        ("due_after=2000-01-02&due_before=2099-06-01", ["taxes", "release"]),
        ("completed=false&priority=high", ["rent"]),
        ("priority=medium&completed=false", ["novel"]),
        ("tags=work&overdue=false", ["release"]),
        ("search=book&priority=low", ["trip"]),
        ("tags=home&completed=false&due_after=2050-01-01", ["trip"]),
    ],
)
def test_filter(http, account, catalogue, query, expected) -> None:
    page = list_tasks(http, account, query)
    assert ids(page) == [catalogue[name]["id"] for name in expected]
    assert page["total"] == len(expected)


def test_tags_as_a_comma_list_encoded_by_the_client(http, account, catalogue) -> None:
    page = list_tasks(http, account, {"tags": "work,urgent"})  # httpx sends tags=work%2Curgent
    assert ids(page) == [catalogue["rent"]["id"]]


def test_search_treats_wildcards_literally(http, account) -> None:
    percent = create_task(http, account, title="100% done")
    create_task(http, account, title="1000 done")
    underscore = create_task(http, account, title="snake_case")
    create_task(http, account, title="snakeXcase")
    assert ids(list_tasks(http, account, {"search": "0%"})) == [percent["id"]]
    assert ids(list_tasks(http, account, {"search": "e_c"})) == [underscore["id"]]


def test_created_dates_are_inclusive(http, account) -> None:
    task = create_task(http, account)
    day = date.fromisoformat(task["created_at"][:10])  # the UTC day it was created
    before, after = (day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat()
    today = day.isoformat()
    for query, expected in [
        ({"created_after": today}, [task["id"]]),
        ({"created_before": today}, [task["id"]]),
        ({"created_after": today, "created_before": today}, [task["id"]]),
        ({"created_after": before, "created_before": after}, [task["id"]]),
        ({"created_after": after}, []),
        ({"created_before": before}, []),
    ]:
        page = list_tasks(http, account, query)
        assert (ids(page), page["total"]) == (expected, len(expected)), query


# -- sorting ---------------------------------------------------------------------------------
# Created in this order; for every field, creation order is neither ascending nor descending
# (except id and created_at, whose descending order is the reverse of creation).
SORTABLE = [
    {"title": "cherry", "priority": "low", "completed": False, "due_date": "2030-03-01"},
    {"title": "apple", "priority": "high", "completed": True, "due_date": "2030-01-01"},
    {"title": "date", "priority": "medium", "completed": False},
    {"title": "banana", "priority": "high", "completed": True, "due_date": "2030-02-01"},
]

SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda task: task["id"],
    "title": lambda task: task["title"],
    "priority": lambda task: PRIORITY_RANK[task["priority"]],
    "completed": lambda task: task["completed"],
    "created_at": lambda task: parse_time(task["created_at"]),
    "due_date": lambda task: task.get("due_date"),
}


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", list(SORT_KEYS))
def test_sort(http, account, sort_by, order) -> None:
    created = [create_task(http, account, **fields) for fields in SORTABLE]
    page = list_tasks(http, account, {"sort_by": sort_by, "sort_order": order})
    assert sorted(ids(page)) == sorted(task["id"] for task in created)
    keys = [SORT_KEYS[sort_by](task) for task in page["tasks"]]
    if sort_by == "due_date":  # where tasks without one go is not part of the contract
        keys = [key for key in keys if key is not None]
        assert len(keys) == 3
    assert keys == sorted(keys, reverse=order == "desc"), keys


def test_sort_order_defaults_to_ascending(http, account) -> None:
    created = [create_task(http, account, **fields) for fields in SORTABLE]
    page = list_tasks(http, account, {"sort_by": "title"})
    by_title = sorted(created, key=lambda task: task["title"])
    assert ids(page) == [task["id"] for task in by_title]


def test_sort_with_a_filter_and_a_page(http, account, catalogue) -> None:
    page = list_tasks(http, account, {"tags": "home", "sort_by": "title", "sort_order": "desc", "limit": 1})
    assert ids(page) == [catalogue["trip"]["id"]]  # "Plan trip" > "File taxes"
    assert (page["total"], page["page"], page["pages"]) == (2, 1, 2)


# -- offset paging ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "skip, limit, window, page_number, pages",
    [
        (0, 2, slice(0, 2), 1, 3),
        (2, 2, slice(2, 4), 2, 3),
        (4, 2, slice(4, 5), 3, 3),
        (1, 2, slice(1, 3), 1, 3),
        (3, 2, slice(3, 5), 2, 3),
        (5, 2, slice(5, 5), 3, 3),
        (1000, 2, slice(5, 5), 501, 3),
        (0, 1, slice(0, 1), 1, 5),
        (3, 1, slice(3, 4), 4, 5),
        (0, 5, slice(0, 5), 1, 1),
        (2, 100, slice(2, 5), 1, 1),
    ],
)
def test_skip_and_limit(http, account, skip, limit, window, page_number, pages) -> None:
    created = [create_task(http, account)["id"] for _ in range(5)]
    page = list_tasks(http, account, {"skip": skip, "limit": limit})
    assert ids(page) == created[window]
    assert (page["total"], page["page"], page["pages"]) == (5, page_number, pages)


def test_walking_the_pages_yields_every_task_once(http, account) -> None:
    created = [create_task(http, account)["id"] for _ in range(7)]
    seen: list[int] = []
    for skip in range(0, 7, 3):
        page = list_tasks(http, account, {"skip": skip, "limit": 3, "sort_by": "id", "sort_order": "desc"})
        assert (page["total"], page["pages"], page["page"]) == (7, 3, skip // 3 + 1)
        seen += ids(page)
    assert seen == created[::-1]


def test_total_counts_the_filtered_tasks_not_the_page(http, account, catalogue) -> None:
    page = list_tasks(http, account, {"overdue": "false", "limit": 1, "skip": 1})
    assert ids(page) == [catalogue["trip"]["id"]]
    assert (page["total"], page["page"], page["pages"]) == (4, 2, 4)


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("skip=-1", "skip"),
        ("sort_by=colour", "sort_by"),
        ("sort_order=sideways", "sort_order"),
        ("created_after=2026-13-01", "created_after"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-02-30", "created_before"),
        ("due_after=soon", "due_after"),
        ("due_before=2026-1-1x", "due_before"),
    ],
)
def test_invalid_query_is_400_naming_the_parameter(http, account, query, field) -> None:
    assert_bad_request(http.get(f"/tasks?{query}", headers=account.headers), field)


def test_limit_bounds_are_accepted(http, account) -> None:
    task = create_task(http, account)
    assert ids(list_tasks(http, account, {"limit": 1})) == [task["id"]]
    assert ids(list_tasks(http, account, {"limit": 100})) == [task["id"]]
