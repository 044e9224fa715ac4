"""The working state of the credits projection and the incremental recomputation.

One writer owns a `CreditsModel`: it holds every current fact needed by the rules, indexed
by service and month, and the figures of every period with downtime. A fact recomputes only
the periods it touches and the later grants of those contract years; the changed rows are
collected in `changes` for the view to write together with the tracking position.

A stored period is a function of the facts alone (docs/decisions/0011-stored-rows-count-resolved-incidents.md):
it counts the resolved incidents only. An unresolved incident lasts until "now", so no stored
row can hold it; every query recomputes, with its own "now", the months from the earliest
unresolved incident that counts for the contract (projections/queries.py). Because stored rows
never see an unresolved incident, opening one changes no stored row, and resolving it changes
exactly the months of its resolved span: the same rows a replay computes.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from domain.calendar import (
    DAY,
    Month,
    Window,
    local_date,
    month_of_instant,
    months_between,
    to_micros,
    utc_day,
)
from domain.cap import allocate_annual_cap, cap_for_year
from domain.credit import (
    ContractFacts,
    credit_line,
    in_effect,
    period_window,
    period_windows,
    year_text,
)
from domain.downtime import IncidentFacts, MaintenanceFacts
from domain.terms import Subscription, Terms
from projections.audit import GENESIS
from projections.records import (
    BY_SERVICE_REGION,
    ClaimRow,
    FactRow,
    LineRow,
    PeriodRow,
    RunParts,
    RunRow,
    YearRow,
    ledger_row,
)

# Stored rows do not depend on "now": they count resolved incidents only, and every month
# with such downtime is stored, begun or not (the queries leave out months not begun).
FOREVER = to_micros(datetime(9999, 1, 1, tzinfo=UTC))


# the resolved incidents and the maintenance that may count in a window, each in time order
Candidates = tuple[list[IncidentFacts], list[MaintenanceFacts]]


class Plan(NamedTuple):
    """A contract's subscriptions and terms in effect, each subscription with its pricing key."""

    subscriptions: tuple[Subscription, ...]
    terms: Terms
    priced: tuple[tuple[Subscription, int], ...]


class StoredLines(NamedTuple):
    """A period as stored, before the annual cap: its contract year, its lines and its credit."""

    year_start: str
    lines: tuple[LineRow, ...]
    credit_minor: int


_FIRST = itemgetter(0)


def utc_month_index(micros: int) -> int:
    """The `Month.ordinal` of the UTC day the instant falls on."""
    return _month_index_of_day(micros // DAY)


@lru_cache(maxsize=1 << 16)
def _month_index_of_day(day: int) -> int:
    """`utc_month_index` by the day's number since the epoch (cached: a replay asks it of every
    incident's ends, and they fall on a few hundred days)."""
    return Month.of(utc_day(day * DAY)).ordinal


@dataclass
class Changes:
    contracts: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)
    maintenance: set[str] = field(default_factory=set)
    periods: set[tuple[str, str]] = field(default_factory=set)
    years: set[tuple[str, str]] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    ledger: set[str] = field(default_factory=set)
    billed: set[tuple[str, str]] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)
    chain: list[tuple[int, str]] = field(default_factory=list)
    facts: list[FactRow] = field(default_factory=list)


