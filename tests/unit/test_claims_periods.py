"""The claims report from a replay that computes only the periods it reads (queries.claims_periods)
equals the report from a whole replay, and that model widened (the periods it left out computed)
equals the whole replay's: contract years that start mid-month and cross calendar
years, caps that bind, contracts that end, unresolved incidents (the report's live path), random
ranges and "now"s."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import Month, months_between, to_micros
from domain.credit import contract_year_of
from domain.terms import AnnualCap, Subscription
from projections.queries import claims_periods, claims_report
from projections.readers import ModelReader
from projections.runner import replay
from tests.helpers import Scenario, terms, utc

BASE = utc(2024, 1, 1)
DAYS = 3 * 366  # facts over three years: contract years cross calendar years

STARTS = [date(2024, 1, 1), date(2024, 3, 15), date(2024, 7, 31), date(2025, 2, 28)]
ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati"]
contract_st = st.fixed_dictionaries(
    {
        "starts": st.sampled_from(STARTS),
        "ends": st.sampled_from([None, date(2025, 6, 14), date(2026, 1, 31)]),
        "timezone": st.sampled_from(ZONES),
    }
)
month_st = st.builds(Month.plus, st.just(Month(2024, 1)), st.integers(0, 35))


def _world(rnd: random.Random) -> Scenario:
    """Up to four contracts (two customers) on one service, up to 24 incidents over three years,
    some never resolved."""
    s = Scenario()
    for n in range(rnd.randint(1, 4)):
        s.contract(
            f"c{n}",
            "ab"[n % 2],
            timezone=rnd.choice(ZONES),
            starts_on=rnd.choice(STARTS),
            ends_on=rnd.choice([None, None, date(2025, 6, 14), date(2026, 1, 31)]),
            terms=terms(cap=rnd.choice([None, AnnualCap(amount_minor=12000), AnnualCap(amount_minor=30000)])),
            subscriptions=(Subscription("compute", rnd.choice(["eu", "us"]), 100000),),
        )
    for _ in range(rnd.randint(3, 24)):
        start = BASE + timedelta(hours=rnd.randint(0, DAYS * 24))
        s.incident(
            start,
            start + timedelta(hours=rnd.randint(1, 240)) if rnd.random() < 0.85 else None,
            severity=rnd.choice(["outage", "degraded"]),
            regions=rnd.choice([[], ["eu"], ["us"]]),
        )
    return s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
def test_the_report_from_the_periods_it_reads_equals_the_whole_replays(seed: int) -> None:
    # a seed, not st.randoms or drawn values: its draws are spread as a world's are (hypothesis's
    # own lean to the bounds: a range of one month, "now" before the first incident)
    rnd = random.Random(seed)
    s = _world(rnd)
    first = Month(2024, 1).plus(rnd.randint(0, 35))
    last = first.plus(rnd.randint(0, 14))
    now = to_micros(BASE + timedelta(days=rnd.randint(0, DAYS + 30), hours=7))

    whole = replay(s.app).model
    computed = replay(s.app, computes=claims_periods(first, last)).model
    assert claims_report(ModelReader(computed), first, last, now) == claims_report(ModelReader(whole), first, last, now)
    assert set(computed.periods) <= set(whole.periods)  # fewer periods, never others
    in_range = {key for key, p in whole.periods.items() if first <= Month.parse(p.month) <= last}
    assert in_range <= set(computed.periods)  # and every one of the range
    inner_first = first.plus(rnd.randint(0, len(months_between(first, last)) - 1))
    inner_last = inner_first.plus(rnd.randint(0, len(months_between(inner_first, last)) - 1))
    assert claims_report(ModelReader(computed), inner_first, inner_last, now) == claims_report(
        ModelReader(whole), inner_first, inner_last, now
    )  # a range within serves from the same model (service.world_at)
    before = (dict(computed.periods), dict(computed.years))
    widened = computed.widened()  # the periods left out, computed on the same facts
    assert (computed.periods, computed.years) == before  # still read by requests that hold it
    assert (widened.periods, widened.years) == (whole.periods, whole.years)
    assert widened.periods_by_contract == {cid: ms for cid, ms in whole.periods_by_contract.items() if ms}


@settings(max_examples=60, deadline=None)
@given(contract_st, month_st, st.integers(0, 14), month_st)
def test_a_period_is_read_when_its_contract_year_holds_a_month_of_the_range(
    c: dict, first: Month, months: int, month: Month
) -> None:
    """The definition: a month up to `last` whose contract year is that of a month of the range."""
    s = Scenario().contract(timezone=c["timezone"], starts_on=c["starts"], ends_on=c["ends"])
    (contract,) = replay(s.app).model.contracts.values()
    last = first.plus(months)
    year = contract_year_of(contract, month)
    if year is None:
        return  # not active in the month: no period, read or not
    in_range = {contract_year_of(contract, m) for m in months_between(first, last)}
    assert claims_periods(first, last)(contract, month) == (month <= last and year in in_range)
