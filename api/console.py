"""The web console at /ui: pages for account managers, billing and auditors over the same
queries and commands as the HTTP API (no rule is computed here: every figure comes from
projections/queries.py, explanation.py, billing and audit, exactly as the API answers it).

Sign-in exchanges an API key for a session cookie (api/console_session.py); what each page
offers follows the key's role, with the API's role sets. Forms carry a CSRF token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlencode

from babel.numbers import get_currency_precision
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from plotly.offline import get_plotlyjs

from api import commands, metrics
from api import schemas as s
from api.console_session import COOKIE, Session, Sessions
from api.explanation_text import explanation_text
from api.fact_words import fact_in_words
from api.formatting import duration, local_instant, money
from api.public import incident_public
from api.routes_queries import up_to_date
from domain.calendar import Month, from_micros, local_date, to_micros, zone
from domain.errors import DomainError, InvalidValueError, NotFoundError
from domain.incident import incident_uuid
from domain.limits import check_id
from projections.audit import find_digest
from projections.billing import ledger_csv as csv_text
from projections.explanation import explain_month
from projections.queries import (
    affected_contracts,
    claims_by_customer,
    credits_document,
    customer_summary,
    customers_reached,
    matching_customers,
    unbilled_periods,
)
from projections.service import MAX_MONTHS, CreditsService, month_range, one_month
from projections.verification import notifications, verify

HERE = FilePath(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
console = APIRouter(prefix="/ui", include_in_schema=False)

# the API's role sets (api/deps.py), admin included everywhere
CREDITS = {"admin", "account_manager", "billing", "auditor"}
CLAIMS_REPORT = {"admin", "account_manager", "auditor"}
FILE_CLAIMS = {"admin", "account_manager"}
INCIDENTS = {"admin", "ingest", "account_manager", "billing", "auditor"}
LEDGER = {"admin", "billing", "auditor"}
RUN_BILLING = {"admin", "billing"}
AUDIT = {"admin", "auditor"}
PAGES = [
    ("customers", "Customers", "/ui/customers", CREDITS),
    ("claims", "Claims and fairness", "/ui/claims", CLAIMS_REPORT),
    ("incidents", "Incidents", "/ui/incidents", INCIDENTS),
    ("billing", "Billing", "/ui/billing", LEDGER),
    ("audit", "Audit", "/ui/audit", AUDIT),
    ("webhooks", "Webhooks", "/ui/webhooks", {"admin"}),
]
CHANNELS = ["email", "phone", "ticket", "chat", "portal", "letter", "other"]
PAGE_SIZE = 50
# the words for the three amounts of a period (RULES.md: credit_minor, granted_minor,
# capped_minor), the same on every page, chart and explanation
LABELS = {
    "credit": "Credit earned by the SLA",
    "granted": "Credit granted (after the annual cap)",
    "capped": "Lost to the annual cap",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignIn(Exception):
    """No valid session: back to the sign-in form (saying why)."""

    def __init__(self, reason: str | None, next_url: str) -> None:
        self.reason = reason
        self.next_url = next_url


class Forbidden(Exception):
    def __init__(self, role: str, what: str) -> None:
        self.role = role
        self.what = what


@dataclass
class Page:
    request: Request
    session: Session
    service: CreditsService
    as_of: datetime | None

    @property
    def role(self) -> str:
        return self.session.role

    def allow(self, roles: set[str], what: str) -> None:
        if self.role not in roles:
            raise Forbidden(self.role, what)

    def reader(self, customer_id: str | None = None, explained: Month | None = None) -> tuple[Any, int]:
        """Live, or as of the page's instant (for one customer: its facts only; `explained`: for
        the explanation of that month)."""
        up_to_date(self.service, self.request.app.state.settings)  # as-of pages read the views' index too
        return self.service.reader_at(self.as_of, customer_id, explained=explained)

    def render(self, template: str, active: str, show_as_of: bool = True, **context: Any) -> HTMLResponse:
        as_of_input = self.as_of.strftime("%Y-%m-%dT%H:%M:%S") if self.as_of else ""
        keep = [(k, v) for k, v in self.request.query_params.multi_items() if k != "as_of"]
        base = {
            "session": self.session,
            "csrf": self.session.csrf_token(),
            "nav": [
                {"key": key, "label": label, "href": href} for key, label, href, roles in PAGES if self.role in roles
            ],
            "active": active,
            "show_as_of": show_as_of,
            "as_of": self.as_of.isoformat().replace("+00:00", "Z") if self.as_of else None,
            "as_of_input": as_of_input,
            "as_of_query": f"?as_of={as_of_input}" if as_of_input else "",
            "as_of_amp": f"&as_of={as_of_input}" if as_of_input else "",
            "keep_params": keep,
            "keep_query": urlencode(keep),
            # where the as-of form and "Now" go: this page, or after a form was posted (a run, a
            # claim, a verification) the page it answered with, never the POST-only address
            "page_path": self.request.url.path
            if self.request.method == "GET"
            else next((href for key, _, href, _ in PAGES if key == active), "/ui/"),
            "messages": [],
        }
        return _render(self.request, template, {**base, **context})


def _cap_used(granted: int, cap: int | None) -> str:
    """How much of the contract year's cap is used (a cap of 0 is used up from the start)."""
    if cap is None:
        return "no cap"
    return "cap of 0" if cap == 0 else f"{100 * granted / cap:.1f} %"


