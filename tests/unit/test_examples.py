"""EXAMPLES.md, each figure worked by hand in the comment beside it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain.terms import AnnualCap, CreditTier, Subscription
from tests.helpers import Scenario, terms, utc


def test_dst_month_in_berlin_is_an_hour_short_and_october_an_hour_long() -> None:
    s = Scenario().contract(timezone="Europe/Berlin")
    s.incident(utc(2025, 3, 10, 9), utc(2025, 3, 10, 10))

    march = s.period("2025-03")
    october = s.period("2025-10")

    # March 2025 in Berlin: 31*86400 - 3600 = 2674800 s; uptime 100*(2674800-3600)/2674800
    # = 99.86541049... -> "99.865410", below 99.9 -> 10 % of 100000 = 10000
    (line,) = march["lines"]
    assert line["measured_seconds"] == 2674800
    assert line["uptime_percent"] == "99.865410"
    assert line["credit_minor"] == 10000
    assert october["lines"][0]["measured_seconds"] == 31 * 86400 + 3600


def test_partial_dst_month_pro_rates_the_fee() -> None:
    s = Scenario().contract(timezone="Europe/Berlin", starts_on=date(2025, 3, 17))

    (line,) = s.period("2025-03")["lines"]

    # 17-31 March = 15 days, less the lost hour: 15*86400 - 3600 = 1292400 s
    # fee 100000 * 1292400 / 2674800 = 48317.6 -> 48318
    assert line["measured_seconds"] == 1292400
    assert line["fee_minor"] == 48318
    assert line["credit_minor"] == 0


def test_local_month_edges_in_tokyo() -> None:
    s = Scenario().contract(timezone="Asia/Tokyo")
    s.incident(utc(2025, 1, 31, 23, 30), utc(2025, 2, 1, 0, 30))

    # 23:30Z-00:30Z is 08:30-09:30 on 1 February in Tokyo: January 0 s, February 3600 s
    assert s.period("2025-01")["lines"][0]["downtime_seconds"] == "0"
    assert s.period("2025-02")["lines"][0]["downtime_seconds"] == "3600"


def test_overlapping_incidents_count_once_and_degraded_time_at_its_weight() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 2, 10, 10), utc(2025, 2, 10, 11))
    s.incident(utc(2025, 2, 10, 10, 15), utc(2025, 2, 10, 10, 45))
    s.incident(utc(2025, 2, 10, 10, 30), utc(2025, 2, 10, 12), severity="degraded")

    # outage 10:00-11:00 = 3600 s at 1; degraded adds 11:00-12:00 at 0.5 = 1800 s: 5400
    assert s.period("2025-02")["lines"][0]["downtime_seconds"] == "5400"


def _maintenance_case(announced_delta: timedelta, cancelled: bool = False, regions: list[str] | None = None) -> str:
    s = Scenario().contract()
    s.incident(utc(2025, 4, 10, 0), utc(2025, 4, 10, 10))
    s.app.announce_maintenance(
        maintenance_id="m1",
        service="compute",
        regions=regions if regions is not None else ["eu"],
        starts_at=utc(2025, 4, 10, 2),
        ends_at=utc(2025, 4, 10, 5),
        announced_at=utc(2025, 4, 8, 2) + announced_delta,
    )
    if cancelled:
        s.app.cancel_maintenance(maintenance_id="m1", request_id="c")
    return str(s.period("2025-04")["lines"][0]["downtime_seconds"])


def test_maintenance_announced_exactly_at_the_notice_limit_is_excluded() -> None:
    # announced 48 h before 02:00: the 3 h window is excluded, 10 h - 3 h = 7 h = 25200 s
    assert _maintenance_case(timedelta(0)) == "25200"


def test_maintenance_announced_one_second_early_is_excluded() -> None:
    assert _maintenance_case(timedelta(seconds=-1)) == "25200"


def test_maintenance_announced_one_second_late_counts_as_downtime() -> None:
    # 47:59:59 notice < 48 h: the whole 10 h count = 36000 s
    assert _maintenance_case(timedelta(seconds=1)) == "36000"


def test_cancelled_maintenance_counts_as_downtime() -> None:
    assert _maintenance_case(timedelta(0), cancelled=True) == "36000"


def test_maintenance_for_another_region_counts_as_downtime() -> None:
    assert _maintenance_case(timedelta(0), regions=["us"]) == "36000"


def test_only_incidents_in_scope_count() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 2, 1, 1), utc(2025, 2, 1, 2), regions=["us"])
    s.incident(utc(2025, 2, 2, 1), utc(2025, 2, 2, 2), customers=["b"])
    x = s.incident(utc(2025, 2, 3, 1), utc(2025, 2, 3, 2))
    s.app.exclude_customer(incident_id=x, request_id="r", customer_id="a", reason="customer_caused")
    s.incident(utc(2025, 2, 4, 1), utc(2025, 2, 4, 2), cause="force_majeure")
    r = s.incident(utc(2025, 2, 5, 1), utc(2025, 2, 5, 2))
    s.app.retract_incident(incident_id=r, request_id="r", reason="false alarm")
    back = s.incident(utc(2025, 2, 6, 1), utc(2025, 2, 6, 2))
    s.app.classify_incident(incident_id=back, request_id="fm", cause="force_majeure", reason="storm")
    s.app.classify_incident(incident_id=back, request_id="prov", cause="provider", reason="our failover")

    # six one-hour incidents; only the one classified back to provider counts: 3600
    assert s.period("2025-02")["lines"][0]["downtime_seconds"] == "3600"


def test_tiers_are_strict_and_the_credit_is_rounded_once() -> None:
    s = Scenario().contract(subscriptions=(Subscription("compute", "eu", 5),))
    # February 2025: 28*86400 = 2419200 s; 0.1 % of it is 2419.2 s
    s.incident(utc(2025, 2, 10), utc(2025, 2, 10) + timedelta(seconds=2419, microseconds=200000))
    feb = s.period("2025-02")["lines"][0]
    # uptime exactly 99.9: not below 99.9 -> 0 %
    assert feb["uptime_percent"] == "99.900000"
    assert feb["credit_minor"] == 0

    t = Scenario().contract(subscriptions=(Subscription("compute", "eu", 5),))
    t.incident(utc(2025, 2, 10), utc(2025, 2, 10) + timedelta(seconds=2419, microseconds=200001))
    line = t.period("2025-02")["lines"][0]
    # one microsecond more: 10 % of 5 = 0.5 -> round half up once -> 1
    assert line["downtime_seconds"] == "2419.200001"
    assert line["credit_percent"] == "10"
    assert line["credit_minor"] == 1


def test_open_incident_lasts_until_now() -> None:
    s = Scenario().contract()
    s.incident(utc(2025, 2, 28), None)

    doc = s.credits("2025-01", "2025-06", now=utc(2025, 3, 15))

    by_month = {p["month"]: p for p in doc["periods"]}
    # February: 28 Feb 00:00 to 1 Mar = 86400 s, still open (incident unresolved)
    assert by_month["2025-02"]["lines"][0]["downtime_seconds"] == "86400"
    assert by_month["2025-02"]["status"] == "open"
    # March until the 15th: 14 days
    assert by_month["2025-03"]["lines"][0]["downtime_seconds"] == str(14 * 86400)
    # no period for a month that has not begun
    assert sorted(by_month) == ["2025-01", "2025-02", "2025-03"]


def test_cap_in_order_then_a_correction_in_the_first_month() -> None:
    s = Scenario().contract(terms=terms(cap=AnnualCap(amount_minor=150000)))
    feb = s.incident(utc(2025, 2, 1), utc(2025, 2, 3))
    s.incident(utc(2025, 3, 1), utc(2025, 3, 3))
    s.incident(utc(2025, 4, 1), utc(2025, 4, 1, 12))

    doc = s.credits("2025-02", "2025-04", utc(2026, 1, 1))

    # Feb and Mar: 2 days down -> below 95 % -> 100 % = 100000 each; April: 12 h of 30 days
    # -> 98.33 % -> 25 % = 25000. Cap 150000 granted in order: 100000, 50000, 0.
    assert [p["credit_minor"] for p in doc["periods"]] == [100000, 100000, 25000]
    assert [p["granted_minor"] for p in doc["periods"]] == [100000, 50000, 0]
    assert [p["capped_minor"] for p in doc["periods"]] == [0, 50000, 25000]
    (year,) = doc["contract_years"]
    assert (year["credit_minor"], year["granted_minor"], year["capped_minor"], year["remaining_minor"]) == (
        225000,
        150000,
        75000,
        0,
    )

    s.app.retract_incident(incident_id=feb, request_id="r", reason="false alarm")
    doc = s.credits("2025-02", "2025-04", utc(2026, 1, 1))

    # February now 0: March gets its full 100000, April its 25000
    assert [p["granted_minor"] for p in doc["periods"]] == [0, 100000, 25000]


def test_cap_by_fees_in_effect_at_each_contract_years_start() -> None:
    s = Scenario().contract(
        starts_on=date(2025, 3, 1), terms=terms(cap=AnnualCap(percent_of_annual_fees=Decimal("20")))
    )
    s.app.amend_contract(
        contract_id="c1",
        request_id="rise",
        effective_from=date(2025, 6, 1),
        terms=None,
        subscriptions=(Subscription("compute", "eu", 300000),),
    )

    doc = s.credits("2025-05", "2026-03", utc(2026, 6, 1))

    # year from 2025-03-01: 0.2 * 12 * 100000 = 240000; from 2026-03-01: 0.2 * 12 * 300000 = 720000
    caps = {y["starts_on"]: y["cap_minor"] for y in doc["contract_years"]}
    assert caps == {"2025-03-01": 240000, "2026-03-01": 720000}
    fees = {p["month"]: p["lines"][0]["fee_minor"] for p in doc["periods"]}
    assert fees["2025-05"] == 100000
    assert fees["2025-06"] == 300000


def test_contract_signed_on_29_february_has_anniversaries_on_1_march() -> None:
    s = Scenario().contract(starts_on=date(2024, 2, 29))

    doc = s.credits("2024-02", "2028-03", utc(2028, 6, 1))

    starts = [y["starts_on"] for y in doc["contract_years"]]
    assert starts == ["2024-02-29", "2025-03-01", "2026-03-01", "2027-03-01", "2028-02-29"]
    feb_2028 = next(p for p in doc["periods"] if p["month"] == "2028-02")
    assert feb_2028["contract_year_start"] == "2027-03-01"


def test_amendments_are_resolved_field_by_field() -> None:
    s = Scenario().contract()
    s.app.amend_contract(
        contract_id="c1",
        request_id="fee",
        effective_from=date(2025, 8, 1),
        terms=None,
        subscriptions=(Subscription("compute", "eu", 200000),),
    )
    s.app.amend_contract(
        contract_id="c1",
        request_id="tiers",
        effective_from=date(2025, 5, 1),
        terms=terms(tiers=(CreditTier(Decimal("100"), Decimal("50")),)),
        subscriptions=None,
    )
    s.incident(utc(2025, 9, 3, 10), utc(2025, 9, 3, 10, 1))

    # September: fee 200000 (from August), tiers "below 100 -> 50 %" (from May): 100000
    sept = s.period("2025-09")["lines"][0]
    assert (sept["fee_minor"], sept["credit_percent"], sept["credit_minor"]) == (200000, "50", 100000)
    assert s.period("2025-06")["lines"][0]["fee_minor"] == 100000
