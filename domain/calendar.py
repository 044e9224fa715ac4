"""Local calendar months, measured windows and contract years (RULES.md steps 1-2, annual cap)."""

from __future__ import annotations

import calendar as _cal
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.errors import InvalidValueError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000


def to_micros(instant: datetime) -> int:
    """An aware instant as whole microseconds since the Unix epoch (exact)."""
    return (instant - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or an error naming the field `timezone`."""
    if name not in _known_zones():
        raise InvalidValueError("timezone", f"unknown IANA time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError("timezone", f"unknown IANA time zone {name!r}") from None


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


class Month(NamedTuple):
    """A calendar month. A named pair: compared, ordered and hashed as (year, month), at the
    speed of a tuple (months key most of the projection's caches)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, field: str = "month") -> Month:
        return _parse_month(text, field)

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def ordinal(self) -> int:
        """The months since the start of year 0: year * 12 + month - 1 (consecutive months,
        consecutive numbers)."""
        return self.year * 12 + self.month - 1

    def plus(self, months: int) -> Month:
        """The month `months` later (earlier when negative)."""
        index = self.ordinal + months
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        text = _MONTH_TEXTS.get(self)
        if text is None:
            text = _MONTH_TEXTS[self] = f"{self.year:04d}-{self.month:02d}"
        return text


# Month texts, written once each: every period row and cache key names its month (a few hundred
# distinct months in any store; a dictionary look-up costs a fifth of the formatting)
_MONTH_TEXTS: dict[Month, str] = {}


@lru_cache(maxsize=4096)
def _parse_month(text: str, field: str) -> Month:
    parts = text.split("-")
    valid = len(parts) == 2 and len(parts[0]) == 4 and len(parts[1]) == 2 and all(p.isdigit() for p in parts)
    if not valid or not 1 <= int(parts[1]) <= 12 or int(parts[0]) < 1:
        raise InvalidValueError(field, f"must be a month YYYY-MM, got {text!r}")
    return Month(int(parts[0]), int(parts[1]))


@lru_cache(maxsize=1 << 16)
def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`, in UTC.

    fold=0 gives the earlier of two midnights on an ambiguous day, and inside a DST gap the
    pre-transition offset, which lands exactly on the first instant that exists that day.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


class Window(NamedTuple):
    """A half-open span of time [start, end) in UTC microseconds. A named pair: hashed and
    compared at the speed of a tuple (windows key the projection's caches, once per period)."""

    start: int
    end: int

    @property
    def micros(self) -> int:
        return self.end - self.start

    def overlaps(self, start: int, end: int | None) -> bool:
        return start < self.end and (end is None or end > self.start)


@lru_cache(maxsize=1 << 16)
def month_window(month: Month, tz: ZoneInfo) -> Window:
    """Step 1: local midnight on the 1st to local midnight on the next 1st (real elapsed time)."""
    return Window(
        to_micros(local_midnight(month.first_day(), tz)),
        to_micros(local_midnight(month.next().first_day(), tz)),
    )


@lru_cache(maxsize=1 << 18)
def measured_window(month: Month, tz: ZoneInfo, starts_on: date, ends_on: date | None) -> Window | None:
    """Step 2: the part of the month in which the contract is active, or None."""
    whole = month_window(month, tz)
    start = max(whole.start, to_micros(local_midnight(starts_on, tz)))
    end = whole.end
    if ends_on is not None:
        end = min(end, to_micros(local_midnight(ends_on + timedelta(days=1), tz)))
    if end <= start:
        return None
    return Window(start, end)


@lru_cache(maxsize=1 << 16)
def local_date(micros: int, tz: ZoneInfo) -> date:
    """The zone's calendar day of an instant (cached: the periods of every contract in a zone
    start at the same few instants, the local midnights of their months)."""
    return from_micros(micros).astimezone(tz).date()


_EPOCH_ORDINAL = EPOCH.date().toordinal()
DAY = 86_400 * MICROS


def utc_day(micros: int) -> date:
    """The UTC calendar day of an instant (integer arithmetic, exact)."""
    return date.fromordinal(_EPOCH_ORDINAL + micros // DAY)


def month_of_instant(micros: int, tz: ZoneInfo) -> Month:
    """The month of the zone's calendar in which the instant falls. An instant more than a day
    from both ends of its UTC month is in that month in every zone (a zone's offset is always
    less than a day), so only instants near a month's end need the zone's rules."""
    day = utc_day(micros)
    if 1 < day.day < 28:
        return Month(day.year, day.month)
    return Month.of(local_date(micros, tz))


@lru_cache(maxsize=4096)
def months_between(first: Month, last: Month) -> tuple[Month, ...]:
    """The months from `first` to `last`, both included (cached: answers ask the same ranges)."""
    months = []
    m = first
    while m <= last:
        months.append(m)
        m = m.next()
    return tuple(months)


def anniversary(starts_on: date, years: int) -> date:
    """The start of contract year number `years` (0 = the signing year).

    A contract signed on 29 February has its anniversary on 1 March in common years.
    """
    year = starts_on.year + years
    if starts_on.month == 2 and starts_on.day == 29 and not _cal.isleap(year):
        return date(year, 3, 1)
    return starts_on.replace(year=year)


@lru_cache(maxsize=1 << 16)
def contract_year_start(starts_on: date, day: date) -> date:
    """The start of the contract year containing `day` (day >= starts_on)."""
    k = day.year - starts_on.year
    while k > 0 and anniversary(starts_on, k) > day:
        k -= 1
    while anniversary(starts_on, k + 1) <= day:
        k += 1
    return anniversary(starts_on, k)
