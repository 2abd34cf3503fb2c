"""Cursor paging of GET /tasks (and native ListTasks): `next_page_token` / `page_token`.

A walk starts with `?limit=N` (plus filters and sort) and follows next_page_token, with the same
filters and sort, until it is "" (the last page). It visits every matching task of the caller
exactly once, in the requested order, even while tasks are inserted between the pages. A token
is authenticated and bound to its caller: one used with other filters or another sort, by another
user, changed in any way, or one that is not a token, is a 400 naming page_token.

Offset paging (skip/limit) is the oracle for "every matching task": it is tested in
test_tasks_list.py. Every test registers its own users."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support.accounts import Account, bearer_metadata, new_account
from support.errors import assert_bad_request
from support.tasks import PRIORITY_RANK, create_task, list_tasks, walk_tasks
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

# Created in this order. Titles, priorities and due dates repeat (ties the cursor must break),
# some tasks have no due date, and no field is in creation order. Titles are lowercase letters
# only, so that Python's order is the database's whatever its collation.
DATASET: list[dict[str, Any]] = [
    {"title": "kiwi", "priority": "low", "due_date": "2030-03-01", "tags": ["x"]},
    {"title": "apple", "priority": "high", "completed": True, "due_date": "2030-01-01"},
    {"title": "mango", "priority": "medium"},
    {"title": "apple", "priority": "medium", "due_date": "2030-03-01", "tags": ["x", "y"]},
    {"title": "banana", "priority": "high", "due_date": "2029-12-31", "tags": ["y"]},
    {"title": "cherry", "priority": "low", "completed": True, "tags": ["x"]},
    {"title": "kiwi", "priority": "high", "due_date": "2030-01-01"},
    {"title": "date", "priority": "medium", "completed": True, "due_date": "2031-07-04", "tags": ["x"]},
    {"title": "elder", "priority": "low"},
    {"title": "fig", "priority": "high", "due_date": "2030-03-01", "tags": ["x"], "description": "ripe"},
    {"title": "grape", "priority": "medium", "due_date": "2030-02-01"},
]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda task: task["id"],
    "title": lambda task: task["title"],
    "priority": lambda task: PRIORITY_RANK[task["priority"]],
    "completed": lambda task: task["completed"],
    "created_at": lambda task: parse_time(task["created_at"]),
    "due_date": lambda task: task.get("due_date"),
}
SORTS = [
    (sort_by, order)
    for sort_by in ["id", "title", "priority", "due_date", "created_at"]
    for order in ["asc", "desc"]
]


@pytest.fixture
def dataset(http, account) -> list[dict[str, Any]]:
    return [create_task(http, account, **fields) for fields in DATASET]


def ids(tasks: list[dict[str, Any]]) -> list[int]:
    return [task["id"] for task in tasks]


def normal(task: dict[str, Any]) -> dict[str, Any]:
    """The task with its tags in a fixed order (their order is not contracted)."""
    return {**task, "tags": sorted(task["tags"])}


def walked(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [task for page in pages for task in page["tasks"]]


def assert_ordered(tasks: list[dict[str, Any]], sort_by: str, order: str) -> None:
    """The tasks are in the requested order. Tasks without a due date are not part of the contracted
    order, but in a walk they come together, at the start or at the end."""
    keys = [SORT_KEYS[sort_by](task) for task in tasks]
    if sort_by == "due_date":
        missing = [key is None for key in keys]
        count = sum(missing)
        rest = len(keys) - count
        assert missing in ([True] * count + [False] * rest, [False] * rest + [True] * count), keys
        keys = [key for key in keys if key is not None]
    assert keys == sorted(keys, reverse=order == "desc"), keys


def assert_static_walk(pages: list[dict[str, Any]], limit: int, expected_ids: list[int]) -> None:
    """A walk over tasks nobody changed: every expected task once, full pages but the last, page
    numbers 1, 2, 3..., and total/pages as offset paging reports them."""
    total = len(expected_ids)
    seen = ids(walked(pages))
    assert sorted(seen) == sorted(expected_ids), seen
    assert len(seen) == len(set(seen)), f"a task came twice: {seen}"
    assert len(pages) == max(1, math.ceil(total / limit)), [ids(page["tasks"]) for page in pages]
    for number, page in enumerate(pages, start=1):
        assert (page["page"], page["total"], page["pages"]) == (number, total, math.ceil(total / limit)), (
            number,
            page,
        )
        if number < len(pages):
            assert len(page["tasks"]) == limit, page
            assert page["next_page_token"], page
    assert pages[-1]["next_page_token"] == ""


def everything(http: httpx.Client, account: Account, query: dict[str, Any]) -> list[dict[str, Any]]:
    """All matching tasks in one offset page (fewer than 100 here)."""
    page = list_tasks(http, account, {**query, "limit": 100})
    assert page["total"] == len(page["tasks"]) < 100
    tasks: list[dict[str, Any]] = page["tasks"]
    return tasks


# -- the first and the last page ---------------------------------------------------------------
def test_a_new_user_gets_one_empty_last_page(http, account) -> None:
    page = list_tasks(http, account, {"limit": 5})
    assert (page["tasks"], page["total"], page["page"], page["next_page_token"]) == ([], 0, 1, "")


def test_a_single_page_has_no_next_token(http, account, dataset) -> None:
    page = list_tasks(http, account, {"limit": len(DATASET)})
    assert (len(page["tasks"]), page["next_page_token"]) == (len(DATASET), "")
    page = list_tasks(http, account, {"limit": 100})
    assert page["next_page_token"] == ""


def test_the_first_page_offers_a_token_when_more_follow(http, account, dataset) -> None:
    page = list_tasks(http, account, {"limit": 4})
    assert ids(page["tasks"]) == ids(dataset[:4])
    assert isinstance(page["next_page_token"], str) and page["next_page_token"]
    assert (page["page"], page["total"], page["pages"]) == (1, len(DATASET), 3)


def test_the_token_gives_the_next_page(http, account, dataset) -> None:
    first = list_tasks(http, account, {"limit": 4})
    second = list_tasks(http, account, {"limit": 4, "page_token": first["next_page_token"]})
    assert ids(second["tasks"]) == ids(dataset[4:8])
    assert (second["page"], second["total"], second["pages"]) == (2, len(DATASET), 3)
    third = list_tasks(http, account, {"limit": 4, "page_token": second["next_page_token"]})
    assert ids(third["tasks"]) == ids(dataset[8:])
    assert (third["page"], third["next_page_token"]) == (3, "")


def test_a_token_can_be_read_twice(http, account, dataset) -> None:
    first = list_tasks(http, account, {"limit": 3, "sort_by": "title"})
    query = {"limit": 3, "sort_by": "title", "page_token": first["next_page_token"]}
    assert list_tasks(http, account, query) == list_tasks(http, account, query)


def test_skip_is_ignored_with_a_token(http, account, dataset) -> None:
    first = list_tasks(http, account, {"limit": 3})
    query = {"limit": 3, "page_token": first["next_page_token"]}
    plain = list_tasks(http, account, query)
    skipped = list_tasks(http, account, {**query, "skip": 5})
    assert ids(skipped["tasks"]) == ids(plain["tasks"]) == ids(dataset[3:6])
    assert skipped["page"] == plain["page"] == 2


# -- walks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10, 11, 12])
def test_walk_by_id_equals_creation_order(http, account, dataset, limit) -> None:
    pages = walk_tasks(http, account, limit=limit)
    assert_static_walk(pages, limit, ids(dataset))
    assert [normal(task) for task in walked(pages)] == [normal(task) for task in dataset]


@pytest.mark.parametrize("sort_by, order", SORTS)
def test_walk_visits_every_task_once_in_order(http, account, dataset, sort_by, order) -> None:
    query = {"sort_by": sort_by, "sort_order": order}
    pages = walk_tasks(http, account, query, limit=3)
    assert_static_walk(pages, 3, ids(dataset))
    assert_ordered(walked(pages), sort_by, order)
    if sort_by in {"id", "created_at"}:  # unique keys: exactly the offset order
        assert ids(walked(pages)) == ids(everything(http, account, query))


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_walk_sorted_by_completed(http, account, dataset, order) -> None:
    """Only two values, so nearly every step of the walk is a tie."""
    pages = walk_tasks(http, account, {"sort_by": "completed", "sort_order": order}, limit=2)
    assert_static_walk(pages, 2, ids(dataset))
    assert_ordered(walked(pages), "completed", order)


@pytest.mark.parametrize("sort_by", ["title", "priority", "due_date", "completed"])
def test_ties_are_broken_the_same_way_on_every_page_size(http, account, dataset, sort_by) -> None:
    query = {"sort_by": sort_by, "sort_order": "desc"}
    orders = [ids(walked(walk_tasks(http, account, query, limit=limit))) for limit in (1, 2, 5, 100)]
    assert all(order == orders[0] for order in orders), orders
    assert sorted(orders[0]) == sorted(ids(dataset))


@pytest.mark.parametrize(
    "query",
    [
        {"completed": "false", "sort_by": "title"},
        {"tags": "x", "sort_by": "due_date", "sort_order": "desc"},
        {"priority": "high", "completed": "false", "sort_by": "created_at", "sort_order": "desc"},
        {"search": "an", "sort_by": "priority"},
        {"due_after": "2030-01-01", "tags": "x", "sort_by": "priority", "sort_order": "desc"},
        {"overdue": "false", "priority": "medium", "sort_by": "due_date"},
        {"tags": "x,y", "sort_by": "id", "sort_order": "desc"},
    ],
    ids=["incomplete", "tag", "high-incomplete", "search", "due-and-tag", "not-overdue-medium", "two-tags"],
)
@pytest.mark.parametrize("limit", [1, 2])
def test_walk_with_filters(http, account, dataset, query, limit) -> None:
    expected = everything(http, account, query)
    assert expected, "the filter should match something"
    pages = walk_tasks(http, account, query, limit=limit)
    assert_static_walk(pages, limit, ids(expected))
    assert_ordered(walked(pages), query["sort_by"], query.get("sort_order", "asc"))


def test_walk_with_a_filter_matching_nothing(http, account, dataset) -> None:
    pages = walk_tasks(http, account, {"search": "zebra", "sort_by": "title"}, limit=2)
    assert len(pages) == 1
    assert (pages[0]["tasks"], pages[0]["total"], pages[0]["next_page_token"]) == ([], 0, "")


# -- walks while tasks are inserted ------------------------------------------------------------
# For each sort, new tasks whose key sorts first and ones whose key sorts last: inserting before
# the position a walk has reached is what an offset in disguise gets wrong (it repeats tasks).
INSERTED: dict[str, list[dict[str, Any]]] = {
    "id": [{}],
    "created_at": [{}],
    "title": [{"title": "aaaa"}, {"title": "zzzz"}, {"title": "kiwi"}],
    "priority": [{"priority": "high"}, {"priority": "low"}, {"priority": "medium"}],
    "due_date": [{"due_date": "2000-01-01"}, {"due_date": "2099-12-31"}, {}, {"due_date": "2030-03-01"}],
}
# Inserting after every page could make a walk endless (as many new tasks ahead as a page holds);
# inserting before the first few pages is enough to catch a cursor that is an offset in disguise.
INSERTING_PAGES = 3


@pytest.mark.parametrize("sort_by, order", SORTS)
def test_walk_while_tasks_are_inserted(http, account, dataset, sort_by, order) -> None:
    inserted: list[dict[str, Any]] = []
    stranger = new_account(http)

    def insert(number: int) -> None:
        if number > INSERTING_PAGES:
            return
        for fields in INSERTED[sort_by]:
            inserted.append(create_task(http, account, **fields))
        create_task(http, stranger, **INSERTED[sort_by][0])  # never in my walk

    pages = walk_tasks(http, account, {"sort_by": sort_by, "sort_order": order}, limit=3, between=insert)
    seen = ids(walked(pages))
    assert len(seen) == len(set(seen)), f"a task came twice: {seen}"
    assert set(ids(dataset)) <= set(seen), f"missed {set(ids(dataset)) - set(seen)}"
    assert set(seen) <= set(ids(dataset)) | set(ids(inserted)), "a task that is not mine"
    assert_ordered(walked(pages), sort_by, order)
    assert [page["page"] for page in pages] == list(range(1, len(pages) + 1))
    assert all(page["total"] >= len(DATASET) for page in pages)
    assert inserted, "nothing was inserted: the walk had a single page"
    if (sort_by, order) == ("id", "asc"):
        # New tasks have higher ids: whichever of them the walk shows come at its end.
        new = [task_id for task_id in seen if task_id not in set(ids(dataset))]
        assert seen == ids(dataset) + new
        assert new == sorted(new)


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_walk_by_id_while_inserting_before_every_page(http, account, dataset, limit) -> None:
    inserted: list[int] = []

    def insert(number: int) -> None:
        if number <= INSERTING_PAGES:
            inserted.append(create_task(http, account)["id"])

    seen = ids(walked(walk_tasks(http, account, limit=limit, between=insert)))
    assert seen[: len(DATASET)] == ids(dataset)
    assert set(seen[len(DATASET) :]) <= set(inserted)
    assert seen == sorted(set(seen))


def test_walk_while_inserting_with_a_filter(http, account, dataset) -> None:
    """Inserted tasks that match and that do not; only matching ones may show, each once."""
    query = {"tags": "x", "sort_by": "title", "sort_order": "asc"}
    before = ids(everything(http, account, query))
    inserted: list[int] = []

    def insert(number: int) -> None:
        if number > INSERTING_PAGES:
            return
        inserted.append(create_task(http, account, title="aaaa", tags=["x"])["id"])
        create_task(http, account, title="aaaa", tags=["y"])
        inserted.append(create_task(http, account, title="zzzz", tags=["x", "y"])["id"])

    pages = walk_tasks(http, account, query, limit=2, between=insert)
    seen = ids(walked(pages))
    assert len(seen) == len(set(seen)), seen
    assert set(before) <= set(seen) <= set(before) | set(inserted)
    assert_ordered(walked(pages), "title", "asc")


def test_walk_when_the_last_task_of_a_page_is_deleted(http, account, dataset) -> None:
    """The token must not need the task it stopped at to still exist."""
    query = {"sort_by": "title", "sort_order": "asc"}
    deleted: list[int] = []
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        page = list_tasks(http, account, {**query, "limit": 3, **({"page_token": token} if token else {})})
        pages.append(page)
        token = page["next_page_token"]
        if not token:
            break
        assert len(pages) < 20
        last = page["tasks"][-1]["id"]
        assert http.delete(f"/tasks/{last}", headers=account.headers).status_code == 204
        deleted.append(last)
    seen = ids(walked(pages))
    assert sorted(seen) == sorted(ids(dataset)), seen
    assert_ordered(walked(pages), "title", "asc")


# -- tokens ----------------------------------------------------------------------------------
FIRST_QUERY = {"sort_by": "title", "sort_order": "asc", "completed": "false"}


@pytest.mark.parametrize(
    "changed",
    [
        {"sort_by": "priority"},
        {"sort_by": None},
        {"sort_order": "desc"},
        {"completed": "true"},
        {"completed": None},
        {"priority": "low"},
        {"tags": "x"},
        {"search": "a"},
        {"overdue": "false"},
        {"due_after": "2000-01-01"},
        {"due_before": "2099-12-31"},
        {"created_after": "2000-01-01"},
        {"created_before": "2099-12-31"},
    ],
    ids=lambda changed: "-".join(f"{key}={value}" for key, value in changed.items()),
)
def test_a_token_with_other_filters_or_sort_is_400_naming_page_token(http, account, dataset, changed) -> None:
    first = list_tasks(http, account, {**FIRST_QUERY, "limit": 2})
    assert first["next_page_token"]
    query = {**FIRST_QUERY, **changed, "limit": 2, "page_token": first["next_page_token"]}
    query = {key: value for key, value in query.items() if value is not None}
    assert_bad_request(http.get("/tasks", params=query, headers=account.headers), "page_token")


def test_the_same_filters_in_another_order_of_parameters_are_accepted(http, account, dataset) -> None:
    first = list_tasks(http, account, "completed=false&sort_by=title&limit=2")
    token = first["next_page_token"]
    second = list_tasks(
        http, account, {"limit": 2, "page_token": token, "sort_by": "title", "completed": "false"}
    )
    assert second["page"] == 2


@pytest.mark.parametrize(
    "token",
    ["garbage", "AAAAAAAAAAAA", "eyJpZCI6IDF9", "-1", "0", "%%%", "x" * 500],
    ids=["word", "zeros-b64", "json-b64", "minus-one", "zero", "percent", "long"],
)
def test_a_garbage_token_is_400_naming_page_token(http, account, dataset, token) -> None:
    assert_bad_request(
        http.get("/tasks", params={"limit": 2, "page_token": token}, headers=account.headers), "page_token"
    )


def tamper(token: str) -> list[str]:
    """Variants of a real token: truncated, and with one character changed at a few places."""
    variants = [token[: len(token) // 2], token[:-1]]
    for position in {0, len(token) // 2, len(token) - 2}:
        replacement = "A" if token[position] != "A" else "B"
        variants.append(token[:position] + replacement + token[position + 1 :])
    return [variant for variant in variants if variant and variant != token]


def test_a_tampered_token_is_400(http, account, dataset) -> None:
    """Tokens are authenticated: no change to one is read."""
    first = list_tasks(http, account, {"limit": 2})
    for token in tamper(first["next_page_token"]):
        response = http.get("/tasks", params={"limit": 2, "page_token": token}, headers=account.headers)
        assert_bad_request(response, "page_token")


def test_another_users_token_is_400(http, account, dataset) -> None:
    """A token is bound to its caller: it never pages anyone else's list."""
    stranger = new_account(http)
    for fields in DATASET[:5]:
        create_task(http, stranger, **fields)
    first = list_tasks(http, account, {"limit": 2})
    response = http.get(
        "/tasks", params={"limit": 2, "page_token": first["next_page_token"]}, headers=stranger.headers
    )
    assert_bad_request(response, "page_token")


