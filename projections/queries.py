"""The credits answer of API.md, built from the read models (or an as-of replay of them).

Stored periods are used as they are; a period that an unresolved incident reaches is
recomputed with the caller's "now" by the same rule functions the projection uses, and its
contract year re-granted in memory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from domain.calendar import (
    Month,
    Window,
    from_micros,
    local_date,
    local_midnight,
    month_window,
    months_between,
    to_micros,
)
from domain.cap import YearAllocation, allocate_annual_cap, cap_for_year
from domain.credit import (
    ContractFacts,
    PeriodStep,
    compute_period,
    contract_year_of,
    period_window,
    year_of_window,
)
from domain.downtime import IncidentFacts, MaintenanceFacts, why_incident_does_not_count
from projections.heap import collector_paused
from projections.model import _subscriptions
from projections.readers import Reader
from projections.records import (
    ContractFrame,
    LineRow,
    PeriodAnswer,
    PeriodRow,
    YearRow,
    answer_json,
    line_json,
    line_rows,
)


@dataclass(frozen=True)
class PeriodFigures:
    contract: ContractFacts
    month: Month
    window: Window
    month_window: Window
    year_start: str
    lines: tuple[LineRow, ...]
    credit_minor: int
    open_incident: bool  # an unresolved incident counts in it

    def status(self, now: int, issued: bool = False) -> str:
        return period_status(issued, self.open_incident, self.month_window.end, now)


def period_status(issued: bool, open_incident: bool, month_end: int, now: int) -> str:
    """Issued once billed; open while the month runs or an unresolved incident counts in it."""
    return "issued" if issued else "open" if open_incident or now < month_end else "closed"


def begun_windows(c: ContractFacts, month: Month, now: int) -> tuple[Window, Window] | None:
    """The month's window and the measured window, when the contract has a period in the month
    and the month has begun at `now`."""
    windows = period_window(c, month)
    return None if windows is None or windows[0].start > now else windows


class LiveFacts(Protocol):
    """What the live figures of a contract read: the unresolved incidents and the candidates of
    a month (a Reader has them; the claims report shares the unresolved ones between contracts)."""

    def open_incidents(self, services: set[str]) -> list[IncidentFacts]: ...
    def incidents_for(self, service: str, window: Window) -> list[IncidentFacts]: ...
    def maintenance_for(self, service: str, window: Window) -> list[MaintenanceFacts]: ...


class Unresolved(Protocol):
    def open_incidents(self, services: set[str]) -> list[IncidentFacts]: ...


class StoredAnswerReader(Unresolved, Protocol):
    """What the live credits answer as stored reads: SQLReader reads it query by query,
    projections/answer_reads.py's AnswerReads in one statement."""

    def contracts_of(self, customer_id: str) -> list[ContractFacts]: ...
    def period_answers(self, customer_id: str, first: str, last: str) -> dict[tuple[str, str], PeriodAnswer]: ...
    def years_of(self, customer_id: str) -> dict[tuple[str, str], YearRow]: ...
    def billed_of(self, customer_id: str) -> set[tuple[str, str]]: ...


def affecting_open_incidents(reader: Unresolved, c: ContractFacts | ContractFrame) -> list[IncidentFacts]:
    """Unresolved incidents that count for at least one of the contract's subscriptions."""
    pairs = (c if isinstance(c, ContractFrame) else ContractFrame.of(c)).pairs  # one definition of them
    everything = Window(-(2**62), 2**62)
    return [
        i
        for i in reader.open_incidents({service for service, _ in pairs})
        if any(
            why_incident_does_not_count(i, service, region, c.customer_id, everything) is None
            for service, region in pairs
        )
    ]


def compute_live(reader: LiveFacts, c: ContractFacts, month: Month, now: int) -> PeriodStep | None:
    windows = period_window(c, month)
    if windows is None:
        return None
    services = sorted({s.service for s in _subscriptions(c)})
    incidents: list[IncidentFacts] = []
    maintenance: list[MaintenanceFacts] = []
    for service in services:
        # candidates from the whole month, so that the explanation can name those outside the
        # measured window (a contract starting mid-month); the rules clip to the window
        incidents += reader.incidents_for(service, windows[0])
        maintenance += reader.maintenance_for(service, windows[0])
    return compute_period(c, month, incidents, maintenance, now)


