"""The downtime sweep (domain/downtime.py: weighted_downtime) against the plain sweep it
replaced: for any incidents, maintenance windows, window, degraded weight and "now", the same
segments (bounds and weights as written), the same excluded segments and the same total, to the
last digit and exponent of the Decimal (a figure and its text must not depend on how it was
summed)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import Window
from domain.downtime import (
    _EXACT,
    DEGRADED,
    OUTAGE,
    DowntimeStep,
    IncidentFacts,
    MaintenanceFacts,
    Segment,
    weighted_downtime,
)


def plain_sweep(
    window: Window,
    incidents: list[IncidentFacts],
    maintenance: list[MaintenanceFacts],
    degraded_weight: Decimal,
    now: int,
) -> DowntimeStep:
    """Step 5 as RULES.md states it: boundaries sorted, the weight of each piece between two
    (1 under an outage, else the degraded weight under a degraded incident, else 0; 0 under
    qualifying maintenance, where the piece is excluded instead), adjacent pieces of equal weight
    joined, and each segment's length times its weight summed."""
    events: list[tuple[int, int, int, int]] = []
    for inc in incidents:
        start = max(inc.started_at, window.start)
        end = min(inc.ended_at if inc.ended_at is not None else now, window.end)
        if end <= start:
            continue
        events += [(start, 1, 0, 0), (end, -1, 0, 0)] if inc.severity == OUTAGE else [(start, 0, 1, 0), (end, 0, -1, 0)]
    for m in maintenance:
        start, end = max(m.starts_at, window.start), min(m.ends_at, window.end)
        if end > start:
            events += [(start, 0, 0, 1), (end, 0, 0, -1)]
    events.sort()
    segments: list[Segment] = []
    excluded: list[Segment] = []
    outages = degraded = maint = 0
    i = 0
    while i < len(events):
        at = events[i][0]
        while i < len(events) and events[i][0] == at:
            outages += events[i][1]
            degraded += events[i][2]
            maint += events[i][3]
            i += 1
        if i == len(events):
            break
        following = events[i][0]
        weight = Decimal(1) if outages else (degraded_weight if degraded else Decimal(0))
        if weight == 0:
            continue
        target = excluded if maint else segments
        if target and target[-1].end == at and target[-1].weight == weight:
            target[-1] = Segment(target[-1].start, following, weight)
        else:
            target.append(Segment(at, following, weight))
    total = Decimal(0)
    for seg in segments:
        total = _EXACT.add(total, _EXACT.multiply(Decimal(seg.end - seg.start), seg.weight))
    return DowntimeStep(window, tuple(segments), tuple(excluded), total)


instants = st.integers(min_value=-50, max_value=150)
weights = st.sampled_from(["0", "0.5", "0.25", "1", "1.0", "1.00", "0.125", "0.3", "2E-1", "1E+0"]).map(Decimal)


@st.composite
def incidents(draw: st.DrawFn) -> IncidentFacts:
    start = draw(instants)
    end = draw(st.none() | st.integers(min_value=start, max_value=start + 80))
    return IncidentFacts("i", "s", (), (), draw(st.sampled_from([OUTAGE, DEGRADED])), start, end)


@st.composite
def windows(draw: st.DrawFn) -> MaintenanceFacts:
    start = draw(instants)
    return MaintenanceFacts("m", "s", (), start, start + draw(st.integers(0, 60)), 0)


def shown(step: DowntimeStep) -> tuple[object, ...]:
    """Everything a line shows of the step, with each Decimal's text (2.0 is not 2 on a page)."""

    def segs(found: tuple[Segment, ...]) -> list[tuple[int, int, str]]:
        return [(s.start, s.end, str(s.weight)) for s in found]

    return (step.window, segs(step.segments), segs(step.excluded_by_maintenance), str(step.downtime_micros))


@settings(max_examples=600, deadline=None)
@given(
    st.lists(incidents(), max_size=12),
    st.lists(windows(), max_size=4),
    weights,
    instants,
    instants,
    st.integers(min_value=0, max_value=120),
)
def test_the_sweep_equals_the_plain_sweep(
    found: list[IncidentFacts], maintenance: list[MaintenanceFacts], weight: Decimal, now: int, start: int, length: int
) -> None:
    window = Window(start, start + length)
    fast = weighted_downtime(window, found, maintenance, weight, now)
    plain = plain_sweep(window, found, maintenance, weight, now)
    assert fast == plain
    assert shown(fast) == shown(plain)


def test_a_degraded_piece_next_to_an_outage_is_one_segment_at_weight_one() -> None:
    """At a degraded weight equal to 1 (as written "1.0"), an outage and a degraded incident that
    follows it make one segment, carrying the weight of the later piece, as the plain sweep does."""
    found = [IncidentFacts("a", "s", (), (), OUTAGE, 0, 10), IncidentFacts("b", "s", (), (), DEGRADED, 10, 30)]
    step = weighted_downtime(Window(0, 100), found, [], Decimal("1.0"), 100)
    assert [(s.start, s.end, str(s.weight)) for s in step.segments] == [(0, 30, "1.0")]
    assert str(step.downtime_micros) == "30.0"
    assert shown(step) == shown(plain_sweep(Window(0, 100), found, [], Decimal("1.0"), 100))
