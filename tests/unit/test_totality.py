"""The projection is total: every fact the domain accepts is processed without an exception,
live and in a replay, and every answer can be asked about it. Facts are drawn from the whole
accepted space (docs/rules.md, "What is accepted"): its boundary instants and days, every
canonical time zone, microseconds, DST edges, contracts of one day, incidents of one
microsecond, degraded weights 0 and 1, empty and full region lists, the largest amounts."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CreditsApplication
from domain.calendar import Month, to_micros
from domain.errors import DomainError
from domain.limits import END_INSTANT, FIRST_DAY, FIRST_INSTANT, LAST_DAY, MONEY_LIMIT, canonical_zones
from domain.terms import AnnualCap, CreditTier, Subscription, Terms
from projections.credits_projection import CreditsProjection
from projections.queries import credits_document
from projections.readers import ModelReader
from projections.runner import recorded_events, replay
from projections.views import MemoryCreditsView
from tests.differential import first_difference, model_rows

ZONES = sorted(canonical_zones())
REGIONS = ("eu", "us", "ap")
LAST_INSTANT = END_INSTANT - timedelta(microseconds=1)
EDGE_INSTANTS = (
    FIRST_INSTANT,
    FIRST_INSTANT + timedelta(microseconds=1),
    datetime(2025, 3, 30, 1, 0, tzinfo=UTC),  # Europe's spring DST step
    datetime(2025, 10, 26, 1, 0, tzinfo=UTC),  # and the autumn one
    datetime(2025, 3, 9, 7, 0, tzinfo=UTC),  # America's spring step
    LAST_INSTANT - timedelta(hours=1),
    LAST_INSTANT,
)
EDGE_DAYS = (FIRST_DAY, date(1970, 1, 31), date(2025, 3, 30), date(2099, 12, 1), LAST_DAY)

instants = st.sampled_from(EDGE_INSTANTS) | st.datetimes(
    min_value=FIRST_INSTANT.replace(tzinfo=None), max_value=LAST_INSTANT.replace(tzinfo=None), timezones=st.just(UTC)
)
days = st.sampled_from(EDGE_DAYS) | st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
spans = st.sampled_from((timedelta(microseconds=1), timedelta(hours=1), timedelta(days=40), timedelta(days=3000)))
percents = st.sampled_from(("0", "0.000001", "50", "99.999999", "100")).map(Decimal)
terms = st.builds(
    lambda weight, cap, below, credit: Terms((CreditTier(below, credit),), weight, 0, cap),
    st.sampled_from(("0", "1", "0.000001", "0.999999")).map(Decimal),
    st.sampled_from(
        (
            None,
            AnnualCap(amount_minor=0),
            AnnualCap(amount_minor=MONEY_LIMIT - 1),
            AnnualCap(percent_of_annual_fees=Decimal(100)),
        )
    ),
    st.sampled_from(("0.000001", "99.9", "100")).map(Decimal),
    percents,
)
region_lists = st.sampled_from(((), REGIONS, ("eu",)))


def _record(app: CreditsApplication, command: Any, **kw: Any) -> None:
    with contextlib.suppress(DomainError):  # refused: nothing recorded, the history goes on
        command(**kw)


@st.composite
def histories(draw: st.DrawFn) -> CreditsApplication:
    app = CreditsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for n in range(draw(st.integers(1, 3))):
        starts = draw(days)
        one_day = draw(st.booleans())
        _record(
            app,
            app.sign_contract,
            contract_id=f"k{n}",
            customer_id=draw(st.sampled_from(("a", "b"))),
            customer_name="A",
            timezone=draw(st.sampled_from(ZONES)),
            starts_on=starts,
            ends_on=starts if one_day else draw(st.none() | days),
            currency="USD",
            terms=draw(terms),
            subscriptions=(
                Subscription("api", draw(st.sampled_from(REGIONS)), draw(st.sampled_from((0, 1, MONEY_LIMIT - 1)))),
            ),
        )
    for n in range(draw(st.integers(0, 4))):
        started = draw(instants)
        span = draw(st.none() | spans)
        ended = None if span is None else min(started + span, LAST_INSTANT)
        _record(
            app,
            app.open_incident,
            incident_id=f"i{n}",
            service="api",
            regions=list(draw(region_lists)),
            customers=draw(st.sampled_from(([], ["a"]))),
            severity=draw(st.sampled_from(("outage", "degraded"))),
            started_at=started,
            ended_at=ended,
        )
        if span is None and draw(st.booleans()):
            _record(
                app,
                app.resolve_incident,
                incident_id=f"i{n}",
                request_id="r",
                ended_at=min(started + draw(spans), LAST_INSTANT),
            )
    if draw(st.booleans()):
        starts_at = draw(instants)
        _record(
            app,
            app.announce_maintenance,
            maintenance_id="m",
            service="api",
            regions=list(draw(region_lists)),
            starts_at=starts_at,
            ends_at=min(starts_at + draw(spans), LAST_INSTANT),
            announced_at=FIRST_INSTANT,
        )
    return app


def _project_and_ask(app: CreditsApplication, now: datetime) -> None:
    live = MemoryCreditsView()
    projection = CreditsProjection(live)
    for event, tracking in recorded_events(app):
        projection.process_event(event, tracking)
    fresh = replay(app).model
    assert not first_difference(model_rows(live.model), model_rows(fresh))
    reader = ModelReader(fresh)
    for customer in ("a", "b"):
        for first, last in (
            (Month(1970, 1), Month(1970, 2)),
            (Month(2025, 2), Month(2025, 4)),
            (Month(2099, 11), Month(2099, 12)),
        ):
            credits_document(reader, customer, first, last, to_micros(now))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(app=histories(), now=st.sampled_from((datetime(2026, 1, 1, tzinfo=UTC), LAST_INSTANT)))
def test_every_accepted_history_is_projected_and_answered_without_an_exception(
    app: CreditsApplication, now: datetime
) -> None:
    _project_and_ask(app, now)


def record_edge_world(app: CreditsApplication) -> None:
    """A contract in every canonical zone over the whole accepted range, and incidents at its
    edges (one microsecond long, open, across a DST step)."""
    for n, zone in enumerate(ZONES):
        app.sign_contract(
            contract_id=f"k{n}",
            customer_id="a" if n % 2 else "b",
            customer_name="A",
            timezone=zone,
            starts_on=FIRST_DAY,
            ends_on=LAST_DAY,
            currency="USD",
            terms=Terms(
                (CreditTier(Decimal("100"), Decimal("100")),),
                Decimal(1),
                0,
                AnnualCap(percent_of_annual_fees=Decimal(100)),
            ),
            subscriptions=(Subscription("api", "eu", MONEY_LIMIT - 1),),
        )
    micro = timedelta(microseconds=1)
    app.open_incident(
        incident_id="first",
        service="api",
        regions=[],
        severity="outage",
        started_at=FIRST_INSTANT,
        ended_at=FIRST_INSTANT + micro,
    )
    app.open_incident(
        incident_id="last",
        service="api",
        regions=[],
        severity="degraded",
        started_at=LAST_INSTANT - micro,
        ended_at=LAST_INSTANT,
    )
    app.open_incident(
        incident_id="open",
        service="api",
        regions=["eu"],
        severity="outage",
        started_at=LAST_INSTANT - timedelta(hours=20),
    )
    app.open_incident(
        incident_id="dst",
        service="api",
        regions=[],
        severity="outage",
        started_at=EDGE_INSTANTS[2] - micro,
        ended_at=EDGE_INSTANTS[2] + micro,
    )


def test_every_canonical_time_zone_at_the_edges_of_the_accepted_range() -> None:
    app = CreditsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    record_edge_world(app)

    _project_and_ask(app, LAST_INSTANT)

    assert len(ZONES) > 300
    assert {"localtime", "Factory", "EST5EDT", "US/Eastern"}.isdisjoint(ZONES)