def quiet_period(c: ContractFacts, month: Month, now: int) -> PeriodFigures | None:
    """A month without stored downtime (none is stored then): every line at full uptime."""
    step = compute_period(c, month, [], [], now)
    return None if step is None else _figures(c, step, False)


def _figures(c: ContractFacts, step: PeriodStep, open_incident: bool) -> PeriodFigures:
    return PeriodFigures(
        c,
        step.month,
        step.window,
        step.month_window,
        year_of_window(c, step.window),
        line_rows(step.lines),
        step.credit_minor,
        open_incident
        and any(ci.reason is None and ci.incident.ended_at is None for line in step.lines for ci in line.incidents),
    )


def contract_months(c: ContractFacts | ContractFrame, first: Month, last: Month, now: int) -> list[Month]:
    """The months in [first, last] in which the contract has a period at `now`."""
    start = max(first, Month.of(c.starts_on))
    end = last if c.ends_on is None else min(last, Month.of(c.ends_on))
    out: list[Month] = []
    if start > end:
        return out
    tz = c.tz
    for m in months_between(start, end):
        if month_window(m, tz).start > now:
            break  # not begun at `now`, and neither is any later month
        # between its first and last month a contract is active in the whole month
        if m in (start, end) and period_window(c, m) is None:
            continue
        out.append(m)
    return out


class ContractFigures:
    """Every period and contract year of one contract, as known to the reader at `now`."""

    def __init__(self, reader: LiveFacts, c: ContractFacts, stored: dict[str, PeriodRow], now: int) -> None:
        self.reader = reader
        self.c = c
        self.stored = stored
        self.now = now
        self.live: dict[Month, PeriodFigures] = {}
        open_incidents = affecting_open_incidents(reader, c)
        if open_incidents:
            since = min(i.started_at for i in open_incidents)
            first = Month.of(local_date(since, c.tz))
            for m in contract_months(c, first, Month.of(local_date(now, c.tz)).next(), now):
                step = compute_live(reader, c, m, now)
                if step is not None:
                    self.live[m] = _figures(c, step, True)
        self._allocations: dict[str, YearAllocation] = {}

    def period(self, month: Month) -> PeriodFigures | None:
        if month in self.live:
            return self.live[month]
        row = self.stored.get(str(month))
        windows = begun_windows(self.c, month, self.now)
        if windows is None:
            return None
        whole, window = windows
        if row is not None:
            return PeriodFigures(self.c, month, window, whole, row.year_start, row.lines, row.credit_minor, False)
        return quiet_period(self.c, month, self.now)

    def year_is_live(self, year_start: str) -> bool:
        return any(p.year_start == year_start for p in self.live.values())

    def allocation(self, year_start: str) -> YearAllocation:
        """The contract year's grants, re-allocated in memory (used when a month is live)."""
        if year_start not in self._allocations:
            credits = {Month.parse(r.month): r.credit_minor for r in self.stored.values() if r.year_start == year_start}
            for m, p in self.live.items():
                if p.year_start == year_start:
                    credits[m] = p.credit_minor
            cap = cap_for_year(self.c, date.fromisoformat(year_start))
            self._allocations[year_start] = allocate_annual_cap(cap, sorted(credits.items()))
        return self._allocations[year_start]

    def grant(self, p: PeriodFigures) -> tuple[int, int]:
        if self.year_is_live(p.year_start):
            for g in self.allocation(p.year_start).grants:
                if g.month == p.month:
                    return g.granted_minor, g.capped_minor
            return 0, 0
        row = self.stored.get(str(p.month))
        return (row.granted_minor, row.capped_minor) if row is not None else (0, 0)


