"""The answers of the HTTP API, for the OpenAPI document and the clients generated from it.

Every answer is one of these models: each field says what it is, each top-level answer carries an
example. The handlers build plain JSON of exactly this shape (the query functions'
documents); `extra="forbid"` makes any key a model does not name fail the tests that validate
every answer against its model, instead of being dropped or sent undocumented. The published
schema stays open to additions (no `additionalProperties: false`): a client generated today must
keep working when a later version adds a field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.problems import PROBLEM, Problem

INSTANT = "an instant in UTC, RFC 3339 with `Z`"


def _open_schema(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties", None)


class Answer(BaseModel):
    """A part of an answer: strict about its keys, documented as open to additions."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_open_schema)


def example(value: dict[str, Any]) -> ConfigDict:
    """A top-level answer's configuration: strict keys, open schema, and one example."""

    def extra(schema: dict[str, Any]) -> None:
        _open_schema(schema)
        schema["examples"] = [value]

    return ConfigDict(extra="forbid", json_schema_extra=extra)


def F(description: str, **kwargs: Any) -> Any:
    return Field(description=description, **kwargs)


# ---- shared parts ------------------------------------------------------------------------


class CreditTier(Answer):
    below_percent: str = F("Uptime below this percentage (a decimal as written in the contract) earns the tier")
    credit_percent: str = F("Percentage of the line's monthly fee credited in this tier (a decimal)")


class AnnualCap(Answer):
    percent_of_annual_fees: str | None = F(
        "The cap as a percentage of the contract year's fees (present when the cap is a percentage)", default=None
    )
    amount_minor: int | None = F(
        "The cap as a fixed amount in minor units (present when the cap is an amount)", default=None
    )


class Terms(Answer):
    credit_tiers: list[CreditTier] = F("The credit tiers, from the mildest to the worst")
    degraded_weight: str = F("How much of a degraded minute counts as downtime, 0 to 1 (decimal)")
    maintenance_notice_hours: int = F("Hours of notice a maintenance window needs to be excluded")
    annual_cap: AnnualCap | None = F("The annual cap on credits; null: no cap")


class Subscription(Answer):
    service: str = F("The service subscribed to")
    region: str = F("The region it runs in")
    monthly_fee_minor: int = F("Monthly fee in minor units of the contract's currency")


class Window(Answer):
    start: str | None = F(f"Start, {INSTANT}")
    end: str | None = F(f"End (exclusive), {INSTANT}")


# ---- credits -----------------------------------------------------------------------------


class CreditLine(Answer):
    service: str = F("The subscribed service")
    region: str = F("The subscribed region")
    measured_seconds: int | str = F("Seconds of the measured window (whole seconds as an integer)")
    downtime_seconds: str = F("Weighted downtime in seconds (a decimal: degraded time counts by its weight)")
    uptime_percent: str = F("Uptime percentage of the measured window, rounded half-even to 6 places")
    credit_percent: str = F("Percentage of the fee credited (the tier's, 0 below every tier)")
    fee_minor: int = F("The line's fee for the period (pro-rated in a partial month), minor units")
    credit_minor: int = F("The line's credit before the annual cap, minor units")


class CreditPeriod(Answer):
    contract_id: str = F("The contract")
    month: str = F("The calendar month in the contract's time zone, YYYY-MM")
    currency: str = F("ISO 4217 currency of every amount of the period")
    status: Literal["open", "closed"] = F(
        "open: the month has not ended or an unresolved incident reaches it (figures may change); closed: final"
    )
    lines: list[CreditLine] = F("One line per subscription, by service then region")
    credit_minor: int = F("Credit owed by the SLA before the annual cap (sum of the lines), minor units")
    granted_minor: int = F("Credit granted after the annual cap, minor units")
    capped_minor: int = F("Credit lost to the annual cap (credit_minor - granted_minor), minor units")
    contract_year_start: str = F("First day of the contract year the period belongs to (YYYY-MM-DD)")


