"""The billing system's and the auditor's answers: runs, the ledger, acknowledgements, the event
feed and verification (the models of api/responses.py's kind: strict keys, described fields, an
example for each answer)."""

from __future__ import annotations

from typing import Any, Literal

from api.responses import INSTANT, Answer, F, example

_KIND = "credit: a period's first issue; adjustment: the change of an issued period's grant"


class IssuedEntry(Answer):
    entry_id: str = F("The ledger entry (stable: the billing system's idempotency key)")
    customer_id: str = F("The customer credited")
    contract_id: str = F("The contract")
    month: str = F("The period, YYYY-MM")
    kind: Literal["credit", "adjustment"] = F(_KIND)
    amount_minor: int = F("The amount in minor units (an adjustment may be negative)")
    currency: str = F("ISO 4217 currency")


class LedgerEntry(IssuedEntry):
    run_id: str = F("The billing run that issued it")
    issued_at: str = F(f"When it was issued, {INSTANT}")
    invoice_id: str | None = F("The invoice the billing system acknowledged it on; null: not yet")
    applied_at: str | None = F(f"When it was acknowledged, {INSTANT}; null: not yet")


_ENTRY = {
    "entry_id": "E000000001",
    "run_id": "RUN-000001-2026-03",
    "customer_id": "acme",
    "contract_id": "c-100",
    "month": "2026-03",
    "kind": "credit",
    "amount_minor": 10000,
    "currency": "USD",
    "issued_at": "2026-04-02T06:00:00Z",
    "invoice_id": None,
    "applied_at": None,
}
_ISSUED = {k: v for k, v in _ENTRY.items() if k not in ("run_id", "issued_at", "invoice_id", "applied_at")}


class BillingRun(Answer):
    model_config = example(
        {"run_id": "RUN-000001-2026-03", "month": "2026-03", "entries": [_ISSUED], "left_contracts": ["c-200"]}
    )

    run_id: str = F("The run")
    month: str = F("The month billed, YYYY-MM")
    entries: list[IssuedEntry] = F(
        "Every entry the run issued: the month's credits, catch-up credits of earlier uncovered periods, "
        "and adjustments of issued periods whose grant changed; empty: nothing changed"
    )
    left_contracts: list[str] = F("Contracts whose month has not ended yet in their time zone (a later run bills them)")


class CurrencyTotals(Answer):
    credit: int = F("Sum of the credit entries, minor units")
    adjustment: int = F("Sum of the adjustment entries, minor units")


_RUN = {
    "run_id": "RUN-000001-2026-03",
    "seq": 1,
    "month": "2026-03",
    "issued_at": "2026-04-02T06:00:00Z",
    "entries": 1,
    "covered": 1,
    "left_contracts": [],
    "totals": {"USD": {"credit": 10000, "adjustment": 0}},
}


class RunSummary(Answer):
    run_id: str = F("The run")
    seq: int = F("The run's number, 1 first")
    month: str = F("The month billed, YYYY-MM")
    issued_at: str = F(f"When it was issued, {INSTANT}")
    entries: int = F("How many entries it issued")
    covered: int = F("How many periods it covered (issued or found unchanged)")
    left_contracts: list[str] = F("Contracts left for a later run (their month had not ended)")
    totals: dict[str, CurrencyTotals] = F("Sums by currency (ISO 4217 code) and kind")


class RunsPage(Answer):
    model_config = example({"runs": [_RUN]})

    runs: list[RunSummary] = F("Every billing run, in the order they were made")


class RunDetail(RunSummary):
    model_config = example({**_RUN, "entries_issued": [_ENTRY]})

    entries_issued: list[LedgerEntry] = F("The entries the run issued, as the ledger lists them")


class UnbilledPeriod(Answer):
    customer_id: str = F("The customer")
    contract_id: str = F("The contract")
    month: str = F("The closed period no run has covered, YYYY-MM")
    currency: str = F("ISO 4217 currency")
    granted_minor: int = F("The credit it would be issued with now, minor units")
    issued_by_next_run: bool = F(
        "Whether the next run issues it (from the first billed month on); false: it precedes billing"
    )


class UnbilledPage(Answer):
    model_config = example(
        {
            "billing_started_with": "2026-03",
            "periods": [
                {
                    "customer_id": "acme",
                    "contract_id": "c-100",
                    "month": "2026-04",
                    "currency": "USD",
                    "granted_minor": 0,
                    "issued_by_next_run": True,
                }
            ],
            "next_cursor": None,
        }
    )

    billing_started_with: str | None = F("The earliest month any run was made for; null: billing has not started")
    periods: list[UnbilledPeriod] = F("Closed periods of this page's customers that no run has covered")
    next_cursor: str | None = F("Pass as `after` for the next page of customers; null: this was the last")