def test_walks_of_two_users_see_only_their_own_tasks(http, account, dataset) -> None:
    other = new_account(http)
    theirs: list[int] = []
    counter = itertools.count()

    def interleave(_: int) -> None:  # the other user writes while I walk, and walks too
        theirs.append(create_task(http, other, title=f"other{next(counter)}")["id"])

    mine = ids(walked(walk_tasks(http, account, limit=2, between=interleave)))
    assert mine == ids(dataset)
    walked_theirs = ids(walked(walk_tasks(http, other, limit=2)))
    assert walked_theirs == theirs


# -- native gRPC -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


def grpc_walk(
    stub: tasks_pb2_grpc.TasksServiceStub,
    account: Account,
    between: Callable[[int], None] | None = None,
    **fields: Any,
) -> list[tasks_pb2.ListTasksResponse]:
    replies: list[tasks_pb2.ListTasksResponse] = []
    token = ""
    while True:
        reply = stub.ListTasks(
            tasks_pb2.ListTasksRequest(page_token=token, **fields), metadata=bearer_metadata(account)
        )
        replies.append(reply)
        token = reply.next_page_token
        if not token:
            return replies
        assert len(replies) < 100, "next_page_token never ran out"
        if between is not None:
            between(len(replies))


def test_grpc_walk(stub, account, dataset) -> None:
    replies = grpc_walk(stub, account, limit=3, sort_by="title", sort_order="desc", completed=False)
    expected = [task for task in dataset if not task.get("completed")]
    seen = [task.id for reply in replies for task in reply.tasks]
    assert sorted(seen) == sorted(ids(expected))
    assert len(seen) == len(set(seen))
    titles = [task.title for reply in replies for task in reply.tasks]
    assert titles == sorted(titles, reverse=True)
    assert [reply.page for reply in replies] == list(range(1, len(replies) + 1))
    assert all(reply.total == len(expected) for reply in replies)
    assert len(replies) == math.ceil(len(expected) / 3)


