"""Stored figures recomputed from the facts by the projection's own code.

Money leaving the system is never read from the stored rows alone: a billing run issues the
figures of a fresh computation and counts every stored row that disagrees with it. The same
computation checks, in the background, a rotating slice of customers (projections/self_check.py).

"From the facts" means from the fact rows of the views (contracts, incidents, maintenance), which
the projection writes in the same transaction as the figures; that every one of those rows equals
the log is what the auditors' full verification checks (projections/verification.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from domain.credit import ContractFacts, contract_year_of
from projections.model import CreditsModel, _subscriptions
from projections.readers import Reader
from projections.records import PeriodRow, YearRow


@dataclass(frozen=True)
class Mismatch:
    """A stored row that differs from the fresh computation (None: the row is missing / extra)."""

    contract_id: str
    customer_id: str
    kind: str  # "period" (key: the month) or "contract_year" (key: its first day)
    key: str
    stored: Any
    fresh: Any

    def summary(self) -> dict[str, Any]:
        def amounts(row: Any) -> Any:
            if row is None:
                return None
            if isinstance(row, PeriodRow):
                return {"credit_minor": row.credit_minor, "granted_minor": row.granted_minor}
            return {"credit_minor": row.credit_minor, "granted_minor": row.granted_minor, "cap_minor": row.cap_minor}

        return {
            "contract_id": self.contract_id,
            "customer_id": self.customer_id,
            "kind": self.kind,
            "key": self.key,
            "stored": amounts(self.stored),
            "fresh": amounts(self.fresh),
        }


def fresh_model(
    reader: Reader, contracts: Iterable[ContractFacts], years: dict[str, set[str]] | None = None
) -> CreditsModel:
    """The stored rows of `contracts` computed afresh: the projection's model given only those
    contracts and the incidents and maintenance of their services. With `years`, only the
    periods of those contract years (by contract id) are computed."""
    model = CreditsModel()
    contracts = list(contracts)
    for service in sorted({s.service for c in contracts for s in _subscriptions(c)}):
        for incident in reader.incidents_of(service):
            model.load_incident(incident)
        for maintenance in reader.maintenance_of(service):
            model.load_maintenance(maintenance)
    model.deferred = True
    for c in contracts:
        model.put_contract(c, None)
    if years is not None:
        model.computes = lambda c, m: contract_year_of(c, m) in years.get(c.contract_id, set())
    model.flush()
    return model


def differences(
    contracts: Iterable[ContractFacts],
    stored_periods: dict[tuple[str, str], PeriodRow],
    stored_years: dict[tuple[str, str], YearRow],
    fresh: CreditsModel,
    compare_lines: bool = True,
) -> list[Mismatch]:
    """Every stored period and contract year of `contracts` that differs from `fresh`."""
    out: list[Mismatch] = []
    for c in contracts:
        cid = c.contract_id
        months = {m for (k, m) in stored_periods if k == cid} | fresh.periods_by_contract.get(cid, set())
        for month in sorted(months):
            have, want = stored_periods.get((cid, month)), fresh.periods.get((cid, month))
            if not compare_lines and have is not None and want is not None:
                want = want._replace(lines=have.lines)
            if have != want:
                out.append(Mismatch(cid, c.customer_id, "period", month, have, want))
        starts = {s for (k, s) in stored_years if k == cid} | {s for (k, s) in fresh.years if k == cid}
        for start in sorted(starts):
            have_y, want_y = stored_years.get((cid, start)), fresh.years.get((cid, start))
            if have_y != want_y:
                out.append(Mismatch(cid, c.customer_id, "contract_year", start, have_y, want_y))
    return out
