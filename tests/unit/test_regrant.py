"""A contract year is re-granted whenever the contract's own facts change, even when no month's
credit does: an amendment that only lowers the annual cap must cut what was granted (the live
path skips re-granting only for incident and maintenance changes that leave every credit as it
was; decision 16)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from domain.terms import AnnualCap, CreditTier, Subscription, Terms
from projections.credits_projection import CreditsProjection
from projections.runner import recorded_events, replay
from tests.differential import first_difference, memory_store, model_rows

TIERS = (CreditTier(Decimal("99.9"), Decimal("10")),)


def _terms(cap: AnnualCap | None) -> Terms:
    return Terms(TIERS, Decimal("0"), 48, cap)


def test_an_amendment_of_the_cap_alone_regrants_the_year_live_as_in_a_replay() -> None:
    store = memory_store()
    app, view = store.app, store.view
    projection = CreditsProjection(view)
    position = 0

    def follow() -> None:
        nonlocal position
        for event, tracking in recorded_events(app, after=position):
            projection.process_event(event, tracking)
            position = tracking.notification_id

    app.sign_contract(
        contract_id="k",
        customer_id="a",
        customer_name="A",
        timezone="UTC",
        starts_on=date(2025, 1, 1),
        ends_on=None,
        currency="EUR",
        terms=_terms(None),
        subscriptions=(Subscription("compute", "eu", 100000),),
    )
    app.open_incident(
        incident_id="i",
        service="compute",
        regions=[],
        severity="outage",
        started_at=datetime(2025, 2, 1, tzinfo=UTC),
        ended_at=datetime(2025, 2, 1, 5, tzinfo=UTC),
    )
    follow()
    assert view.model.periods[("k", "2025-02")].granted_minor == 10000

    app.amend_contract(
        contract_id="k",
        request_id="r",
        effective_from=date(2025, 1, 1),
        terms=_terms(AnnualCap(amount_minor=0)),
        subscriptions=None,
    )
    follow()
    row = view.model.periods[("k", "2025-02")]
    assert (row.credit_minor, row.granted_minor, row.capped_minor) == (10000, 0, 10000)
    assert not first_difference(model_rows(view.model), model_rows(replay(app).model))
    store.close()
