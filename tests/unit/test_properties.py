"""Property-based tests of the rules and of the projection's order independence."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import Month, Window
from domain.cap import CapStep, allocate_annual_cap
from domain.downtime import (
    IncidentFacts,
    MaintenanceFacts,
    is_of_pair,
    why_incident_does_not_count,
    why_maintenance_does_not_qualify,
)
from domain.terms import AnnualCap
from projections.runner import replay
from tests.helpers import Scenario, terms, utc

BASE = utc(2025, 1, 1)

incident_st = st.fixed_dictionaries(
    {
        "start": st.integers(0, 120 * 86400),
        "length": st.integers(1, 5 * 86400),
        "severity": st.sampled_from(["outage", "degraded"]),
        "regions": st.sampled_from([[], ["eu"], ["us"]]),
        "customers": st.sampled_from([[], ["a"], ["b"]]),
        "cause": st.sampled_from(["provider", "provider", "force_majeure"]),
        "retract": st.booleans(),
        "exclude_a": st.booleans(),
    }
)


def _facts(incidents: list[dict]) -> list[list[tuple]]:
    """One list of facts per incident (its own order must be kept)."""
    out = []
    for n, i in enumerate(incidents):
        iid = f"i{n}"
        facts: list[tuple] = [
            (
                "open",
                dict(
                    incident_id=iid,
                    service="compute",
                    regions=i["regions"],
                    customers=i["customers"],
                    severity=i["severity"],
                    started_at=BASE + timedelta(seconds=i["start"]),
                    cause=i["cause"],
                ),
            ),
            (
                "resolve",
                dict(incident_id=iid, request_id="r", ended_at=BASE + timedelta(seconds=i["start"] + i["length"])),
            ),
        ]
        if i["exclude_a"]:
            facts.append(("exclude", dict(incident_id=iid, request_id="x", customer_id="a", reason="customer_caused")))
        if i["retract"]:
            facts.append(("retract", dict(incident_id=iid, request_id="t", reason="false alarm")))
        out.append(facts)
    return out


def _apply(s: Scenario, kind: str, args: dict) -> None:
    {
        "open": s.app.open_incident,
        "resolve": s.app.resolve_incident,
        "exclude": s.app.exclude_customer,
        "retract": s.app.retract_incident,
    }[kind](**args)


def _world(cap: int | None = 300000) -> Scenario:
    s = Scenario()
    s.contract(terms=terms(cap=None if cap is None else AnnualCap(amount_minor=cap)))
    s.contract("c2", "b", timezone="Asia/Tokyo", starts_on=date(2025, 1, 17), ends_on=date(2025, 4, 3))
    return s


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(incident_st, max_size=6), st.randoms(use_true_random=False))
def test_the_order_of_independent_facts_changes_no_figure(incidents: list[dict], rnd) -> None:
    streams = _facts(incidents)
    in_order = _world()
    for stream in streams:
        for kind, args in stream:
            _apply(in_order, kind, args)
    shuffled = _world()
    queues = [list(s) for s in streams]
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        kind, args = q.pop(0)
        _apply(shuffled, kind, args)

    for customer in ("a", "b"):
        now = utc(2025, 7, 1)
        assert in_order.credits("2025-01", "2025-06", now, customer) == shuffled.credits(
            "2025-01", "2025-06", now, customer
        )


@settings(max_examples=25, deadline=None)
@given(st.lists(incident_st, max_size=8))
def test_downtime_never_exceeds_the_measured_window(incidents: list[dict]) -> None:
    s = _world()
    for stream in _facts(incidents):
        for kind, args in stream:
            _apply(s, kind, args)

    for customer in ("a", "b"):
        for p in s.credits("2025-01", "2025-06", utc(2025, 7, 1), customer)["periods"]:
            for line in p["lines"]:
                assert Decimal(line["downtime_seconds"]) <= Decimal(line["measured_seconds"])
                assert Decimal(0) <= Decimal(line["uptime_percent"]) <= Decimal(100)


@settings(max_examples=25, deadline=None)
@given(st.lists(incident_st, max_size=5), incident_st)
def test_credit_is_monotone_in_downtime(incidents: list[dict], extra: dict) -> None:
    base = _world(cap=None)
    for stream in _facts(incidents):
        for kind, args in stream:
            _apply(base, kind, args)
    before = base.credits("2025-01", "2025-06", utc(2025, 7, 1))
    more = dict(extra, retract=False, exclude_a=False, cause="provider", customers=[], regions=[])
    more_facts = _facts([*incidents, more])[-1]
    for kind, args in more_facts:
        _apply(base, kind, args)
    after = base.credits("2025-01", "2025-06", utc(2025, 7, 1))

    for p, q in zip(before["periods"], after["periods"], strict=True):
        assert q["credit_minor"] >= p["credit_minor"]
        for a, b in zip(p["lines"], q["lines"], strict=True):
            assert Decimal(b["downtime_seconds"]) >= Decimal(a["downtime_seconds"])


@given(st.lists(st.integers(0, 10**7), max_size=14), st.one_of(st.none(), st.integers(0, 3 * 10**7)))
def test_grants_never_exceed_the_cap_or_the_credit(credits: list[int], cap: int | None) -> None:
    months = [Month(2025 + i // 12, i % 12 + 1) for i in range(len(credits))]

    allocation = allocate_annual_cap(CapStep(date(2025, 1, 1), cap, None), list(zip(months, credits, strict=True)))

    if cap is not None:
        assert allocation.granted_minor <= cap
        assert allocation.remaining_minor == cap - allocation.granted_minor
    for g in allocation.grants:
        assert 0 <= g.granted_minor <= g.credit_minor
        assert g.granted_minor + g.capped_minor == g.credit_minor
    # grants go in chronological order: once something is capped, nothing later is granted
    capped_seen = False
    for g in allocation.grants:
        if capped_seen:
            assert g.granted_minor == 0
        capped_seen = capped_seen or g.capped_minor > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(incident_st, max_size=8), st.booleans())
def test_incremental_views_equal_a_deferred_replay(incidents: list[dict], terminate: bool) -> None:
    from projections.credits_projection import CreditsProjection
    from projections.runner import recorded_events
    from projections.views import MemoryCreditsView

    s = _world()
    for stream in _facts(incidents):
        for kind, args in stream:
            _apply(s, kind, args)
    if terminate:
        s.app.terminate_contract(contract_id="c1", request_id="t", ends_on=date(2025, 2, 14))
    s.app.announce_maintenance(
        maintenance_id="m",
        service="compute",
        regions=["eu"],
        starts_at=BASE,
        ends_at=BASE + timedelta(days=20),
        announced_at=BASE - timedelta(days=9),
    )
    s.app.cancel_maintenance(maintenance_id="m", request_id="c")

    live = MemoryCreditsView()
    projection = CreditsProjection(live)
    for event, tracking in recorded_events(s.app):
        projection.process_event(event, tracking)
    replayed = replay(s.app).model

    assert live.model.periods == replayed.periods
    assert live.model.years == replayed.years


_NAMES = st.sampled_from(("compute", "storage", "eu", "us", "ap"))


@given(
    service=_NAMES,
    regions=st.lists(_NAMES, max_size=3).map(tuple),
    asked_service=_NAMES,
    asked_region=_NAMES,
)
def test_the_pair_filter_is_the_rules_own_service_and_region_tests(
    service: str, regions: tuple[str, ...], asked_service: str, asked_region: str
) -> None:
    """`is_of_pair` (the fast paths' filter) keeps exactly the facts that steps 3 and 4 do not
    refuse for their service or region."""
    everything = Window(-(2**62), 2**62)
    incident = IncidentFacts("i", service, regions, (), "outage", 0, 10)
    window = MaintenanceFacts("m", service, regions, 10**12, 2 * 10**12, 0)
    why = why_incident_does_not_count(incident, asked_service, asked_region, "c", everything)
    why_m = why_maintenance_does_not_qualify(window, asked_service, asked_region, 0)
    assert is_of_pair(incident, asked_service, asked_region) == (why not in ("other_service", "other_region"))
    assert is_of_pair(window, asked_service, asked_region) == (why_m not in ("other_service", "other_region"))
