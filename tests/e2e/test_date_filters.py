"""Date filters through the gateway take a date or a date-time (tm_common.time_filters):
GET /tasks `created_after`, `created_before`, `due_after`, `due_before` and GET /activity
`start_date`, `end_date`.

A date is a whole UTC day; a date-time is an instant (UTC when it has no offset), and both ends
include it; due_* compare the UTC date of a date-time. Tasks get their created_at from the server,
so every expectation is computed from the times the API returned (an oracle), never from the
clock. Every test registers its own users."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

from support.accounts import Account, bearer_metadata
from support.errors import assert_bad_request, rpc_error, violated_fields
from support.polling import wait_until
from support.tasks import create_task, list_tasks
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

MICROSECOND = timedelta(microseconds=1)
EAST, WEST = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def naive(instant: datetime) -> str:
    """The UTC wall clock without an offset: the API reads it as UTC."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def zulu(instant: datetime) -> str:
    return naive(instant) + "Z"


def in_zone(instant: datetime, zone: timezone) -> str:
    """The same instant as another zone's wall clock with its offset, e.g. ...T15:00:00+05:00."""
    return instant.astimezone(zone).isoformat(timespec="microseconds")


def wall_clock(instant: datetime, zone: timezone) -> str:
    """Another zone's wall clock WITHOUT its offset: a different instant (read as UTC)."""
    return instant.astimezone(zone).replace(tzinfo=None).isoformat(timespec="microseconds")


def query(**params: str) -> str:
    """A raw query string, every value percent-encoded (a space as %20, a + as %2B)."""
    return "&".join(f"{key}={quote(value, safe=':')}" for key, value in params.items())


Within = Callable[[datetime], bool]


