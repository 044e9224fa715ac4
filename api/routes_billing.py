"""Billing (runs, ledger, acknowledgements) and audit (event feed, verification)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from api import metrics
from api.deps import Service, require
from api.responses import errors
from api.responses_billing import (
    AcknowledgementAnswer,
    AuditPage,
    BillingRun,
    Checkpoint,
    CheckpointVerification,
    LedgerPage,
    RunDetail,
    RunsPage,
    UnbilledPage,
    Verification,
)
from api.routes_queries import MONTH, AsOf, Settings_, read_at, up_to_date
from api.schemas import Body, CheckpointIn, Id, MonthText
from domain.calendar import Month, to_micros
from domain.errors import InvalidValueError, NotFoundError
from projections.audit import feed_page
from projections.billing import ledger_csv as csv_text
from projections.queries import unbilled_periods
from projections.records import listed_entry
from projections.verification import check_against, checkpoint, verify
from projections.views import LEDGER_COLUMNS

billing = APIRouter(prefix="/v1/billing", tags=["billing"])
audit = APIRouter(prefix="/v1/audit", tags=["audit"])

RUN = require("billing")
CSV_EXAMPLE = (
    "entry_id,run_id,customer_id,contract_id,month,kind,amount_minor,currency,issued_at,invoice_id,applied_at\r\n"
    "E000000001,RUN-000001-2026-03,acme,c-100,2026-03,credit,10000,USD,2026-04-02T06:00:00Z,,\r\n"
)
READ_LEDGER = require("billing", "auditor")
AUDIT = require("auditor")


class RunRequest(Body):
    month: MonthText


class Acknowledgement(Body):
    invoice_id: Id


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"ledger:{seq}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = text.partition(":")
        if kind != "ledger":
            raise ValueError
        return int(seq)
    except ValueError:
        raise InvalidValueError("after", "not a cursor this service gave") from None


@billing.post("/runs", status_code=201, response_model=BillingRun, responses=errors(401, 403, 409, 422, 503))
def run_billing(
    body: RunRequest, service: Service, settings: Settings_, _: Annotated[str, Depends(RUN)]
) -> JSONResponse:
    """Issue the month's credits and the adjustments of earlier issued periods; a rerun issues only changes."""
    month = Month.parse(body.month)
    up_to_date(service, settings)
    started = time.perf_counter()
    run = service.bill(month)
    metrics.observe_run(time.perf_counter() - started, run["entries"], run.pop("view_mismatches"))
    position = run.pop("position")
    headers = {"X-Log-Position": str(position)} if position is not None else None
    return JSONResponse(
        run,
        status_code=201,
        headers=headers,
    )


@dataclass(frozen=True)
class LedgerFilter:
    customer_id: str | None
    month: str | None
    kind: str | None
    unacknowledged: bool


def ledger_filter(
    customer_id: Annotated[str | None, Query(description="Only this customer's entries")] = None,
    month: Annotated[str | None, Query(pattern=MONTH, description="Only entries for this period, YYYY-MM")] = None,
    kind: Annotated[Literal["credit", "adjustment"] | None, Query(description="Only this kind")] = None,
    unacknowledged: Annotated[bool, Query(description="Only entries no invoice acknowledged yet")] = False,
) -> LedgerFilter:
    """Which entries: by customer, month, kind, and those no invoice acknowledged yet."""
    return LedgerFilter(customer_id, month, kind, unacknowledged)


def _ledger(
    service: Service, settings: Settings_, after: str | None, limit: int, as_of: str | None, only: LedgerFilter
) -> tuple[list[dict[str, Any]], int]:
    seq = _after(after)
    reader = service.ledger_reader_at(read_at(service, settings, as_of))
    with service.view.reading():
        rows = reader.ledger_rows(seq, limit, only.customer_id, only.month, only.kind, only.unacknowledged)
    return rows, int(str(rows[-1]["seq"])) if rows else seq


@billing.get("/runs", response_model=RunsPage, responses=errors(401, 403, 422, 503))
def list_runs(
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_LEDGER)],
    month: Annotated[str | None, Query(pattern=MONTH, description="Only the runs for this month")] = None,
) -> dict[str, Any]:
    """Every billing run in order: month, when, how many entries and their sums by currency and kind."""
    up_to_date(service, settings)
    with service.view.reading():
        return {"runs": [r.doc() for r in service.reader.runs(month)]}


@billing.get("/runs/{run_id}", response_model=RunDetail, responses=errors(401, 403, 404, 503))
def get_run(
    run_id: str, service: Service, settings: Settings_, _: Annotated[str, Depends(READ_LEDGER)]
) -> dict[str, Any]:
    """One billing run with every entry it issued."""
    up_to_date(service, settings)
    with service.view.reading():
        found = [r for r in service.reader.runs() if r.run_id == run_id]
        if not found:
            raise NotFoundError("run_id", f"no billing run {run_id!r}")
        rows = service.view.select("SELECT * FROM v_ledger WHERE run_id = ? ORDER BY seq", (run_id,))
    entries = [{k: r[k] for k in LEDGER_COLUMNS if k != "seq"} for r in rows]
    return {**found[0].doc(), "entries_issued": entries}


