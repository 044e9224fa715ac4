"""Queries: credits, explanations, claims and the claims report (account managers, auditors)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from api import commands
from api import schemas as s
from api.deps import FILE_CLAIMS, READ_CREDITS, READ_REPORTS, Service, get_settings
from api.explanation_text import explanation_text
from api.responses import ClaimAnswer, ClaimsReport, CreditsPublic, CustomersPage, Explanation, errors
from api.settings import Settings
from domain.calendar import Month, to_micros
from domain.errors import InvalidValueError, NotFoundError
from domain.limits import check_instant
from projections.answer_reads import InProcessAnswerReads, PostgresAnswerReads
from projections.explanation import explain_month
from projections.queries import (
    claims_by_customer,
    credits_answer,
    credits_document,
    customer_summary,
    matching_customers,
)
from projections.readers import Reader
from projections.service import CreditsService, month_range, one_month

log = logging.getLogger("sla_credits.api")
credits = APIRouter(prefix="/v1/customers", tags=["credits"])
reports = APIRouter(prefix="/v1/reports", tags=["credits"])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
FromMonth = Annotated[str, Query(alias="from", description="First month, YYYY-MM", examples=["2026-01"], pattern=MONTH)]
ToMonth = Annotated[str, Query(alias="to", description="Last month, YYYY-MM", examples=["2026-06"], pattern=MONTH)]
AsOf = Annotated[
    str | None,
    Query(
        description="Figures as known at this instant (RFC 3339 with offset, `+` sent as `%2B`): only facts "
        "recorded at or before it",
        examples=["2026-03-01T00:00:00Z"],
        json_schema_extra={"format": "date-time"},
    ),
]
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$")
Settings_ = Annotated[Settings, Depends(get_settings)]


def up_to_date(service: CreditsService, settings: Settings) -> None:
    """Read-your-writes: wait until the views cover every fact recorded before this query."""
    service.wait_for(service.app.recorder.max_notification_id(), settings.read_wait_seconds)


def read_at(service: CreditsService, settings: Settings, as_of: str | None) -> datetime | None:
    """The instant a read is as of (None: now), after waiting for the views to cover every fact
    recorded so far (as-of answers read the views' index of facts too)."""
    when = _as_of(as_of)
    up_to_date(service, settings)
    return when


def _as_of(as_of: str | None) -> datetime | None:
    return None if as_of is None else parse_as_of(as_of)


def parse_as_of(text: str) -> datetime:
    """An RFC 3339 instant with its offset, strictly (not a Unix time, not a date alone), inside
    the accepted range; a `+` sent unencoded arrives as a space, and the error says so."""
    if re.fullmatch(r".*\d \d{2}:\d{2}$", text):
        raise InvalidValueError("as_of", "the offset's '+' arrived as a space: send '+' as %2B (or use Z)")
    if not _RFC3339.match(text):
        raise InvalidValueError("as_of", "must be an RFC 3339 instant with an offset, e.g. 2026-03-01T00:00:00Z")
    return check_instant(datetime.fromisoformat(text.upper().replace("Z", "+00:00")), "as_of")


@credits.get("", response_model=CustomersPage, responses=errors(401, 403, 422, 503))
def list_customers(
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_CREDITS)],
    q: Annotated[str, Query(max_length=200, description="Part of the customer's id or name, any case")] = "",
    after: Annotated[str, Query(max_length=200, description="The next_cursor of the previous page")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Customers by id or name, a page at a time: contracts, credit granted in the current contract
    year, cap used, claims filed (what the console's list shows)."""
    up_to_date(service, settings)
    now = to_micros(datetime.now(UTC))
    with service.view.reading():
        found = [c for c in matching_customers(service.reader, q) if c > after]
        page = found[:limit]
        filed = claims_by_customer(service.reader)
        rows = [customer_summary(service.reader, c, now, filed.get(c, 0)) for c in page]
    return {"customers": rows, "next_cursor": page[-1] if len(found) > limit else None}


@credits.get("/{customer_id}/credits", response_model=CreditsPublic, responses=errors(401, 403, 404, 422, 503))
async def get_credits(
    customer_id: str,
    first: FromMonth,
    last: ToMonth,
    request: Request,
    _: Annotated[str, Depends(READ_CREDITS)],
    as_of: AsOf = None,
) -> Response:
    """Every period of the customer's contracts from `from` to `to`, with contract-year totals."""
    # the busiest route takes the lifespan's services from the app's state itself, not as three
    # dependencies for FastAPI to solve on every request (docs/performance.md)
    state = request.app.state
    service: CreditsService = state.service
    settings: Settings = state.settings
    answer_reads: InProcessAnswerReads | PostgresAnswerReads = state.answer_reads
    a, b = month_range(first, last)
    if as_of is None:
        # the live answer as stored: its reads are one statement (one snapshot, one round trip),
        # read in this process on SQLite and through an asynchronous connection on PostgreSQL,
        # and answered here when that snapshot covers the whole log. Never waits here: a
        # projection behind the log, an answer to build (an unresolved incident, an unknown
        # customer) or a connection that fails go to a worker thread (decisions 18 and 20).
        try:
            reads = await answer_reads.read(customer_id, str(a), str(b))
        except PoolTimeout:
            reads = None  # every connection of the live reads' pool busy: the threaded way
        except psycopg.Error as e:
            # the threaded path retries, and answers an outage as a 503 problem
            log.warning("live credits read failed (%s), answered the threaded way", type(e).__name__)
            reads = None
        if reads is not None and reads.covers_log():
            stored = credits_answer(reads, customer_id, a, b, to_micros(datetime.now(UTC)))
            if stored is not None:
                return Response(stored, media_type="application/json")
    return await run_in_threadpool(_credits, service, settings, customer_id, a, b, as_of)


def _credits(
    service: CreditsService, settings: Settings, customer_id: str, a: Month, b: Month, as_of: str | None
) -> Response:
    """The credits answer: as stored when it can be, else built (in the documented shape,
    answered as is, without a second validation)."""
    if as_of is None:
        with service.reading_current(settings.read_wait_seconds):
            now = to_micros(datetime.now(UTC))
            if (stored := credits_answer(service.reader, customer_id, a, b, now)) is not None:
                return Response(stored, media_type="application/json")  # no unresolved incident
            return JSONResponse(_built_credits(service, service.reader, customer_id, a, b, now, None))
    when = read_at(service, settings, as_of)
    reader, now = service.reader_at(when, customer_id, figures_only=True)
    with service.view.reading():
        return JSONResponse(_built_credits(service, reader, customer_id, a, b, now, when))


def _built_credits(
    service: CreditsService, reader: Reader, customer_id: str, a: Month, b: Month, now: int, when: datetime | None
) -> dict[str, Any]:
    if not service.reader.contracts_of(customer_id):  # a typo must not read as "nothing owed"
        raise NotFoundError("customer_id", f"no contract for customer {customer_id!r}")
    return credits_document(reader, customer_id, a, b, now, when)


@credits.get(
    "/{customer_id}/periods/{month}/explanation",
    response_model=Explanation,
    responses={
        **errors(401, 403, 404, 422, 503),
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "The explanation (JSON; with `format=text` or `Accept: text/plain`, the same in words)",
        },
    },
)
def get_explanation(
    customer_id: str,
    month: Annotated[str, Path(pattern=MONTH, description="The month, YYYY-MM")],
    request: Request,
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_CREDITS)],
    as_of: AsOf = None,
    format: Annotated[Literal["json", "text"] | None, Query(description="text: readable words")] = None,
) -> Any:
    """Every step of the rules for the month: incidents counted or not and why, tier, pro-rating, cap."""
    m = one_month(month, "month")
    when = read_at(service, settings, as_of)
    reader, now = service.reader_at(when, customer_id, explained=m)
    with service.view.reading():
        document = explain_month(reader, customer_id, m, now)
    wants_text = format == "text" or (
        format is None
        and "text/plain" in request.headers.get("accept", "")
        and "json" not in request.headers.get("accept", "")
    )
    if wants_text:
        return PlainTextResponse(explanation_text(document))
    return document