def cases(times: list[datetime], low: str, high: str) -> list[tuple[dict[str, str], Within]]:
    """Filters (by the names of the lower and upper bound) with what they must admit, around the
    middle one of `times`."""
    middle = times[1]
    day = middle.astimezone(UTC).date()

    def utc_day(t: datetime) -> date:
        return t.astimezone(UTC).date()

    return [
        ({low: naive(middle)}, lambda t: t >= middle),
        ({high: naive(middle)}, lambda t: t <= middle),
        ({low: zulu(middle), high: zulu(middle)}, lambda t: t == middle),  # both ends inclusive
        ({low: in_zone(middle, EAST), high: in_zone(middle, WEST)}, lambda t: t == middle),
        # The offset is honoured: the same wall clock without it is another instant (5 h later).
        ({low: wall_clock(middle, EAST)}, lambda t: t >= middle + timedelta(hours=5)),
        ({high: wall_clock(middle, EAST)}, lambda t: t <= middle + timedelta(hours=5)),
        ({low: zulu(middle + MICROSECOND)}, lambda t: t > middle),
        ({high: zulu(middle - MICROSECOND)}, lambda t: t < middle),
        ({low: naive(middle).replace("T", " ")}, lambda t: t >= middle),  # a space for the T
        ({high: in_zone(middle, WEST).replace("T", " ")}, lambda t: t <= middle),
        # Milliseconds (as JavaScript writes them): the bound is that millisecond's first instant.
        ({low: middle.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
         lambda t: t >= middle.replace(microsecond=middle.microsecond // 1000 * 1000)),
        ({low: middle.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")},
         lambda t: t >= middle.replace(second=0, microsecond=0)),
        # A bare date: the whole UTC day.
        ({low: day.isoformat(), high: day.isoformat()}, lambda t: utc_day(t) == day),
        ({low: (day + timedelta(days=1)).isoformat()}, lambda t: utc_day(t) > day),
        ({high: (day - timedelta(days=1)).isoformat()}, lambda t: utc_day(t) < day),
        ({low: naive(middle), high: day.isoformat()}, lambda t: middle <= t and utc_day(t) <= day),
    ]  # fmt: skip


# -- GET /tasks ----------------------------------------------------------------------------------
@pytest.fixture
def three_tasks(http, account) -> list[dict[str, Any]]:
    tasks = [create_task(http, account, title=f"task {n}") for n in range(3)]
    created = [parse_time(task["created_at"]) for task in tasks]
    assert created == sorted(created) and len(set(created)) == 3, created
    return tasks


def test_created_filters_take_dates_and_date_times(http, account, three_tasks) -> None:
    created = {task["id"]: parse_time(task["created_at"]) for task in three_tasks}
    for filters, admits in cases(list(created.values()), "created_after", "created_before"):
        page = list_tasks(http, account, query(**filters))
        expected = [task_id for task_id, at in created.items() if admits(at)]
        assert ([task["id"] for task in page["tasks"]], page["total"]) == (expected, len(expected)), filters


def test_an_unencoded_plus_of_an_offset_is_read_as_the_offset(http, account, three_tasks) -> None:
    # The gateway decodes a + in a query string as a space; the filters read it back as a +.
    middle = parse_time(three_tasks[1]["created_at"])
    page = list_tasks(http, account, f"created_after={in_zone(middle, EAST)}")
    assert [task["id"] for task in page["tasks"]] == [task["id"] for task in three_tasks[1:]]
    page = list_tasks(http, account, f"created_before={in_zone(middle, EAST).replace('T', '+')}")
    assert [task["id"] for task in page["tasks"]] == [task["id"] for task in three_tasks[:2]]


def test_due_filters_compare_the_utc_date_of_a_date_time(http, account) -> None:
    due = {
        d: create_task(http, account, due_date=d)["id"] for d in ("2030-01-01", "2030-01-02", "2030-01-03")
    }
    create_task(http, account)  # no due date: never in a due_* range

    def found(**filters: str) -> list[int]:
        return [task["id"] for task in list_tasks(http, account, query(**filters))["tasks"]]

    assert found(due_after="2030-01-02T10:00:00Z", due_before="2030-01-02 10:00") == [due["2030-01-02"]]
    assert found(due_after="2030-01-02T23:59:59.999999", due_before="2030-01-02T00:00") == [due["2030-01-02"]]
    # 23:00 at -05:00 is 04:00 UTC the next day; 03:00 at +05:00 is 22:00 UTC the day before.
    assert found(due_after="2030-01-02T23:00:00-05:00") == [due["2030-01-03"]]
    assert found(due_before="2030-01-02T03:00:00+05:00") == [due["2030-01-01"]]
    assert found(due_after="2030-01-02", due_before="2030-01-03") == [due["2030-01-02"], due["2030-01-03"]]
    # A day that is in order once in UTC, though it does not look it: 2030-01-03 01:00 +05:00 is
    # still 2030-01-02 in UTC.
    assert found(due_after="2030-01-03T01:00:00+05:00", due_before="2030-01-02") == [due["2030-01-02"]]


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("created_after=2026-W01", {"created_after"}),  # a week date
        ("created_after=2026-W01-1", {"created_after"}),
        ("created_after=2026-335", {"created_after"}),  # an ordinal date
        ("created_after=2026-12-01T25:00", {"created_after"}),
        ("created_after=2026-12-01T10:00:60Z", {"created_after"}),
        ("created_before=2026-02-30T10:00:00Z", {"created_before"}),
        ("created_before=2026-12-01T10:00:00.1234567890Z", {"created_before"}),
        ("created_before=2026-12-01T10:00:00%20UTC", {"created_before"}),
        ("created_before=2026-12-01T10", {"created_before"}),
        ("due_after=2026-12-01T10:00:00%2B24:00", {"due_after"}),
        ("due_after=tomorrow", {"due_after"}),
        ("due_before=10000-01-01", {"due_before"}),
        ("due_before=9999-01-01T00:00:00Z", {"due_before"}),  # tasks take years 1 to 9998
        ("due_before=0000-12-31", {"due_before"}),
        ("created_after=", {"created_after"}),
        ("created_after=2026-12-02&created_before=2026-12-01T23:59:59.999999Z", {"created_before"}),
        ("created_after=2026-12-01T10:00:00Z&created_before=2026-12-01T14:59:59%2B05:00", {"created_before"}),
        ("due_after=2026-12-02&due_before=2026-12-02T03:00:00%2B05:00", {"due_before"}),  # 12-01 in UTC
        ("created_after=x&created_before=y&due_after=2026-13-01&due_before=2026-12-01T10:00Q",
         {"created_after", "created_before", "due_after", "due_before"}),
    ],
)  # fmt: skip
def test_bad_task_date_filters_are_400_naming_the_field(http, account, raw: str, fields: set[str]) -> None:
    assert_bad_request(http.get(f"/tasks?{raw}", headers=account.headers), *fields)


def test_the_ends_of_the_task_calendar_are_accepted(http, account, three_tasks) -> None:
    everything = [task["id"] for task in three_tasks]
    for raw in (
        "created_after=0001-01-01T00:00:00Z&created_before=9998-12-31",
        "created_before=9998-12-31T23:59:59.999999-05:00",
        "created_after=2026-12-01T10:00:00Z&created_before=2026-12-01T15:00:00%2B05:00&due_after=0001-01-01",
    ):
        page = list_tasks(http, account, raw)
        expected = everything if "2026-12-01" not in raw else []
        assert [task["id"] for task in page["tasks"]] == expected, raw


def test_page_tokens_keep_date_time_filters(http, account, three_tasks) -> None:
    first = parse_time(three_tasks[0]["created_at"])
    page = list_tasks(http, account, {"created_after": naive(first), "limit": 1})
    assert [task["id"] for task in page["tasks"]] == [three_tasks[0]["id"]]
    token = page["next_page_token"]
    # The same instant spelled another way is the same filter: the token goes on.
    page = list_tasks(http, account, {"created_after": in_zone(first, WEST), "limit": 1, "page_token": token})
    assert [task["id"] for task in page["tasks"]] == [three_tasks[1]["id"]]
    assert (page["page"], page["total"]) == (2, 3)
    # Another instant is another filter.
    refused = {"created_after": zulu(first + MICROSECOND), "limit": 1, "page_token": token}
    assert_bad_request(http.get("/tasks", params=refused, headers=account.headers), "page_token")


def test_native_grpc_takes_date_times_too(http, gateway_channel, account, three_tasks) -> None:
    stub = tasks_pb2_grpc.TasksServiceStub(gateway_channel)
    middle = parse_time(three_tasks[1]["created_at"])
    request = tasks_pb2.ListTasksRequest(created_after=in_zone(middle, EAST), created_before=zulu(middle))
    found = stub.ListTasks(request, metadata=bearer_metadata(account))
    assert [task.id for task in found.tasks] == [three_tasks[1]["id"]]
    error = rpc_error(
        lambda: stub.ListTasks(
            tasks_pb2.ListTasksRequest(due_before="2026-W01"), metadata=bearer_metadata(account)
        )
    )
    assert violated_fields(error) == {"due_before"}


# -- GET /activity -------------------------------------------------------------------------------
def creations(http, account: Account) -> list[dict[str, Any]]:
    """The caller's task creations in the log, oldest first."""
    response = http.get("/activity?resource_type=task&action=created", headers=account.headers)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()))