def credits_document(
    reader: Reader, customer_id: str, first: Month, last: Month, now: int, as_of: datetime | None = None
) -> dict[str, Any]:
    """API.md's credits answer for months first..last (periods ordered by contract, month)."""
    stored_all = reader.periods_of(customer_id)
    stored_years = reader.years_of(customer_id)
    billed = reader.billed_of(customer_id)
    periods: list[dict[str, Any]] = []
    years: list[dict[str, Any]] = []
    for c in reader.contracts_of(customer_id):
        stored = {m: row for (cid, m), row in stored_all.items() if cid == c.contract_id}
        figures = ContractFigures(reader, c, stored, now)
        year_starts: list[str] = []
        for month in contract_months(c, first, last, now):
            p = figures.period(month)
            if p is None:
                continue
            granted, capped = figures.grant(p)
            status = p.status(now, issued=(c.contract_id, str(month)) in billed)
            periods.append(_period_json(c, p, status, granted, capped))
            if p.year_start not in year_starts:
                year_starts.append(p.year_start)
        for ys in year_starts:
            if figures.year_is_live(ys):
                a = figures.allocation(ys)
                totals = (a.cap.cap_minor, a.credit_minor, a.granted_minor, a.capped_minor, a.remaining_minor)
                years.append(_year_json(c, ys, totals))
            else:
                years.append(_stored_year_json(c, ys, stored_years))
    return {
        "customer_id": customer_id,
        "as_of": None if as_of is None else as_of.isoformat().replace("+00:00", "Z"),
        "periods": periods,
        "contract_years": years,
    }


def _period_json(c: ContractFacts, p: PeriodFigures, status: str, granted: int, capped: int) -> dict[str, Any]:
    return {
        "contract_id": c.contract_id,
        "month": str(p.month),
        "currency": c.currency,
        "status": status,
        "lines": [line_json(line) for line in p.lines],
        "credit_minor": p.credit_minor,
        "granted_minor": granted,
        "capped_minor": capped,
        "contract_year_start": p.year_start,
    }


def _year_json(c: ContractFacts, year_start: str, totals: tuple[int | None, ...]) -> dict[str, Any]:
    cap, credit, granted, capped, remaining = totals
    return {
        "contract_id": c.contract_id,
        "starts_on": year_start,
        "cap_minor": cap,
        "credit_minor": credit,
        "granted_minor": granted,
        "capped_minor": capped,
        "remaining_minor": remaining,
    }


def _stored_year_json(
    c: ContractFacts, year_start: str, stored_years: dict[tuple[str, str], YearRow]
) -> dict[str, Any]:
    """A contract year no unresolved incident reaches: its stored totals (none stored: nothing
    credited yet, the whole cap remains)."""
    row = stored_years.get((c.contract_id, year_start))
    if row is not None:
        return _year_json(
            c, year_start, (row.cap_minor, row.credit_minor, row.granted_minor, row.capped_minor, row.remaining_minor)
        )
    cap = cap_for_year(c, date.fromisoformat(year_start)).cap_minor
    return _year_json(c, year_start, (cap, 0, 0, 0, cap))


@lru_cache(maxsize=256)
def _month_texts(first: Month, last: Month) -> dict[Month, str]:
    """The months' texts, by month (cached: read only)."""
    return {m: str(m) for m in months_between(first, last)}