@credits.post(
    "/{customer_id}/claims",
    status_code=201,
    response_model=ClaimAnswer,
    responses={
        200: {"model": ClaimAnswer, "description": "The same claim again"},
        **errors(401, 403, 404, 409, 422, 503),
    },
)
def file_claim(
    customer_id: str,
    body: s.ClaimFile,
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(FILE_CLAIMS)],
) -> JSONResponse:
    """Record a customer's claim and answer the entitlement the rules give; the claim changes no amount."""
    up_to_date(service, settings)
    if not service.reader.contracts_of(customer_id):
        raise NotFoundError("customer_id", f"no contract for customer {customer_id!r}")
    result = commands.file_claim(service.app, customer_id, body)
    m = Month.parse(body.month)
    now = datetime.now(UTC)
    entitlement = credits_document(service.reader, customer_id, m, m, to_micros(now))
    answer = {
        "claim": {"claim_id": body.claim_id, "customer_id": customer_id, **body.model_dump(exclude={"claim_id"})},
        "entitlement": entitlement,
        "note": "Filing a claim changes no amount: the entitlement is what the rules give every customer.",
    }
    headers = {"X-Log-Position": str(result.position)} if result.position is not None else None
    return JSONResponse(answer, status_code=201 if result.created else 200, headers=headers)


@reports.get("/claims", response_model=ClaimsReport, responses=errors(401, 403, 422, 503))
def get_claims_report(
    first: FromMonth,
    last: ToMonth,
    service: Service,
    settings: Settings_,
    _: Annotated[str, Depends(READ_REPORTS)],
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Per customer: claims filed, credit entitled and granted, side by side."""
    a, b = month_range(first, last)
    return service.claims_report(a, b, read_at(service, settings, as_of))
