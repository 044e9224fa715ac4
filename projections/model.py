"""The working state of the credits projection and the incremental recomputation.

One writer owns a `CreditsModel`: it holds every current fact needed by the rules, indexed
by service and month, and the figures of every period with downtime. A fact recomputes only
the periods it touches and the later grants of those contract years; the changed rows are
collected in `changes` for the view to write together with the tracking position.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from domain.calendar import Month, Window, from_micros, local_date, months_between, to_micros
from domain.cap import allocate_annual_cap, cap_for_year
from domain.calendar import contract_year_start
from domain.credit import ContractFacts, PeriodStep, compute_period, period_window
from domain.downtime import IncidentFacts, MaintenanceFacts
from projections.records import ClaimRow, LineRow, PeriodRow, YearRow

# Stored rows treat an unresolved incident as lasting past the end of every window; the
# query recomputes such periods with its own "now" (see docs/decisions/0003-open-incidents.md).
FOREVER = to_micros(datetime(9999, 1, 1, tzinfo=UTC))


def utc_month_index(micros: int) -> int:
    d = from_micros(micros)
    return d.year * 12 + d.month - 1


@dataclass
class Changes:
    contracts: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)
    maintenance: set[str] = field(default_factory=set)
    periods: set[tuple[str, str]] = field(default_factory=set)
    years: set[tuple[str, str]] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any((self.contracts, self.incidents, self.maintenance, self.periods, self.years, self.claims))


class _TimeIndex:
    """Ids by service and UTC month, plus the unresolved ones, for candidate look-ups."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.open: dict[str, set[str]] = defaultdict(set)

    def add(self, key: str, service: str, start: int, end: int | None) -> None:
        if end is None:
            self.open[service].add(key)
            return
        for m in range(utc_month_index(start), utc_month_index(end - 1) + 1):
            self.buckets[service][m].add(key)

    def remove(self, key: str, service: str, start: int, end: int | None) -> None:
        if end is None:
            self.open[service].discard(key)
            return
        for m in range(utc_month_index(start), utc_month_index(end - 1) + 1):
            self.buckets[service][m].discard(key)

    def candidates(self, service: str, window: Window) -> set[str]:
        found = set(self.open.get(service, ()))
        by_month = self.buckets.get(service)
        if by_month:
            for m in range(utc_month_index(window.start), utc_month_index(window.end - 1) + 1):
                found |= by_month.get(m, set())
        return found


