"""Request and response bodies of the HTTP contract (API.md); the import file uses the same."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from domain.limits import ID_PATTERN, ID_RULE, MONEY_LIMIT
from domain.terms import AnnualCap, CreditTier, Subscription, Terms


def _exact_decimal(value: Any) -> Any:
    if isinstance(value, float | bool):
        raise ValueError('give exact decimals as strings, e.g. "99.9"')
    return value


def _instant_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError('give an RFC 3339 instant as a string, e.g. "2026-03-01T10:00:00Z"')
    return value


def _date_text(value: Any) -> Any:
    if not isinstance(value, str | date):
        raise ValueError("give a date as a string, YYYY-MM-DD")
    return value


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_instant_text),
    Field(description="RFC 3339 with an offset, from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z"),
]
Day = Annotated[date, BeforeValidator(_date_text), Field(description="YYYY-MM-DD, from 1970-01-01 to 2099-12-31")]
ExactDecimal = Annotated[
    Decimal,
    BeforeValidator(_exact_decimal),
    Field(allow_inf_nan=False, description="an exact decimal as a string, at most 6 decimal places"),
]
Id = Annotated[str, Field(min_length=1, max_length=200, pattern=f"^{ID_PATTERN.pattern}$", description=ID_RULE)]
MonthText = Annotated[
    str,
    Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"], description="YYYY-MM, from 1970-01 to 2099-12"),
]
Minor = Annotated[StrictInt, Field(ge=0, lt=MONEY_LIMIT, description="whole minor units, 0 to 999999999999999")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class TierIn(Body):
    below_percent: ExactDecimal = Field(examples=["99.9"])
    credit_percent: ExactDecimal = Field(examples=["10"])


class CapIn(Body):
    percent_of_annual_fees: ExactDecimal | None = None
    amount_minor: Minor | None = None


class TermsIn(Body):
    credit_tiers: list[TierIn] = Field(max_length=20)
    degraded_weight: ExactDecimal = Decimal("0")
    maintenance_notice_hours: StrictInt = Field(48, ge=0, le=24 * 365)
    annual_cap: CapIn | None = None

    def to_domain(self) -> Terms:
        return Terms(
            tuple(CreditTier(t.below_percent, t.credit_percent) for t in self.credit_tiers),
            self.degraded_weight,
            self.maintenance_notice_hours,
            None
            if self.annual_cap is None
            else AnnualCap(self.annual_cap.percent_of_annual_fees, self.annual_cap.amount_minor),
        )


class SubscriptionIn(Body):
    service: Id
    region: Id
    monthly_fee_minor: Minor


def subscriptions_to_domain(subs: list[SubscriptionIn]) -> tuple[Subscription, ...]:
    return tuple(Subscription(s.service, s.region, s.monthly_fee_minor) for s in subs)


class ContractSign(Body):
    contract_id: Id
    customer_id: Id
    customer_name: str = Field(max_length=200)
    timezone: str = Field(max_length=64, examples=["Europe/Berlin"])
    starts_on: Day
    ends_on: Day | None = None
    currency: str = Field(examples=["USD"])
    terms: TermsIn
    subscriptions: list[SubscriptionIn] = Field(max_length=100)


class ContractAmend(Body):
    request_id: Id
    effective_from: Day
    terms: TermsIn | None = None
    subscriptions: list[SubscriptionIn] | None = Field(None, max_length=100)


class ContractTerminate(Body):
    request_id: Id
    ends_on: Day


class IncidentOpen(Body):
    incident_id: Id
    service: Id
    regions: list[Id] = Field(default_factory=list, max_length=100)
    customers: list[Id] | None = Field(None, max_length=10_000)
    severity: Literal["outage", "degraded"]
    started_at: Instant
    ended_at: Instant | None = None
    cause: Literal["provider", "force_majeure"] = "provider"
    title: str = Field("", max_length=500)


class IncidentResolve(Body):
    request_id: Id
    ended_at: Instant


class IncidentCorrect(Body):
    request_id: Id
    reason: str = Field(min_length=1, max_length=2000)
    started_at: Instant | None = None
    ended_at: Instant | None = None
    severity: Literal["outage", "degraded"] | None = None
    regions: list[Id] | None = Field(None, max_length=100)
    customers: list[Id] | None = Field(None, max_length=10_000)

    def changes(self) -> dict[str, Any]:
        names = ("started_at", "ended_at", "severity", "regions", "customers")
        return {n: getattr(self, n) for n in names if n in self.model_fields_set and getattr(self, n) is not None}


class IncidentClassify(Body):
    request_id: Id
    cause: Literal["provider", "force_majeure"]
    reason: str = Field(min_length=1, max_length=2000)


class IncidentExclude(Body):
    request_id: Id
    customer_id: Id
    reason: str = Field(min_length=1, max_length=2000, examples=["customer_caused"])


class IncidentRetract(Body):
    request_id: Id
    reason: str = Field(min_length=1, max_length=2000)


class MaintenanceAnnounce(Body):
    maintenance_id: Id
    service: Id
    regions: list[Id] = Field(default_factory=list, max_length=100)
    starts_at: Instant
    ends_at: Instant
    announced_at: Instant


class MaintenanceCancel(Body):
    request_id: Id


class ClaimFile(Body):
    claim_id: Id
    month: MonthText
    channel: Literal["email", "phone", "ticket", "chat", "portal", "letter", "other"]
    message: str = Field("", max_length=10_000)


# -- the import file: the HTTP bodies plus the path ids ------------------------------------


class ImportAmend(ContractAmend):
    contract_id: Id


class ImportTerminate(ContractTerminate):
    contract_id: Id


class ImportResolve(IncidentResolve):
    incident_id: Id


class ImportCorrect(IncidentCorrect):
    incident_id: Id


class ImportClassify(IncidentClassify):
    incident_id: Id


class ImportExclude(IncidentExclude):
    incident_id: Id


class ImportRetract(IncidentRetract):
    incident_id: Id


class ImportCancel(MaintenanceCancel):
    maintenance_id: Id


class ImportClaim(ClaimFile):
    customer_id: Id


IMPORT_KINDS: dict[str, type[Body]] = {
    "sign_contract": ContractSign,
    "amend_contract": ImportAmend,
    "terminate_contract": ImportTerminate,
    "open_incident": IncidentOpen,
    "resolve_incident": ImportResolve,
    "correct_incident": ImportCorrect,
    "classify_incident": ImportClassify,
    "exclude_customer": ImportExclude,
    "retract_incident": ImportRetract,
    "announce_maintenance": MaintenanceAnnounce,
    "cancel_maintenance": ImportCancel,
    "file_claim": ImportClaim,
}


class CheckpointIn(Body):
    model_config = ConfigDict(extra="ignore")

    position: StrictInt = Field(ge=0, le=2**62, description="The checkpoint's position")
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="The log's digest at that position (hex SHA-256)")