@pytest.fixture
def three_entries(http, account) -> list[dict[str, Any]]:
    for n in range(3):
        create_task(http, account, title=f"task {n}")
    entries = wait_until(
        lambda: creations(http, account), "three creations logged", accept=lambda e: len(e) == 3
    )
    times = [parse_time(entry["created_at"]) for entry in entries]
    assert times == sorted(times) and len(set(times)) == 3, times
    return entries


def test_activity_takes_dates_and_date_times(http, account, three_entries) -> None:
    logged = {entry["id"]: parse_time(entry["created_at"]) for entry in three_entries}
    for filters, admits in cases(list(logged.values()), "start_date", "end_date"):
        response = http.get(f"/activity?{query(**filters)}", headers=account.headers)
        assert response.status_code == 200, (filters, response.text)
        expected = [entry_id for entry_id, at in reversed(logged.items()) if admits(at)]  # newest first
        assert [entry["id"] for entry in response.json()] == expected, filters


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("start_date=2026-W01", {"start_date"}),
        ("start_date=2026-12-01T24:00:00", {"start_date"}),
        ("start_date=2026-12-01T10:00:00%2B25:00", {"start_date"}),
        ("end_date=2026-02-29T10:00Z", {"end_date"}),
        ("end_date=10000-01-01", {"end_date"}),
        ("end_date=9999-12-31T23:00:00-05:00", {"end_date"}),  # past the calendar once in UTC
        ("start_date=0001-01-01T00:00:00%2B01:00", {"start_date"}),
        ("end_date=2026-12-01T10:00:00.5.5Z", {"end_date"}),
        ("start_date=2026-12-01T10:00:00Z&end_date=2026-12-01T09:59:59.999999Z", {"end_date"}),
        ("start_date=2026-12-02&end_date=2026-12-01T23:59:59", {"end_date"}),
        ("start_date=2026-12-01T10:00:00-05:00&end_date=2026-12-01T14:59:59Z", {"end_date"}),
        ("start_date=never&end_date=2026-12-01T10:00:00Y", {"start_date", "end_date"}),
    ],
)
def test_bad_activity_date_filters_are_400_naming_the_field(
    http, account, raw: str, fields: set[str]
) -> None:
    assert_bad_request(http.get(f"/activity?{raw}", headers=account.headers), *fields)


def test_activity_date_time_ranges_to_the_ends_of_the_calendar(http, account, three_entries) -> None:
    newest_first = [entry["id"] for entry in reversed(three_entries)]
    for raw in (
        "start_date=0001-01-01T00:00:00Z&end_date=9999-12-31T23:59:59.999999Z&resource_type=task",
        "end_date=9999-12-31&resource_type=task",
        # One instant, nothing in it.
        "start_date=2026-12-01T10:00:00Z&end_date=2026-12-01T15:00:00%2B05:00&resource_type=task",
    ):
        response = http.get(f"/activity?{raw}", headers=account.headers)
        assert response.status_code == 200, (raw, response.text)
        assert [entry["id"] for entry in response.json()] == (newest_first if "9999" in raw else []), raw


def test_activity_page_tokens_keep_date_time_filters(http, gateway_channel, account, three_entries) -> None:
    stub = activity_pb2_grpc.ActivityServiceStub(gateway_channel)
    metadata = bearer_metadata(account)
    first = parse_time(three_entries[0]["created_at"])
    page = stub.ListActivity(
        activity_pb2.ListActivityRequest(start_date=naive(first), resource_type="task", limit=2),
        metadata=metadata,
    )
    assert [entry.id for entry in page.entries] == [three_entries[2]["id"], three_entries[1]["id"]]
    rest = stub.ListActivity(
        activity_pb2.ListActivityRequest(
            start_date=in_zone(first, EAST), resource_type="task", limit=2, page_token=page.next_page_token
        ),
        metadata=metadata,
    )
    assert [entry.id for entry in rest.entries] == [three_entries[0]["id"]]
    other = activity_pb2.ListActivityRequest(
        start_date=zulu(first - MICROSECOND), resource_type="task", limit=2, page_token=page.next_page_token
    )
    assert violated_fields(rpc_error(lambda: stub.ListActivity(other, metadata=metadata))) == {"page_token"}