class ContractYear(Answer):
    contract_id: str = F("The contract")
    starts_on: str = F("First day of the contract year (YYYY-MM-DD)")
    cap_minor: int | None = F("The year's annual cap in minor units; null: no cap")
    credit_minor: int = F("Credit owed by the SLA in the year before the cap, minor units")
    granted_minor: int = F("Credit granted in the year after the cap, minor units")
    capped_minor: int = F("Credit lost to the cap in the year, minor units")
    remaining_minor: int | None = F("Cap left for the rest of the year; null: no cap")


_PERIOD = {
    "contract_id": "c-100",
    "month": "2026-03",
    "currency": "USD",
    "status": "closed",
    "lines": [
        {
            "service": "compute",
            "region": "eu-west",
            "measured_seconds": 2678400,
            "downtime_seconds": "3600",
            "uptime_percent": "99.865591",
            "credit_percent": "10",
            "fee_minor": 100000,
            "credit_minor": 10000,
        }
    ],
    "credit_minor": 10000,
    "granted_minor": 10000,
    "capped_minor": 0,
    "contract_year_start": "2026-01-01",
}
_YEAR = {
    "contract_id": "c-100",
    "starts_on": "2026-01-01",
    "cap_minor": 240000,
    "credit_minor": 10000,
    "granted_minor": 10000,
    "capped_minor": 0,
    "remaining_minor": 230000,
}


class CreditsPublic(Answer):
    model_config = example({"customer_id": "acme", "as_of": None, "periods": [_PERIOD], "contract_years": [_YEAR]})

    customer_id: str = F("The customer")
    as_of: str | None = F(f"The instant the figures are as known at ({INSTANT}); null: now")
    periods: list[CreditPeriod] = F("Every period of the customer's contracts in the months asked, in month order")
    contract_years: list[ContractYear] = F("The contract years those periods belong to, with the cap's use")


class CustomerYear(ContractYear):
    currency: str = F("ISO 4217 currency of the contract")


class CustomerSummary(Answer):
    customer_id: str = F("The customer")
    name: str = F("The customer's name as its first contract records it")
    contracts: list[str] = F("The customer's contract ids")
    years: list[CustomerYear] = F("Each contract's current contract year: credit granted and cap used")
    claims: int = F("Claims the customer has filed (claims change no amount)")


class CustomersPage(Answer):
    model_config = example(
        {
            "customers": [
                {
                    "customer_id": "acme",
                    "name": "Acme Corporation",
                    "contracts": ["c-100"],
                    "years": [{**_YEAR, "currency": "USD"}],
                    "claims": 1,
                }
            ],
            "next_cursor": None,
        }
    )

    customers: list[CustomerSummary] = F("A page of customers, in id order")
    next_cursor: str | None = F("Pass as `after` for the next page; null: this was the last page")


# ---- explanation -------------------------------------------------------------------------


class IncidentStep(Answer):
    incident_id: str = F("The incident")
    service: str = F("Its service")
    severity: Literal["outage", "degraded"] = F("outage counts fully; degraded by the contract's weight")
    cause: Literal["provider", "force_majeure"] = F("provider, or force_majeure (never counted)")
    started_at: str = F(f"Start, {INSTANT}")
    ended_at: str | None = F(f"End, {INSTANT}; null: unresolved (counted up to now)")
    counted: bool = F("Whether it counts towards this line's downtime")
    reason: str | None = F("Why it does not count (a code); null when counted")
    reason_text: str | None = F("The reason in words; null when counted")
    clipped: Window | None = F("The part inside the measured window; null: none")
    weight: str = F("The weight its time counts with (1 for an outage, the degraded weight otherwise)")


class MaintenanceStep(Answer):
    maintenance_id: str = F("The maintenance window")
    starts_at: str = F(f"Start, {INSTANT}")
    ends_at: str = F(f"End, {INSTANT}")
    announced_at: str = F(f"When it was announced, {INSTANT}")
    qualified: bool = F("Whether it qualifies (enough notice, not cancelled): its time is excluded")
    reason: str | None = F("Why it does not qualify (a code); null when it does")
    reason_text: str | None = F("The reason in words; null when it qualifies")