def _whole(request: Request, name: str, default: int) -> int:
    """A whole-number query parameter (page, cursor); anything else is a 422 naming it."""
    text = request.query_params.get(name, "") or str(default)
    if not text.isdigit() or len(text) > 18:
        raise InvalidValueError(name, "must be a whole number")
    return int(text)


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    context.setdefault("session", None)
    context.setdefault("messages", [])
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _sessions(request: Request) -> Sessions:
    return request.app.state.console_sessions  # type: ignore[no-any-return]


def _as_of(text: str | None) -> datetime | None:
    """The page's `as of`: a datetime-local value, read as UTC (or an RFC 3339 instant)."""
    if not text:
        return None
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DomainError("as_of", f"not an instant: {text!r}") from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def page(request: Request) -> Page:
    """The signed-in user's page context, or a redirect to sign in."""
    session, reason = _sessions(request).read(request.cookies.get(COOKIE))
    if session is not None and request.app.state.service.signed_out(session.session_id):
        session, reason = None, "signed_out"
    if session is None:
        raise SignIn(reason, str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    return Page(request, session, request.app.state.service, _as_of(request.query_params.get("as_of")))


def posted(request: Request, csrf: str) -> Page:
    """A form POST: a valid session, our own origin and the form's CSRF token."""
    p = page(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden(p.role, "send a form from another site")
    if not p.session.accepts(csrf):
        raise Forbidden(p.role, "send this form (its security token is missing or stale; reload the page)")
    return p


# -- formatting ------------------------------------------------------------------------


def _instant(micros: int | None) -> str | None:
    return None if micros is None else from_micros(micros).isoformat().replace("+00:00", "Z")


# -- sign-in ---------------------------------------------------------------------------


@console.get("/login")
def login_form(request: Request, reason: str | None = None, next: str = "/ui/") -> HTMLResponse:
    token = uuid.uuid4().hex
    response = _render(request, "login.html", {"reason": reason, "next": _safe_next(next), "login_csrf": token})
    response.set_cookie("slac_login", token, httponly=True, samesite="strict", path="/ui", max_age=600)
    return response


def _safe_next(url: str) -> str:
    return url if url.startswith("/ui") and not url.startswith("//") else "/ui/"


@console.post("/login")
def login(request: Request, key: str = Form(""), csrf: str = Form(""), next: str = Form("/ui/")) -> Response:
    if not csrf or csrf != request.cookies.get("slac_login"):
        context = {"error": "The sign-in form expired; try again.", "login_csrf": csrf, "next": _safe_next(next)}
        return _render(request, "login.html", context, status=400)
    signed = _sessions(request).sign_in(key)
    if signed is None:
        context = {"error": "That key is not valid.", "login_csrf": csrf, "next": _safe_next(next)}
        return _render(request, "login.html", context, status=401)
    _, value = signed
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",  # a browser-session cookie: the server ends it at its signed expiry
    )
    response.delete_cookie("slac_login", path="/ui")
    return response


@console.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    p = posted(request, csrf)
    p.service.sign_out(p.session.session_id, p.session.expires)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@console.get("/")
def home(request: Request) -> Response:
    p = page(request)
    first = next((href for _, _, href, roles in PAGES if p.role in roles), "/ui/incidents")
    return RedirectResponse(first, status_code=303)


# -- customers -------------------------------------------------------------------------


@console.get("/customers")
def customers(request: Request, q: str = "") -> HTMLResponse:
    p = page(request)
    p.allow(CREDITS, "read credits")
    page_number = max(1, _whole(request, "page", 1))
    reader, now = p.reader()
    with p.service.view.reading():
        claims = claims_by_customer(reader)
        found = matching_customers(reader, q)
        pages = max(1, -(-len(found) // PAGE_SIZE))
        rows = []
        for customer_id in found[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE]:
            summary = customer_summary(reader, customer_id, now, claims.get(customer_id, 0))
            years = summary["years"]
            rows.append(
                {
                    **summary,
                    "credit_text": ", ".join(money(y["granted_minor"], y["currency"]) for y in years) or "none",
                    "cap_text": ", ".join(_cap_used(y["granted_minor"], y["cap_minor"]) for y in years) or "n/a",
                }
            )
    return p.render("customers.html", "customers", customers=rows, q=q, page=page_number, pages=pages, total=len(found))


@console.get("/customers/{customer_id}")
def customer(request: Request, customer_id: str) -> HTMLResponse:
    p = page(request)
    p.allow(CREDITS, "read credits")
    reader, now = p.reader(customer_id)
    with p.service.view.reading():
        contracts = reader.contracts_of(customer_id)
        if not contracts:
            raise NotFoundError("customer_id", f"no contract for customer {customer_id!r}")
        # by default every month from the first contract's first one to the current one
        this_month = Month.of(local_date(now, contracts[0].tz))
        first_month = min(Month.of(c.starts_on) for c in contracts)
        default_first = min(max(first_month, this_month.plus(-(MAX_MONTHS - 1))), this_month)
        q = request.query_params
        first, last = month_range(q.get("from") or str(default_first), q.get("to") or str(this_month))
        doc = credits_document(reader, customer_id, first, last, now, p.as_of)
    currency = {c.contract_id: c.currency for c in contracts}
    charts = []
    for c in contracts:
        own = [x for x in doc["periods"] if x["contract_id"] == c.contract_id]
        if not own:
            continue
        digits = get_currency_precision(c.currency)
        scale = Decimal(1).scaleb(-digits)
        charts.append(
            {
                "contract_id": c.contract_id,
                "currency": c.currency,
                "data": {
                    "currency": c.currency,
                    "labels": LABELS,
                    "months": [x["month"] for x in own],
                    "owed": [float(x["credit_minor"] * scale) for x in own],
                    "granted": [float(x["granted_minor"] * scale) for x in own],
                    "capped": [float(x["capped_minor"] * scale) for x in own],
                },
            }
        )
    years = []
    for y in doc["contract_years"]:
        cur = currency[y["contract_id"]]
        used = None if not y["cap_minor"] else 100 * y["granted_minor"] / y["cap_minor"]
        years.append(
            {
                **y,
                "granted_text": money(y["granted_minor"], cur),
                "cap_text": money(y["cap_minor"], cur),
                "capped_text": money(y["capped_minor"], cur),
                "used_text": "no cap" if used is None else f"{used:.1f} % used",
                "data": {"used_percent": 0 if used is None else round(used, 2)},
            }
        )
    periods = [
        {
            **x,
            "credit_text": money(x["credit_minor"], x["currency"]),
            "granted_text": money(x["granted_minor"], x["currency"]),
            "capped_text": money(x["capped_minor"], x["currency"]),
        }
        for x in sorted(doc["periods"], key=lambda x: (x["month"], x["contract_id"]), reverse=True)
    ]
    return p.render(
        "customer.html",
        "customers",
        customer_id=customer_id,
        name=contracts[0].customer_name,
        first_month=str(first),
        last_month=str(last),
        contract_first=str(first_month),
        charts=charts,
        years=years,
        periods=periods,
    )


def _timeline(period: dict[str, Any]) -> dict[str, Any]:
    """Rows of the month's timeline, from the explanation's own intervals, on the contract's
    local clock (the chart's axis shows wall-clock times; bar lengths are real durations)."""
    window = period["measured_window"]
    start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    tz = zone(period["timezone"])
    rows = []

    def wall(t: datetime) -> str:
        return t.astimezone(tz).replace(tzinfo=None).isoformat()

    def row(label: str, kind: str, a: str | None, b: str | None, hover: str) -> None:
        if a is None:
            return
        s_, e_ = max(datetime.fromisoformat(a), start), min(datetime.fromisoformat(b) if b else end, end)
        if e_ <= s_:
            s_, e_ = max(min(datetime.fromisoformat(a), end), start), max(min(datetime.fromisoformat(a), end), start)
        ms = max((e_ - s_) / timedelta(milliseconds=1), 60_000.0)  # at least a minute, to be visible
        hover += f" ({local_instant(a, period['timezone'])} to {local_instant(b, period['timezone'])})"
        rows.append(
            {"label": label, "kind": kind, "start": wall(s_), "duration_ms": ms, "hover": hover, "legend": kind}
        )

    for line in period["lines"]:
        where = f"{line['service']}/{line['region']}"
        for i in line["incidents"]:
            if i["counted"]:
                span = i["clipped"] or {"start": i["started_at"], "end": i["ended_at"]}
                row(
                    f"{where} · incident {i['incident_id']}",
                    "counted",
                    span["start"],
                    span["end"],
                    f"{i['incident_id']}: {i['severity']}, counted with weight {i['weight']}",
                )
            else:
                row(
                    f"{where} · incident {i['incident_id']} (not counted)",
                    "notCounted",
                    i["started_at"],
                    i["ended_at"],
                    f"{i['incident_id']} did not count: {i['reason_text']}",
                )
        for m in line["maintenance"]:
            if m["qualified"]:
                label, kind, state = "excluded", "maintenance", "announced in time: not downtime"
            elif m["reason"] in ("other_service", "other_region"):  # not this subscription's: shown as such
                label, kind, state = m["reason_text"], "notCounted", f"does not apply: {m['reason_text']}"
            else:  # it applies, but does not qualify (too little notice, cancelled): downtime counts
                label, kind, state = "not excluded", "maintenanceNotExcluded", f"not excluded: {m['reason_text']}"
            row(
                f"{where} · maintenance {m['maintenance_id']} ({label})",
                kind,
                m["starts_at"],
                m["ends_at"],
                f"{m['maintenance_id']}: {state}",
            )
        for n, d in enumerate(line["downtime_intervals"], start=1):
            row(f"{where} · downtime", "downtime", d["start"], d["end"], f"merged downtime {n}, weight {d['weight']}")
    return {"start": wall(start), "end": wall(end), "rows": rows}


@console.get("/customers/{customer_id}/periods/{month}")
def explanation(request: Request, customer_id: str, month: str) -> HTMLResponse:
    p = page(request)
    p.allow(CREDITS, "read credits")
    m = one_month(month)
    reader, now = p.reader(customer_id, explained=m)
    with p.service.view.reading():
        doc = explain_month(reader, customer_id, m, now)
        name = reader.contracts_of(customer_id)[0].customer_name
    words = explanation_text(doc).split("\n")
    periods = []
    for period in doc["periods"]:
        cur = period["currency"]
        own_words = []
        collecting = False
        for line in words:
            if line.startswith(f"Contract {period['contract_id']} "):
                collecting = True
            elif line.startswith("Contract ") and collecting:
                break
            if collecting and line.strip():
                own_words.append(line)
        periods.append(
            {
                "doc": period,
                "timeline": _timeline(period),
                "lines": [
                    {
                        **line,
                        "downtime": f"{Decimal(line['downtime_seconds']) / 60:.1f} min",
                        "fee_text": money(line["fee_minor"], cur),
                        "credit_text": money(line["credit_minor"], cur),
                    }
                    for line in period["lines"]
                ],
                "credit_text": money(period["credit_minor"], cur),
                "cap_text": money(period["cap"]["cap_minor"], cur),
                "before_text": money(period["cap"]["remaining_before_minor"], cur),
                "granted_text": money(period["granted_minor"], cur),
                "capped_text": money(period["capped_minor"], cur),
                "words": own_words,
            }
        )
    return p.render("explanation.html", "customers", customer_id=customer_id, name=name, month=str(m), periods=periods)


# -- claims ----------------------------------------------------------------------------


def _claims_page(p: Page, first: str | None, last: str | None, filed: dict[str, Any] | None = None) -> HTMLResponse:
    if p.as_of is None:
        up_to_date(p.service, p.request.app.state.settings)
    this_month = Month.of((p.as_of or datetime.now(UTC)).date())
    a, b = month_range(first or str(this_month.plus(-11)), last or str(this_month))
    report = p.service.claims_report(a, b, p.as_of)
    rows = [
        {
            **r,
            "entitled_text": ", ".join(money(r["credit_entitled_minor"], c) for c in r["currencies"]) or "none",
            "granted_text": ", ".join(money(r["credit_granted_minor"], c) for c in r["currencies"]) or "none",
        }
        for r in report["customers"]
    ]
    chart = _claims_chart(report["customers"])
    return p.render(
        "claims.html",
        "claims",
        first=str(a),
        last=str(b),
        rows=rows,
        chart=chart,
        can_file=p.role in FILE_CLAIMS and p.as_of is None,
        channels=CHANNELS,
        filed=filed,
        new_claim_id=f"ui-{uuid.uuid4().hex[:12]}",
    )


def _claims_chart(customers: list[dict[str, Any]]) -> dict[str, Any]:
    """One chart for every customer: claims filed beside the credit the rules entitle. Amounts
    in different currencies share no axis: each bar is the amount as a share of the largest in
    its currency (so bars compare customers billed alike), and it is written out beside it."""
    ordered = sorted(customers, key=lambda r: (r["currencies"][:1] or [""], r["customer_id"]))
    largest: dict[str, int] = {}
    for r in ordered:
        if len(r["currencies"]) == 1:
            cur = r["currencies"][0]
            largest[cur] = max(largest.get(cur, 0), r["credit_entitled_minor"])
    rows = []
    for r in ordered:
        single = len(r["currencies"]) == 1
        cur = r["currencies"][0] if single else None
        top = largest.get(cur, 0) if cur else 0
        rows.append(
            {
                "label": f"{r['customer_id']} · {cur or '/'.join(r['currencies']) or 'no period'}",
                "claims": r["claims_filed"],
                # the bar's length only (the amount itself is the text, exact)
                "share": float(Decimal(r["credit_entitled_minor"]) / top) if single and top else 0.0,
                "text": money(r["credit_entitled_minor"], cur) if cur else "several currencies: see the table",
            }
        )
    return {"rows": rows, "labels": {"claims": "Claims filed", "credit": LABELS["credit"]}}


@console.get("/claims")
def claims(request: Request) -> HTMLResponse:
    p = page(request)
    p.allow(CLAIMS_REPORT, "read the claims report")
    return _claims_page(p, request.query_params.get("from"), request.query_params.get("to"))


@console.post("/claims")
def file_claim(
    request: Request,
    csrf: str = Form(""),
    claim_id: str = Form(""),
    customer_id: str = Form(""),
    month: str = Form(""),
    channel: str = Form("other"),
    message: str = Form(""),
) -> HTMLResponse:
    p = posted(request, csrf)
    p.allow(FILE_CLAIMS, "file claims")
    body = s.ClaimFile.model_validate({"claim_id": claim_id, "month": month, "channel": channel, "message": message})
    up_to_date(p.service, request.app.state.settings)
    if not p.service.reader.contracts_of(customer_id):
        raise NotFoundError("customer_id", f"no contract for customer {customer_id!r}")
    result = commands.file_claim(p.service.app, customer_id, body)
    p.service.wait_for(result.position, request.app.state.settings.read_wait_seconds)
    m = Month.parse(body.month)
    with p.service.view.reading():
        doc = credits_document(p.service.reader, customer_id, m, m, to_micros(datetime.now(UTC)))
    entitlement = ", ".join(money(x["granted_minor"], x["currency"]) for x in doc["periods"]) or "no credit"
    filed = {"claim_id": body.claim_id, "customer_id": customer_id, "month": str(m), "entitlement_text": entitlement}
    return _claims_page(p, None, None, filed)


# -- incidents -------------------------------------------------------------------------


@console.get("/incidents")
def incidents(request: Request, service: str = "") -> HTMLResponse:
    p = page(request)
    p.allow(INCIDENTS, "read incidents")
    if service:
        check_id(service, "service")  # a filter is an id: no NUL or control characters reach the store
    number = max(1, _whole(request, "page", 1))
    reader, now = p.reader()
    with p.service.view.reading():
        found = reader.incidents_page(service or None, PAGE_SIZE + 1, (number - 1) * PAGE_SIZE)
        services = reader.services()
        reached = customers_reached(reader, found[:PAGE_SIZE], now)
    rows = [
        {
            "incident_id": i.incident_id,
            "title": i.title,
            "duration": "ongoing" if i.ended_at is None else duration(Decimal(i.ended_at - i.started_at) / 10**6),
            "reached": reached[i.incident_id],
            "service": i.service,
            "regions": ", ".join(i.regions),
            "severity": i.severity,
            "started_at": _instant(i.started_at),
            "ended_at": _instant(i.ended_at),
            "cause": i.cause,
            "retracted": i.retracted,
        }
        for i in found[:PAGE_SIZE]
    ]
    return p.render(
        "incidents.html",
        "incidents",
        show_as_of=True,
        incidents=rows,
        services=services,
        service=service,
        page=number,
        more=len(found) > PAGE_SIZE,
    )


@console.get("/incidents/{incident_id}")
def incident(request: Request, incident_id: str) -> HTMLResponse:
    p = page(request)
    p.allow(INCIDENTS, "read incidents")
    state = incident_public(p.service.app, p.service.app.get_incident(incident_id))
    if p.as_of is not None:  # the incident as it was known then: its facts up to that instant
        known = [h for h in state["history"] if datetime.fromisoformat(h["recorded_at"]) <= p.as_of]
        if not known:
            raise NotFoundError("incident_id", f"no incident {incident_id!r} was recorded by {p.as_of.isoformat()}")
        then = p.service.app.repository.get(incident_uuid(incident_id), version=known[-1]["version"])
        state = {**incident_public(p.service.app, then), "history": known}
    reader, now = p.reader()
    with p.service.view.reading():
        facts = next((i for i in reader.incidents_page(None, 10**9, 0) if i.incident_id == incident_id), None)
        affected = affected_contracts(reader, facts, now) if facts is not None else []
    return p.render(
        "incident.html",
        "incidents",
        incident=state,
        affected=affected,
        can_read_credits=p.role in CREDITS,
    )


# -- billing ---------------------------------------------------------------------------


def _ledger_filters(request: Request) -> dict[str, str]:
    q = request.query_params
    return {k: q.get(k, "").strip() for k in ("customer_id", "month", "kind")}


def _ledger_rows(p: Page, filters: dict[str, str], after: int, limit: int) -> list[dict[str, Any]]:
    up_to_date(p.service, p.request.app.state.settings)  # as-of pages read the views' index too
    reader = p.service.ledger_reader_at(p.as_of)  # as of an instant: the ledger's own facts only
    with p.service.view.reading():
        return reader.ledger_rows(  # type: ignore[no-any-return]
            after,
            limit,
            customer_id=filters["customer_id"] or None,
            month=filters["month"] or None,
            kind=filters["kind"] or None,
        )


def _billing_page(p: Page, run: dict[str, Any] | None = None) -> HTMLResponse:
    filters = _ledger_filters(p.request)
    after = max(0, _whole(p.request, "after", 0))
    rows = _ledger_rows(p, filters, after, PAGE_SIZE + 1)
    entries = [{**e, "amount_text": money(int(e["amount_minor"]), str(e["currency"]))} for e in rows[:PAGE_SIZE]]
    if run is not None:
        run = {
            **run,
            "entries": [{**e, "amount_text": money(e["amount_minor"], e["currency"])} for e in run["entries"]],
        }
    query = {k: v for k, v in filters.items() if v}
    if p.as_of:
        query["as_of"] = p.as_of.strftime("%Y-%m-%dT%H:%M:%S")
    next_after = int(entries[-1]["seq"]) if len(rows) > PAGE_SIZE else None
    runs, unbilled = [], []
    if p.as_of is None:  # the runs and the periods not issued yet, as they are now
        with p.service.view.reading():
            runs = [
                {
                    **r.doc(),
                    "totals_text": ", ".join(money(t["credit"] + t["adjustment"], cur) for cur, t in r.totals.items()),
                }
                for r in reversed(p.service.reader.runs())
            ][:PAGE_SIZE]
            first = min((Month.parse(m) for _, m in p.service.app.issued_periods()), default=None)
            customers = p.service.reader.customers()[:PAGE_SIZE]
            unbilled = [
                {**u, "amount_text": money(u["granted_minor"], u["currency"])}
                for u in unbilled_periods(p.service.reader, customers, to_micros(datetime.now(UTC)), first)
            ]
    return p.render(
        "billing.html",
        "billing",
        runs=runs,
        unbilled=unbilled,
        entries=entries,
        filters=filters,
        run=run,
        can_run=p.role in RUN_BILLING and p.as_of is None,
        csv_query=urlencode(query),
        next_after=next_after,
        next_query=urlencode({**query, "after": next_after}),
    )


@console.get("/billing")
def billing(request: Request) -> HTMLResponse:
    p = page(request)
    p.allow(LEDGER, "read the ledger")
    return _billing_page(p)


@console.get("/billing/ledger.csv")
def ledger_csv(request: Request) -> Response:
    p = page(request)
    p.allow(LEDGER, "read the ledger")
    rows = _ledger_rows(p, _ledger_filters(request), 0, 1_000_000)
    return Response(
        csv_text(rows),
        media_type="text/csv",
        headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="ledger.csv"'},
    )


@console.post("/billing/runs")
def run_billing(request: Request, csrf: str = Form(""), month: str = Form("")) -> HTMLResponse:
    p = posted(request, csrf)
    p.allow(RUN_BILLING, "run billing")
    m = Month.parse(month)
    up_to_date(p.service, request.app.state.settings)
    started = datetime.now(UTC)
    run = p.service.bill(m)
    metrics.observe_run((datetime.now(UTC) - started).total_seconds(), run["entries"], run.pop("view_mismatches"))
    p.service.wait_for(run.pop("position"), request.app.state.settings.read_wait_seconds)
    return _billing_page(p, run)


# -- audit -----------------------------------------------------------------------------


def _audit_page(p: Page, **extra: Any) -> HTMLResponse:
    after = max(0, _whole(p.request, "after", 0))
    up_to_date(p.service, p.request.app.state.settings)
    from projections.audit import feed_page, stream_subjects

    upto = None if p.as_of is None else p.service.position_known_at(p.as_of)
    feed = feed_page(p.service.app, p.service.recorded_links, after, PAGE_SIZE, upto)
    subjects = stream_subjects(p.service.app, feed["events"])
    facts = [{**f, "words": fact_in_words(f, subjects.get(f["stream_id"]))} for f in feed["events"]]
    return p.render(
        "audit.html",
        "audit",
        feed=facts,
        after=after,
        page_size=PAGE_SIZE,
        next_after=feed["next_after"],
        more=feed["next_after"] > after and len(feed["events"]) > 0,
        self_check=p.service.self_check_status(),
        failure=p.service.projection_failure(),
        **extra,
    )


@console.get("/audit")
def audit(request: Request) -> HTMLResponse:
    p = page(request)
    p.allow(AUDIT, "read the audit trail")
    return _audit_page(p)


@console.post("/audit/verification")
def verify_now(request: Request, csrf: str = Form("")) -> HTMLResponse:
    p = posted(request, csrf)
    p.allow(AUDIT, "verify")
    up_to_date(p.service, request.app.state.settings)
    result = verify(p.service.app, p.service.view, p.service.position() or 0)
    metrics.observe_verification(result)
    result["ok"] = result["mismatch_count"] == 0 and result["first_bad_position"] is None
    return _audit_page(p, verification=result)


@console.post("/audit/digest")
def check_digest(request: Request, csrf: str = Form(""), digest: str = Form("")) -> HTMLResponse:
    p = posted(request, csrf)
    p.allow(AUDIT, "check a digest")
    position = find_digest(notifications(p.service.app), digest)
    if position is None:
        result = {
            "kind": "error",
            "text": "This digest matches no position of the log as stored now: either it was not taken from this "
            "log, or a fact recorded before it has changed since.",
        }
    else:
        result = {
            "kind": "ok",
            "text": f"This digest is the chain's link at position {position}: no fact recorded up to that position "
            "has changed since it was taken.",
        }
    return _audit_page(p, digest_result=result, digest_checked=digest)


# -- static files and errors ------------------------------------------------------------

PLOTLY_JS = get_plotlyjs().encode("utf-8")


@console.get("/static/plotly.min.js")
def plotly_js() -> Response:
    return Response(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


@console.get("/static/{name}")
def static(name: str) -> Response:
    path = HERE / "static" / name
    if name not in ("console.css", "console.js") or not path.is_file():
        raise NotFoundError("name", f"no such file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=300"})


def install(app: FastAPI, sessions: Sessions) -> None:
    """Mount the console on the app: its routes, its sessions and its HTML error pages."""
    app.state.console_sessions = sessions
    templates.env.globals["static"] = lambda name: f"/ui/static/{name}"
    templates.env.globals["labels"] = LABELS
    app.include_router(console)
    from api.console_webhooks import console_webhooks  # it builds on this module's pages

    app.include_router(console_webhooks)

    @app.exception_handler(SignIn)
    async def _sign_in(request: Request, exc: SignIn) -> Response:
        query = urlencode({"next": exc.next_url, **({"reason": exc.reason} if exc.reason else {})})
        response = RedirectResponse(f"/ui/login?{query}", status_code=303)
        if exc.reason:
            response.delete_cookie(COOKIE, path="/ui")
        return response

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        context = {"title": "Not allowed", "detail": f"The role {exc.role!r} may not {exc.what}."}
        return _render(request, "error.html", context, status=403)


def is_console(request: Request) -> bool:
    return request.url.path.startswith("/ui")


def error_page(request: Request, status: int, detail: str, errors: list[dict[str, str]] | None) -> HTMLResponse:
    """Domain and validation errors on a console page: the same message, as a page."""
    titles = {404: "Not found", 409: "Conflict", 422: "Please check the form", 503: "Try again shortly"}
    context = {"title": titles.get(status, "Error"), "detail": detail, "errors": errors}
    return _render(request, "error.html", context, status=status)
