"""A priced line is shared between contracts only when they write their tiers alike: "10" and
"10.0" are equal in value, but each contract's stored lines, credits answer and explanation show
its own writing (found in review: the shared line showed the first contract's writing)."""

from __future__ import annotations

from decimal import Decimal

from domain.calendar import Month, to_micros
from domain.terms import CreditTier
from projections.explanation import explain_month
from projections.queries import credits_document
from projections.readers import ModelReader
from projections.runner import replay
from tests.differential import memory_store
from tests.helpers import TIERS, Scenario, terms, utc

WRITTEN = tuple(CreditTier(Decimal(f"{t.below_percent}0"), Decimal(f"{t.credit_percent}.0")) for t in TIERS)


def _percents(model: object, contract_id: str) -> list[str]:
    return [line.credit_percent for line in model.periods[(contract_id, "2025-02")].lines]  # type: ignore[attr-defined]


def test_each_contract_shows_its_own_writing_of_the_credit_percent() -> None:
    s = Scenario(memory_store().app)
    s.contract("c1", "a")  # the tiers written 99.9 / 10
    s.contract("c2", "b", terms=terms(tiers=WRITTEN))  # the same tiers written 99.90 / 10.0
    s.contract("c3", "c")  # as c1's
    s.incident(utc(2025, 2, 1), utc(2025, 2, 1, 5))  # 5 hours: the 10 % tier
    model = replay(s.app).model
    assert (_percents(model, "c1"), _percents(model, "c2"), _percents(model, "c3")) == (["10"], ["10.0"], ["10"])
    reader, now = ModelReader(model), to_micros(utc(2030, 1, 1))
    answer = credits_document(reader, "b", Month(2025, 2), Month(2025, 2), now)
    explained = explain_month(reader, "b", Month(2025, 2), now)
    assert answer["periods"][0]["lines"][0]["credit_percent"] == "10.0"
    assert explained["periods"][0]["lines"][0]["credit_percent"] == "10.0"


def test_a_line_is_shared_only_between_months_of_the_same_length() -> None:
    """UTC and London agree on every midnight from 10 to 21 March 2025, so two contracts active
    only then measure the same window and see the same incidents; but London's March is an hour
    shorter (summer time from the 30th), so each pro-rates the fee by its own month."""
    from datetime import date

    s = Scenario(memory_store().app)
    for contract_id, zone in (("c1", "UTC"), ("c2", "Europe/London")):
        s.contract(contract_id, contract_id, timezone=zone, starts_on=date(2025, 3, 10), ends_on=date(2025, 3, 20))
    s.incident(utc(2025, 3, 12), utc(2025, 3, 12, 10))
    model = replay(s.app).model
    utc_line, london_line = (model.periods[(c, "2025-03")].lines[0] for c in ("c1", "c2"))
    assert utc_line.measured_seconds == london_line.measured_seconds == "950400"  # 11 days
    assert (utc_line.month_seconds, london_line.month_seconds) == ("2678400", "2674800")
    assert (utc_line.fee_minor, london_line.fee_minor) == (35484, 35532)  # 100000 * 11 days / the month


def test_a_line_whose_candidates_name_customers_is_each_customers_own() -> None:
    """The model keeps one stored line per key (pricing, window, month's length), and adds the
    customer to the key when a candidate incident of the pair names customers or excludes one.
    Four contracts alike but for their customer: X (1 h) reaches all but c (excluded), Y (2 h)
    names b alone. In February, nothing names a customer: a and d share one line object."""
    s = Scenario(memory_store().app)
    for n, customer in enumerate("abcd", start=1):
        s.contract(f"c{n}", customer)
    x = s.incident(utc(2025, 3, 3, 1), utc(2025, 3, 3, 2))  # X
    s.incident(utc(2025, 3, 4, 1), utc(2025, 3, 4, 3), customers=["b"])  # Y
    s.app.exclude_customer(incident_id=x, request_id="r", customer_id="c", reason="customer_caused")
    s.incident(utc(2025, 2, 3, 1), utc(2025, 2, 3, 2))
    model = replay(s.app).model
    march = {c: model.periods.get((c, "2025-03")) for c in ("c1", "c2", "c3", "c4")}
    assert march["c3"] is None  # excluded from X, not named by Y: no downtime, no row
    assert [march[c].lines[0].downtime_seconds for c in ("c1", "c2", "c4")] == ["3600", "10800", "3600"]  # type: ignore[union-attr]
    # each customer's lines are computed for it, whichever contract came first (asked in turn,
    # from a model whose memo is fresh, in two orders)
    for order in (("c1", "c2", "c3", "c4"), ("c4", "c3", "c2", "c1")):
        model._forget()
        found = {c: model.stored_lines(model.contracts[c], Month(2025, 3)) for c in order}
        assert found["c3"] is None
        assert {c: found[c].lines[0].downtime_seconds for c in ("c1", "c2", "c4")} == {  # type: ignore[union-attr]
            "c1": "3600",
            "c2": "10800",
            "c4": "3600",
        }
    february = [model.periods[(c, "2025-02")].lines[0] for c in ("c1", "c4")]
    assert february[0] is february[1]  # shared: one line for every contract with its key
