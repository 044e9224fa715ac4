"""RULES.md steps 3-5: which incidents affect a subscription, the weight at each instant,
maintenance exclusion and the weighted downtime over the measured window."""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from domain.calendar import MICROS, Window

OUTAGE = "outage"
DEGRADED = "degraded"
PROVIDER = "provider"
FORCE_MAJEURE = "force_majeure"

_EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])


@dataclass(frozen=True)
class IncidentFacts:
    """An incident as currently known (the sum of its recorded facts)."""

    incident_id: str
    service: str
    regions: tuple[str, ...]
    customers: tuple[str, ...]
    severity: str
    started_at: int
    ended_at: int | None
    cause: str = PROVIDER
    retracted: bool = False
    excluded_customers: frozenset[str] = frozenset()
    title: str = ""  # for people; no rule reads it


@dataclass(frozen=True)
class MaintenanceFacts:
    maintenance_id: str
    service: str
    regions: tuple[str, ...]
    starts_at: int
    ends_at: int
    announced_at: int
    cancelled: bool = False


def is_of_pair(fact: IncidentFacts | MaintenanceFacts, service: str, region: str) -> bool:
    """The fact is of this service and region (one naming no region is of every region of its
    service): the first tests of steps 3 and 4, which nothing else can make it pass."""
    return fact.service == service and (not fact.regions or region in fact.regions)


def of_any_pair(pairs: Iterable[tuple[str, str]]) -> Callable[[IncidentFacts | MaintenanceFacts], bool]:
    """`is_of_pair` for any of these (service, region) pairs, with their regions grouped by
    service once (a customer's as-of answer tests every incident of its services against all
    of its pairs; tests/unit/test_as_of_filters.py checks the two agree)."""
    regions_of: dict[str, frozenset[str]] = {}
    for service, region in pairs:
        regions_of[service] = regions_of.get(service, frozenset()) | {region}

    def of_any(fact: IncidentFacts | MaintenanceFacts) -> bool:
        regions = regions_of.get(fact.service)
        return regions is not None and (not fact.regions or not regions.isdisjoint(fact.regions))

    return of_any


def why_incident_does_not_count(
    incident: IncidentFacts, service: str, region: str, customer_id: str, window: Window
) -> str | None:
    """Step 3. None when the incident affects this subscription inside the window, else the
    reason it does not (the words the explanation shows)."""
    if incident.retracted:
        return "retracted"
    if incident.service != service:
        return "other_service"
    if incident.regions and region not in incident.regions:
        return "other_region"
    if incident.customers and customer_id not in incident.customers:
        return "other_customer"
    if customer_id in incident.excluded_customers:
        return "customer_excluded"
    if incident.cause != PROVIDER:
        return "force_majeure"
    if not window.overlaps(incident.started_at, incident.ended_at):
        return "outside_window"
    return None


def why_maintenance_does_not_qualify(
    maintenance: MaintenanceFacts, service: str, region: str, notice_hours: int
) -> str | None:
    """Step 4's maintenance test: same service and region, announced early enough, not cancelled."""
    if maintenance.cancelled:
        return "cancelled"
    if maintenance.service != service:
        return "other_service"
    if maintenance.regions and region not in maintenance.regions:
        return "other_region"
    if maintenance.announced_at > maintenance.starts_at - notice_hours * 3600 * MICROS:
        return "notice_too_short"
    return None


@dataclass(frozen=True)
class Segment:
    """A piece of the measured window with one weight (UTC microseconds)."""

    start: int
    end: int
    weight: Decimal


@dataclass(frozen=True)
class DowntimeStep:
    """Step 5's result: the merged weighted intervals and their integral."""

    window: Window
    segments: tuple[Segment, ...]
    excluded_by_maintenance: tuple[Segment, ...]
    downtime_micros: Decimal = field(default=Decimal(0))

    @property
    def downtime_seconds(self) -> Decimal:
        return exact_seconds(self.downtime_micros)


