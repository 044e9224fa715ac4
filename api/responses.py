"""Response bodies, for the OpenAPI document (the handlers build plain JSON of this shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.problems import Problem


class CreditLine(BaseModel):
    service: str
    region: str
    measured_seconds: int | str
    downtime_seconds: str
    uptime_percent: str
    credit_percent: str
    fee_minor: int
    credit_minor: int


class CreditPeriod(BaseModel):
    contract_id: str
    month: str
    currency: str
    status: str
    lines: list[CreditLine]
    credit_minor: int
    granted_minor: int
    capped_minor: int
    contract_year_start: str


class ContractYear(BaseModel):
    contract_id: str
    starts_on: str
    cap_minor: int | None
    credit_minor: int
    granted_minor: int
    capped_minor: int
    remaining_minor: int | None


class CreditsPublic(BaseModel):
    customer_id: str
    as_of: str | None
    periods: list[CreditPeriod]
    contract_years: list[ContractYear]


class HistoryItem(BaseModel):
    version: int
    type: str
    recorded_at: str
    data: dict[str, Any]


class ContractPublic(BaseModel):
    contract_id: str
    customer_id: str
    customer_name: str
    timezone: str
    starts_on: str
    ends_on: str | None
    currency: str
    terminated: bool
    in_force_on: str
    terms: dict[str, Any]
    subscriptions: list[dict[str, Any]]
    amendments: list[dict[str, Any]]
    history: list[HistoryItem]


class IncidentPublic(BaseModel):
    incident_id: str
    service: str
    regions: list[str]
    customers: list[str]
    severity: str
    started_at: str
    ended_at: str | None
    cause: str
    title: str
    retracted: bool
    excluded_customers: list[dict[str, str]]
    history: list[HistoryItem]


class MaintenancePublic(BaseModel):
    maintenance_id: str
    service: str
    regions: list[str]
    starts_at: str
    ends_at: str
    announced_at: str
    cancelled: bool


class ClaimAnswer(BaseModel):
    claim: dict[str, Any]
    entitlement: CreditsPublic
    note: str


class ClaimsReportRow(BaseModel):
    customer_id: str
    claims_filed: int
    credit_entitled_minor: int
    credit_granted_minor: int
    currencies: list[str]


class ClaimsReport(BaseModel):
    from_month: str
    to_month: str
    as_of: str | None = None
    customers: list[ClaimsReportRow]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem answers an endpoint can give, for the OpenAPI document."""
    text = {
        401: "No or unknown API key",
        403: "The key's role may not do this",
        404: "Unknown id",
        409: "Same id with another body, or a transition the state forbids",
        422: "Bad input; `errors` names each field",
        503: "Database unavailable or read model behind",
    }
    return {
        s: {"model": Problem, "description": text[s], "content": {"application/problem+json": {}}} for s in statuses
    }
