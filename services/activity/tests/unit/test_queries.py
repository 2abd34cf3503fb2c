from datetime import UTC, datetime

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
