"""The remaining rule cases of issue 3, figures worked by hand beside each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import (
    Month,
    contract_year_start,
    local_date,
    local_midnight,
    month_of_instant,
    month_window,
    to_micros,
    zone,
)
from domain.credit import decimal_places, round_half_up, tier_for
from domain.terms import AnnualCap, CreditTier, Subscription
from tests.helpers import Scenario, terms, utc


def test_an_outage_inside_a_degraded_incident_counts_at_full_weight_only_while_it_lasts() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 2, 10, 8), utc(2025, 2, 10, 12), severity="degraded")
    s.incident(utc(2025, 2, 10, 9), utc(2025, 2, 10, 10))

    # degraded 08-09 and 10-12 = 3 h at 0.5 = 5400 s; outage 09-10 = 3600 s at 1: 9000
    assert s.period("2025-02")["lines"][0]["downtime_seconds"] == "9000"


def test_a_correction_moves_an_incident_into_another_month() -> None:
    s = Scenario().contract()
    i = s.incident(utc(2025, 2, 10, 8), utc(2025, 2, 10, 9))
    s.app.correct_incident(
        incident_id=i,
        request_id="fix",
        reason="wrong month",
        changes={"started_at": utc(2025, 3, 10, 8), "ended_at": utc(2025, 3, 10, 10)},
    )

    # February loses its hour; March gains two: 7200
    assert s.period("2025-02")["lines"][0]["downtime_seconds"] == "0"
    assert s.period("2025-03")["lines"][0]["downtime_seconds"] == "7200"


def test_an_incident_spanning_a_month_boundary_is_split_at_local_midnight() -> None:
    s = Scenario().contract(timezone="America/New_York")
    # 31 Jan 23:00 to 1 Feb 02:00 New York (UTC-5): 04:00Z to 07:00Z
    s.incident(utc(2025, 2, 1, 4), utc(2025, 2, 1, 7))

    assert s.period("2025-01")["lines"][0]["downtime_seconds"] == "3600"
    assert s.period("2025-02")["lines"][0]["downtime_seconds"] == "7200"


def test_new_york_dst_months() -> None:
    s = Scenario().contract(timezone="America/New_York")

    # DST starts 9 March 2025: March is 31*86400 - 3600; November (ends 2 Nov) 30*86400 + 3600
    assert s.period("2025-03")["lines"][0]["measured_seconds"] == 31 * 86400 - 3600
    assert s.period("2025-11")["lines"][0]["measured_seconds"] == 30 * 86400 + 3600


def test_a_contract_starting_on_the_17th_and_ending_on_the_3rd() -> None:
    s = Scenario().contract(starts_on=date(2025, 1, 17), ends_on=date(2025, 3, 3))

    doc = s.credits("2024-12", "2025-05", utc(2026, 1, 1))

    # January: 17-31 = 15 days of 31: fee 100000*15/31 = 48387.09 -> 48387
    # February whole; March 1-3 = 3 days of 31: 9677.4 -> 9677; no period before or after
    fees = {p["month"]: p["lines"][0]["fee_minor"] for p in doc["periods"]}
    assert fees == {"2025-01": 48387, "2025-02": 100000, "2025-03": 9677}


def test_termination_ends_the_periods_and_drops_later_downtime() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 5, 10), utc(2025, 5, 11))
    s.app.terminate_contract(contract_id="c1", request_id="t", ends_on=date(2025, 4, 30))

    doc = s.credits("2025-03", "2025-06", utc(2026, 1, 1))

    assert [p["month"] for p in doc["periods"]] == ["2025-03", "2025-04"]


def test_amending_fees_changes_only_periods_from_effective_from() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 3, 10), utc(2025, 3, 10, 1))
    s.incident(utc(2025, 4, 10), utc(2025, 4, 10, 1))
    s.app.amend_contract(
        contract_id="c1",
        request_id="a",
        effective_from=date(2025, 4, 1),
        terms=None,
        subscriptions=(Subscription("compute", "eu", 300000),),
    )

    # one hour in 31 days / 30 days -> both below 99.9 -> 10 %: 10000 then 30000
    assert s.period("2025-03")["credit_minor"] == 10000
    assert s.period("2025-04")["credit_minor"] == 30000


def test_cap_reached_in_march_then_a_january_correction_moves_grants_of_march_and_april() -> None:
    s = Scenario().contract(terms=terms(cap=AnnualCap(amount_minor=250000)))
    jan = s.incident(utc(2025, 1, 5), utc(2025, 1, 7))  # 2 days: < 95 % -> 100000
    s.incident(utc(2025, 2, 5), utc(2025, 2, 7))  # 100000
    s.incident(utc(2025, 3, 5), utc(2025, 3, 7))  # 100000, only 50000 left
    s.incident(utc(2025, 4, 5), utc(2025, 4, 5, 12))  # 12 h of 30 days: 98.33 % -> 25 % = 25000

    before = s.credits("2025-01", "2025-04", utc(2026, 1, 1))
    s.app.correct_incident(
        incident_id=jan, request_id="shorter", reason="only an hour", changes={"ended_at": utc(2025, 1, 5, 1)}
    )
    after = s.credits("2025-01", "2025-04", utc(2026, 1, 1))

    assert [p["granted_minor"] for p in before["periods"]] == [100000, 100000, 50000, 0]
    # January now 1 h of 31 days: 99.866 % -> 10 % = 10000; 240000 left for Feb, Mar,
    # then 40000 for April's 25000
    assert [p["granted_minor"] for p in after["periods"]] == [10000, 100000, 100000, 25000]
    assert after["contract_years"][0]["remaining_minor"] == 15000


def test_customer_exclusion_and_retraction_remove_only_what_they_name() -> None:
    s = Scenario().contract().contract("c2", "b")
    i = s.incident(utc(2025, 2, 3), utc(2025, 2, 3, 1))
    s.app.exclude_customer(incident_id=i, request_id="x", customer_id="a", reason="customer_caused")

    assert s.period("2025-02", customer_id="a")["lines"][0]["downtime_seconds"] == "0"
    assert s.period("2025-02", customer_id="b")["lines"][0]["downtime_seconds"] == "3600"


def test_claims_change_no_amount() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 2, 3), utc(2025, 2, 3, 1))
    before = s.credits("2025-01", "2025-03", utc(2026, 1, 1))
    s.app.file_claim(claim_id="k1", customer_id="a", month="2025-02", channel="email", message="pay up")

    assert s.credits("2025-01", "2025-03", utc(2026, 1, 1)) == before


def test_a_midnight_dst_gap_starts_the_day_at_its_first_instant() -> None:
    # Santiago (Chile) moved clocks from 00:00 to 01:00 on 8 Sep 2024: the day starts at 04:00Z
    start = local_midnight(date(2024, 9, 8), zone("America/Santiago"))
    assert start == utc(2024, 9, 8, 4)


def test_month_window_is_real_elapsed_time() -> None:
    w = month_window(Month(2025, 3), zone("Europe/Berlin"))
    assert (w.end - w.start) // 1_000_000 == 2674800


def test_contract_years_roll_on_anniversaries() -> None:
    assert contract_year_start(date(2024, 2, 29), date(2025, 2, 28)) == date(2024, 2, 29)
    assert contract_year_start(date(2024, 2, 29), date(2025, 3, 1)) == date(2025, 3, 1)
    assert contract_year_start(date(2024, 2, 29), date(2028, 2, 29)) == date(2028, 2, 29)


def test_rounding_is_half_up_and_display_keeps_six_places() -> None:
    assert round_half_up(Fraction(1, 2)) == 1
    assert round_half_up(Fraction(3, 2)) == 2
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(49999, 100000)) == 0
    assert decimal_places(Fraction(100), 6) == "100.000000"
    assert decimal_places(Fraction(99865410495, 10**9), 6) == "99.865410"
    assert decimal_places(Fraction(Decimal("99.9999995")), 6) == "100.000000"


def test_tiers_of_equal_value_written_otherwise_each_show_their_own_credit_percent() -> None:
    """The tier choice is shared by value across contracts; the percent shown is the contract's own."""
    plain = (CreditTier(Decimal("99.9"), Decimal("10")), CreditTier(Decimal("99"), Decimal("25")))
    written = (CreditTier(Decimal("99.90"), Decimal("10.0")), CreditTier(Decimal("99.0"), Decimal("25.00")))
    month = 30 * 86400 * 10**6
    one_hour = Decimal(3600 * 10**6)
    a, b = tier_for(month, one_hour, plain), tier_for(month, one_hour, written)
    assert (a.tier_index, b.tier_index) == (0, 0)
    assert (str(a.credit_percent), str(b.credit_percent)) == ("10", "10.0")
    assert a.uptime_percent == b.uptime_percent == Fraction(100) - Fraction(100, 720)
    assert a.uptime_text == "99.861111"
    none = tier_for(month, Decimal(0), written)
    assert (none.tier_index, str(none.credit_percent)) == (None, "0")


# any instant, and instants within two days of a UTC month's start (where zones disagree)
_INSTANTS = st.integers(to_micros(datetime(1970, 1, 1, tzinfo=UTC)), to_micros(datetime(2100, 1, 1, tzinfo=UTC)))
_NEAR_A_MONTHS_START = st.builds(
    lambda year, month, offset: to_micros(datetime(year, month, 1, tzinfo=UTC)) + offset,
    st.integers(1971, 2099),
    st.integers(1, 12),
    st.integers(-2 * 86_400 * 10**6, 2 * 86_400 * 10**6),
)


@given(
    _INSTANTS | _NEAR_A_MONTHS_START,
    st.sampled_from(("UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/St_Johns", "Asia/Kathmandu", "Europe/Berlin")),
)
def test_the_month_of_an_instant_is_the_zones_calendar_month(micros: int, name: str) -> None:
    """The shortcut (the UTC month, away from its ends) against the zone's own rules."""
    tz = zone(name)
    assert month_of_instant(micros, tz) == Month.of(local_date(micros, tz))
