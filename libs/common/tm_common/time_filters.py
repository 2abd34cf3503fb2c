"""Date filters of list requests (`created_after`, `start_date`, ...): a date or a date-time, read
as a bound of a range of instants. Pure, no I/O.

A value is a date `YYYY-MM-DD` or a date-time `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z`, an
offset `±HH:MM` or nothing (UTC). A space may stand for the `T`, as in a query string; and since the
gateway decodes a `+` in a query string as a space, a space before the offset is read as `+`.

* A date is a whole UTC day: a lower bound from its 00:00, an upper bound through its end.
* A date-time is an instant, both bounds inclusive.

Upper bounds are returned exclusive (the instant just after the last one included), so that a day
and an instant compare alike: `created_at < until`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TypeVar

from tm_common.errors import Problems

MIN_YEAR, MAX_YEAR = 1, 9999
_MICROSECOND = timedelta(microseconds=1)
_Bound = TypeVar("_Bound", date, datetime)

# ASCII digits only (\d would take any script's), and no week or ordinal dates: fromisoformat alone
# would take those, and more spellings than the API promises.
_DATE_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[-+ ])(?P<offset_hours>[0-9]{2}):(?P<offset_minutes>[0-9]{2}))?)?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class _Moment:
    day: date  # the date as written
    instant: datetime | None  # UTC, floored to the microsecond; None for a bare date
    below_microsecond: bool = False  # the fraction had more than microseconds (cut off in instant)


def _problem(min_year: int, max_year: int) -> str:
    return (
        "must be a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM[:SS[.fraction]] with Z, +HH:MM, -HH:MM "
        f"or no offset (UTC), years {min_year} to {max_year}"
    )


def _parse(value: str, min_year: int, max_year: int) -> _Moment | None:
    """None when `value` is not a valid date or date-time within the years."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return None
    part = match.groupdict()
    try:
        day = date(int(part["year"]), int(part["month"]), int(part["day"]))
        if not min_year <= day.year <= max_year:
            return None
        if part["hour"] is None:
            return _Moment(day, None)
        fraction = part["fraction"] or ""
        clock = time(
            int(part["hour"]),
            int(part["minute"]),
            int(part["second"] or 0),
            int(fraction[:6].ljust(6, "0")),
        )
        offset = timedelta()
        if part["sign"] is not None:
            hours, minutes = int(part["offset_hours"]), int(part["offset_minutes"])
            if hours > 23 or minutes > 59:
                return None
            offset = timedelta(hours=hours, minutes=minutes) * (-1 if part["sign"] == "-" else 1)
        local = datetime.combine(day, clock, tzinfo=timezone(offset))
        instant = local.astimezone(UTC)  # OverflowError past year 1 or 9999
    except (ValueError, OverflowError):
        return None
    return _Moment(day, instant, below_microsecond=fraction[6:].strip("0") != "")


def _moment(
    value: str | None, field: str, problems: Problems, min_year: int, max_year: int
) -> _Moment | None:
    if value is None:
        return None
    moment = _parse(value, min_year, max_year) if isinstance(value, str) else None
    if moment is None:
        problems.add(field, _problem(min_year, max_year))
    return moment


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def since(
    value: str | None,
    field: str,
    problems: Problems,
    *,
    min_year: int = MIN_YEAR,
    max_year: int = MAX_YEAR,
) -> datetime | None:
    """The first instant (UTC, inclusive) `value` admits: a date's 00:00, or the date-time itself.
    None when absent, or invalid (then a problem with `field` is added)."""
    moment = _moment(value, field, problems, min_year, max_year)
    if moment is None:
        return None
    if moment.instant is None:
        return _midnight(moment.day)
    if not moment.below_microsecond:
        return moment.instant
    try:  # times are stored in microseconds: the first one at or after `value` is the next one
        return moment.instant + _MICROSECOND
    except OverflowError:
        problems.add(field, _problem(min_year, max_year))
        return None


def until(
    value: str | None,
    field: str,
    problems: Problems,
    *,
    min_year: int = MIN_YEAR,
    max_year: int = MAX_YEAR,
) -> datetime | None:
    """The exclusive end (UTC) of what `value` admits: the next day's 00:00 for a date, one
    microsecond after a date-time. None when absent, invalid (then a problem with `field` is
    added), or when the end is past the last representable instant: then there is no end."""
    moment = _moment(value, field, problems, min_year, max_year)
    if moment is None:
        return None
    try:
        if moment.instant is None:
            return _midnight(moment.day + timedelta(days=1))
        return moment.instant + _MICROSECOND
    except OverflowError:  # 9999-12-31 (or its last microsecond) holds everything up to the end
        return None


def calendar_day(
    value: str | None,
    field: str,
    problems: Problems,
    *,
    min_year: int = MIN_YEAR,
    max_year: int = MAX_YEAR,
) -> date | None:
    """The UTC calendar date of `value`, for columns holding dates: a date is itself, a date-time
    is reduced to the date of its instant in UTC. None when absent or invalid (then a problem with
    `field` is added)."""
    moment = _moment(value, field, problems, min_year, max_year)
    if moment is None:
        return None
    return moment.day if moment.instant is None else moment.instant.date()


def check_order(
    start: _Bound | None,
    end: _Bound | None,
    start_field: str,
    end_field: str,
    problems: Problems,
    *,
    end_exclusive: bool,
) -> None:
    """Adds a problem with `end_field` when the range ends before it starts: an exclusive end
    (as until() gives) must be after the start, an inclusive one (calendar days) not before it."""
    if start is None or end is None:
        return
    if end < start or (end_exclusive and end == start):
        problems.add(end_field, f"must not be before {start_field}")