def test_grpc_walk_while_inserting(http, stub, account, dataset) -> None:
    inserted: list[int] = []

    def insert(number: int) -> None:
        if number > INSERTING_PAGES:
            return
        for title in ("aaaa", "zzzz"):
            reply = stub.CreateTask(
                tasks_pb2.CreateTaskRequest(title=title), metadata=bearer_metadata(account)
            )
            inserted.append(reply.id)

    replies = grpc_walk(stub, account, between=insert, limit=2, sort_by="title")
    seen = [task.id for reply in replies for task in reply.tasks]
    assert len(seen) == len(set(seen)), seen
    assert set(ids(dataset)) <= set(seen) <= set(ids(dataset)) | set(inserted)
    titles = [task.title for reply in replies for task in reply.tasks]
    assert titles == sorted(titles)


def test_grpc_bad_token_is_invalid_argument_naming_page_token(stub, account, dataset) -> None:
    first = stub.ListTasks(
        tasks_pb2.ListTasksRequest(limit=2, sort_by="title"), metadata=bearer_metadata(account)
    )
    for request in [
        tasks_pb2.ListTasksRequest(limit=2, page_token="garbage"),
        tasks_pb2.ListTasksRequest(limit=2, sort_by="priority", page_token=first.next_page_token),
    ]:
        with pytest.raises(grpc.RpcError) as error:
            stub.ListTasks(request, metadata=bearer_metadata(account))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(error.value)
        assert status is not None
        fields = set()
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                fields |= {violation.field for violation in bad_request.field_violations}
        assert fields == {"page_token"}
