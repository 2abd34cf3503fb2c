from datetime import UTC, date, datetime, timedelta

import pytest

from tm_common.errors import Problems
from tm_common.time_filters import calendar_day, check_order, since, until

FIELD = "created_after"
MICROSECOND = timedelta(microseconds=1)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def ok(function, value: str, **years: int):
    problems = Problems()
    result = function(value, FIELD, problems, **years)
    assert problems.fields == {}
    return result


def refused(function, value: str, **years: int) -> str:
    problems = Problems()
    assert function(value, FIELD, problems, **years) is None
    assert set(problems.fields) == {FIELD}
    return problems.fields[FIELD]


def test_absent_is_no_bound_and_no_problem() -> None:
    problems = Problems()
    assert (since(None, FIELD, problems), until(None, FIELD, problems)) == (None, None)
    assert calendar_day(None, FIELD, problems) is None
    assert problems.fields == {}


def test_a_date_is_a_whole_utc_day() -> None:
    assert ok(since, "2026-12-01") == at(2026, 12, 1)
    assert ok(until, "2026-12-01") == at(2026, 12, 2)  # exclusive: through the end of the day
    assert ok(calendar_day, "2026-12-01") == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2026-12-01T10:00:00", at(2026, 12, 1, 10)),  # naive: UTC
        ("2026-12-01T10:00", at(2026, 12, 1, 10)),
        ("2026-12-01 10:00:00", at(2026, 12, 1, 10)),  # a space for the T
        ("2026-12-01t10:00:00z", at(2026, 12, 1, 10)),
        ("2026-12-01T10:00:00Z", at(2026, 12, 1, 10)),
        ("2026-12-01T10:00:00.5Z", at(2026, 12, 1, 10, 0, 0, 500_000)),
        ("2026-12-01T10:00:00,25Z", at(2026, 12, 1, 10, 0, 0, 250_000)),
        ("2026-12-01T10:00:00.123456Z", at(2026, 12, 1, 10, 0, 0, 123_456)),
        ("2026-12-01T10:00:00.123456000Z", at(2026, 12, 1, 10, 0, 0, 123_456)),
        ("2026-12-01T15:00:00+05:00", at(2026, 12, 1, 10)),  # the offset is honoured
        ("2026-12-01T05:00:00-05:00", at(2026, 12, 1, 10)),
        ("2026-12-01T05:30:00-04:30", at(2026, 12, 1, 10)),
        ("2026-12-01T10:00:00-00:00", at(2026, 12, 1, 10)),
        ("2026-12-01T15:00:00 05:00", at(2026, 12, 1, 10)),  # a query string's + decoded to a space
        ("2026-12-02T01:00:00+15:00", at(2026, 12, 1, 10)),
    ],
)
def test_a_date_time_is_an_instant_included_by_both_bounds(value: str, instant: datetime) -> None:
    assert ok(since, value) == instant
    assert ok(until, value) == instant + MICROSECOND  # exclusive end just after it: inclusive


def test_bounds_are_in_utc() -> None:
    assert ok(since, "2026-12-01T15:00:00+05:00").utcoffset() == timedelta(0)
    assert ok(until, "2026-12-01").utcoffset() == timedelta(0)


def test_below_a_microsecond_rounds_inward() -> None:
    # Stored times have microseconds: a bound between two of them admits only what lies inside.
    assert ok(since, "2026-12-01T10:00:00.0000001Z") == at(2026, 12, 1, 10, 0, 0, 1)
    assert ok(until, "2026-12-01T10:00:00.0000009Z") == at(2026, 12, 1, 10, 0, 0, 1)
    assert ok(since, "2026-12-01T10:00:00.123456789Z") == at(2026, 12, 1, 10, 0, 0, 123_457)


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-12-01T10:00:00", date(2026, 12, 1)),
        ("2026-12-01T23:30:00-05:00", date(2026, 12, 2)),  # 04:30 UTC the next day
        ("2026-12-01T03:00:00+05:00", date(2026, 11, 30)),  # 22:00 UTC the day before
        ("2026-12-01 00:00Z", date(2026, 12, 1)),
    ],
)
def test_calendar_day_of_a_date_time_is_its_utc_date(value: str, day: date) -> None:
    assert ok(calendar_day, value) == day


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "yesterday",
        "2026-12-01 ",
        " 2026-12-01",
        "2026-12-1",
        "20261201",
        "2026/12/01",
        "01/12/2026",
        "2026-W01",  # week dates
        "2026-W01-1",
        "2026-335",  # ordinal date
        "2026-13-01",  # impossible dates
        "2026-02-29",
        "2026-04-31",
        "2026-00-10",
        "2026-12-01T",
        "2026-12-01T10",
        "2026-12-01T10:00:",
        "2026-12-01T24:00:00",  # impossible times
        "2026-12-01T10:60:00",
        "2026-12-01T10:00:60",
        "2026-12-01T1:00:00",
        "2026-12-01T10:00:00.",
        "2026-12-01T10:00:00.1234567890Z",  # more than nanoseconds
        "2026-12-01Z",
        "2026-12-01T10:00:00+0500",
        "2026-12-01T10:00:00+05",
        "2026-12-01T10:00:00+24:00",
        "2026-12-01T10:00:00+05:60",
        "2026-12-01T10:00:00ZZ",
        "2026-12-01T10:00:00Z+01:00",
        "2026-12-01T10:00:00 UTC",
        "2026-12-01T10:00:00[Europe/Paris]",
        "\u0662\u0660\u0662\u0666-12-01",  # Arabic-Indic digits
        "2026-12-01\x00",
        "10000-01-01",
        "0000-12-31",
        "-2026-12-01",
        "+2026-12-01",
    ],
)
def test_anything_else_is_refused_naming_the_field(value: str) -> None:
    for function in (since, until, calendar_day):
        problem = refused(function, value)
        assert "YYYY-MM-DD" in problem and "years 1 to 9999" in problem


