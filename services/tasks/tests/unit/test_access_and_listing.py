from datetime import UTC, date, datetime, timedelta

import pytest

from tm_common.errors import InvalidArgument, NotFound, PermissionDenied
from tm_tasks.domain import access
from tm_tasks.domain.access import Permission, authorize
from tm_tasks.domain.listing import list_query, page_numbers
from tm_tasks.domain.tasks import Task

TASK = Task(
    id=7,
    user_id=1,
    title="t",
    description=None,
    completed=False,
    priority="medium",
    due_date=None,
    tags=(),
    created_at=datetime.now(UTC),
    updated_at=None,
)


@pytest.mark.parametrize("needed", list(Permission))
def test_the_owner_may_do_everything(needed) -> None:
    assert authorize(TASK, 7, 1, needed) is TASK


@pytest.mark.parametrize("needed", list(Permission))
def test_anyone_else_learns_nothing(needed) -> None:
    with pytest.raises(NotFound, match="task 7 not found"):
        authorize(TASK, 7, 2, needed)


def test_a_missing_task_is_not_found() -> None:
    with pytest.raises(NotFound):
        authorize(None, 9, 1, Permission.VIEW)


def test_a_viewer_reads_but_may_not_change() -> None:
    assert authorize(TASK, 7, 2, Permission.VIEW, shared=Permission.VIEW) is TASK
    with pytest.raises(PermissionDenied):
        authorize(TASK, 7, 2, Permission.EDIT, shared=Permission.VIEW)


def test_an_editor_changes_but_may_not_delete_or_share() -> None:
    assert authorize(TASK, 7, 2, Permission.EDIT, shared=Permission.EDIT) is TASK
    with pytest.raises(PermissionDenied):
        authorize(TASK, 7, 2, Permission.OWNER, shared=Permission.EDIT)


def test_the_owner_needs_no_share() -> None:
    assert access.permission_of(TASK, 1, shared=None) is Permission.OWNER


def test_list_defaults() -> None:
    query = list_query()
    assert (query.sort_by, query.descending, query.skip, query.limit) == ("id", False, 0, 100)


def test_comma_lists_and_repeated_tags_combine() -> None:
    assert list_query(tags=["a,b", "c", " b "]).tags == ("a", "b", "c")


def test_dates_are_whole_utc_days() -> None:
    query = list_query(
        created_after="2026-01-01",
        created_before="2026-01-01",
        due_after="2026-12-01",
        due_before="2026-12-31",
    )
    assert query.created_after == datetime(2026, 1, 1, tzinfo=UTC)
    assert query.created_before == datetime(2026, 1, 2, tzinfo=UTC)  # exclusive: all of the day
    assert (query.due_after, query.due_before) == (date(2026, 12, 1), date(2026, 12, 31))


def test_date_times_are_inclusive_instants() -> None:
    query = list_query(created_after="2026-01-01T10:00:00+05:00", created_before="2026-01-01 10:00:00.25")
    assert query.created_after == datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert query.created_before == datetime(2026, 1, 1, 10, 0, 0, 250_001, tzinfo=UTC)
    one_instant = list_query(created_after="2026-01-01T10:00Z", created_before="2026-01-01T10:00Z")
    assert one_instant.created_before - one_instant.created_after == timedelta(microseconds=1)


def test_due_date_times_are_their_utc_dates() -> None:
    query = list_query(due_after="2026-12-01T21:00:00-05:00", due_before="2026-12-31T02:00:00+05:00")
    assert (query.due_after, query.due_before) == (date(2026, 12, 2), date(2026, 12, 30))
    same_day = list_query(due_after="2026-12-01T23:00Z", due_before="2026-12-01T01:00Z")
    assert same_day.due_after == same_day.due_before == date(2026, 12, 1)


def test_the_same_instant_spelled_differently_is_the_same_query() -> None:
    assert list_query(created_after="2026-01-01") == list_query(created_after="2026-01-01T00:00:00Z")
    assert list_query(created_after="2026-01-01T10:00") == list_query(
        created_after="2026-01-01T05:00:00-05:00"
    )


@pytest.mark.parametrize(
    "arguments, bad",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"skip": -1}, "skip"),
        ({"sort_by": "owner"}, "sort_by"),
        ({"sort_order": "up"}, "sort_order"),
        ({"priority": "urgent"}, "priority"),
        ({"created_after": "01/02/2026"}, "created_after"),
        ({"due_before": "2026-02-30"}, "due_before"),
        ({"search": "x" * 201}, "search"),
        ({"search": "a\x00"}, "search"),
        ({"skip": 2**31 - 1}, "skip"),
        ({"created_before": "9999-12-31"}, "created_before"),
        ({"created_after": "2026-01-01T10:00:00+25:00"}, "created_after"),
        ({"created_after": "2026-W01"}, "created_after"),
        ({"created_before": "2026-01-01T24:00"}, "created_before"),
        ({"due_after": "2026-01-01T10:00:00ZZ"}, "due_after"),
        ({"due_before": "9999-01-01T00:00Z"}, "due_before"),
        ({"due_before": "0000-12-31"}, "due_before"),
        ({"created_after": "2026-01-02", "created_before": "2026-01-01"}, "created_before"),
        (
            {"created_after": "2026-01-01T10:00", "created_before": "2026-01-01T09:59:59.999999"},
            "created_before",
        ),
        ({"due_after": "2026-01-02", "due_before": "2026-01-01T23:59Z"}, "due_before"),
        ({"due_after": "2026-01-01T20:00-05:00", "due_before": "2026-01-01T23:00"}, "due_before"),
        ({"tags": ["a"] * 10_000}, "tags"),
        ({"tags": [",".join(str(i) for i in range(51))]}, "tags"),
    ],
)
def test_bad_list_arguments_name_the_field(arguments, bad) -> None:
    with pytest.raises(InvalidArgument) as error:
        list_query(**arguments)
    assert set(error.value.fields) == {bad}


@pytest.mark.parametrize(
    "total, skip, limit, expected",
    [(0, 0, 10, (1, 0)), (10, 0, 10, (1, 1)), (11, 10, 10, (2, 2)), (25, 5, 10, (1, 3))],
)
def test_page_numbers_follow_the_original(total, skip, limit, expected) -> None:
    assert page_numbers(total, skip, limit) == expected
