"""The billing ledger: one stream of runs and acknowledgements, so that two runs at once
cannot issue the same money twice (the second one conflicts, reloads and finds it issued)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, NotFoundError
from domain.limits import check_id

LEDGER_ID = uuid5(NAMESPACE_URL, "sla-credits:ledger")


@dataclass(frozen=True)
class Figure:
    """Today's granted amount of one period, as the rules give it."""

    customer_id: str
    contract_id: str
    month: str
    currency: str
    granted_minor: int


class Ledger(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return LEDGER_ID

    @event("Started")
    def __init__(self) -> None:
        self.issued: dict[tuple[str, str], int] = {}  # (contract, month) -> sum of its entries
        self.entries: dict[str, dict[str, Any]] = {}
        self.runs: list[str] = []

    def plan_run(self, month: str, ended: list[Figure], earlier: list[Figure]) -> list[dict[str, Any]]:
        """The entries a run for `month` issues: a credit for each ended period not yet issued
        (none when 0), and an adjustment for every issued period whose figure changed."""
        entries: list[dict[str, Any]] = []
        seq = len(self.entries)

        def add(f: Figure, kind: str, amount: int) -> None:
            nonlocal seq
            seq += 1
            entries.append(
                {
                    "entry_id": f"E{seq:09d}",
                    "customer_id": f.customer_id,
                    "contract_id": f.contract_id,
                    "month": f.month,
                    "kind": kind,
                    "amount_minor": amount,
                    "currency": f.currency,
                }
            )

        for f in sorted(ended, key=lambda f: (f.contract_id, f.month)):
            key = (f.contract_id, f.month)
            if key not in self.issued:
                if f.granted_minor:
                    add(f, "credit", f.granted_minor)
            elif f.granted_minor != self.issued[key]:
                add(f, "adjustment", f.granted_minor - self.issued[key])
        for f in sorted(earlier, key=lambda f: (f.contract_id, f.month)):
            key = (f.contract_id, f.month)
            if key in self.issued and f.month != month and f.granted_minor != self.issued[key]:
                add(f, "adjustment", f.granted_minor - self.issued[key])
        return entries

    def issue_run(
        self, month: str, issued_at: datetime, ended: list[Figure], earlier: list[Figure], left: list[str]
    ) -> tuple[str, list[dict[str, Any]]]:
        entries = self.plan_run(month, ended, earlier)
        run_id = f"RUN-{len(self.runs) + 1:06d}-{month}"
        covered = sorted({f"{f.contract_id}|{f.month}" for f in ended})
        self._issue(run_id, month, issued_at, entries, covered, sorted(left))
        return run_id, entries

    @event("RunIssued")
    def _issue(
        self,
        run_id: str,
        month: str,
        issued_at: datetime,
        entries: list[dict[str, Any]],
        covered: list[str],
        left: list[str],
    ) -> None:
        self.runs.append(run_id)
        for key in covered:
            contract_id, m = key.split("|")
            self.issued.setdefault((contract_id, m), 0)
        for e in entries:
            self.entries[e["entry_id"]] = dict(e, run_id=run_id, issued_at=issued_at)
            k = (e["contract_id"], e["month"])
            self.issued[k] = self.issued.get(k, 0) + e["amount_minor"]

    def acknowledge(self, entry_id: str, invoice_id: str, applied_at: datetime) -> bool:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise NotFoundError("entry_id", f"no ledger entry {entry_id!r}")
        check_id(invoice_id, "invoice_id")
        seen = entry.get("invoice_id")
        if seen is not None:
            if seen != invoice_id:
                raise ConflictError("invoice_id", f"entry {entry_id} was already applied to invoice {seen!r}")
            return False
        self._acknowledge(entry_id, invoice_id, applied_at)
        return True

    @event("Acknowledged")
    def _acknowledge(self, entry_id: str, invoice_id: str, applied_at: datetime) -> None:
        self.entries[entry_id]["invoice_id"] = invoice_id
        self.entries[entry_id]["applied_at"] = applied_at
