"""The domain of every value the service accepts (docs/rules.md, "What is accepted").

Chosen so that every accepted value can be processed by every rule: any accepted instant or day
converts into every IANA zone, every month arithmetic stays inside the calendar, and every
number has a bounded size. A command with a value outside is refused with the field named, and
nothing is recorded. Facts already recorded are never checked again (they stay readable).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import available_timezones

from domain.errors import InvalidValueError

FIRST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
END_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2099, 12, 31)
FIRST_MONTH, LAST_MONTH = (1970, 1), (2099, 12)
MONEY_LIMIT = 10**15  # minor units, exclusive
PERCENT_PLACES = 6
MAX_NOTICE_HOURS = 24 * 365
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@~+-]{0,199}")
ID_RULE = "1-200 characters: letters, digits and . _ : @ ~ + - (starting with a letter or digit)"
ZONE_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


def check_instant(value: datetime, field: str) -> datetime:
    """An aware instant from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z, in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError(field, "must carry a UTC offset (RFC 3339), naive timestamps are ambiguous")
    try:
        inside = FIRST_INSTANT <= value < END_INSTANT
    except OverflowError:
        inside = False
    if not inside:
        raise InvalidValueError(field, "must be from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z")
    return value.astimezone(UTC)


def check_day(value: date, field: str) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise InvalidValueError(field, "must be a day from 1970-01-01 to 2099-12-31")
    return value


def check_month(year: int, month: int, field: str) -> None:
    if not FIRST_MONTH <= (year, month) <= LAST_MONTH:
        raise InvalidValueError(field, "must be a month from 1970-01 to 2099-12")


def check_id(value: str, field: str) -> str:
    """Ids appear in paths and files: a safe character set, so that every one can be addressed."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidValueError(field, f"must be {ID_RULE}")
    return value


def check_text(value: str, field: str, max_length: int, blank: bool = False) -> str:
    """Free text (names, titles, reasons): no control characters; not blank unless allowed."""
    if len(value) > max_length:
        raise InvalidValueError(field, f"must be at most {max_length} characters")
    if not blank and not value.strip():
        raise InvalidValueError(field, "must not be blank")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\n\t" for ch in value):
        raise InvalidValueError(field, "must not contain control or unassigned characters")
    return value


def check_decimal(
    value: Decimal, field: str, low: Decimal, high: Decimal, low_open: bool = False, places: int = PERCENT_PLACES
) -> Decimal:
    """A finite decimal in [low, high] (or (low, high]) with at most `places` decimal places."""
    if not value.is_finite():
        raise InvalidValueError(field, "must be a finite decimal number")
    if value < low or value > high or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise InvalidValueError(field, f"must be in {bracket}{low}, {high}]")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    extra = -exponent - places
    if extra > 0 and any(digits[-extra:] if extra <= len(digits) else digits):
        raise InvalidValueError(field, f"must have at most {places} decimal places")
    return value


def check_money(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MONEY_LIMIT:
        raise InvalidValueError(field, "must be a whole number of minor units from 0 to 999999999999999")
    return value


@lru_cache(maxsize=1)
def canonical_zones() -> frozenset[str]:
    """IANA Area/Location names (and UTC): not host-dependent names (localtime), not POSIX-style
    rules (EST5EDT), not the Etc/ or legacy country aliases (US/Eastern)."""
    return frozenset(z for z in available_timezones() if z.split("/", 1)[0] in ZONE_AREAS and "/" in z) | {"UTC"}


def check_zone(name: str, field: str = "timezone") -> str:
    if name not in canonical_zones():
        raise InvalidValueError(
            field, f"must be a canonical IANA time zone (Area/Location, e.g. Europe/Berlin, or UTC), not {name!r}"
        )
    return name