def exact_seconds(micros: int | Decimal) -> Decimal:
    """Microseconds as seconds, exactly (an inexact result would raise, never round)."""
    return _EXACT.divide(Decimal(micros), Decimal(MICROS))


# the sweep's boundaries, one integer each: the instant shifted left by three bits, and in the
# low bits which count it moves (sorting plain integers is the sweep's main cost)
_OUTAGE_STARTS, _OUTAGE_ENDS, _DEGRADED_STARTS, _DEGRADED_ENDS, _MAINTENANCE_STARTS, _MAINTENANCE_ENDS = range(6)
_NONE, _DEGRADED_WEIGHT, _FULL_WEIGHT = range(3)  # the weight of a piece, as a code


def weighted_downtime(
    window: Window,
    incidents: list[IncidentFacts],
    maintenance: list[MaintenanceFacts],
    degraded_weight: Decimal,
    now: int,
) -> DowntimeStep:
    """Steps 4-5 for incidents already known to affect the subscription and maintenance
    windows already known to qualify. An unresolved incident lasts until `now`.

    A sweep over the boundaries: at each instant the weight is 1 under any outage, else the
    degraded weight under any degraded incident, else 0; qualifying maintenance makes it 0.
    Overlaps therefore never count twice. Adjacent pieces of equal weight are one segment.

    The sweep counts in integer microseconds; the weights are applied once, to the two sums of
    lengths (an exact sum of exact products: the same figure, term by term;
    tests/unit/test_downtime_sweep.py checks it against the plain sweep segment by segment)."""
    lo, hi = window.start, window.end
    events: list[int] = []
    for inc in incidents:
        start = inc.started_at if inc.started_at > lo else lo
        end = inc.ended_at if inc.ended_at is not None else now
        if end > hi:
            end = hi
        if end <= start:
            continue
        if inc.severity == OUTAGE:
            events += (start << 3 | _OUTAGE_STARTS, end << 3 | _OUTAGE_ENDS)
        else:
            events += (start << 3 | _DEGRADED_STARTS, end << 3 | _DEGRADED_ENDS)
    for m in maintenance:
        start = m.starts_at if m.starts_at > lo else lo
        end = m.ends_at if m.ends_at < hi else hi
        if end > start:
            events += (start << 3 | _MAINTENANCE_STARTS, end << 3 | _MAINTENANCE_ENDS)
    events.sort()
    # a degraded piece weighs nothing at weight 0, and is one segment with an adjacent outage at 1
    degraded_counts = degraded_weight != 0
    same_as_outage = degraded_weight == 1
    segments: list[list[int]] = []  # [start, end, weight code]
    excluded: list[list[int]] = []
    counts = [0, 0, 0]  # outages, degraded incidents, maintenance windows under way
    at: int | None = None
    for boundary in events:
        instant, kind = boundary >> 3, boundary & 7
        if instant != at:
            if at is not None:  # the piece [at, instant) at the counts after the boundaries at `at`
                code = _FULL_WEIGHT if counts[0] else (_DEGRADED_WEIGHT if counts[1] and degraded_counts else _NONE)
                if code:
                    target = excluded if counts[2] else segments
                    last = target[-1] if target else None
                    if last is not None and last[1] == at and (last[2] == code or same_as_outage):
                        last[1], last[2] = instant, code
                    else:
                        target.append([at, instant, code])
            at = instant
        counts[kind >> 1] += -1 if kind & 1 else 1
    weights = {_FULL_WEIGHT: Decimal(1), _DEGRADED_WEIGHT: degraded_weight}
    lengths = {_FULL_WEIGHT: 0, _DEGRADED_WEIGHT: 0}
    used: set[int] = set()
    for start, end, code in segments:
        lengths[code] += end - start
        used.add(code)
    total = Decimal(0)
    for code in sorted(used, reverse=True):
        total = _EXACT.add(total, _EXACT.multiply(Decimal(lengths[code]), weights[code]))
    return DowntimeStep(
        window,
        tuple(Segment(start, end, weights[code]) for start, end, code in segments),
        tuple(Segment(start, end, weights[code]) for start, end, code in excluded),
        total,
    )
