"""A contract year is re-granted whenever the contract's own facts change, even when no month's
credit does: an amendment that only lowers the annual cap must cut what was granted (the live
path skips re-granting only for incident and maintenance changes that leave every credit as it
was; decision 16)."""

from __future__ import annotations

from datetime import date

from domain.terms import AnnualCap
from projections.credits_projection import CreditsProjection
from projections.runner import recorded_events, replay
from tests.differential import first_difference, memory_store, model_rows
from tests.helpers import Scenario, terms, utc


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

    world = Scenario(app).contract()  # no cap
    world.incident(utc(2025, 2, 1), utc(2025, 2, 1, 5))  # 99.255952 %: 10 % of 100000
    follow()
    assert view.model.periods[("c1", "2025-02")].granted_minor == 10000

    app.amend_contract(
        contract_id="c1",
        request_id="r",
        effective_from=date(2025, 1, 1),
        terms=terms(cap=AnnualCap(amount_minor=0)),
        subscriptions=None,
    )
    follow()
    row = view.model.periods[("c1", "2025-02")]
    assert (row.credit_minor, row.granted_minor, row.capped_minor) == (10000, 0, 10000)
    assert not first_difference(model_rows(view.model), model_rows(replay(app).model))
    store.close()
