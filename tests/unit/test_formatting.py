"""Money as an account manager reads it: the currency's own format, every recorded digit, the
ISO 4217 minor unit (the one amounts are recorded in), never CLDR's rounded display digits."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from api.formatting import duration, money


def test_the_currencys_own_format() -> None:
    assert money(125000, "EUR") == "€1,250.00"
    assert money(1234, "USD") == "$12.34"
    assert money(3000, "JPY") == "¥3,000"
    assert money(25000, "CHF") == "CHF\u00a0250.00"
    assert money(1234567, "BHD") == "BHD\u00a01,234.567"
    assert money(-5000, "GBP") == "-£50.00"
    assert money(None, "USD") == "no cap"


def test_iso_4217_minor_units_where_cldr_shows_fewer_digits() -> None:
    # CLDR displays HUF, COP and IDR without decimals; their ISO 4217 minor unit is 2
    assert money(125050, "HUF") == "HUF\u00a01,250.50"
    assert money(99, "COP").endswith("0.99")
    assert money(1, "IDR").endswith("0.01")


def test_an_unknown_code_shows_the_recorded_figure() -> None:
    assert money(125000, "XQQ") == "125,000 XQQ (minor units)"


@given(st.integers(min_value=-(10**14), max_value=10**14), st.sampled_from(["USD", "EUR", "JPY", "BHD", "HUF"]))
def test_no_digit_is_lost(minor: int, currency: str) -> None:
    digits = {"JPY": 0, "BHD": 3}.get(currency, 2)
    text = money(minor, currency)
    number = "".join(ch for ch in text if ch.isdigit() or ch in ".-")
    assert Decimal(number) == Decimal(minor).scaleb(-digits)


def test_durations_in_words() -> None:
    assert duration(10050) == "2 h 47 min 30 s"
    assert duration(0) == "0 s"
    assert duration("90061.5") == "1 d 1 h 1 min 1.5 s"