class WeightedInterval(Answer):
    start: str = F(f"Start, {INSTANT}")
    end: str = F(f"End, {INSTANT}")
    weight: str = F("The weight the interval counts with (decimal)")


class LineExplanation(Answer):
    service: str = F("The subscribed service")
    region: str = F("The subscribed region")
    incidents: list[IncidentStep] = F("Every incident of the service that reaches the month, counted or not, and why")
    maintenance: list[MaintenanceStep] = F(
        "Every maintenance window of the service in the month, and whether it counts"
    )
    downtime_intervals: list[WeightedInterval] = F("The downtime after merging overlaps and removing maintenance")
    excluded_by_maintenance: list[WeightedInterval] = F("Downtime removed because qualifying maintenance covered it")
    measured_seconds: int | str = F("Seconds of the measured window (whole seconds as an integer)")
    month_seconds: int | str = F("Seconds of the whole calendar month")
    downtime_seconds: str = F("Weighted downtime in seconds (decimal)")
    uptime_percent: str = F("Uptime percentage, rounded half-even to 6 places")
    tier: int | None = F("Index of the tier reached (0 first); null: no tier")
    credit_percent: str = F("Percentage of the fee credited")
    monthly_fee_minor: int = F("The subscription's monthly fee, minor units")
    fee_minor: int = F("The fee for the measured window (pro-rated), minor units")
    credit_minor: int = F("The line's credit before the cap, minor units")


class CapStep(Answer):
    cap_minor: int | None = F("The contract year's cap; null: no cap")
    annual_fees_minor: int | None = F("The contract year's fees, when the cap is a percentage of them; null otherwise")
    remaining_before_minor: int | None = F("Cap left before this month's grant; null: no cap")
    granted_minor: int = F("Granted this month after the cap")
    capped_minor: int = F("Lost to the cap this month")
    remaining_after_minor: int | None = F("Cap left after this month's grant; null: no cap")


class PeriodExplanation(Answer):
    contract_id: str = F("The contract")
    month: str = F("The month, YYYY-MM")
    currency: str = F("ISO 4217 currency")
    timezone: str = F("The contract's IANA time zone: months begin at its local midnight")
    status: Literal["open", "closed"] = F("As in the credits answer")
    month_window: Window = F("The calendar month in the contract's time zone")
    measured_window: Window = F("The part of the month under contract")
    terms_from: str = F("The day the terms in force took effect")
    subscriptions_from: str = F("The day the subscriptions in force took effect")
    degraded_weight: str = F("The weight of degraded time (decimal)")
    maintenance_notice_hours: int = F("Notice a maintenance window needs")
    credit_tiers: list[CreditTier] = F("The tiers in force")
    lines: list[LineExplanation] = F("One line per subscription")
    credit_minor: int = F("Credit before the cap")
    contract_year_start: str = F("First day of the contract year")
    cap: CapStep = F("The annual cap's step")
    granted_minor: int = F("Credit granted after the cap")
    capped_minor: int = F("Credit lost to the cap")


