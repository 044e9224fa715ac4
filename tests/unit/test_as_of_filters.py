"""The as-of replay's filter (projections/as_of.py) agrees with the rules' own test: `of_any_pair`
with `is_of_pair` over every pair, for any incident or window and any set of pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.downtime import IncidentFacts, MaintenanceFacts, is_of_pair, of_any_pair

SERVICES = st.sampled_from(("compute", "storage", "db"))
REGIONS = st.sampled_from(("eu", "us", "ap"))
NAMED = st.lists(REGIONS, max_size=3, unique=True).map(tuple)


@st.composite
def facts(draw: st.DrawFn) -> IncidentFacts | MaintenanceFacts:
    service, regions = draw(SERVICES), draw(NAMED)
    if draw(st.booleans()):
        return IncidentFacts("i", service, regions, (), "outage", 0, None)
    return MaintenanceFacts("m", service, regions, 0, 1, 0)


@given(facts(), st.sets(st.tuples(SERVICES, REGIONS), max_size=5))
def test_of_any_pair_is_is_of_pair_for_any_pair(
    fact: IncidentFacts | MaintenanceFacts, pairs: set[tuple[str, str]]
) -> None:
    assert of_any_pair(pairs)(fact) == any(is_of_pair(fact, service, region) for service, region in pairs)
