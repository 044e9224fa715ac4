"""The as-of replay's filters (projections/as_of.py) agree with the rules' own tests: `_reaching`
with `is_of_pair` over every pair, for any incident or window and any set of pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.downtime import IncidentFacts, MaintenanceFacts, is_of_pair
from projections.as_of import _reaching

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
def test_reaching_is_is_of_pair_for_any_pair(
    fact: IncidentFacts | MaintenanceFacts, pairs: set[tuple[str, str]]
) -> None:
    assert _reaching(pairs)(fact) == any(is_of_pair(fact, service, region) for service, region in pairs)
