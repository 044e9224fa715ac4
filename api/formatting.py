"""Figures as people read them: money in the currency's own format, instants in the contract's
local time with the zone named, durations in days, hours and minutes. Exact: amounts go from an
integer of minor units to a Decimal by moving the point, never through binary floating point."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol

from domain.calendar import zone

LOCALE = "en_US"


def money(minor: int | None, currency: str) -> str:
    """`125000, "EUR"` -> "€1,250.00"; `3000, "JPY"` -> "¥3,000"; a symbol that is the code
    itself is spaced ("CHF 250.00"). None (an uncapped contract's cap) reads "no cap"."""
    if minor is None:
        return "no cap"
    amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    if get_currency_symbol(currency, locale=LOCALE).isalpha():
        return format_currency(amount, currency, format="¤\u00a0#,##0.00", locale=LOCALE)
    return format_currency(amount, currency, locale=LOCALE)


def local_instant(text: str | None, timezone: str) -> str:
    """An RFC 3339 instant in the zone's local time, the zone's abbreviation named:
    "2026-08-10T08:00:00Z", "Europe/Berlin" -> "10 Aug 2026 10:00 CEST"."""
    if text is None:
        return "not ended"
    local = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone(timezone))
    clock = f"{local:%H:%M}" if local.second == 0 and local.microsecond == 0 else f"{local:%H:%M:%S}"
    if local.microsecond:
        clock += f".{local.microsecond:06d}".rstrip("0")
    return f"{local.day} {local:%b %Y} {clock} {local.tzname()}"


def duration(seconds: Decimal | int | str) -> str:
    """Exact seconds in words: 10050 -> "2 h 47 min 30 s"; 0 -> "0 s"; fractions kept."""
    left = Decimal(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        whole = int(left // size)
        if whole:
            parts.append(f"{whole} {unit}")
            left -= whole * size
    if left or not parts:
        parts.append(f"{left.normalize():f} s")
    return " ".join(parts)
