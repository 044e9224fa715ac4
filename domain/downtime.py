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
    Overlaps therefore never count twice.
    """
    events: list[tuple[int, int, int, int]] = []  # (at, d_outage, d_degraded, d_maint)
    for inc in incidents:
        start = max(inc.started_at, window.start)
        end = min(inc.ended_at if inc.ended_at is not None else now, window.end)
        if end <= start:
            continue
        if inc.severity == OUTAGE:
            events += [(start, 1, 0, 0), (end, -1, 0, 0)]
        else:
            events += [(start, 0, 1, 0), (end, 0, -1, 0)]
    for m in maintenance:
        start, end = max(m.starts_at, window.start), min(m.ends_at, window.end)
        if end > start:
            events += [(start, 0, 0, 1), (end, 0, 0, -1)]
    events.sort()
    segments: list[Segment] = []
    excluded: list[Segment] = []
    outages = degraded = maint = 0
    total = Decimal(0)
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
        nxt = events[i][0]
        weight = Decimal(1) if outages else (degraded_weight if degraded else Decimal(0))
        if weight == 0:
            continue
        target = excluded if maint else segments
        if target and target[-1].end == at and target[-1].weight == weight:
            target[-1] = Segment(target[-1].start, nxt, weight)
        else:
            target.append(Segment(at, nxt, weight))
    for seg in segments:
        total = _EXACT.add(total, _EXACT.multiply(Decimal(seg.end - seg.start), seg.weight))
    return DowntimeStep(window, tuple(segments), tuple(excluded), total)
