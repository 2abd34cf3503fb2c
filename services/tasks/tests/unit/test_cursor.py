from datetime import UTC, date, datetime

import pytest

from tm_common.errors import InvalidArgument
from tm_common.paging import PageTokens
from tm_tasks.domain import cursor
from tm_tasks.domain.cursor import Cursor
from tm_tasks.domain.listing import ListQuery, list_query, resume

USER = 7


def values_for(query: ListQuery, position=20, last_value="2026-01-02", last_id=41) -> list:
    return cursor.encode(Cursor(cursor.fingerprint(query), position, last_value, last_id))


def assert_refused(query: ListQuery, values: list) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as error:
        resume(query, values)
    assert set(error.value.fields) == {"page_token"}
    return error.value


def test_a_cursor_round_trips_for_the_same_query() -> None:
    query = list_query(completed=True, sort_by="due_date", sort_order="desc", limit=20)
    resumed = resume(
        list_query(completed=True, sort_by="due_date", sort_order="desc", limit=20), values_for(query)
    )
    assert resumed.after == Cursor(cursor.fingerprint(query), 20, date(2026, 1, 2), 41)
    assert resumed.position == 20


def test_a_cursor_round_trips_through_a_page_token() -> None:
    tokens = PageTokens(b"unit-test-page-token-key")
    query = list_query(sort_by="title")
    token = tokens.make(cursor.scope(USER), values_for(query, last_value="caf\u00e9"))
    resumed = resume(query, tokens.read(cursor.scope(USER), token, cursor.LENGTH))
    assert resumed.after == Cursor(cursor.fingerprint(query), 20, "caf\u00e9", 41)
    with pytest.raises(InvalidArgument):
        tokens.read(cursor.scope(USER + 1), token, cursor.LENGTH)  # another caller's token


def test_paging_is_not_part_of_the_fingerprint() -> None:
    assert cursor.fingerprint(list_query(skip=0, limit=10)) == cursor.fingerprint(
        list_query(skip=50, limit=20)
    )


@pytest.mark.parametrize(
    "changed",
    [{"completed": False}, {"sort_by": "title"}, {"sort_order": "desc"}, {"tags": ["x"]}, {"search": "a"}],
)
def test_a_cursor_for_another_query_is_refused(changed) -> None:
    values = values_for(list_query(completed=True))
    error = assert_refused(list_query(**{"completed": True, **changed}), values)
    assert error.fields["page_token"] == "was made for other filters or another order"


@pytest.mark.parametrize(
    "values",
    [
        [2, "x", 0, 1, 1],  # another version
        [1, "x", "0", 1, 1],
        [1, "x", 0, 1, None],
        [1, "x", 0.0, 1, 1],
    ],
)
def test_a_cursor_of_the_wrong_shape_is_refused(values) -> None:
    assert_refused(list_query(), values)


def test_offset_position_without_a_token() -> None:
    assert list_query(skip=30).position == 30


@pytest.mark.parametrize(
    "sort_by, last_value",
    [
        ("created_at", 5),
        ("created_at", "2026-01-02T03:04:05"),  # no time zone: not what the column holds
        ("created_at", "2026-01-02T03:04:05+00:00\x00"),
        ("due_date", "not a date"),
        ("due_date", 20260102),
        ("completed", 1),
        ("completed", None),
        ("priority", True),
        ("priority", 0),
        ("priority", 4),
        ("priority", 2**40),
        ("title", ["x"]),
        ("title", None),
        ("title", "a\x00b"),  # issue 11: Postgres text cannot hold NUL (was a 500)
        ("title", "\ud800"),  # issue 11: a lone surrogate cannot be sent as UTF-8 (was a 500)
        ("title", "x" * 201),  # longer than any title
        ("id", "7"),
        ("id", 0),
        ("id", 2**31),
        ("id", 1.0),
    ],
)
def test_a_cursor_whose_value_does_not_fit_the_column_is_refused(sort_by, last_value) -> None:
    query = list_query(sort_by=sort_by)
    assert_refused(query, values_for(query, 0, last_value, 1))


@pytest.mark.parametrize(
    "sort_by, last_value, expected",
    [
        ("created_at", "2026-01-02T03:04:05+00:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("due_date", None, None),
        ("due_date", "2026-01-02", date(2026, 1, 2)),
        ("completed", False, False),
        ("priority", 3, 3),
        ("title", "x" * 200, "x" * 200),
        ("title", "\U0001f600 emoji", "\U0001f600 emoji"),
        ("id", 2**31 - 1, 2**31 - 1),
    ],
)
def test_a_cursor_whose_value_fits_the_column_is_read(sort_by, last_value, expected) -> None:
    query = list_query(sort_by=sort_by)
    assert resume(query, values_for(query, 0, last_value, 1)).after.last_value == expected


@pytest.mark.parametrize("position, last_id", [(-1, 1), (2**31, 1), (0, -5), (0, 2**40)])
def test_a_cursor_out_of_range_is_refused(position, last_id) -> None:
    query = list_query()
    assert_refused(query, values_for(query, position, last_id, last_id))
