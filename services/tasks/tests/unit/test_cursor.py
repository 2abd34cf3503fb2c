from datetime import date

import pytest

from tm_common.errors import InvalidArgument
from tm_tasks.domain import cursor
from tm_tasks.domain.cursor import Cursor
from tm_tasks.domain.listing import list_query


def token_for(query, position=20, last_value="2026-01-02", last_id=41) -> str:
    return cursor.encode(Cursor(cursor.fingerprint(query), position, last_value, last_id))


def test_a_token_round_trips_for_the_same_query() -> None:
    query = list_query(completed=True, sort_by="due_date", sort_order="desc", limit=20)
    resumed = list_query(
        completed=True, sort_by="due_date", sort_order="desc", limit=20, page_token=token_for(query)
    )
    assert resumed.after == Cursor(cursor.fingerprint(query), 20, date(2026, 1, 2), 41)
    assert resumed.position == 20


def test_paging_is_not_part_of_the_fingerprint() -> None:
    assert cursor.fingerprint(list_query(skip=0, limit=10)) == cursor.fingerprint(
        list_query(skip=50, limit=20)
    )


@pytest.mark.parametrize(
    "changed",
    [{"completed": False}, {"sort_by": "title"}, {"sort_order": "desc"}, {"tags": ["x"]}, {"search": "a"}],
)
def test_a_token_for_another_query_is_refused(changed) -> None:
    token = token_for(list_query(completed=True))
    with pytest.raises(InvalidArgument) as error:
        list_query(**{"completed": True, **changed}, page_token=token)
    assert set(error.value.fields) == {"page_token"}


@pytest.mark.parametrize(
    "token", ["garbage", "e30", "WzEsMl0", cursor.encode(Cursor("x", 0, None, 1)) + "!!"]
)
def test_garbage_is_refused(token) -> None:
    with pytest.raises(InvalidArgument) as error:
        list_query(page_token=token)
    assert set(error.value.fields) == {"page_token"}


def test_offset_position_without_a_token() -> None:
    assert list_query(skip=30).position == 30


@pytest.mark.parametrize(
    "sort_by, last_value",
    [
        ("created_at", 5),
        ("due_date", "not a date"),
        ("completed", 1),
        ("priority", True),
        ("title", ["x"]),
        ("id", "7"),
    ],
)
def test_a_token_whose_value_does_not_fit_the_column_is_refused(sort_by, last_value) -> None:
    query = list_query(sort_by=sort_by)
    token = cursor.encode(Cursor(cursor.fingerprint(query), 0, last_value, 1))
    with pytest.raises(InvalidArgument) as error:
        list_query(sort_by=sort_by, page_token=token)
    assert set(error.value.fields) == {"page_token"}


@pytest.mark.parametrize("position, last_id", [(-1, 1), (2**31, 1), (0, -5), (0, 2**40)])
def test_a_token_out_of_range_is_refused(position, last_id) -> None:
    query = list_query()
    token = cursor.encode(Cursor(cursor.fingerprint(query), position, last_id, last_id))
    with pytest.raises(InvalidArgument):
        list_query(page_token=token)