class CreditsModel:
    def __init__(self) -> None:
        self.contracts: dict[str, ContractFacts] = {}
        self.contracts_by_service: dict[str, set[str]] = defaultdict(set)
        self.contracts_by_customer: dict[str, set[str]] = defaultdict(set)
        self.incidents: dict[str, IncidentFacts] = {}
        self.maintenance: dict[str, MaintenanceFacts] = {}
        self.periods: dict[tuple[str, str], PeriodRow] = {}
        self.periods_by_contract: dict[str, set[str]] = defaultdict(set)
        self.years: dict[tuple[str, str], YearRow] = {}
        self.claims: dict[str, ClaimRow] = {}
        self._incident_index = _TimeIndex()
        self._maintenance_index = _TimeIndex()
        self.changes = Changes()

    # -- look-ups shared with the queries --------------------------------------------------

    def incidents_for(self, service: str, window: Window) -> list[IncidentFacts]:
        ids = self._incident_index.candidates(service, window)
        found = [self.incidents[i] for i in ids]
        return sorted(
            (i for i in found if window.overlaps(i.started_at, i.ended_at)),
            key=lambda i: (i.started_at, i.incident_id),
        )

    def maintenance_for(self, service: str, window: Window) -> list[MaintenanceFacts]:
        ids = self._maintenance_index.candidates(service, window)
        found = [self.maintenance[i] for i in ids]
        return sorted(
            (m for m in found if window.overlaps(m.starts_at, m.ends_at)),
            key=lambda m: (m.starts_at, m.maintenance_id),
        )

    def open_incidents_for(self, service: str) -> list[IncidentFacts]:
        return [self.incidents[i] for i in sorted(self._incident_index.open.get(service, ()))]

    # -- loading (from stored rows, without recomputation) ------------------------------------

    def load_contract(self, c: ContractFacts) -> None:
        self.contracts[c.contract_id] = c
        self.contracts_by_customer[c.customer_id].add(c.contract_id)
        for service in _services(c):
            self.contracts_by_service[service].add(c.contract_id)

    def load_incident(self, i: IncidentFacts) -> None:
        self.incidents[i.incident_id] = i
        self._incident_index.add(i.incident_id, i.service, i.started_at, i.ended_at)

    def load_maintenance(self, m: MaintenanceFacts) -> None:
        self.maintenance[m.maintenance_id] = m
        self._maintenance_index.add(m.maintenance_id, m.service, m.starts_at, m.ends_at)

    def load_period(self, p: PeriodRow) -> None:
        self.periods[(p.contract_id, p.month)] = p
        self.periods_by_contract[p.contract_id].add(p.month)

    def load_year(self, y: YearRow) -> None:
        self.years[(y.contract_id, y.starts_on)] = y

    # -- facts ----------------------------------------------------------------------------

    def put_contract(self, c: ContractFacts, since: date | None, horizon: int) -> None:
        """A contract was signed, amended (from `since`) or terminated."""
        old = self.contracts.get(c.contract_id)
        if old is not None:
            for service in _services(old):
                self.contracts_by_service[service].discard(c.contract_id)
        self.load_contract(c)
        self.changes.contracts.add(c.contract_id)
        months: set[Month] = set(Month.parse(m) for m in self.periods_by_contract.get(c.contract_id, ()))
        for service in _services(c):
            for inc in self.incidents.values() if False else self._incidents_of_service(service):
                months |= self._months_touched(c, inc.started_at, inc.ended_at, horizon)
        if since is not None:
            months = {m for m in months if m >= Month.of(since)}
        self._recompute(c, months)

    def put_incident(self, new: IncidentFacts, horizon: int, only_customer: str | None = None) -> None:
        old = self.incidents.get(new.incident_id)
        if old is not None:
            self._incident_index.remove(old.incident_id, old.service, old.started_at, old.ended_at)
        self.load_incident(new)
        self.changes.incidents.add(new.incident_id)
        versions = [new] if old is None else [old, new]
        contract_ids: set[str] = set()
        for v in versions:
            contract_ids |= self.contracts_by_service.get(v.service, set())
        if only_customer is not None:
            contract_ids &= self.contracts_by_customer.get(only_customer, set())
        for cid in sorted(contract_ids):
            c = self.contracts[cid]
            if not any(_may_affect(v, c) for v in versions):
                continue
            months: set[Month] = set()
            for v in versions:
                months |= self._months_touched(c, v.started_at, v.ended_at, horizon)
            self._recompute(c, months)

    def put_maintenance(self, new: MaintenanceFacts) -> None:
        old = self.maintenance.get(new.maintenance_id)
        if old is not None:
            self._maintenance_index.remove(old.maintenance_id, old.service, old.starts_at, old.ends_at)
        self.load_maintenance(new)
        self.changes.maintenance.add(new.maintenance_id)
        for cid in sorted(self.contracts_by_service.get(new.service, set())):
            c = self.contracts[cid]
            if new.regions and not any(s.region in new.regions for s in _subscriptions(c) if s.service == new.service):
                continue
            months = self._months_touched(c, new.starts_at, new.ends_at, new.ends_at)
            # only months that already have downtime can change: maintenance only removes it
            existing = self.periods_by_contract.get(cid, set())
            self._recompute(c, {m for m in months if str(m) in existing})

    def put_claim(self, claim: ClaimRow) -> None:
        self.claims[claim.claim_id] = claim
        self.changes.claims.add(claim.claim_id)

    # -- recomputation --------------------------------------------------------------------

    def _incidents_of_service(self, service: str) -> Iterable[IncidentFacts]:
        index = self._incident_index
        ids: set[str] = set(index.open.get(service, ()))
        for bucket in index.buckets.get(service, {}).values():
            ids |= bucket
        return (self.incidents[i] for i in ids)

    def _months_touched(self, c: ContractFacts, start: int, end: int | None, horizon: int) -> set[Month]:
        tz = c.tz
        last = (end - 1) if end is not None else max(horizon, start)
        first_m = Month.of(local_date(start, tz))
        last_m = Month.of(local_date(last, tz))
        first_m = max(first_m, Month.of(c.starts_on))
        if c.ends_on is not None:
            last_m = min(last_m, Month.of(c.ends_on))
        return set(months_between(first_m, last_m)) if first_m <= last_m else set()

    def compute(self, c: ContractFacts, month: Month, now: int) -> PeriodStep | None:
        windows = period_window(c, month)
        if windows is None:
            return None
        _, window = windows
        services = {s.service for s in _subscriptions(c)}
        incidents: list[IncidentFacts] = []
        maintenance: list[MaintenanceFacts] = []
        for service in sorted(services):
            incidents += self.incidents_for(service, window)
            maintenance += self.maintenance_for(service, window)
        return compute_period(c, month, incidents, maintenance, now)

    def _recompute(self, c: ContractFacts, months: set[Month]) -> None:
        if not months:
            return
        cid = c.contract_id
        touched_years: dict[str, Month] = {}
        for month in sorted(months):
            key = (cid, str(month))
            step = self.compute(c, month, FOREVER)
            old = self.periods.get(key)
            if step is None or all(line.downtime.downtime_micros == 0 for line in step.lines):
                if old is not None:
                    del self.periods[key]
                    self.periods_by_contract[cid].discard(str(month))
                    self.changes.periods.add(key)
                    touched_years.setdefault(old.year_start, month)
                continue
            year_start = contract_year_start(c.starts_on, local_date(step.window.start, c.tz)).isoformat()
            provisional = any(
                ci.reason is None and ci.incident.ended_at is None for line in step.lines for ci in line.incidents
            )
            row = PeriodRow(
                cid,
                c.customer_id,
                str(month),
                year_start,
                tuple(LineRow.of(line) for line in step.lines),
                step.credit_minor,
                old.granted_minor if old else 0,
                old.capped_minor if old else 0,
                provisional,
            )
            if old is not None and old.year_start != year_start:
                touched_years.setdefault(old.year_start, month)
            if row != old:
                self.periods[key] = row
                self.periods_by_contract[cid].add(str(month))
                self.changes.periods.add(key)
            touched_years.setdefault(year_start, month)
        # A contract whose dates changed may have left stored periods outside its active time.
        for m in sorted(self.periods_by_contract.get(cid, set())):
            if period_window(c, Month.parse(m)) is None:
                old = self.periods.pop((cid, m))
                self.periods_by_contract[cid].discard(m)
                self.changes.periods.add((cid, m))
                touched_years.setdefault(old.year_start, Month.parse(m))
        for year_start, first in touched_years.items():
            self._allocate(c, year_start, first)

    def _allocate(self, c: ContractFacts, year_start: str, first_changed: Month) -> None:
        """Re-grant the contract year from its first changed month on (earlier grants stand)."""
        cid = c.contract_id
        rows = sorted(
            (p for m in self.periods_by_contract.get(cid, set()) if (p := self.periods[(cid, m)]).year_start == year_start),
            key=lambda p: p.month,
        )
        key = (cid, year_start)
        if not rows:
            if key in self.years:
                del self.years[key]
                self.changes.years.add(key)
            return
        cap = cap_for_year(c, date.fromisoformat(year_start))
        allocation = allocate_annual_cap(cap, [(Month.parse(p.month), p.credit_minor) for p in rows])
        for p, grant in zip(rows, allocation.grants, strict=True):
            if Month.parse(p.month) < first_changed and (p.granted_minor, p.capped_minor) == (grant.granted_minor, grant.capped_minor):
                continue
            if (p.granted_minor, p.capped_minor) != (grant.granted_minor, grant.capped_minor):
                new = PeriodRow(**{**p.__dict__, "granted_minor": grant.granted_minor, "capped_minor": grant.capped_minor})
                self.periods[(cid, p.month)] = new
                self.changes.periods.add((cid, p.month))
        year = YearRow(
            cid,
            c.customer_id,
            year_start,
            cap.cap_minor,
            allocation.credit_minor,
            allocation.granted_minor,
            allocation.capped_minor,
            allocation.remaining_minor,
        )
        if self.years.get(key) != year:
            self.years[key] = year
            self.changes.years.add(key)


def _subscriptions(c: ContractFacts) -> list:  # type: ignore[type-arg]
    return [s for v in c.versions if v.subscriptions for s in v.subscriptions]


def _services(c: ContractFacts) -> set[str]:
    return {s.service for s in _subscriptions(c)}


def _may_affect(i: IncidentFacts, c: ContractFacts) -> bool:
    """A cheap pre-filter; the rules decide exactly."""
    if i.customers and c.customer_id not in i.customers:
        return False
    return any(s.service == i.service and (not i.regions or s.region in i.regions) for s in _subscriptions(c))