def test_the_year_range_is_the_callers() -> None:
    assert ok(since, "9998-12-31", max_year=9998) == at(9998, 12, 31)
    assert "years 2 to 9998" in refused(since, "9999-01-01", min_year=2, max_year=9998)
    refused(calendar_day, "0001-12-31T10:00:00Z", min_year=2, max_year=9998)
    # The year as written; its instant in UTC may be in the next one.
    assert ok(until, "9998-12-31T23:00:00-05:00", max_year=9998) == at(9999, 1, 1, 4) + MICROSECOND


def test_the_ends_of_the_calendar_never_overflow() -> None:
    assert ok(since, "0001-01-01") == at(1, 1, 1)
    assert ok(since, "9999-12-31") == at(9999, 12, 31)
    assert ok(until, "9999-12-31") is None  # through the end of time: no end
    assert ok(until, "9999-12-31T23:59:59.999999Z") is None
    assert ok(until, "9999-12-31T23:59:59.9999999Z") is None
    assert ok(until, "9999-12-31T23:59:59.999998Z") == at(9999, 12, 31, 23, 59, 59, 999_999)
    assert ok(calendar_day, "9999-12-31T23:59:59Z") == date(9999, 12, 31)
    # Instants outside the calendar once in UTC are refused, not overflowed.
    refused(since, "9999-12-31T23:59:59.9999999Z")
    refused(until, "9999-12-31T23:00:00-05:00")
    refused(since, "0001-01-01T00:30:00+01:00")
    refused(calendar_day, "0001-01-01T00:00:00+00:01")


@pytest.mark.parametrize(
    ("start", "end", "exclusive", "wrong"),
    [
        (at(2026, 12, 1), at(2026, 12, 2), True, False),
        (at(2026, 12, 1, 10), at(2026, 12, 1, 10) + MICROSECOND, True, False),  # one instant
        (at(2026, 12, 1, 10), at(2026, 12, 1, 10), True, True),  # nothing at all
        (at(2026, 12, 2), at(2026, 12, 1), True, True),
        (date(2026, 12, 1), date(2026, 12, 1), False, False),  # one day, inclusive
        (date(2026, 12, 2), date(2026, 12, 1), False, True),
        (None, at(2026, 12, 1), True, False),
        (at(2026, 12, 1), None, True, False),
    ],
)
def test_check_order_names_the_end(start, end, exclusive: bool, wrong: bool) -> None:
    problems = Problems()
    check_order(start, end, "start_date", "end_date", problems, end_exclusive=exclusive)
    assert problems.fields == ({"end_date": "must not be before start_date"} if wrong else {})


def test_a_date_time_end_on_the_start_day_after_the_start_is_in_order() -> None:
    problems = Problems()
    start = since("2026-12-01T10:00:00", "start_date", problems)
    for end in ("2026-12-01", "2026-12-01T10:00:00", "2026-12-01T11:00:00+01:00"):
        check_order(
            start, until(end, "end_date", problems), "start_date", "end_date", problems, end_exclusive=True
        )
    assert problems.fields == {}
    check_order(
        start,
        until("2026-12-01T09:59:59", "end_date", problems),
        "start_date",
        "end_date",
        problems,
        end_exclusive=True,
    )
    assert set(problems.fields) == {"end_date"}