class Explanation(Answer):
    model_config = example(
        {
            "customer_id": "acme",
            "month": "2026-03",
            "periods": [
                {
                    "contract_id": "c-100",
                    "month": "2026-03",
                    "currency": "USD",
                    "timezone": "UTC",
                    "status": "closed",
                    "month_window": {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"},
                    "measured_window": {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"},
                    "terms_from": "2026-01-01",
                    "subscriptions_from": "2026-01-01",
                    "degraded_weight": "0.5",
                    "maintenance_notice_hours": 48,
                    "credit_tiers": [{"below_percent": "99.9", "credit_percent": "10"}],
                    "lines": [
                        {
                            "service": "compute",
                            "region": "eu-west",
                            "incidents": [
                                {
                                    "incident_id": "inc-7",
                                    "service": "compute",
                                    "severity": "outage",
                                    "cause": "provider",
                                    "started_at": "2026-03-10T10:00:00Z",
                                    "ended_at": "2026-03-10T11:00:00Z",
                                    "counted": True,
                                    "reason": None,
                                    "reason_text": None,
                                    "clipped": {"start": "2026-03-10T10:00:00Z", "end": "2026-03-10T11:00:00Z"},
                                    "weight": "1",
                                }
                            ],
                            "maintenance": [],
                            "downtime_intervals": [
                                {"start": "2026-03-10T10:00:00Z", "end": "2026-03-10T11:00:00Z", "weight": "1"}
                            ],
                            "excluded_by_maintenance": [],
                            "measured_seconds": 2678400,
                            "month_seconds": 2678400,
                            "downtime_seconds": "3600",
                            "uptime_percent": "99.865591",
                            "tier": 0,
                            "credit_percent": "10",
                            "monthly_fee_minor": 100000,
                            "fee_minor": 100000,
                            "credit_minor": 10000,
                        }
                    ],
                    "credit_minor": 10000,
                    "contract_year_start": "2026-01-01",
                    "cap": {
                        "cap_minor": None,
                        "annual_fees_minor": 1200000,
                        "remaining_before_minor": None,
                        "granted_minor": 10000,
                        "capped_minor": 0,
                        "remaining_after_minor": None,
                    },
                    "granted_minor": 10000,
                    "capped_minor": 0,
                }
            ],
        }
    )

    customer_id: str = F("The customer")
    month: str = F("The month explained, YYYY-MM")
    periods: list[PeriodExplanation] = F("Every contract period of the customer in the month, step by step")


# ---- contracts, incidents, maintenance, claims --------------------------------------------


class HistoryItem(Answer):
    version: int = F("The fact's version in its aggregate's history (1 first)")
    type: str = F("What happened (the event's name)")
    recorded_at: str = F(f"When it was recorded, {INSTANT}")
    data: dict[str, Any] = F("The fact as recorded")


class Amendment(Answer):
    effective_from: str = F("The day the amendment takes effect")
    terms: Terms | None = F("The new terms; null: unchanged")
    subscriptions: list[Subscription] | None = F("The new subscriptions; null: unchanged")


class ContractPublic(Answer):
    model_config = example(
        {
            "contract_id": "c-100",
            "customer_id": "acme",
            "customer_name": "Acme Corporation",
            "timezone": "America/New_York",
            "starts_on": "2026-01-01",
            "ends_on": None,
            "currency": "USD",
            "terminated": False,
            "in_force_on": "2026-03-15",
            "terms": {
                "credit_tiers": [{"below_percent": "99.9", "credit_percent": "10"}],
                "degraded_weight": "0.5",
                "maintenance_notice_hours": 48,
                "annual_cap": {"percent_of_annual_fees": "20"},
            },
            "subscriptions": [{"service": "compute", "region": "us-east", "monthly_fee_minor": 100000}],
            "amendments": [],
            "history": [
                {
                    "version": 1,
                    "type": "Signed",
                    "recorded_at": "2026-01-01T09:00:00Z",
                    "data": {"contract_id": "c-100"},
                }
            ],
        }
    )

    contract_id: str = F("The contract")
    customer_id: str = F("The customer")
    customer_name: str = F("The customer's name")
    timezone: str = F("IANA time zone: months and days are the customer's local ones")
    starts_on: str = F("First day under contract")
    ends_on: str | None = F("Last day under contract (after a termination or if signed with an end); null: open")
    currency: str = F("ISO 4217 currency of fees and credits")
    terminated: bool = F("Whether the contract was terminated")
    in_force_on: str = F("The day `terms` and `subscriptions` are in force on (today, within the contract)")
    terms: Terms = F("The terms in force on `in_force_on`")
    subscriptions: list[Subscription] = F("The subscriptions in force on `in_force_on`")
    amendments: list[Amendment] = F("Every amendment, in order of effect")
    history: list[HistoryItem] = F("Every fact recorded about the contract")


class Exclusion(Answer):
    customer_id: str = F("The customer excluded from the incident")
    reason: str = F("Why")


class IncidentPublic(Answer):
    model_config = example(
        {
            "incident_id": "inc-7",
            "service": "compute",
            "regions": ["eu-west"],
            "customers": [],
            "severity": "outage",
            "started_at": "2026-03-10T10:00:00Z",
            "ended_at": "2026-03-10T11:00:00Z",
            "cause": "provider",
            "title": "Compute API unreachable",
            "retracted": False,
            "excluded_customers": [],
            "history": [
                {
                    "version": 1,
                    "type": "Opened",
                    "recorded_at": "2026-03-10T10:05:00Z",
                    "data": {"incident_id": "inc-7"},
                }
            ],
        }
    )

    incident_id: str = F("The incident")
    service: str = F("The service that failed")
    regions: list[str] = F("The regions it reached; empty: every region")
    customers: list[str] = F("The customers it reached; empty: every customer of the service")
    severity: Literal["outage", "degraded"] = F("outage or degraded")
    started_at: str = F(f"Start, {INSTANT}")
    ended_at: str | None = F(f"End, {INSTANT}; null: unresolved")
    cause: Literal["provider", "force_majeure"] = F("provider or force_majeure (the classification)")
    title: str = F("A short title")
    retracted: bool = F("Whether it was retracted (it never happened)")
    excluded_customers: list[Exclusion] = F("Customers excluded from it, with the reason")
    history: list[HistoryItem] = F("Every fact recorded about the incident")


class MaintenancePublic(Answer):
    model_config = example(
        {
            "maintenance_id": "mw-3",
            "service": "compute",
            "regions": [],
            "starts_at": "2026-03-20T01:00:00Z",
            "ends_at": "2026-03-20T03:00:00Z",
            "announced_at": "2026-03-10T09:00:00Z",
            "cancelled": False,
        }
    )

    maintenance_id: str = F("The maintenance window")
    service: str = F("The service under maintenance")
    regions: list[str] = F("The regions; empty: every region")
    starts_at: str = F(f"Start, {INSTANT}")
    ends_at: str = F(f"End, {INSTANT}")
    announced_at: str = F(f"When it was announced, {INSTANT}")
    cancelled: bool = F("Whether it was cancelled")


class Claim(Answer):
    claim_id: str = F("The claim")
    customer_id: str = F("The customer who claims")
    month: str = F("The month claimed for, YYYY-MM")
    channel: Literal["email", "phone", "ticket", "chat", "portal", "letter", "other"] = F("How the claim came in")
    message: str = F("What the customer wrote or said")


class ClaimAnswer(Answer):
    model_config = example(
        {
            "claim": {
                "claim_id": "cl-1",
                "customer_id": "acme",
                "month": "2026-03",
                "channel": "email",
                "message": "Our API was down for an hour on 10 March.",
            },
            "entitlement": {"customer_id": "acme", "as_of": None, "periods": [_PERIOD], "contract_years": [_YEAR]},
            "note": "Filing a claim changes no amount: the entitlement is what the rules give every customer.",
        }
    )

    claim: Claim = F("The claim as recorded")
    entitlement: CreditsPublic = F("The credit the rules give for the month, the same for every customer")
    note: str = F("A reminder that a claim changes no amount")


class ClaimsReportRow(Answer):
    customer_id: str = F("The customer")
    claims_filed: int = F("Claims filed for the months")
    credit_entitled_minor: int = F("Credit the rules give before the cap, minor units (summed across currencies)")
    credit_granted_minor: int = F("Credit granted after the cap, minor units")
    currencies: list[str] = F("The currencies of the customer's contracts")


class ClaimsReport(Answer):
    model_config = example(
        {
            "from_month": "2026-01",
            "to_month": "2026-03",
            "as_of": None,
            "customers": [
                {
                    "customer_id": "acme",
                    "claims_filed": 1,
                    "credit_entitled_minor": 10000,
                    "credit_granted_minor": 10000,
                    "currencies": ["USD"],
                }
            ],
        }
    )

    from_month: str = F("First month, YYYY-MM")
    to_month: str = F("Last month, YYYY-MM")
    as_of: str | None = F(f"The instant the figures are as known at ({INSTANT}); null: now", default=None)
    customers: list[ClaimsReportRow] = F("One row per customer, claims beside entitlement")


# ---- health ------------------------------------------------------------------------------


class Health(Answer):
    model_config = example({"status": "ok"})

    status: Literal["ok"] = F("The process is up")


class AmountsCompared(Answer):
    credit_minor: int = F("Credit before the cap")
    granted_minor: int = F("Credit granted")
    cap_minor: int | None = F("The year's cap (contract years only)", default=None)


class ViewMismatch(Answer):
    contract_id: str = F("The contract")
    customer_id: str = F("The customer")
    kind: Literal["period", "contract_year"] = F("A period or a contract year")
    key: str = F("The month (period) or the first day (contract year)")
    stored: AmountsCompared | None = F("What the live view stored; null: nothing")
    fresh: AmountsCompared | None = F("What the facts give when computed afresh; null: nothing")


class SelfCheck(Answer):
    mismatch_count: int = F("Stored rows that differed from the facts when their customer was last checked")
    mismatches: list[ViewMismatch] = F("Up to 10 of them")
    last_full_cycle_at: str | None = F(f"When the last full cycle over every customer ended, {INSTANT}")
    last_full_cycle_seconds: float | None = F("How long it took")
    last_slice_at: str | None = F(f"When the last slice of customers was checked, {INSTANT}")
    customers_checked_this_cycle: int = F("Customers checked so far in the current cycle")


class Readiness(Answer):
    model_config = example(
        {
            "status": "ready",
            "log_position": 120,
            "projection_position": 120,
            "lag_events": 0,
            "lag_seconds": 0.0,
            "self_check": None,
        }
    )

    status: Literal["ready"] = F("Ready for traffic")
    log_position: int | None = F("The log's last position; null: empty log")
    projection_position: int | None = F("The last position the read models include; null: none yet")
    lag_events: int = F("Facts recorded but not yet in the read models")
    lag_seconds: float = F("How long the oldest of them has waited")
    self_check: SelfCheck | None = F("The projection's self-check; null before its first slice")


PROBLEMS = {
    401: "No or unknown API key",
    403: "The key's role may not do this",
    404: "Unknown id",
    409: "Same id with another body, or a transition the state forbids",
    413: "The body is larger than SLACREDITS_MAX_BODY_BYTES",
    422: "Bad input; `errors` names each field",
    503: "Database unavailable or read model behind",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem answers an endpoint can give, for the OpenAPI document (declared as
    application/problem+json by `problem_responses`)."""
    return {s: {"model": Problem, "description": PROBLEMS[s]} for s in statuses}


def answer_models() -> dict[str, type[Answer]]:
    """Every answer model by name (those of api/responses_billing.py too, once imported)."""
    found: dict[str, type[Answer]] = {}
    todo = list(Answer.__subclasses__())
    while todo:
        model = todo.pop()
        found[model.__name__] = model
        todo += model.__subclasses__()
    return found


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as published: refusals as problems, and the answers' examples with
    their nulls (FastAPI drops every null when it writes the document, examples included)."""
    schemas = document.get("components", {}).get("schemas", {})
    for name, model in answer_models().items():
        examples = model.model_json_schema().get("examples")
        if name in schemas and examples is not None:
            schemas[name]["examples"] = examples
    return problem_responses(document)


def problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx and 5xx answer of the document as what it is on the wire: application/problem+json
    with the Problem schema (FastAPI declares a response model as application/json, and adds its
    own 422 validation schema, which this API never sends: its 422 is a Problem too)."""
    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method in ("post", "put", "patch"):  # any body may be too large (api/body_guard.py)
                operation["responses"].setdefault("413", {"description": PROBLEMS[413]})
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = problem
                    if response.get("description") == "Validation Error":
                        response["description"] = PROBLEMS[422]
    schemas = document.get("components", {}).get("schemas", {})
    for fastapi_only in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_only, None)
    return document