class LedgerPage(Answer):
    model_config = example({"entries": [_ENTRY], "next_cursor": "bGVkZ2VyOjE"})

    entries: list[LedgerEntry] = F("A page of entries in issue order")
    next_cursor: str = F("Pass as `after` to read on (also when the page was empty: poll with it later)")


class AcknowledgementAnswer(Answer):
    model_config = example({"entry_id": "E000000001", "invoice_id": "INV-2026-0042", "recorded": True})

    entry_id: str = F("The ledger entry")
    invoice_id: str = F("The invoice it landed on")
    recorded: bool = F("true: recorded now; false: the same acknowledgement was already recorded")


class AuditEvent(Answer):
    position: int = F("The fact's position in the log (1 first, no gaps)")
    recorded_at: str = F("When it was recorded, exactly as stored (ISO 8601 with offset): the bytes the chain covers")
    stream_id: str = F("The aggregate the fact belongs to (UUID)")
    version: int = F("The fact's version within its aggregate")
    type: str = F("The fact's type (module:class)")
    data: dict[str, Any] = F("The fact's data exactly as stored")
    link: str | None = F(
        "The hash chain's link at this position as recorded by the projection (SHA-256, hex): "
        "sha256(previous link + the fact's canonical JSON); null: not linked yet"
    )


class AuditPage(Answer):
    model_config = example(
        {
            "events": [
                {
                    "position": 1,
                    "recorded_at": "2026-01-01T09:00:00.000000+00:00",
                    "stream_id": "166f8585-3d23-5ef4-9f7f-373cc2f58e57",
                    "version": 1,
                    "type": "domain.contract:Contract.Signed",
                    "data": {"contract_id": "c-100", "customer_id": "acme"},
                    "link": "c7d6c12e001f529b7072a5239aad513ed02c0ec1c47017bc0c4427d449fd8ada",
                }
            ],
            "next_after": 1,
        }
    )

    events: list[AuditEvent] = F("A page of facts in log order")
    next_after: int = F("Pass as `after` to read on")


class RowMismatch(Answer):
    table: str = F("The read model's table")
    kind: Literal["unexpected_row", "missing_row"] = F("A row the live view has and a replay has not, or the reverse")
    row: list[Any] = F("The row's values")


class Verification(Answer):
    model_config = example(
        {
            "events": 120,
            "position": 120,
            "digest": "13d04c767a23c0f6503be7ef4980fb988cd7b8317ae8444adbd3d8a46e18e7e8",
            "first_bad_position": None,
            "mismatch_count": 0,
            "mismatches": [],
        }
    )

    events: int = F("Facts read from the log")
    position: int | None = F("The log position verified up to")
    digest: str = F("The hash chain's last link, recomputed from the stored facts")
    first_bad_position: int | None = F(
        "The first position whose recomputed link differs from the one recorded; null: the chain holds"
    )
    mismatch_count: int = F("Rows of the live views that differ from a fresh replay of the log (0: they are equal)")
    mismatches: list[RowMismatch] = F("Up to 100 of them")


class Checkpoint(Answer):
    model_config = example(
        {
            "position": 120,
            "digest": "13d04c767a23c0f6503be7ef4980fb988cd7b8317ae8444adbd3d8a46e18e7e8",
            "made_at": "2026-04-02T06:00:00Z",
        }
    )

    position: int = F("The log's last position")
    digest: str = F("The hash chain's link at that position, recomputed from the stored facts")
    made_at: str = F(f"When the checkpoint was made, {INSTANT}")


class CheckpointVerification(Answer):
    model_config = example(
        {
            "position": 120,
            "expected": "13d04c767a23c0f6503be7ef4980fb988cd7b8317ae8444adbd3d8a46e18e7e8",
            "found": "13d04c767a23c0f6503be7ef4980fb988cd7b8317ae8444adbd3d8a46e18e7e8",
            "facts_found": 120,
            "ok": True,
        }
    )

    position: int = F("The checkpoint's position")
    expected: str = F("The digest kept")
    found: str = F("The digest the log yields now at that position")
    facts_found: int = F("The last position the log holds up to the checkpoint's")
    ok: bool = F("Whether the log still yields the kept digest: nothing up to the position has changed")
