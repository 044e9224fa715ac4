"""Billing runs on both stores at chosen instants: local month ends in UTC+14 and UTC-10, and
a cap reallocation that adjusts two later months."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from domain.errors import StateError
from domain.terms import AnnualCap
from projections.service import CreditsService
from tests.helpers import Scenario, terms, utc
from tests.helpers_billing import bill_at


@pytest.fixture
def service(store_url: str) -> Iterator[CreditsService]:
    s = CreditsService(store_url)
    yield s
    s.close()


def _bill(service: CreditsService, month: str, now: object) -> tuple[list[tuple[str, str, str, int]], list[str]]:
    service.catch_up()
    with service.view.reading():
        entries, left = bill_at(service.app, service.reader, month, now)  # type: ignore[arg-type]
    return [(e["contract_id"], e["month"], e["kind"], e["amount_minor"]) for e in entries], left


def _ledger_sums(service: CreditsService) -> dict[tuple[str, str], int]:
    service.catch_up()
    sums: dict[tuple[str, str], int] = {}
    for row in service.reader.ledger_page(0, 10_000):
        key = (str(row["contract_id"]), str(row["month"]))
        sums[key] = sums.get(key, 0) + int(str(row["amount_minor"]))
    return sums


def test_a_run_issues_the_utc_plus_14_contract_before_the_utc_minus_10_one(service: CreditsService) -> None:
    s = Scenario(service.app)
    s.contract("kiritimati", "k", timezone="Pacific/Kiritimati")  # UTC+14: March ends 2025-03-31T10:00Z
    s.contract("honolulu", "h", timezone="Pacific/Honolulu")  # UTC-10: March ends 2025-04-01T10:00Z
    s.incident(utc(2025, 3, 31, 8), utc(2025, 3, 31, 16))

    with pytest.raises(StateError) as too_early:
        _bill(service, "2025-03", utc(2025, 3, 31, 9))
    first, left = _bill(service, "2025-03", utc(2025, 3, 31, 12))
    second, left_after = _bill(service, "2025-03", utc(2025, 4, 1, 11))

    # Kiritimati's March holds 2 h of the incident (08:00-10:00Z): 2 h of 744 h, 99.73 % -> 10 %.
    # Honolulu's March holds all 8 h: 98.92 % -> 25 %.
    assert too_early.value.field == "month"
    assert (first, left) == ([("kiritimati", "2025-03", "credit", 10000)], ["honolulu"])
    assert (second, left_after) == ([("honolulu", "2025-03", "credit", 25000)], [])
    assert _ledger_sums(service) == {("kiritimati", "2025-03"): 10000, ("honolulu", "2025-03"): 25000}


def test_a_retraction_reallocates_the_cap_into_two_later_issued_months(service: CreditsService) -> None:
    s = Scenario(service.app).contract(terms=terms(cap=AnnualCap(amount_minor=150000)))
    feb = s.incident(utc(2025, 2, 1), utc(2025, 2, 3))  # 100 % = 100000
    s.incident(utc(2025, 3, 1), utc(2025, 3, 3))  # 100000, only 50000 left under the cap
    s.incident(utc(2025, 4, 1), utc(2025, 4, 1, 12))  # 25000, nothing left
    issued = [_bill(service, m, utc(2025, 5, 2))[0] for m in ("2025-02", "2025-03", "2025-04")]

    s.app.retract_incident(incident_id=feb, request_id="r", reason="false alarm")
    may, _ = _bill(service, "2025-05", utc(2025, 6, 2))
    rerun, _ = _bill(service, "2025-05", utc(2025, 6, 3))

    assert issued == [[("c1", "2025-02", "credit", 100000)], [("c1", "2025-03", "credit", 50000)], []]
    assert may == [
        ("c1", "2025-02", "adjustment", -100000),
        ("c1", "2025-03", "adjustment", 50000),
        ("c1", "2025-04", "adjustment", 25000),
    ]
    assert rerun == []
    assert _ledger_sums(service) == {("c1", "2025-02"): 0, ("c1", "2025-03"): 100000, ("c1", "2025-04"): 25000}
    doc = service.credits("a", "2025-02", "2025-04")
    assert [(p["granted_minor"], p["status"]) for p in doc["periods"]] == [
        (0, "issued"),
        (100000, "issued"),
        (25000, "issued"),
    ]


def test_a_contract_signed_later_is_billed_from_its_first_month(service: CreditsService) -> None:
    s = Scenario(service.app)
    s.contract("late", "l", starts_on=date(2025, 3, 17))
    s.incident(utc(2025, 3, 20), utc(2025, 3, 21))

    with pytest.raises(StateError):
        _bill(service, "2025-02", utc(2025, 5, 1))
    entries, _ = _bill(service, "2025-03", utc(2025, 5, 1))

    # 24 h down of the 15 days measured (2025-03-17 to 04-01): 93.33 % -> 100 % of the fee
    # pro-rated to 15 of 31 days: 100000 * 15 / 31 = 48387.09 -> 48387
    assert entries == [("late", "2025-03", "credit", 48387)]


def test_a_contract_recorded_late_has_its_ended_periods_billed_by_the_next_run(service: CreditsService) -> None:
    s = Scenario(service.app).contract("c1", "a", starts_on=date(2024, 11, 1))
    _bill(service, "2025-01", utc(2025, 2, 5))  # billing starts with January 2025
    # recorded in October, active since March, an outage in April (2 days: 93.33 % -> 100 % credit)
    s.contract("late", "b", starts_on=date(2025, 3, 1))
    s.incident(utc(2025, 4, 1), utc(2025, 4, 3), customers=["b"])
    s.incident(utc(2024, 12, 1), utc(2024, 12, 3), customers=["a"])  # before billing started

    entries, _ = _bill(service, "2025-10", utc(2025, 11, 5))

    assert ("late", "2025-04", "credit", 100000) in entries
    # every ended period from the first billed month is covered now, zero ones included
    issued = service.app.issued_periods()
    assert {("late", f"2025-{m:02d}") for m in range(3, 11)} <= set(issued)
    assert {("c1", f"2025-{m:02d}") for m in range(1, 11)} <= set(issued)
    assert ("c1", "2024-12") not in issued  # before the first billed month: never issued automatically
    again, _ = _bill(service, "2025-10", utc(2025, 11, 6))
    assert again == []  # nothing owed twice