class _TimeIndex:
    """Ids by (service, region) and UTC month, plus the unresolved ones, for candidate look-ups.
    An id for every region is filed under the region "*"."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.open: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.regions: dict[str, set[str]] = defaultdict(set)

    def _keys(self, service: str, regions: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(service, r) for r in (regions or ("*",))]

    def add(self, key: str, service: str, regions: tuple[str, ...], start: int, end: int | None) -> None:
        known = self.regions[service]
        if end is None:
            for k in self._keys(service, regions):
                known.add(k[1])
                self.open[k].add(key)
            return
        first, last = utc_month_index(start), utc_month_index(end - 1)
        for k in self._keys(service, regions):
            known.add(k[1])
            by_month = self.buckets[k]
            if first == last:  # most incidents lie in one month
                by_month[first].add(key)
            else:
                for m in range(first, last + 1):
                    by_month[m].add(key)

    def remove(self, key: str, service: str, regions: tuple[str, ...], start: int, end: int | None) -> None:
        for k in self._keys(service, regions):
            if end is None:
                self.open[k].discard(key)
                continue
            for m in range(utc_month_index(start), utc_month_index(end - 1) + 1):
                self.buckets[k][m].discard(key)

    def candidates(self, service: str, window: Window, region: str | None = None) -> set[str]:
        regions = self.regions.get(service, set()) if region is None else {region, "*"}
        found: set[str] = set()
        months = range(utc_month_index(window.start), utc_month_index(window.end - 1) + 1)
        for r in regions:
            k = (service, r)
            found |= self.open.get(k, set())
            by_month = self.buckets.get(k)
            if by_month:
                for m in months:
                    found |= by_month.get(m, set())
        return found

    def unresolved(self, service: str) -> set[str]:
        found: set[str] = set()
        for r in self.regions.get(service, set()):
            found |= self.open.get((service, r), set())
        return found

    def resolved_months(self, service: str) -> set[int]:
        """The UTC months (utc_month_index) in which a resolved incident of the service lies."""
        found: set[int] = set()
        for r in self.regions.get(service, set()):
            found.update(m for m, ids in self.buckets.get((service, r), {}).items() if ids)
        return found

    def all_of(self, service: str) -> set[str]:
        found = self.unresolved(service)
        for r in self.regions.get(service, set()):
            for bucket in self.buckets.get((service, r), {}).values():
                found |= bucket
        return found


class CreditsModel:
    def __init__(self) -> None:
        self.contracts: dict[str, ContractFacts] = {}
        self.contracts_by_service: dict[str, set[str]] = defaultdict(set)
        self.contracts_by_customer: dict[str, set[str]] = defaultdict(set)
        self.contracts_by_service_region: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.incidents: dict[str, IncidentFacts] = {}
        self.maintenance: dict[str, MaintenanceFacts] = {}
        self.periods: dict[tuple[str, str], PeriodRow] = {}
        self.periods_by_contract: dict[str, set[str]] = defaultdict(set)
        self.years: dict[tuple[str, str], YearRow] = {}
        self.claims: dict[str, ClaimRow] = {}
        self.ledger: dict[str, dict[str, object]] = {}  # entry_id -> row (v_ledger columns)
        # entry_id -> the log positions of the run that issued it and of its acknowledgement (None:
        # none yet): the ledger as known at an instant is read from the views by them
        self.ledger_known: dict[str, tuple[int, int | None]] = {}
        self.run_positions: dict[str, int] = {}  # run_id -> the log position of its fact
        self.billed: dict[tuple[str, str], str] = {}  # (contract, month) -> first run covering it
        self.runs: dict[str, RunRow] = {}
        self.chain_head: tuple[int, str] = (0, GENESIS)  # the last position chained and its link
        self.keep_chain = False  # replays keep every link and fact row, to write a whole store at once
        self.full_chain: list[tuple[int, str]] = []
        self.all_facts: list[FactRow] = []
        # query-time replays (as of an instant) need neither the chain nor the fact index
        self.record_log = True
        self.log_time = 0  # the latest recorded time of any fact so far (FactRow.known_from)
        # a replay for some contracts only (one customer as of an instant): the ledger keeps their
        # entries and billed months alone (a run's own row, its counts and sums, stays whole)
        self.contracts_kept: set[str] | None = None
        # a model for some periods only computes those (None: every one): a replay for one
        # report, the periods it reads; a fresh check, the contract years it checks. Its contract
        # years then hold those periods alone, so it serves that report or check only
        self.computes: Callable[[ContractFacts, Month], bool] | None = None
        self._incident_index = _TimeIndex()
        self._maintenance_index = _TimeIndex()
        self._service_facts_shared = False  # see share_service_facts
        self.changes = Changes()
        # Replays defer the recomputation to `flush()`: each period is computed once at the end.
        # The rows are a function of the final facts only, so the result is the same.
        self.deferred = False
        self._dirty: dict[str, set[Month]] = defaultdict(set)
        # while deferred, a fact only notes what it reaches; `flush` turns the notes into the
        # contracts' months once per scope and time zone instead of once per fact and contract
        self._dirty_spans: dict[tuple[str, tuple[str, ...], tuple[str, ...], str | None], set[tuple[int, int]]] = (
            defaultdict(set)
        )
        self._dirty_contracts: dict[str, date | None] = {}
        # shared by the periods recomputed for one fact (or one flush); facts change between
        self._memo: dict[tuple[object, ...], tuple[object, ...]] = {}
        self._candidates_memo: dict[tuple[object, ...], Candidates] = {}
        self._pair_memo: dict[tuple[str, str, Window], tuple[Candidates, bool]] = {}
        self._lines_memo: dict[tuple[object, ...], tuple[LineRow, int, bool]] = {}
        self._personal_keys: set[tuple[object, ...]] = set()  # line keys that need the customer too
        self._plans: dict[tuple[int, int], Plan] = {}

    def _forget(self) -> None:
        """The facts change: nothing computed from the earlier ones may be reused."""
        self._memo = {}
        self._candidates_memo = {}
        self._pair_memo = {}
        self._lines_memo = {}
        self._personal_keys = set()
        self._plans = {}

    # -- look-ups shared with the queries --------------------------------------------------

    def incidents_for(self, service: str, window: Window, region: str | None = None) -> list[IncidentFacts]:
        ids = self._incident_index.candidates(service, window, region)
        found = [self.incidents[i] for i in ids]
        return sorted(
            (i for i in found if window.overlaps(i.started_at, i.ended_at)),
            key=lambda i: (i.started_at, i.incident_id),
        )

    def maintenance_for(self, service: str, window: Window, region: str | None = None) -> list[MaintenanceFacts]:
        ids = self._maintenance_index.candidates(service, window, region)
        found = [self.maintenance[i] for i in ids]
        return sorted(
            (m for m in found if window.overlaps(m.starts_at, m.ends_at)),
            key=lambda m: (m.starts_at, m.maintenance_id),
        )

    def open_incidents_for(self, service: str) -> list[IncidentFacts]:
        return [self.incidents[i] for i in sorted(self._incident_index.unresolved(service))]

    # -- loading (from stored rows, without recomputation) ------------------------------------

    def load_contract(self, c: ContractFacts) -> None:
        self.contracts[c.contract_id] = c
        self.contracts_by_customer[c.customer_id].add(c.contract_id)
        for service in _services(c):
            self.contracts_by_service[service].add(c.contract_id)
        for sub in _subscriptions(c):
            self.contracts_by_service_region[(sub.service, sub.region)].add(c.contract_id)

    def share_service_facts(self, other: CreditsModel) -> None:
        """Read `other`'s incidents and maintenance windows, and its indexes of them, instead of
        holding its own: a model of one customer as known at a log prefix reads those that every
        answer at that prefix reads (projections/as_of.py: `_shared_at`). Neither model changes
        them any more (a fact of either would be refused here)."""
        self.incidents, self.maintenance = other.incidents, other.maintenance
        self._incident_index, self._maintenance_index = other._incident_index, other._maintenance_index
        self._service_facts_shared = other._service_facts_shared = True

    def _service_facts_change(self) -> None:
        if self._service_facts_shared:
            raise RuntimeError("the incidents and maintenance windows are shared with another model: read only")

    def load_incident(self, i: IncidentFacts) -> None:
        self._service_facts_change()
        self.incidents[i.incident_id] = i
        self._incident_index.add(i.incident_id, i.service, i.regions, i.started_at, i.ended_at)

    def load_maintenance(self, m: MaintenanceFacts) -> None:
        self._service_facts_change()
        self.maintenance[m.maintenance_id] = m
        self._maintenance_index.add(m.maintenance_id, m.service, m.regions, m.starts_at, m.ends_at)

    def load_period(self, p: PeriodRow) -> None:
        self.periods[(p.contract_id, p.month)] = p
        self.periods_by_contract[p.contract_id].add(p.month)

    def load_year(self, y: YearRow) -> None:
        self.years[(y.contract_id, y.starts_on)] = y

    # -- facts ----------------------------------------------------------------------------

    def put_contract(self, c: ContractFacts, since: date | None) -> None:
        """A contract was signed, amended (from `since`) or terminated."""
        self._forget()
        old = self.contracts.get(c.contract_id)
        if old is not None:
            for service in _services(old):
                self.contracts_by_service[service].discard(c.contract_id)
            for sub in _subscriptions(old):
                self.contracts_by_service_region[(sub.service, sub.region)].discard(c.contract_id)
        self.load_contract(c)
        self.changes.contracts.add(c.contract_id)
        self._drop_inactive_periods(c)
        if self.deferred:
            if c.contract_id in self._dirty_contracts:
                before = self._dirty_contracts[c.contract_id]
                since = None if before is None or since is None else min(before, since)
            self._dirty_contracts[c.contract_id] = since
            return
        self._recompute(c, self._contract_months(c, since, {}))

    def _contract_months(
        self, c: ContractFacts, since: date | None, by_service: dict[str, frozenset[Month]]
    ) -> set[Month]:
        """The months a contract's (new) terms can change: those stored, and those any resolved
        incident of its services may reach, from `since` on. A superset is safe (a month without
        downtime stores no row), so the UTC months the incidents touch are taken with the month on
        either side (a zone's calendar is never a month away from UTC's): no time zone arithmetic
        per incident. `by_service` shares them between contracts."""
        months: set[Month] = set(Month.parse(m) for m in self.periods_by_contract.get(c.contract_id, ()))
        for service in _services(c):
            reached = by_service.get(service)
            if reached is None:
                reached = frozenset(
                    Month(index // 12, index % 12 + 1)
                    for touched in self._incident_index.resolved_months(service)
                    for index in (touched - 1, touched, touched + 1)
                )
                by_service[service] = reached
            months |= _within(c, reached)
        if since is not None:
            months = {m for m in months if m >= Month.of(since)}
        return months

    def put_incident(self, new: IncidentFacts, only_customer: str | None = None) -> None:
        self._service_facts_change()
        self._forget()
        old = self.incidents.get(new.incident_id)
        if old is not None:
            self._incident_index.remove(old.incident_id, old.service, old.regions, old.started_at, old.ended_at)
        self.load_incident(new)
        self.changes.incidents.add(new.incident_id)
        # the stored rows that the old version counted in, and those the new one counts in
        reached = self._dirty_spans if self.deferred else defaultdict(set)
        for v in (old, new):
            if v is not None and v.ended_at is not None:
                reached[(v.service, v.regions, v.customers, only_customer)].add((v.started_at, v.ended_at))
        if not self.deferred:
            for scope, spans in sorted(reached.items(), key=repr):
                self._recompute_reached(scope, spans)

    def _recompute_reached(
        self,
        scope: tuple[str, tuple[str, ...], tuple[str, ...], str | None],
        spans_of: Iterable[tuple[int, int]],
        left_out: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Recompute, for every contract in the scope (service, regions, customers, and the one
        customer an exclusion names) but those `left_out`, the months of its time zone that the
        spans reach."""
        service, regions, customers, only_customer = scope
        spans = sorted(spans_of)
        contract_ids = self._contracts_in_scope(service, regions, customers) - left_out
        if only_customer is not None:
            contract_ids &= self.contracts_by_customer.get(only_customer, set())
        local_months: dict[str, set[Month]] = {}  # per time zone: computed once, clipped per contract
        for cid in sorted(contract_ids):
            c = self.contracts[cid]
            months = local_months.get(c.timezone)
            if months is None:
                months = set()
                for start, end in spans:
                    months.update(_local_months(c, start, end))
                local_months[c.timezone] = months
            self._recompute(c, _within(c, months), terms_changed=False)

    def _contracts_in_scope(self, service: str, regions: tuple[str, ...], customers: tuple[str, ...]) -> set[str]:
        if regions:
            found: set[str] = set()
            for region in regions:
                found |= self.contracts_by_service_region.get((service, region), set())
        else:
            found = set(self.contracts_by_service.get(service, set()))
        if customers:
            of_customers: set[str] = set()
            for customer in customers:
                of_customers |= self.contracts_by_customer.get(customer, set())
            found &= of_customers
        return found

    def put_maintenance(self, new: MaintenanceFacts) -> None:
        self._service_facts_change()
        self._forget()
        old = self.maintenance.get(new.maintenance_id)
        if old is not None:
            self._maintenance_index.remove(old.maintenance_id, old.service, old.regions, old.starts_at, old.ends_at)
        self.load_maintenance(new)
        self.changes.maintenance.add(new.maintenance_id)
        scope = (new.service, new.regions, (), None)
        if self.deferred:
            self._dirty_spans[scope].add((new.starts_at, new.ends_at))
            return
        self._recompute_reached(scope, [(new.starts_at, new.ends_at)])

    def put_run(
        self,
        run_id: str,
        issued_at: str,
        run: RunParts,
        month: str,
        left: list[str] | tuple[str, ...],
        position: int,
    ) -> None:
        """The run's row (its counts and sums whole), and the ledger entries and billed months of
        the contracts this model keeps (all, but in a replay for one customer); its fact is at
        `position` in the log."""
        counts = (len(run.entries), len(run.covered), tuple(sorted(left)))
        self.runs[run_id] = RunRow(run_id, len(self.runs) + 1, month, issued_at, *counts, run.totals)
        self.run_positions[run_id] = position
        self.changes.runs.add(run_id)
        kept = self.contracts_kept
        for e in run.entries_kept(kept):
            row = ledger_row(run_id, issued_at, e)
            entry_id = str(row["entry_id"])
            self.ledger[entry_id] = row
            self.ledger_known[entry_id] = (position, None)
            self.changes.ledger.add(entry_id)
        for key in run.covered_kept(kept):
            if key not in self.billed:
                self.billed[key] = run_id
                self.changes.billed.add(key)

    def put_acknowledgement(self, entry_id: str, invoice_id: str, applied_at: str, position: int) -> None:
        """The entry landed on an invoice; the fact is at `position` in the log (an entry is
        acknowledged once: domain/ledger.py)."""
        if self.contracts_kept is not None and entry_id not in self.ledger:
            return  # an entry of a contract this replay leaves out
        self.ledger[entry_id] = {**self.ledger[entry_id], "invoice_id": invoice_id, "applied_at": applied_at}
        self.ledger_known[entry_id] = (self.ledger_known[entry_id][0], position)
        self.changes.ledger.add(entry_id)

    def put_link(self, position: int, link: str) -> None:
        self.chain_head = (position, link)
        self.changes.chain.append((position, link))
        if self.keep_chain:
            self.full_chain.append((position, link))

    def put_fact(self, row: FactRow) -> None:
        """The fact itself, filed under what it can reach (projections/as_of.py reads it back)."""
        self.changes.facts.append(row)
        if self.keep_chain:
            self.all_facts.append(row)

    def put_claim(self, claim: ClaimRow) -> None:
        self.claims[claim.claim_id] = claim
        self.changes.claims.add(claim.claim_id)

    # -- recomputation --------------------------------------------------------------------

    def _incidents_of_service(self, service: str) -> Iterable[IncidentFacts]:
        return (self.incidents[i] for i in self._incident_index.all_of(service))

    def stored_lines(self, c: ContractFacts, month: Month) -> StoredLines | None:
        """The period as stored, or None when it stores no row (the contract is not active in the
        month, or no line counts downtime): `compute_period`'s rules over the resolved incidents
        (no "now" involved), with each line's row and credit."""
        return next(self._stored_periods(c, [month]))

    def _stored_periods(self, c: ContractFacts, months: Iterable[Month]) -> Iterator[StoredLines | None]:
        """`stored_lines` of each month, in turn.

        A line depends on its subscription's pair and fee, the terms' tiers (as written), weight
        and notice, the measured window and the month's length, and on the customer only when a
        candidate of its pair names customers; so each is worked out once per such key while the
        facts stay the same, and every contract with that key reads it (domain/credit.py:
        `credit_line`, whose memo shares the downtime between fees and tiers). What depends on
        the contract alone (its zone, dates, and the terms of a contract never amended) is looked
        up once for all its months."""
        memo, cache = self._memo, self._lines_memo
        customer, timezone, starts_on, ends_on, tz = c.customer_id, c.timezone, c.starts_on, c.ends_on, c.tz
        versions = c.versions
        fixed: Plan | None = None  # the plan of a contract never amended, in effect from its first day
        if len(versions) == 1 and versions[0].effective_from <= starts_on:
            fixed = self._plan(versions[0].subscriptions, versions[0].terms)
        for month in months:
            windows = period_windows(month, timezone, starts_on, ends_on)
            if windows is None:
                yield None
                continue
            whole, window = windows
            if whole.start > FOREVER:
                yield None
                continue
            plan = fixed
            if plan is None:
                effect = in_effect(c, local_date(window.start, tz))
                plan = self._plan(effect.subscriptions, effect.terms)
            terms = plan.terms
            month_micros = whole.end - whole.start
            rows: list[LineRow] = []
            credit, counts = 0, False
            for sub, pricing in plan.priced:
                found = cache.get((pricing, window, month_micros))
                if found is None:
                    found = self._line_of(sub, customer, terms, pricing, window, whole)
                rows.append(found[0])
                credit += found[1]
                counts = counts or found[2]
            if not counts:
                yield None
                continue
            # one tuple per distinct combination of rows: the write shares their texts by identity
            # (records.lines_texts); the entry keeps the rows alive, so no other takes their ids
            rows_key = ("rows", *map(id, rows))
            shared = memo.get(rows_key)
            if shared is None:
                shared = memo[rows_key] = (tuple(rows),)
            yield StoredLines(year_text(starts_on, timezone, window.start), shared[0], credit)  # type: ignore[arg-type]

    def _line_of(
        self, sub: Subscription, customer: str, terms: Terms, pricing: int, window: Window, whole: Window
    ) -> tuple[LineRow, int, bool]:
        """A stored line (its row, its credit, whether it counts downtime), worked out once per key:
        (pricing, window, month's length), and the customer too when a candidate of its pair names
        customers (that key is then in `_personal_keys`)."""
        cache, month_micros = self._lines_memo, whole.end - whole.start
        key: tuple[object, ...] = (pricing, window, month_micros)
        if key in self._personal_keys:
            key = (pricing, window, month_micros, customer)
            found = cache.get(key)
            if found is not None:
                return found
        candidates, personal = self._pair_facts(sub.service, sub.region, window)
        line = credit_line(sub, customer, terms, window, whole, *candidates, FOREVER, self._memo)
        found = (LineRow.of(line), line.credit_minor, line.downtime.downtime_micros != 0)
        if personal:
            self._personal_keys.add(key)
            key = (pricing, window, month_micros, customer)
        cache[key] = found
        return found

    def _plan(self, subscriptions: tuple[Subscription, ...] | None, terms: Terms | None) -> Plan:
        """The subscriptions in the order a period lists its lines (by service, then region: the
        order `line_rows` sorts into, stable), each with the values its priced line is keyed by
        (one object per distinct value, kept alive by the memo)."""
        memo, plans = self._memo, self._plans
        plan = plans.get((id(subscriptions), id(terms)))
        if plan is not None:
            return plan
        assert subscriptions is not None and terms is not None, "a version in effect sets both"
        priced = []
        for sub in sorted(subscriptions, key=BY_SERVICE_REGION):
            value = (
                sub.service,
                sub.region,
                sub.monthly_fee_minor,
                terms.tiers_as_written,
                terms.degraded_weight,
                terms.maintenance_notice_hours,
            )
            priced.append((sub, id(memo.setdefault(("stored pricing", *value), (value,)))))
        # the plan keeps its subscriptions and terms alive, so no other takes their ids while it lives
        plan = plans[(id(subscriptions), id(terms))] = Plan(subscriptions, terms, tuple(priced))
        return plan

    def _pair_facts(self, service: str, region: str, window: Window) -> tuple[Candidates, bool]:
        """The candidates of a (service, region) in the window, and whether any names customers
        (then its lines depend on the customer)."""
        key = (service, region, window)
        found = self._pair_memo.get(key)
        if found is None:
            candidates = self._candidates(service, region, window)
            personal = any(i.customers or i.excluded_customers for i in candidates[0])
            found = self._pair_memo[key] = (candidates, personal)
        return found

    def _candidates(self, service: str, region: str, window: Window) -> Candidates:
        """The resolved incidents and the maintenance of one (service, region) in the window, in
        time order (shared while the facts stay the same)."""
        key = ("pair", service, region, window)
        found = self._candidates_memo.get(key)
        if found is None:
            found = (
                [i for i in self.incidents_for(service, window, region) if i.ended_at is not None],
                self.maintenance_for(service, window, region),
            )
            self._candidates_memo[key] = found
        return found

    def flush(self) -> None:
        """Compute every period deferred during a replay (those that `computes` keeps, if set)."""
        self.deferred = True  # the notes below only mark months
        by_service: dict[str, frozenset[Month]] = {}
        for cid, since in sorted(self._dirty_contracts.items()):
            c = self.contracts[cid]
            self._dirty[cid] |= self._contract_months(c, since, by_service)
        # a contract whose every month is marked already (its own facts changed, from its start)
        # needs no note of what the incidents and windows reach: `_contract_months` is a superset
        whole = {cid for cid, since in self._dirty_contracts.items() if since is None}
        for scope, spans in sorted(self._dirty_spans.items(), key=repr):
            self._recompute_reached(scope, spans, whole)
        changed = set(self._dirty_contracts)  # their own facts changed: every year re-granted
        self._dirty_contracts, self._dirty_spans = {}, defaultdict(set)
        dirty, self._dirty = self._dirty, defaultdict(set)
        self.deferred = False
        self._forget()
        for cid in sorted(dirty):
            self._recompute(self.contracts[cid], dirty[cid], terms_changed=cid in changed)

    def widened(self) -> CreditsModel:
        """This replay's model with every period, when it was made with `computes`: a new model
        that shares its facts (neither changes them again) and its periods, with those that
        `computes` left out computed now. The same rows as a replay that computes every period:
        every contract was signed in the replay, so each month its facts may reach was looked at
        (`_contract_months`, a superset), and those left out are looked at now; each year that
        gains a month is granted again, in month order."""
        left_out = self.computes
        assert left_out is not None and not self.deferred and not self._dirty, "a flushed replay's model"
        wide = copy.copy(self)
        wide.computes = None
        wide.periods = dict(self.periods)
        wide.periods_by_contract = defaultdict(set, {cid: set(ms) for cid, ms in self.periods_by_contract.items()})
        wide.years = dict(self.years)
        wide.changes = Changes()
        wide._forget()
        by_service: dict[str, frozenset[Month]] = {}
        for cid in sorted(wide.contracts):
            c = wide.contracts[cid]
            months = {m for m in wide._contract_months(c, None, by_service) if not left_out(c, m)}
            wide._recompute(c, months, terms_changed=False)
        wide._forget()
        return wide

    def _drop_inactive_periods(self, c: ContractFacts) -> None:
        """A contract whose dates changed may have left stored periods outside its active time."""
        cid = c.contract_id
        touched: set[str] = set()
        for m in sorted(self.periods_by_contract.get(cid, set())):
            if period_window(c, Month.parse(m)) is None:
                old = self.periods.pop((cid, m))
                self.periods_by_contract[cid].discard(m)
                self.changes.periods.add((cid, m))
                touched.add(old.year_start)
        for year_start in sorted(touched):
            self._allocate(c, year_start)

    def _recompute(self, c: ContractFacts, months: set[Month], terms_changed: bool = True) -> None:
        """Recompute these months of the contract and re-grant the contract years they touch.
        When the contract's own facts are unchanged (`terms_changed` False: an incident or a
        maintenance window changed), a year whose months all keep their credit keeps its grants
        (the allocation is a function of the year's credits and the contract's cap alone)."""
        if not months:
            return
        if self.deferred:
            self._dirty[c.contract_id] |= months
            return
        if self.computes is not None:
            months = {m for m in months if self.computes(c, m)}
        cid = c.contract_id
        periods, changed, by_contract = self.periods, self.changes.periods, self.periods_by_contract
        touched_years: set[str] = set()
        computed: dict[str, tuple[Month, StoredLines]] = {}  # the periods before the cap, by month
        in_order = sorted(months)
        stored_periods = self._stored_periods(c, in_order)
        for month in in_order:
            text = str(month)
            stored = next(stored_periods)
            old = periods.get((cid, text))
            if stored is None:
                if old is not None:
                    del periods[(cid, text)]
                    by_contract[cid].discard(text)
                    changed.add((cid, text))
                    touched_years.add(old.year_start)
                continue
            computed[text] = (month, stored)
            if old is None or terms_changed or (old.year_start, old.credit_minor) != (stored[0], stored[2]):
                touched_years.add(stored.year_start)
                if old is not None:
                    touched_years.add(old.year_start)
        for text, (_, stored) in computed.items():
            if stored.year_start not in touched_years:
                # its year keeps its credits, so its grants: only the lines may have changed
                old = periods[(cid, text)]
                self._put_period(old._replace(lines=stored.lines), old)
        for year_start in sorted(touched_years):
            self._allocate(c, year_start, computed)

    def _put_period(self, row: PeriodRow, old: PeriodRow | None) -> None:
        """Store the period's row, noted as changed, unless it is the same as the stored one."""
        if row != old:
            self.periods[(row.contract_id, row.month)] = row
            self.periods_by_contract[row.contract_id].add(row.month)
            self.changes.periods.add((row.contract_id, row.month))

    def _allocate(
        self, c: ContractFacts, year_start: str, computed: dict[str, tuple[Month, StoredLines]] | None = None
    ) -> None:
        """Grant the contract year in month order, with the periods just `computed` (by month) in
        place of those stored; only rows that change are written (the grants before the first
        changed month come out as they were)."""
        cid, customer, periods = c.contract_id, c.customer_id, self.periods
        computed = computed or {}
        entries: list[tuple[Month, str, PeriodRow | StoredLines]] = [
            (Month.parse(m), m, stored_row)
            for m in self.periods_by_contract.get(cid, ())
            if m not in computed and (stored_row := periods[(cid, m)]).year_start == year_start
        ]
        entries += [(month, m, new) for m, (month, new) in computed.items() if new.year_start == year_start]
        entries.sort(key=_FIRST)
        key = (cid, year_start)
        if not entries:
            if key in self.years:
                del self.years[key]
                self.changes.years.add(key)
            return
        cap = cap_for_year(c, date.fromisoformat(year_start))
        allocation = allocate_annual_cap(cap, [(month, p.credit_minor) for month, _, p in entries])
        for (_, m, p), grant in zip(entries, allocation.grants, strict=True):
            row = PeriodRow(
                cid, customer, m, year_start, p.lines, p.credit_minor, grant.granted_minor, grant.capped_minor
            )
            self._put_period(row, periods.get((cid, m)))
        year = YearRow(
            cid,
            customer,
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


def _within(c: ContractFacts, months: Iterable[Month]) -> set[Month]:
    """The months of the set in which the contract is active (from its first month to its last)."""
    first, last = Month.of(c.starts_on), None if c.ends_on is None else Month.of(c.ends_on)
    return {m for m in months if m >= first and (last is None or m <= last)}


def _local_months(c: ContractFacts, start: int, end: int) -> tuple[Month, ...]:
    """The months of the contract's time zone that [start, end) overlaps (unclipped)."""
    tz = c.tz
    return months_between(month_of_instant(start, tz), month_of_instant(end - 1, tz))