def credits_answer(reader: StoredAnswerReader, customer_id: str, first: Month, last: Month, now: int) -> bytes | None:
    """The live credits answer (as_of null) as the API writes it, byte for byte what
    `credits_document` gives, assembled from the periods' stored parts: one read of the
    customer's periods in the range, their lines copied as stored, nothing decoded.

    None when an unresolved incident reaches one of the customer's contracts (those months are
    computed at `now`, by `credits_document`), or when the customer has no contract.
    tests/integration/test_credits_answer.py compares the two on every customer of random
    worlds, on both stores."""
    contracts = reader.contracts_of(customer_id)
    if not contracts:
        return None
    unresolved = UnresolvedIncidents(reader.open_incidents({s.service for c in contracts for s in _subscriptions(c)}))
    if any(affecting_open_incidents(unresolved, c) for c in contracts):
        return None
    stored = reader.period_answers(customer_id, str(first), str(last))
    stored_years = reader.years_of(customer_id)
    billed = reader.billed_of(customer_id)
    periods: list[str] = []
    years: list[dict[str, Any]] = []
    texts = _month_texts(first, last)
    for c in contracts:
        year_starts: list[str] = []
        head = f'{{"contract_id":{answer_json(c.contract_id)},"month":"'
        currency = f'"currency":{answer_json(c.currency)},"status":"'
        tz = c.tz
        for month in contract_months(c, first, last, now):  # each has begun, and a period
            key = (c.contract_id, texts[month])
            row = stored.get(key)
            status = period_status(key in billed, False, month_window(month, tz).end, now)
            if row is None:
                p = quiet_period(c, month, now)
                if p is None:
                    continue
                periods.append(answer_json(_period_json(c, p, status, 0, 0)))
                year_start = p.year_start
            else:
                year_start = row.year_start
                periods.append(
                    f'{head}{key[1]}",{currency}{status}","lines":{row.lines_answer},'
                    f'"credit_minor":{row.credit_minor},"granted_minor":{row.granted_minor},'
                    f'"capped_minor":{row.capped_minor},"contract_year_start":"{year_start}"}}'
                )
            if year_start not in year_starts:
                year_starts.append(year_start)
        years += [_stored_year_json(c, ys, stored_years) for ys in year_starts]
    return (
        f'{{"customer_id":{answer_json(customer_id)},"as_of":null,"periods":[{",".join(periods)}],'
        f'"contract_years":{answer_json(years)}}}'
    ).encode()


def claims_periods(first: Month, last: Month) -> Callable[[ContractFacts, Month], bool]:
    """Which periods the claims report for first..last reads: a contract's months up to `last`
    in the contract years that hold a month of the range. A year's cap is granted in month order
    (domain/cap.py: allocate_annual_cap), so no later month changes a grant of the range, and no
    earlier contract year does; a replay for the report computes these alone (service.world_at).
    A contract's first such month is worked out once (kept with the contract's facts)."""
    earliest: dict[int, tuple[ContractFacts, Month]] = {}

    def first_read(c: ContractFacts) -> Month:
        """The first month of the contract year that holds `first` (`first` if none does)."""
        year = contract_year_of(c, first)
        if year is None:
            return first
        month = Month.of(date.fromisoformat(year))  # its first day's month, or the next one
        return month if contract_year_of(c, month) == year else month.next()

    def reads(c: ContractFacts, month: Month) -> bool:
        if month > last:
            return False
        found = earliest.get(id(c))
        if found is None:
            found = earliest[id(c)] = (c, first_read(c))
        return month >= found[1]

    return reads


def claims_report(reader: Reader, first: Month, last: Month, now: int, as_of: datetime | None = None) -> dict[str, Any]:
    """Per customer: claims filed in [first, last], and the credit entitled and granted by the
    rules in those months, side by side (a claim changes no amount).

    The sums of every customer's credits answer for the months, computed for all customers at
    once: one read of the months' stored amounts (no downtime lines), the unresolved incidents
    read once, and the contracts they reach taken the credits answer's own way (ContractFigures
    over every stored period of the contract). tests/integration/test_claims_report.py checks it
    against the credits answers themselves. It reads no contract year's row: a model made for
    the report alone holds partial ones (claims_periods; decision 23).

    The collector is paused while it is made (projections/heap.py): every contract's values live
    until the report is done, and the full passes they would set off walk everything else the
    process holds each time, for nothing (the values hold no cycles)."""
    with collector_paused():
        return _claims_report(reader, first, last, now, as_of)


