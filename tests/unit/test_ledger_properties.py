"""The ledger's invariant over random histories of facts and billing runs: after any run, the
entries of every issued period add up to its current granted amount, and no entry is ever
changed or removed."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.calendar import Month, to_micros
from domain.errors import StateError
from projections.queries import credits_document
from projections.readers import ModelReader
from projections.runner import replay
from tests.helpers import utc
from tests.helpers_billing import bill_at
from tests.unit.test_properties import _apply, _facts, _world, incident_st

MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]
# Incidents of whole hours (1 h to 4 days), so that most of them earn a credit.
# One in four is retracted later, and they are rarely force majeure.
incident_hours_st = st.tuples(incident_st, st.integers(0, 140 * 24), st.integers(1, 96), st.integers(0, 3)).map(
    lambda t: {
        **t[0],
        "start": t[1] * 3600,
        "length": t[2] * 3600,
        "retract": t[3] == 0,
        "cause": "force_majeure" if t[3] == 1 and t[0]["retract"] else "provider",
    }
)
_incident_step = st.tuples(st.just("incident"), incident_hours_st)
step_st = st.one_of(  # facts twice as often as runs
    _incident_step, _incident_step, st.tuples(st.just("bill"), st.sampled_from(MONTHS), st.integers(0, 200))
)


def _granted(model: object, now: int) -> dict[tuple[str, str], int]:
    reader = ModelReader(model)  # type: ignore[arg-type]
    out: dict[tuple[str, str], int] = {}
    for customer in ("a", "b"):
        doc = credits_document(reader, customer, Month(2025, 1), Month(2025, 12), now)
        for p in doc["periods"]:
            out[(p["contract_id"], p["month"])] = p["granted_minor"]
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step_st, min_size=4, max_size=16), st.integers(0, 3))
def test_after_any_run_each_periods_entries_sum_to_its_granted_amount(steps: list[tuple], cap_choice: int) -> None:
    s = _world(cap=[None, 50000, 150000, 300000][cap_choice])
    incidents: list[dict] = []
    seen: list[dict] = []
    final_runs = [("bill", m, 200) for m in MONTHS]  # and at the end, every month once more
    for step in [*steps, *final_runs]:
        if step[0] == "incident":
            incidents.append(step[1])
            for kind, args in _facts(incidents)[-1]:
                _apply(s, kind, args)
            continue
        _, month, days_after = step
        now = utc(*map(int, month.split("-")), 1) + timedelta(days=35 + days_after)
        model = replay(s.app).model
        try:
            bill_at(s.app, ModelReader(model), month, now)
        except StateError:
            continue
        model = replay(s.app).model
        entries = sorted(model.ledger.values(), key=lambda r: int(str(r["seq"])))
        sums: dict[tuple[str, str], int] = {}
        for e in entries:
            key = (str(e["contract_id"]), str(e["month"]))
            sums[key] = sums.get(key, 0) + int(str(e["amount_minor"]))
        granted = _granted(model, to_micros(now))
        for key in s.app.issued_periods():
            assert sums.get(key, 0) == granted.get(key, 0), key
        plain = [{k: v for k, v in e.items() if k not in ("invoice_id", "applied_at")} for e in entries]
        assert plain[: len(seen)] == seen
        seen = plain
    event(f"ledger: {sorted({str(e['kind']) for e in seen}) or 'empty'}")
