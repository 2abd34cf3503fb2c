from datetime import UTC, datetime, timedelta

import pytest

from tm_activity.domain.queries import history_query, timeline_page_size
from tm_common.errors import InvalidArgument


def test_defaults_and_a_date_range_of_whole_utc_days() -> None:
    query = history_query(None, None, "2026-11-01", "2026-11-02", None, None)
    assert (query.limit, query.offset) == (50, 0)
    assert query.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert query.until == datetime(2026, 11, 3, tzinfo=UTC)  # end_date is inclusive


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        (("folder", None, None, None, None, None), {"resource_type"}),
        ((None, "completed", None, None, None, None), {"action"}),
        ((None, None, "2026-13-01", "yesterday", None, None), {"start_date", "end_date"}),
        ((None, None, "2026-11-02", "2026-11-01", None, None), {"end_date"}),
        ((None, None, "2026-11-01T10:00:00", "2026-11-01T09:59:59Z", None, None), {"end_date"}),
        ((None, None, "2026-11-02T00:00:00Z", "2026-11-01", None, None), {"end_date"}),
        ((None, None, "2026-11-01T10:00+25:00", "2026-11-01T10:61", None, None), {"start_date", "end_date"}),
        ((None, None, "2026-W44", "10000-01-01", None, None), {"start_date", "end_date"}),
        (
            (None, None, "0001-01-01T00:00+01:00", "9999-12-31T23:00-05:00", None, None),
            {"start_date", "end_date"},
        ),
        ((None, None, None, None, 0, -1), {"limit", "offset"}),
        ((None, None, None, None, 101, 100_001), {"limit", "offset"}),
    ],
)
def test_bad_queries_name_every_bad_field(args: tuple, fields: set[str]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        history_query(*args)
    assert set(refused.value.fields) == fields


def test_timeline_page_size() -> None:
    assert timeline_page_size(0) is None
    assert timeline_page_size(10) == 10
    with pytest.raises(InvalidArgument):
        timeline_page_size(1001)


def test_week_dates_are_not_dates_and_the_last_day_has_no_end() -> None:
    with pytest.raises(InvalidArgument) as refused:
        history_query(None, None, "2026-W02-1", None, None, None)
    assert set(refused.value.fields) == {"start_date"}
    assert history_query(None, None, None, "9999-12-31", None, None).until is None


def test_date_times_are_inclusive_instants() -> None:
    query = history_query(None, None, "2026-11-01T10:00:00+05:00", "2026-11-01 10:00:00.5", None, None)
    assert query.since == datetime(2026, 11, 1, 5, tzinfo=UTC)
    assert query.until == datetime(2026, 11, 1, 10, 0, 0, 500_001, tzinfo=UTC)  # just after end_date
    one_instant = history_query(None, None, "2026-11-01T10:00Z", "2026-11-01T10:00:00.000Z", None, None)
    assert one_instant.until - one_instant.since == timedelta(microseconds=1)  # type: ignore[operator]


def test_a_date_time_start_and_a_date_end_of_the_same_day() -> None:
    query = history_query(None, None, "2026-11-01T23:00:00", "2026-11-01", None, None)
    assert (query.since, query.until) == (
        datetime(2026, 11, 1, 23, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
    )


def test_the_whole_calendar_is_a_range() -> None:
    query = history_query(None, None, "0001-01-01", "9999-12-31T23:59:59.999999Z", None, None)
    assert (query.since, query.until) == (datetime(1, 1, 1, tzinfo=UTC), None)