@billing.get("/unbilled", response_model=UnbilledPage, responses=errors(401, 403, 422, 503))
def list_unbilled_periods(
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_LEDGER)],
    after: Annotated[str, Query(description="The next_cursor of the previous page (a customer id)")] = "",
    limit: Annotated[int, Query(ge=1, le=500, description="Customers per page")] = 100,
) -> dict[str, Any]:
    """Periods that have ended and are closed but no billing run has issued yet, a page of customers at a time."""
    up_to_date(service, settings)
    issued = service.app.issued_periods()
    first = min((Month.parse(m) for _, m in issued), default=None)
    with service.view.reading():
        customers = [c for c in service.reader.customers() if c > after][:limit]
        periods = unbilled_periods(service.reader, customers, to_micros(datetime.now(UTC)), first)
    return {
        "billing_started_with": None if first is None else str(first),
        "periods": periods,
        "next_cursor": customers[-1] if len(customers) == limit else None,
    }


@billing.get("/ledger", response_model=LedgerPage, responses=errors(401, 403, 422, 503))
def list_ledger_entries(
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_LEDGER)],
    only: Annotated[LedgerFilter, Depends(ledger_filter)],
    after: Annotated[str | None, Query(description="The next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Every ledger entry in issue order, a page at a time; poll with the last next_cursor."""
    rows, last = _ledger(service, settings, after, limit, as_of, only)
    return {"entries": [listed_entry(r) for r in rows], "next_cursor": _cursor(last)}


@billing.get(
    "/ledger.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
            "description": "The entries as CSV (the ledger's columns; the next page's cursor in X-Next-Cursor)",
        },
        **errors(401, 403, 422, 503),
    },
)
def get_ledger_csv(
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_LEDGER)],
    only: Annotated[LedgerFilter, Depends(ledger_filter)],
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    as_of: AsOf = None,
) -> Response:
    """The same entries as CSV, for spreadsheets."""
    rows, last = _ledger(service, settings, after, limit, as_of, only)
    return Response(csv_text(rows), media_type="text/csv", headers={"X-Next-Cursor": _cursor(last)})


@billing.post(
    "/ledger/{entry_id}/acknowledgement",
    response_model=AcknowledgementAnswer,
    responses=errors(401, 403, 404, 409, 422, 503),
)
def acknowledge_ledger_entry(
    entry_id: str, body: Acknowledgement, service: Service, _: Annotated[str, Depends(RUN)]
) -> dict[str, Any]:
    """Record the invoice an entry landed on; the same again is 200, another invoice 409."""
    result = service.app.acknowledge_entry(entry_id=entry_id, invoice_id=body.invoice_id, applied_at=datetime.now(UTC))
    return {"entry_id": entry_id, "invoice_id": body.invoice_id, "recorded": result.created}


@audit.get("/events", response_model=AuditPage, responses=errors(401, 403, 422, 503))
def list_audit_events(
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(AUDIT)],
    after: Annotated[int, Query(ge=0, le=2**62, description="The last position already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Every recorded fact in order, as plain JSON, with its link in the hash chain;
    with `as_of`, only the facts recorded at or before that instant."""
    when = read_at(service, settings, as_of)
    if when is not None and when > datetime.now(UTC):
        raise InvalidValueError("as_of", "must not be in the future: nothing is known about it yet")
    upto = None if when is None else service.position_known_at(when)
    return feed_page(service.app, service.recorded_links, after, limit, upto)


@audit.get("/verification", response_model=Verification, responses=errors(401, 403, 503))
def get_verification(service: Service, settings: Settings_, _: Annotated[str, Depends(AUDIT)]) -> dict[str, Any]:
    """Rebuild every read model from the log alone, compare with the live views, and digest the log."""
    up_to_date(service, settings)
    position = service.position() or 0
    result = verify(service.app, service.view, position)
    metrics.observe_verification(result)
    return result


@audit.get("/checkpoint", response_model=Checkpoint, responses=errors(401, 403, 503))
def get_checkpoint(service: Service, _: Annotated[str, Depends(AUDIT)]) -> dict[str, Any]:
    """The log's digest at its last position, recomputed from the stored facts: keep it outside the service."""
    return checkpoint(service.app)


@audit.post("/checkpoint/verification", response_model=CheckpointVerification, responses=errors(401, 403, 422, 503))
def verify_checkpoint(body: CheckpointIn, service: Service, _: Annotated[str, Depends(AUDIT)]) -> dict[str, Any]:
    """Whether the log still yields a checkpoint kept earlier (its digest at its position)."""
    return check_against(service.app, body.model_dump())


__all__ = ["MONTH", "audit", "billing"]