def _claims_report(reader: Reader, first: Month, last: Month, now: int, as_of: datetime | None) -> dict[str, Any]:
    filed: dict[str, int] = {}
    for claim in reader.claims():
        if str(first) <= claim.month <= str(last):
            filed[claim.customer_id] = filed.get(claim.customer_id, 0) + 1
    # Every zone has begun every month before `now`'s UTC month (a zone is less than a day off
    # UTC): their stored amounts are summed by the store. Later months may not have begun in a
    # contract's zone: row by row.
    settled = min(last, Month.of(from_micros(now).date()).plus(-1))
    sums = reader.period_sums(str(first), str(settled)) if first <= settled else {}
    unsettled = months_between(max(first, settled.next()), last)
    in_range: dict[str, dict[str, PeriodRow]] = defaultdict(dict)
    for (contract_id, key), row in reader.period_amounts({str(m) for m in unsettled}).items():
        in_range[contract_id][key] = row
    shared = OpenIncidentsOnce(reader)
    totals: dict[str, tuple[int, int, set[str]]] = {}
    for c in reader.contract_frames():
        months = contract_months(c, first, last, now)
        if not months:
            continue
        credit, granted, currencies = totals.get(c.customer_id, (0, 0, set()))
        currencies.add(c.currency)
        live = bool(shared.any_open and affecting_open_incidents(shared, c))
        if not live:
            # The stored amounts are the answer's own (ContractFigures.period and grant). A period
            # is stored only for a month in which its contract is active, so the settled months'
            # rows all count; the others count if they have begun in the contract's zone.
            settled_credit, settled_granted = sums.get(c.contract_id, (0, 0))
            credit, granted = credit + settled_credit, granted + settled_granted
            amounts = in_range.get(c.contract_id, {})
            for found in (amounts.get(str(m)) for m in months if m > settled):
                if found is not None:
                    credit += found.credit_minor
                    granted += found.granted_minor
            totals[c.customer_id] = (credit, granted, currencies)
            continue
        stored = {m: r for (_, m), r in reader.period_amounts(contract_id=c.contract_id).items()}
        contract = reader.contract(c.contract_id)  # its live figures need its terms
        assert contract is not None
        figures = ContractFigures(shared, contract, stored, now)
        for month in months:
            if str(month) not in figures.stored and month not in figures.live:
                continue  # no downtime: credit 0, nothing granted
            p = figures.period(month)
            if p is not None:
                credit += p.credit_minor
                granted += figures.grant(p)[0]
        totals[c.customer_id] = (credit, granted, currencies)
    rows = []
    for customer_id in sorted(set(reader.customers()) | set(filed)):
        credit, granted, currencies = totals.get(customer_id, (0, 0, set()))
        rows.append(
            {
                "customer_id": customer_id,
                "claims_filed": filed.get(customer_id, 0),
                "credit_entitled_minor": credit,
                "credit_granted_minor": granted,
                "currencies": sorted(currencies),
            }
        )
    return {
        "from_month": str(first),
        "to_month": str(last),
        "as_of": None if as_of is None else as_of.isoformat().replace("+00:00", "Z"),
        "customers": rows,
    }


class UnresolvedIncidents:
    """Unresolved incidents read once, answered by service."""

    def __init__(self, incidents: list[IncidentFacts]) -> None:
        self._open: dict[str, list[IncidentFacts]] = defaultdict(list)
        for incident in incidents:
            self._open[incident.service].append(incident)
        self.any_open = bool(incidents)  # none: no contract needs its live figures

    def open_incidents(self, services: set[str]) -> list[IncidentFacts]:
        return [i for s in sorted(services) for i in self._open.get(s, [])]


class OpenIncidentsOnce(UnresolvedIncidents):
    """The live facts of a reader, its unresolved incidents (of every service, or of these) read
    once for every contract of a report, a billing run or a customer."""

    def __init__(self, reader: Reader, services: set[str] | None = None) -> None:
        super().__init__(reader.open_incidents(set(reader.services()) if services is None else services))
        self._reader = reader

    def incidents_for(self, service: str, window: Window) -> list[IncidentFacts]:
        return self._reader.incidents_for(service, window)

    def maintenance_for(self, service: str, window: Window) -> list[MaintenanceFacts]:
        return self._reader.maintenance_for(service, window)


def _active(c: ContractFacts) -> Window:
    """The contract's time of service: from `starts_on` 00:00 local to the day after `ends_on`."""
    start = to_micros(local_midnight(c.starts_on, c.tz))
    if c.ends_on is None:
        return Window(start, 2**62)
    return Window(start, to_micros(local_midnight(c.ends_on + timedelta(days=1), c.tz)))


