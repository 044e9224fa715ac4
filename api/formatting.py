"""Figures as people read them: money in the currency's own format, instants in the contract's
local time with the zone named, durations in days, hours and minutes. Exact: amounts go from an
integer of minor units to a Decimal by moving the point, never through binary floating point."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel.numbers import format_currency, get_currency_symbol
from iso4217 import Currency

from domain.calendar import zone

LOCALE = "en_US"


def money(minor: int | None, currency: str) -> str:
    """`125000, "EUR"` -> "€1,250.00"; `3000, "JPY"` -> "¥3,000"; `125050, "HUF"` -> "HUF 1,250.50";
    a symbol that is the code itself is spaced ("CHF 250.00"). The minor unit is ISO 4217's (the
    one amounts are recorded in, RULES.md), not CLDR's display digits, which differ for some
    currencies (HUF, COP, IDR: 0 in CLDR, 2 in ISO 4217): every digit recorded is shown, none
    rounded. None (an uncapped contract's cap) reads "no cap"."""
    if minor is None:
        return "no cap"
    digits = minor_unit_digits(currency)
    if digits is None:  # not an ISO 4217 code this service knows: the recorded figure as it is
        return f"{minor:,} {currency} (minor units)"
    amount = Decimal(minor).scaleb(-digits)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    symbol = get_currency_symbol(currency, locale=LOCALE)
    spaced = symbol.isalpha() and len(symbol) > 1
    return format_currency(
        amount, currency, format=("¤\u00a0" if spaced else "¤") + pattern, currency_digits=False, locale=LOCALE
    )


def minor_unit_digits(currency: str) -> int | None:
    """ISO 4217's minor unit of the currency (2 for USD, 0 for JPY, 3 for BHD); None if unknown."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        return None
    return exponent or 0  # no minor unit (gold, SDR): whole units


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
