"""The figures a billing run needs: today's granted amount of each period, computed afresh from the facts."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from domain.calendar import Month, months_between
from domain.credit import ContractFacts, contract_year_of, period_window
from domain.errors import StateError
from domain.ledger import Figure
from projections.queries import ContractFigures, OpenIncidentsOnce
from projections.readers import Reader
from projections.recheck import Mismatch, fresh_model
from projections.views import LEDGER_COLUMNS


@dataclass(frozen=True)
class RunFigures:
    ended: list[Figure]
    earlier: list[Figure]
    left: list[str]
    # stored periods that disagreed with the fresh computation (the fresh figure was used)
    mismatches: list[Mismatch] = field(default_factory=list)


def run_figures(reader: Reader, month: Month, now: int, issued: set[tuple[str, str]]) -> RunFigures:
    """Month `month`'s figures for every contract whose local month has ended, and today's
    figures of every period issued before. A month not ended for any contract is a 409.

    Every figure comes from a fresh computation from the facts (projections/recheck.py), not
    from the stored periods; a stored period that disagrees is reported in `mismatches`."""
    cached = OpenIncidentsOnce(reader)
    contracts: dict[str, ContractFacts] = {c.contract_id: c for c in reader.all_contracts()}
    # billing started with the earliest month any run was made for: every ended period from
    # then up to `month` that no run covered yet is issued now (RULES.md, Billing)
    first = min([Month.parse(m) for _, m in issued] + [month])
    catch_up = {cid: _uncovered(c, first, month, now, issued) for cid, c in contracts.items()}
    wanted: dict[str, set[str]] = {cid: {str(month)} | {str(m) for m in catch_up[cid]} for cid in contracts}
    for cid, m in issued:
        if cid in contracts:
            wanted[cid].add(m)
    years = {
        cid: {y for m in months if (y := contract_year_of(contracts[cid], Month.parse(m))) is not None}
        for cid, months in wanted.items()
    }
    fresh = fresh_model(reader, contracts.values(), years)
    stored = reader.period_amounts({m for months in wanted.values() for m in months})
    mismatches = []
    for cid, months in sorted(wanted.items()):
        for m in sorted(months):
            have, want = stored.get((cid, m)), fresh.periods.get((cid, m))
            if want is not None:
                want = want._replace(lines=())
            if have != want:
                mismatches.append(Mismatch(cid, contracts[cid].customer_id, "period", m, have, want))
    figures_of: dict[str, ContractFigures] = {}

    def figure(c: ContractFacts, m: Month) -> Figure | None:
        f = figures_of.get(c.contract_id)
        if f is None:
            rows = {k: fresh.periods[(c.contract_id, k)] for k in fresh.periods_by_contract.get(c.contract_id, set())}
            f = ContractFigures(cached, c, rows, now)
            figures_of[c.contract_id] = f
        p = f.period(m)
        if p is None:
            return None
        granted, _ = f.grant(p)
        return Figure(c.customer_id, c.contract_id, str(m), c.currency, granted)

    ended: list[Figure] = []
    left: list[str] = []
    active = 0
    for c in contracts.values():
        windows = period_window(c, month)
        if windows is None or windows[0].start > now:
            continue
        active += 1
        if windows[0].end > now:
            left.append(c.contract_id)
            continue
        f = figure(c, month)
        if f is not None:
            ended.append(f)
    for cid, behind in sorted(catch_up.items()):
        for late in behind:
            if late != month and (f := figure(contracts[cid], late)) is not None:
                ended.append(f)
    if not ended:
        raise StateError(
            "month",
            f"{month} has not ended for any contract" if active else f"no contract has a period in {month}",
        )
    earlier = []
    for cid, m in sorted(issued):
        known = contracts.get(cid)
        if known is None or m == str(month):
            continue
        f = figure(known, Month.parse(m))
        earlier.append(f if f is not None else Figure(known.customer_id, cid, m, known.currency, 0))
    return RunFigures(ended, earlier, left, mismatches)


def _uncovered(c: ContractFacts, first: Month, last: Month, now: int, issued: set[tuple[str, str]]) -> list[Month]:
    """The contract's periods from `first` to `last` that have ended at `now` and no run covered."""
    start = max(first, Month.of(c.starts_on))
    end = last if c.ends_on is None else min(last, Month.of(c.ends_on))
    out = []
    for m in months_between(start, end) if start <= end else []:
        windows = period_window(c, m)
        if windows is not None and windows[0].end <= now and (c.contract_id, str(m)) not in issued:
            out.append(m)
    return out


def ledger_csv(rows: list[dict[str, object]]) -> str:
    """Ledger entries as CSV for spreadsheets: the ledger's columns, its internal order number left out."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[c for c in LEDGER_COLUMNS if c != "seq"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def _cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe
    (OWASP's CSV injection advice); numbers and the JSON answers keep their raw values."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