def affected_contracts(
    reader: Reader, incident: IncidentFacts, now: int, contracts: list[ContractFacts] | None = None
) -> list[dict[str, Any]]:
    """The contracts an incident counts for (by its service, regions, customers, exclusions,
    cause and retraction: the rules' own reasons) while they were in service, with the
    subscriptions it reaches, each once (an amendment repeats a subscription)."""
    everything = Window(-(2**62), 2**62)
    end = incident.ended_at if incident.ended_at is not None else now
    out = []
    for c in reader.all_contracts() if contracts is None else contracts:
        if not _active(c).overlaps(incident.started_at, max(end, incident.started_at + 1)):
            continue
        reached = sorted(
            {
                f"{s.service}/{s.region}"
                for s in _subscriptions(c)
                if why_incident_does_not_count(incident, s.service, s.region, c.customer_id, everything) is None
            }
        )
        if reached:
            out.append({"customer_id": c.customer_id, "contract_id": c.contract_id, "subscriptions": reached})
    return out


def customers_reached(reader: Reader, incidents: list[IncidentFacts], now: int) -> dict[str, int]:
    """For each incident, how many customers it counts for (as `affected_contracts` finds them)."""
    contracts = reader.all_contracts()
    return {
        i.incident_id: len({a["customer_id"] for a in affected_contracts(reader, i, now, contracts)}) for i in incidents
    }


def customer_summary(reader: Reader, customer_id: str, now: int, claims_filed: int) -> dict[str, Any]:
    """One line of the console's customer list: the credit granted in each contract's
    current contract year, the cap used, and the claims filed (from the same figures as
    the credits answer)."""
    contracts = reader.contracts_of(customer_id)
    today = local_date(now, contracts[0].tz) if contracts else None
    last = Month.of(today) if today else Month(1970, 1)
    doc = credits_document(reader, customer_id, last.plus(-12), last, now)
    years = []
    for y in doc["contract_years"]:
        start = date.fromisoformat(y["starts_on"])
        if today is not None and start <= today < start.replace(year=start.year + 1):
            currency = next((c.currency for c in contracts if c.contract_id == y["contract_id"]), "")
            years.append({**y, "currency": currency})
    return {
        "customer_id": customer_id,
        "name": contracts[0].customer_name if contracts else customer_id,
        "contracts": [c.contract_id for c in contracts],
        "years": years,
        "claims": claims_filed,
    }


def matching_customers(reader: Reader, q: str = "") -> list[str]:
    """Customer ids whose id or name contains `q` (any case), in id order: the console's list
    and GET /v1/customers search the same way."""
    needle = q.strip().lower()
    found = []
    for customer_id in reader.customers():
        contracts = reader.contracts_of(customer_id)
        name = contracts[0].customer_name if contracts else customer_id
        if not needle or needle in customer_id.lower() or needle in name.lower():
            found.append(customer_id)
    return found


def claims_by_customer(reader: Reader) -> dict[str, int]:
    filed: dict[str, int] = {}
    for claim in reader.claims():
        filed[claim.customer_id] = filed.get(claim.customer_id, 0) + 1
    return filed


def unbilled_periods(
    reader: Reader, customer_ids: list[str], now: int, first_billed: Month | None
) -> list[dict[str, Any]]:
    """Every `closed` period of these customers (ended, no unresolved incident, no run covered
    it), from each contract's first month: what billing has not issued yet, and whether the next
    run issues it (from the first billed month on, RULES.md) or it precedes billing."""
    out: list[dict[str, Any]] = []
    for customer_id in customer_ids:
        contracts = reader.contracts_of(customer_id)
        if not contracts:
            continue
        first = min(Month.of(c.starts_on) for c in contracts)
        last = Month.of(from_micros(now).date())  # the UTC month: the latest any contract can have ended
        for a in range(0, (last.year - first.year) * 12 + last.month - first.month + 1, 120):
            doc = credits_document(reader, customer_id, first.plus(a), min(first.plus(a + 119), last), now)
            for p in doc["periods"]:
                if p["status"] == "closed":
                    billable = first_billed is not None and Month.parse(p["month"]) >= first_billed
                    out.append(
                        {
                            "customer_id": customer_id,
                            "contract_id": p["contract_id"],
                            "month": p["month"],
                            "currency": p["currency"],
                            "granted_minor": p["granted_minor"],
                            "issued_by_next_run": billable,
                        }
                    )
    return out
